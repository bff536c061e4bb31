#!/usr/bin/env python3
"""How long the join challenge's proof of work takes in headless Chromium:
the waiting page's own worker (``web/static/web/js/pow-worker.js``) solving
fresh random challenges of 16, 18 and 20 bits.

    python bench/pow_browser.py [--runs 15] [--bits 16 18 20]

The worker is served from a local HTTP server (127.0.0.1 is a secure
context, as the worker's SubtleCrypto needs) to a blank page in Debian's
Chromium (``CHROMIUM_PATH``, default ``/usr/bin/chromium``), as in the browser
tests. Each run posts a new challenge and times the worker until it answers;
the answer is checked here with ``hashlib``. Solving takes on average 2^bits
hashes, so the time per run spreads widely (exponentially): the median and
p90 over the runs are the figures, with the hash rate. The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import secrets
import statistics
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "web" / "static" / "web" / "js"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

SOLVE = """async ({challenge, difficulty}) => {
  const worker = new Worker("/pow-worker.js");
  const started = performance.now();
  return await new Promise((resolve) => {
    worker.onmessage = (e) => {
      if (e.data.nonce !== undefined || e.data.error) {
        worker.terminate();
        resolve({nonce: e.data.nonce, tried: e.data.tried, ms: performance.now() - started, error: e.data.error});
      }
    };
    worker.postMessage({challenge, difficulty});
  });
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _holds(challenge: str, nonce: str, bits: int) -> bool:
    value = int.from_bytes(hashlib.sha256((challenge + nonce).encode()).digest(), "big")
    return value >> (256 - bits) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 18, 20])
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(STATIC)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}/pow-worker.js")  # any same-origin page will do
        for bits in args.bits:
            times, tries = [], []
            for _ in range(args.runs):
                challenge = secrets.token_urlsafe(18)
                answer = page.evaluate(SOLVE, {"challenge": challenge, "difficulty": bits})
                assert not answer.get("error"), answer
                assert _holds(challenge, answer["nonce"], bits), answer
                times.append(answer["ms"])
                tries.append(answer["tried"])
            ordered = sorted(times)
            results[str(bits)] = {
                "median_ms": round(statistics.median(times)),
                "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]),
                "hashes_per_s": round(sum(tries) / (sum(times) / 1000)),
                "runs": args.runs,
            }
            print(f"{bits} bits: {results[str(bits)]}", flush=True)
        browser.close()
    server.shutdown()
    print(json.dumps({"pow_browser": results, "loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()
