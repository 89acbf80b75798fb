"""Benchmark: what the model-API gateway adds, against a direct connection, in one run.

One fake provider (tests/support/fake_upstream.py) on loopback is reached three ways:
``direct`` (what an agent without a gateway does), ``gateway`` (TCP to the gateway process, as with
``sandbox.network=open``) and ``gateway+relay`` (as with ``sandbox.network=none``: TCP to the
in-sandbox listener of ``ptb.sandbox.forward``, a Unix socket to the host-side relay, TCP to the
gateway; here without the sandbox itself). Per path:

- latency of a small non-streamed Anthropic Messages request (a new connection each, as the
  fake provider closes them), median and p90 over ``--requests``;
- time to the first byte of a short streamed reply (5 events);
- throughput (MB/s) of a long streamed reply, ``--events`` SSE events of ``--event-bytes`` each.

The paths take turns, ``--rounds`` times, so other load on the machine falls on all alike.

    .venv/bin/python benchmarks/gateway_overhead.py [--requests 300] [--rounds 10]

Prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ptb.gateway.process import GatewayProcess  # noqa: E402
from ptb.sandbox.forward import Forward, Relays  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402

TOKEN = "ptb-gw-benchmark-token-0123456789"


def request(port: int, body: dict[str, object], key: str) -> tuple[float, float, int]:
    """(time to first byte, total time, bytes) of one POST /v1/messages."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/messages", json.dumps(body), {"x-api-key": key})
    resp = conn.getresponse()
    first = resp.read1(65536)
    ttfb = time.perf_counter() - t0
    size = len(first)
    while chunk := resp.read1(1 << 20):
        size += len(chunk)
    total = time.perf_counter() - t0
    conn.close()
    assert resp.status == 200, resp.status
    return ttfb, total, size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(
    paths: dict[str, tuple[int, str]], args: argparse.Namespace, up: FakeUpstream
) -> dict[str, dict[str, float]]:
    """The three kinds of figures per path, the paths interleaved round by round so that load
    from elsewhere on the machine falls on all of them alike."""
    small = {"model": "bench-model", "max_tokens": 8, "messages": []}
    lat: dict[str, list[float]] = {name: [] for name in paths}
    ttfb: dict[str, list[float]] = {name: [] for name in paths}
    rate: dict[str, list[float]] = {name: [] for name in paths}
    size = 0
    for round_ in range(args.rounds):
        for name, (port, key) in paths.items():
            up.chunks, up.chunk_bytes = 1, 16
            for i in range(args.requests // args.rounds + (10 if round_ == 0 else 0)):
                took = request(port, small, key)[1] * 1000
                if round_ or i >= 10:  # the first ten are warm-up
                    lat[name].append(took)
            up.chunks = 5  # a short stream: when does its first event arrive?
            ttfb[name] += [request(port, {**small, "stream": True}, key)[0] * 1000]
            up.chunks, up.chunk_bytes = args.events, args.event_bytes
            _, total, size = request(port, {**small, "stream": True}, key)
            rate[name].append(size / total / 1e6)
    return {
        name: {
            "latency_ms_median": round(statistics.median(lat[name]), 3),
            "latency_ms_p90": round(sorted(lat[name])[int(0.9 * len(lat[name]))], 3),
            "stream_ttfb_ms_median": round(statistics.median(ttfb[name]), 3),
            "stream_mb_s_median": round(statistics.median(rate[name]), 1),
            "stream_mb": round(size / 1e6, 2),
        }
        for name in paths
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--event-bytes", type=int, default=4096)
    args = parser.parse_args()
    with FakeUpstream() as up, tempfile.TemporaryDirectory(prefix="ptb-gw-bench-") as tmp:
        settings = {
            "routes": [
                {
                    "name": "agent",
                    "token": TOKEN,
                    "upstream": up.url,
                    "key": up.key,
                    "allow_models": ["bench-model"],
                }
            ],
            "log_path": str(Path(tmp) / "gateway.jsonl"),
            "prices": {"bench-model": {"input": 1.0, "output": 2.0}},
        }
        with GatewayProcess(settings, Path(tmp) / "gateway.log") as gateway:
            assert gateway.port
            relay_port = free_port()  # the sandbox's loopback port, here on the host's
            with Relays((Forward("127.0.0.1", gateway.port, sandbox_port=relay_port),)) as relays:
                inner = subprocess.Popen(relays.wrap(sys.executable, ["sleep", "3600"]), cwd=REPO)
                try:
                    time.sleep(1.0)
                    paths = {
                        "direct": (int(up.url.rsplit(":", 1)[1]), up.key),
                        "gateway": (gateway.port, TOKEN),
                        "gateway+relay": (relay_port, TOKEN),
                    }
                    results = measure(paths, args, up)
                finally:
                    inner.terminate()
                    inner.wait()
        logged = len((Path(tmp) / "gateway.jsonl").read_text().splitlines())
    base = results["direct"]
    print("| path | latency median | p90 | added (median) | stream TTFB | stream MB/s |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        added = r["latency_ms_median"] - base["latency_ms_median"]
        print(
            f"| {name} | {r['latency_ms_median']:.2f} ms | {r['latency_ms_p90']:.2f} ms | "
            f"{'—' if name == 'direct' else f'{added:+.2f} ms'} | "
            f"{r['stream_ttfb_ms_median']:.2f} ms | {r['stream_mb_s_median']:.0f} |"
        )
    info = {"python": platform.python_version(), "machine": platform.machine()}
    print(json.dumps({"results": results, "gateway_log_lines": logged, **vars(args), **info}))


if __name__ == "__main__":
    main()
