/* The door scanner, for staff phones: the camera reads a ticket's QR code
 * (the browser's BarcodeDetector where it reads QR codes, else the vendored
 * jsQR decoder, loaded only then, from this site), or staff type the code;
 * POST /api/checkin/ decides and the page shows one big green or red answer,
 * then is ready for the next ticket. The same QR code held in front of the
 * camera is sent once, not once a frame. */
(function () {
  "use strict";
  var cfg = T.readJson("scanner-config");
  var $ = function (id) { return document.getElementById(id); };
  var SAME_CODE_MS = 4000; // the same code seen again within this is the same ticket still in view
  var SHOW_MS = 3500; // how long an answer stays before the page says ready again
  var FRAME_MS = 150; // a frame read this often: quick enough, and a phone stays cool
  var LOG_SIZE = 12;

  var eventSelect = $("scan-event");
  var busy = false;
  var lastCamera = { code: "", at: 0 };
  var resetTimer = null;
  var stream = null;
  var decode = null;
  var canvas = document.createElement("canvas");

  var remembered = localStorage.getItem("door-scanner-event");
  if (remembered && eventSelect.querySelector('option[value="' + remembered + '"]')) eventSelect.value = remembered;
  eventSelect.addEventListener("change", function () { localStorage.setItem("door-scanner-event", eventSelect.value); });

  function ready() {
    $("scan-result").className = "scan-result scan-idle";
    $("scan-icon").textContent = "\u25CB";
    $("scan-verdict").textContent = gettext("Ready");
    $("scan-detail").textContent = gettext("Scan the next ticket.");
  }

  function log(kind, verdict, detail) {
    var list = $("scan-log");
    list.insertBefore(T.el("li", {}, [
      T.el("span", { class: kind === "ok" ? "log-ok" : "log-bad", text: verdict }),
      T.el("span", { text: detail }),
      T.el("time", { datetime: new Date().toISOString(), text: T.clockTime(new Date().toISOString()) }),
    ]), list.firstChild);
    while (list.children.length > LOG_SIZE) list.removeChild(list.lastChild);
  }

  /* The answer: "ok" (green: let them in) or "bad" (red: do not). */
  function show(kind, verdict, detail) {
    $("scan-result").className = "scan-result scan-" + kind;
    $("scan-icon").textContent = kind === "ok" ? "\u2713" : "\u2715";
    $("scan-verdict").textContent = verdict;
    $("scan-detail").textContent = detail;
    log(kind, verdict, detail);
    if (navigator.vibrate) navigator.vibrate(kind === "ok" ? 120 : [250, 120, 250]);
    clearTimeout(resetTimer);
    resetTimer = setTimeout(ready, SHOW_MS);
  }

  function seatText(seat) { return seat ? T.seatLabel(seat) : ""; }

  function answer(r) {
    var d = r.data || {};
    var code = T.errorCode(r);
    if (r.ok) { show("ok", gettext("Checked in"), seatText(d.ticket && d.ticket.seat)); return; }
    if (r.status === 401) { window.location.assign(cfg.login_url); return; }
    if (code === "already_checked_in") {
      var when = { seat: seatText(d.seat), time: T.clockTime(d.checked_in_at), name: d.checked_in_by };
      show("bad", gettext("Already checked in"), d.checked_in_by
        ? interpolate(gettext("%(seat)s, at %(time)s by %(name)s"), when, true)
        : interpolate(gettext("%(seat)s, at %(time)s"), when, true));
    } else if (code === "ticket_void") {
      show("bad", gettext("Void ticket"), interpolate(gettext("%s: its order was cancelled or refunded."), [seatText(d.seat)]));
    } else if (code === "wrong_event") {
      show("bad", gettext("Another event"), d.ticket_event_name
        ? interpolate(gettext("This ticket is for %s."), [d.ticket_event_name])
        : gettext("This ticket is for another event."));
    } else if (r.status === 404) {
      show("bad", gettext("Unknown ticket"), gettext("No ticket has this code."));
    } else if (r.status === 400) {
      show("bad", gettext("Not a ticket"), gettext("This code is not a ticket code."));
    } else if (r.status === 0) {
      show("bad", gettext("No connection"), gettext("The server did not answer. Check the network and scan again."));
    } else {
      show("bad", gettext("Try again"), T.errorDetail(r));
    }
  }

  function submit(code) {
    code = (code || "").trim();
    if (!code || busy) return;
    busy = true;
    clearTimeout(resetTimer);
    $("scan-result").className = "scan-result scan-wait";
    $("scan-verdict").textContent = gettext("Checking…");
    $("scan-detail").textContent = "";
    var body = { code: code };
    if (eventSelect.value) body.event = Number(eventSelect.value);
    T.api("POST", cfg.checkin_api, body).then(function (r) {
      busy = false;
      answer(r);
    });
  }

  $("code-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("code-input");
    submit(input.value);
    input.value = "";
    input.focus();
  });

  // -- camera -----------------------------------------------------------------

  function fromCamera(code) {
    var now = Date.now();
    if (code === lastCamera.code && now - lastCamera.at < SAME_CODE_MS) return;
    if (busy) return;
    lastCamera = { code: code, at: now };
    submit(code);
  }

  function loadJsQR() {
    return new Promise(function (resolve, reject) {
      if (window.jsQR) { resolve(); return; }
      var script = document.createElement("script");
      script.src = cfg.jsqr_url;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  /* A function video -> Promise of the QR code's text (or null): the browser's own detector if it reads QR codes. */
  function makeDecoder() {
    var native = "BarcodeDetector" in window
      ? window.BarcodeDetector.getSupportedFormats().then(function (formats) {
        return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
      }, function () { return null; })
      : Promise.resolve(null);
    return native.then(function (detector) {
      if (detector) {
        document.body.dataset.decoder = "barcode-detector";
        return function (video) {
          return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
        };
      }
      return loadJsQR().then(function () {
        document.body.dataset.decoder = "jsqr";
        return function (video) {
          var scale = Math.min(1, 640 / (video.videoWidth || 640));
          canvas.width = Math.round(video.videoWidth * scale);
          canvas.height = Math.round(video.videoHeight * scale);
          var ctx = canvas.getContext("2d", { willReadFrequently: true });
          ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
          var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
          var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
          return Promise.resolve(found ? found.data : null);
        };
      });
    });
  }

  function scanLoop() {
    var video = $("scan-video");
    if (!stream) return;
    var next = function () { if (stream) setTimeout(scanLoop, FRAME_MS); };
    if (video.readyState < 2 || !video.videoWidth) { next(); return; }
    decode(video).then(function (text) { if (text) fromCamera(text); }, function () { /* a bad frame: the next one */ }).then(next);
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    $("scan-video").hidden = true;
    $("camera-button").textContent = gettext("Start the camera");
    $("camera-status").textContent = "";
  }

  function startCamera() {
    var status = $("camera-status");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = gettext("This browser cannot open the camera on this page (it needs HTTPS). Type the codes instead.");
      return;
    }
    status.textContent = gettext("Opening the camera…");
    Promise.all([
      navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false }),
      decode ? Promise.resolve(decode) : makeDecoder(),
    ]).then(function (parts) {
      stream = parts[0];
      decode = parts[1];
      var video = $("scan-video");
      video.srcObject = stream;
      video.hidden = false;
      return video.play();
    }).then(function () {
      $("camera-button").textContent = gettext("Stop the camera");
      status.textContent = gettext("Hold a ticket's QR code in front of the camera.");
      scanLoop();
    }, function (err) {
      stopCamera();
      status.textContent = (err && err.name === "NotAllowedError")
        ? gettext("The camera was not allowed. Allow it in the browser's settings, or type the codes.")
        : gettext("The camera could not be started. Type the codes instead.");
    });
  }

  $("camera-button").addEventListener("click", function () { if (stream) stopCamera(); else startCamera(); });
})();
