"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections on loopback.

Run as a separate process (pinned to another core than the server). Prints one JSON line:
requests, errors, statuses, rps, and latency percentiles. Bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def _worker(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float], stats: dict
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                stats["errors"] += 1
                return
            status = int(status_line.split()[1])
            length = 0
            chunked = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            stats["statuses"][status] = stats["statuses"].get(status, 0) + 1
            if status >= 500:
                stats["errors"] += 1
    finally:
        writer.close()


async def run(
    host: str, port: int, path: str, headers: dict[str, str], connections: int, duration: float
) -> dict:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    stats: dict = {"errors": 0, "statuses": {}}
    started = time.perf_counter()
    deadline = started + duration
    results = await asyncio.gather(
        *(_worker(host, port, request, deadline, latencies, stats) for _ in range(connections)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    stats["errors"] += sum(1 for result in results if isinstance(result, Exception))
    latencies.sort()

    def percentile(fraction: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(len(latencies) * fraction))] if latencies else 0.0
        )

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(0.50) * 1000,
        "p99_ms": percentile(0.99) * 1000,
        **stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    print(
        json.dumps(
            asyncio.run(
                run(args.host, args.port, args.path, headers, args.connections, args.duration)
            )
        )
    )


if __name__ == "__main__":
    main()
