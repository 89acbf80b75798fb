"""Benchmark: the whole solve stage's overhead for a no-op agent (``scaffold=script`` running
``true``), per sandbox backend, as recorded in the run manifest.

    .venv/bin/python benchmarks/solve_overhead.py [--repeats N]

Each repeat is a fresh run directory; the baseline run's evaluation is shared (cached model) and
not part of the figure. Prints one JSON line per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def solve_seconds(results: Path, sandbox: str, seed: int, agent: Path, cache: Path) -> float:
    env = {**os.environ, "PTB_CACHE": str(cache), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "ptb", "agent=custom", f"scaffold.path={agent}",
           f"sandbox={sandbox}", "tracker=none", f"seed={seed}",
           f"results_dir={results}"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"ptb failed:\n{proc.stderr[-3000:]}")
    run = results / "default" / f"custom__script__tiny__toy_calls__s{seed}"
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    return float(stages["solve"]["wall_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ptb-solve-bench-", dir="/var/tmp"))
    agent = tmp / "noop.sh"
    agent.write_text("#!/bin/sh\ntrue\n")
    agent.chmod(0o755)
    for sandbox in ("none", "bwrap"):
        results = tmp / f"results-{sandbox}"
        times = [solve_seconds(results, sandbox, seed, agent, tmp / "cache")
                 for seed in range(args.repeats)]  # fmt: skip
        print(json.dumps({
            "benchmark": "solve_stage_noop_agent", "sandbox": sandbox, "repeats": args.repeats,
            "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
