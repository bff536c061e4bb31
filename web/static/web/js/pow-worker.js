/* The join challenge's proof of work, off the page's thread: find a nonce
 * such that SHA-256(challenge + nonce) starts with `difficulty` zero bits
 * (API.md "Join challenge"). The browser's own SHA-256 (SubtleCrypto),
 * asked in batches so its promises overlap; progress goes back to the page
 * every batch. About 2^difficulty hashes on average. */
"use strict";

var BATCH = 4096;

function leadingZeroBits(bytes, bits) {
  var whole = bits >> 3, rest = bits & 7, i;
  for (i = 0; i < whole; i++) if (bytes[i] !== 0) return false;
  return rest === 0 || (bytes[whole] >> (8 - rest)) === 0;
}

self.onmessage = function (e) {
  var challenge = String(e.data.challenge), difficulty = Number(e.data.difficulty);
  var encoder = new TextEncoder();
  var tried = 0, started = performance.now();

  function batch() {
    var jobs = [], i;
    for (i = 0; i < BATCH; i++) {
      jobs.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge + (tried + i).toString(36))));
    }
    return Promise.all(jobs).then(function (digests) {
      for (i = 0; i < digests.length; i++) {
        if (leadingZeroBits(new Uint8Array(digests[i]), difficulty)) {
          self.postMessage({ nonce: (tried + i).toString(36), tried: tried + i + 1, ms: performance.now() - started });
          return;
        }
      }
      tried += BATCH;
      self.postMessage({ tried: tried, expected: Math.pow(2, difficulty) });
      return batch();
    });
  }
  batch().catch(function (err) { self.postMessage({ error: String(err) }); });
};
