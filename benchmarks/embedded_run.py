"""Benchmark: wall time and score gain of the embedded default (``python -m ptb``).

Runs the command exactly as a user would, in a fresh results folder and (by default) a fresh
model cache, and prints one JSON line with the figures recorded in BENCHMARKS.md.

    .venv/bin/python benchmarks/embedded_run.py [--repeats N] [--warm-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = "default/recipe_sft__recipe__tiny__toy_calls__s0"
BASE = "default/baseline_zeroshot__none__tiny__toy_calls__s0"


def one_run(cache: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        env = {
            **os.environ,
            "PTB_CACHE": str(cache),
            "WANDB_MODE": "offline",
            "HF_HUB_OFFLINE": "1",
        }
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "ptb", f"results_dir={results}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise SystemExit(f"ptb failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        score = json.loads((results / RUN / "score.json").read_text())
        base = json.loads((results / BASE / "score.json").read_text())
        manifest = json.loads((results / RUN / "manifest.json").read_text())
        usage = json.loads((results / RUN / "solve" / "usage.json").read_text())
    return {
        "wall_s": round(wall, 1),
        "base": base["final"],
        "final": score["final"],
        "gain_points": round(100 * (score["final"] - base["final"]), 1),
        "train_steps": usage.get("train_steps"),
        "stage_s": {k: v.get("wall_s") for k, v in manifest["stages"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warm-cache", action="store_true", help="reuse one model cache")
    args = parser.parse_args()
    shared = Path(tempfile.mkdtemp()) / "cache"
    for i in range(args.repeats):
        cache = shared if args.warm_cache else Path(tempfile.mkdtemp()) / "cache"
        figures = one_run(cache)
        figures.update(
            repeat=i,
            machine=f"{platform.machine()} {os.cpu_count()} cpus",
            python=platform.python_version(),
        )
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
