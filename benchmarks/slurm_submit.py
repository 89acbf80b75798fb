"""Benchmark: wall time to submit the paper grid to SLURM, against one ``sbatch`` per job.

Needs a running cluster (``eval "$(launchers/slurm-local/start.sh | tail -n 1)"``). Three
measurements, each followed by cancelling exactly the jobs it queued:

1. ``python -m ptb -m +sweeps=paper_grid launcher=slurm launcher.hold=true preflight=false
   agent=<every frontier agent> seed=<seeds>``, as a user types it: compose, plan, write every
   run directory, submit the job arrays (held), return; twice: with an empty compose cache
   (``cold``: every combination composed) and again (``warm``: composes from the cache of the
   first, as when a grid is submitted again with the configs unchanged);
2. the same with ``launcher.arrays=false`` (one submitit job per stage job), optional;
3. a shell-free loop of one ``sbatch --hold`` per job, with the same afterok chain per run
   (solve; evaluate, judge after it; score after both): the floor for per-job submission.

Jobs are held so that nothing runs; ``preflight=false`` because this machine has neither the
agents' keys and CLIs nor the models' weights (the checks cost ~7 ms per distinct config).
``budget.cpus=1 budget.mem_gb=1``: sbatch rejects, held or not, a request no node can meet,
and the local node has 2 cores. Prints one JSON line.

    .venv/bin/python benchmarks/slurm_submit.py [--seeds 0,1,2] [--no-arrays-too] [--skip-loop]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MODELS, TASKS = 4, 7


def frontier_agents() -> list[str]:
    agents = []
    for path in sorted((REPO / "conf" / "agent").glob("*.yaml")):
        kind = yaml.safe_load(path.read_text()).get("kind", "frontier")
        if kind not in ("baseline", "scripted") and path.stem != "custom":
            agents.append(path.stem)
    return agents


def queued() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return set(out.stdout.split())


def cancel_new(before: set[str]) -> int:
    new = sorted(queued() - before)
    arrays = sorted({j.split("_")[0] for j in new})
    for i in range(0, len(arrays), 500):
        subprocess.run(["scancel", *arrays[i : i + 500]], check=False)
    return len(new)


def ptb_sweep(agents: list[str], seeds: str, arrays: bool, cache: str) -> dict[str, object]:
    before = queued()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        cmd = [sys.executable, "-m", "ptb", "-m", "+sweeps=paper_grid", "launcher=slurm",
               "launcher.hold=true", f"launcher.arrays={str(arrays).lower()}", "preflight=false",
               f"agent={','.join(agents)}", f"seed={seeds}", "budget.cpus=1", "budget.mem_gb=1",
               "tracker=none", f"results_dir={tmp}/results"]  # fmt: skip
        cpu0 = _child_cpu()
        t0 = time.monotonic()
        env = {**os.environ, "PTB_COMPOSE_CACHE": cache}
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
        wall = time.monotonic() - t0
        cpu = _child_cpu() - cpu0
        if proc.returncode != 0:
            sys.exit(f"ptb failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        runs = len(list(Path(tmp, "results").rglob("manifest.json")))
    jobs = cancel_new(before)
    log = " ".join(proc.stderr.split())
    composed = re.search(r"composed \((\d+) distinct group choices\) in ([\d.]+) s", log)
    handled = re.search(r"handled in ([\d.]+) s", log)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "runs": runs, "jobs": jobs,
            "composes": int(composed.group(1)) if composed else None,
            "compose_plan_s": float(composed.group(2)) if composed else None,
            "in_ptb_launcher_s": float(handled.group(1)) if handled else None}  # fmt: skip


def _child_cpu() -> float:
    """User + system CPU seconds of finished children (ptb and the sbatch calls it made)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sbatch_loop(runs: int) -> dict[str, object]:
    """One sbatch per job, chained like a run's jobs; returns the loop's wall time."""
    before = queued()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        script = Path(tmp) / "job.sh"
        script.write_text("#!/bin/bash\ntrue\n")
        base = ["sbatch", "--parsable", "--hold", "--cpus-per-task=1", "--mem=1G",
                f"--output={tmp}/%j.out"]  # fmt: skip

        def sbatch(*extra: str) -> str:
            out = subprocess.run([*base, *extra, str(script)], capture_output=True, text=True,
                                 check=True)  # fmt: skip
            return out.stdout.strip().split(";")[0]

        cpu0 = _child_cpu()
        t0 = time.monotonic()
        for _ in range(runs):
            solve = sbatch("--gres=gpu:h100:1", "--requeue")
            evaluate = sbatch("--gres=gpu:h100:1", f"--dependency=afterok:{solve}")
            judge = sbatch(f"--dependency=afterok:{solve}")
            sbatch(f"--dependency=afterok:{evaluate}:{judge}")
        wall = time.monotonic() - t0
        cpu = _child_cpu() - cpu0
    jobs = cancel_new(before)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "runs": runs, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--no-arrays-too",
        action="store_true",
        help="also time launcher.arrays=false (one sbatch per job via submitit)",
    )
    parser.add_argument("--skip-loop", action="store_true")
    args = parser.parse_args()
    if shutil.which("sbatch") is None or not os.environ.get("SLURM_CONF"):
        sys.exit('start the cluster first: eval "$(launchers/slurm-local/start.sh | tail -n 1)"')
    agents = frontier_agents()
    result: dict[str, object] = {
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "agents": len(agents),
        "grid": f"{len(agents)} agents x {MODELS} models x {TASKS} tasks x "
        f"{len(args.seeds.split(','))} seeds + baselines",
    }
    with tempfile.TemporaryDirectory() as cache:  # empty: the first sweep composes everything
        result["ptb_arrays_cold"] = ptb_sweep(agents, args.seeds, True, cache)
        result["ptb_arrays_warm"] = ptb_sweep(agents, args.seeds, True, cache)
        if args.no_arrays_too:
            result["ptb_no_arrays"] = ptb_sweep(agents, args.seeds, False, cache)
    if not args.skip_loop:
        runs = len(agents) * MODELS * TASKS * len(args.seeds.split(","))
        result["sbatch_loop"] = sbatch_loop(runs)
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
