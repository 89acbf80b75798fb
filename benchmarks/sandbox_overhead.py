"""Benchmark: what the sandbox adds to starting a process.

Runs ``true`` N times through ``Sandbox.exec`` (the path every agent command takes: argv wrapping,
the process group, the output pumps, the time limit) for ``sandbox=none`` and ``sandbox=bwrap``
(network host, none and egress), against a bare ``subprocess.run(["true"])``. With ``egress`` the
command starts under the in-sandbox relay (``ptb.sandbox.forward``, a Python process that binds
the proxy's port on the sandbox's loopback, then execs the command), so that start-up is in the
figure; ``none`` without forwards has no relay. The sandbox's world is laid
out as in a real run: ``<results>/<exp>/<run>/solve/job`` with ``task/evaluate.py`` and
``task/templates/`` read-only. Prints one JSON line per measurement (figures in milliseconds,
machine info included) for BENCHMARKS.md. About 5 s with the default N=50.

    .venv/bin/python benchmarks/sandbox_overhead.py [--runs N] [--backends none,bwrap]

HF_HOME is ignored (removed from this process's environment), so no cache overlay is mounted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ptb.config.sandbox import SandboxConfig  # noqa: E402
from ptb.sandbox import SANDBOXES, Sandbox, SandboxSpec  # noqa: E402

VARIANTS = {
    "none": [("none", "host")],
    "bwrap": [("bwrap", "host"), ("bwrap", "none"), ("bwrap", "egress")],
}


def make_spec(root: Path) -> SandboxSpec:
    """A job folder laid out like a real run's, with the protected task files."""
    home = root / "results" / "bench" / "agent__scaffold__model__task__s0" / "solve" / "job"
    task = home / "task"
    (task / "templates").mkdir(parents=True)
    (task / "templates" / "chat.jinja").write_text("{{ messages }}\n")
    (task / "evaluate.py").write_text("# protected\n")
    (home / "tmp").mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
    }
    return SandboxSpec(
        home=home,
        workdir=task,
        env=env,
        readonly=(task / "evaluate.py", task / "templates"),
        extra_ro_binds=(Path(sys.prefix),),
    )


def timed(fn: Callable[[], None], runs: int, warmup: int = 3) -> list[float]:
    """Wall times of ``fn`` in milliseconds, after a few untimed warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p90 = statistics.quantiles(ordered, n=10, method="inclusive")[-1]
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(p90, 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
    }


def bare(runs: int) -> list[float]:
    def once() -> None:
        subprocess.run(["true"], check=True)

    return timed(once, runs)


def through_sandbox(impl: str, network: str, runs: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="ptb-bench-") as tmp:
        spec = make_spec(Path(tmp))
        cfg = SandboxConfig(name=impl, impl=impl, network=network)
        sandbox: Sandbox = SANDBOXES.load(impl)(cfg, spec)
        lines: list[tuple[str, str]] = []

        def once() -> None:
            result = sandbox.exec(
                ["true"],
                limit_s=30,
                kill_after_s=5,
                on_line=lambda stream, line: lines.append((stream, line)),
            )
            if result.reason != "finished" or result.exit_code != 0:
                raise SystemExit(f"sandbox={impl}: `true` failed: {result} {lines[-5:]}")

        with sandbox:
            return timed(once, runs)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "root": os.geteuid() == 0,
    }
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    bwrap = shutil.which("bwrap")
    if bwrap:
        proc = subprocess.run([bwrap, "--version"], capture_output=True, text=True)
        info["bwrap"] = proc.stdout.strip().removeprefix("bubblewrap ")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement")
    parser.add_argument("--backends", default="none,bwrap", help="comma-separated: none,bwrap")
    args = parser.parse_args()
    os.environ.pop("HF_HOME", None)
    info = machine()
    base = summary(bare(args.runs))
    print(
        json.dumps(
            {
                "benchmark": "sandbox_overhead",
                "what": "subprocess.run(['true'])",
                "sandbox": None,
                "runs": args.runs,
                **base,
                "machine": info,
            }
        )
    )
    for name in args.backends.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown backend {name!r}: expected one of {', '.join(VARIANTS)}")
        if name == "bwrap" and not shutil.which("bwrap"):
            print(
                json.dumps(
                    {
                        "benchmark": "sandbox_overhead",
                        "sandbox": "bwrap",
                        "skipped": "bwrap is not on PATH (apt-get install bubblewrap)",
                    }
                )
            )
            continue
        for impl, network in VARIANTS[name]:
            stats = summary(through_sandbox(impl, network, args.runs))
            record = {
                "benchmark": "sandbox_overhead",
                "what": "Sandbox.exec(['true'])",
                "sandbox": impl,
                "network": network,
                "runs": args.runs,
                **stats,
                "overhead_median_ms": round(stats["median_ms"] - base["median_ms"], 2),
                "machine": info,
            }
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
