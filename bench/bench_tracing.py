"""The tracing plugin's cost: the chassis app without and with chassis-tracing, in one run.

    .venv/bin/python bench/bench_tracing.py [--duration 4 --rounds 3]

Targets (issue 3): tracing on with the SDK and a batch exporter at least 0.85 of the requests
per second without the plugin; tracing on with sampling ratio 0 at least 0.97.

"OTLP batch" exports every span over OTLP/HTTP (protobuf encoding in the server process)
to a receiver started here, on the load generator's core, that answers 200 without decoding.
"no export" makes and records the spans (ids in logs, propagation) but exports none.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LOAD_CORE, Scenario, _free_port, pinned, report, run

COMMON = {"CHASSIS_LOG_LEVEL": "WARNING"}
WITHOUT = {**COMMON, "CHASSIS_PLUGINS": ""}
TRACING = {**COMMON, "CHASSIS_PLUGINS": "tracing"}


def receive(port: int) -> None:
    """A black-hole OTLP/HTTP receiver: reads each export, answers 200, counts."""
    counts = {"exports": 0, "bytes": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            counts["exports"] += 1
            counts["bytes"] += len(body)
            self._answer(b"", "application/x-protobuf")

        def do_GET(self) -> None:
            self._answer(json.dumps(counts).encode(), "application/json")

        def _answer(self, payload: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [*pinned(LOAD_CORE), sys.executable, __file__, "--receive", str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the OTLP receiver did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--receive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        receive(args.receive)
        return 0

    receiver, url = start_receiver()
    otlp = {**TRACING, "CHASSIS_TRACING__EXPORTER": "otlp", "CHASSIS_TRACING__ENDPOINT": url}
    scenarios = {
        "chassis, no plugins": (WITHOUT, None),
        "tracing, OTLP batch": (otlp, 0.85),
        "tracing, no export": ({**TRACING, "CHASSIS_TRACING__EXPORTER": "none"}, None),
        "tracing, ratio 0": ({**otlp, "CHASSIS_TRACING__SAMPLING_RATIO": "0"}, 0.97),
    }
    ok = True
    try:
        for label, path in (("item ~210 B", "/items/1"), ("list of 100, ~10 KB", "/items")):
            print(f"\n== {label}: GET {path}")
            results = run(
                [Scenario(name, env=env, path=path) for name, (env, _) in scenarios.items()],
                duration=args.duration,
                rounds=args.rounds,
            )
            ok &= report(
                results,
                baseline="chassis, no plugins",
                targets={name: t for name, (_, t) in scenarios.items() if t is not None},
            )
        counts = json.loads(urllib.request.urlopen(url, timeout=5).read())
        print(f"\nOTLP receiver: {counts['exports']} exports, {counts['bytes'] / 1e6:.1f} MB")
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
