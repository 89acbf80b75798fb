"""Benchmark: the cost of a sweep's full composes, with and without ``ComposeMemo``.

Composes, one after another in this process, the combinations that submitting the 3-seed paper
grid composes in full (the composer's own prediction: 28 for 16 agents x 4 models x 7 tasks),
then the same with the workers a sweep forks (``precompose``). Nothing is submitted, written or
cached. ``--plain`` turns the memo off (Hydra's own compose each time). Prints one JSON line.

    .venv/bin/python benchmarks/sweep_compose.py [--plain]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from slurm_submit import frontier_agents

import ptb.launch.sweep as sweep
from ptb.launch.compose_memo import ComposeMemo
from ptb.plan import baseline_overrides

RESULT: dict[str, Any] = {}


def measure(composer: Any, job_overrides: Sequence[Sequence[str]]) -> int:
    """In place of ``launch_sweep``: time the full composes, sequentially and ahead."""
    runs = [r for o in job_overrides for r in (o, baseline_overrides(list(o), 0))]
    need = composer._predict([composer._split(r)[0] for r in runs])
    c0, t0 = time.process_time(), time.perf_counter()
    for groups in need:
        composer._full(groups)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    RESULT["sequential"] = {"composes": len(need), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                            "ms_per_compose": round(cpu / len(need) * 1e3, 1)}  # fmt: skip
    fresh = type(composer)(composer.loader, composer.master)
    children = sum(os.times()[2:4])
    c0, t0 = time.process_time(), time.perf_counter()
    fresh.precompose(runs)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0 + sum(os.times()[2:4]) - children
    RESULT["ahead"] = {"workers": len(os.sched_getaffinity(0)), "wall_s": round(wall, 2),
                       "cpu_s": round(cpu, 2)}  # fmt: skip
    return 0


@contextlib.contextmanager
def _no_memo(self: ComposeMemo, loader: Any) -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plain", action="store_true", help="Hydra's own compose (no memo)")
    args = parser.parse_args()
    if args.plain:
        ComposeMemo.active = _no_memo  # type: ignore[method-assign]
    sweep.launch_sweep = measure
    os.environ["PTB_COMPOSE_CACHE"] = "off"
    sys.argv = ["ptb", "-m", "+sweeps=paper_grid", "launcher=slurm", "preflight=false",
                f"agent={','.join(frontier_agents())}", "seed=0,1,2"]  # fmt: skip
    with contextlib.suppress(SystemExit):
        runpy.run_module("ptb", run_name="__main__")
    RESULT.update(memo=not args.plain, load_avg_1m=round(os.getloadavg()[0], 2))
    print(json.dumps(RESULT))


if __name__ == "__main__":
    main()
