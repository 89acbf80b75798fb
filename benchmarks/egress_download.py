"""Benchmark: a 100 MB download inside ``sandbox=bwrap`` through the egress proxy, against the
same download with ``network=host`` (direct).

A separate process serves a file of ``--mb`` MB over HTTP on 127.0.0.2 (the stand-in internet
host: the egress policy is told to allow exactly that address, ``allow_networks``). Inside the
sandbox ``curl`` downloads it to /dev/null — with ``egress`` through ``http_proxy`` (the relay on
the sandbox's loopback → the Unix socket → the proxy in this process → the server), with ``host``
straight to the server. ``curl``'s own ``time_total`` is the download time (sandbox start-up
excluded); the wall time of the whole ``Sandbox.exec`` is printed too. One JSON line per
measurement.

    .venv/bin/python benchmarks/egress_download.py [--mb 100] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.sandbox_overhead import machine, make_spec  # noqa: E402
from ptb.config.sandbox import EgressConfig, SandboxConfig  # noqa: E402
from ptb.sandbox.bwrap import BwrapSandbox  # noqa: E402

HOST = "127.0.0.2"


def serve(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            HOST,
            "--directory",
            str(folder),
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the file server did not start")


def download(network: str, url: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ptb-bench-") as tmp:
        spec = make_spec(Path(tmp))
        cfg = SandboxConfig(
            name="bwrap", impl="bwrap", network=network,
            egress=EgressConfig(allow_networks=[f"{HOST}/32"]),
        )  # fmt: skip
        sandbox = BwrapSandbox(cfg, spec)
        curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url]
        totals, walls, sizes = [], [], set()
        with sandbox:
            for _ in range(runs + 1):  # the first is a warm-up (page cache, first connect)
                out: list[str] = []
                t0 = time.perf_counter()
                result = sandbox.exec(
                    curl, limit_s=300, kill_after_s=5, on_line=lambda s, line, o=out: o.append(line)
                )
                wall = time.perf_counter() - t0
                if result.exit_code != 0 or not out:
                    raise SystemExit(f"network={network}: curl failed: {result} {out[-5:]}")
                total, size = out[-1].split()
                totals.append(float(total))
                walls.append(wall)
                sizes.add(int(size))
        log = spec.egress_log
        logged = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    totals, walls = totals[1:], walls[1:]
    median = statistics.median(totals)
    (size,) = sizes
    return {
        "benchmark": "egress_download",
        "network": network,
        "runs": runs,
        "bytes": size,
        "curl_median_s": round(median, 3),
        "curl_min_s": round(min(totals), 3),
        "exec_wall_median_s": round(statistics.median(walls), 3),
        "mb_per_s": round(size / median / 1e6, 1),
        "logged_connections": len(logged),
        "logged_bytes_down": sum(e["bytes_down"] for e in logged),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ptb-bench-files-") as files:
        blob = Path(files) / "blob.bin"
        with blob.open("wb") as f:
            for _ in range(args.mb):
                f.write(b"\0" * 1_000_000)
        server, port = serve(Path(files))
        try:
            url = f"http://{HOST}:{port}/blob.bin"
            info = machine()
            records = [download(net, url, args.runs) for net in ("host", "egress")]
        finally:
            server.terminate()
            server.wait()
    for rec in records:
        print(json.dumps({**rec, "machine": info}))
    host, egress = records
    ratio = egress["curl_median_s"] / host["curl_median_s"]
    print(json.dumps({"benchmark": "egress_download", "ratio_egress_over_host": round(ratio, 2)}))


if __name__ == "__main__":
    main()
