"""Benchmark: wall time to submit the paper grid to SLURM, against one ``sbatch`` per job.

Needs a running cluster (``eval "$(launchers/slurm-local/start.sh | tail -n 1)"``), or, with
``--fresh-clusters``, starts a new local cluster for each measurement (root; slurmctld keeps
each cancelled job's record for five minutes, which slows the next measurement on the same
cluster). Three measurements, each followed by cancelling exactly the jobs it queued:

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
                                                [--fresh-clusters] [--scratch DIR]
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MODELS, TASKS = 4, 7
CLUSTER_PORT = 7917
SCRATCH = [tempfile.gettempdir()]
"""Where the run directories and the loop's job files go (``--scratch``); fresh clusters go
to /var/tmp, as the tests' do."""
"""slurmctld's port for ``--fresh-clusters`` (slurmd +1, slurmdbd +2)."""


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
    with _kept_dir() as tmp:
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
    with _kept_dir() as tmp:
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


@contextmanager
def cluster() -> Iterator[None]:
    """A new local cluster (``launchers/slurm-local``) in a folder of its own, as SLURM_CONF
    within the block; stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ptb-slurm-bench-", dir="/var/tmp"))  # munged: not /root
    env = {**os.environ, "PTB_SLURM_DIR": str(folder), "PTB_SLURM_PORT": str(CLUSTER_PORT)}
    scripts = REPO / "launchers" / "slurm-local"
    before = os.environ.get("SLURM_CONF")
    try:
        start = subprocess.run([str(scripts / "start.sh")], env=env, capture_output=True,
                               text=True, timeout=600)  # fmt: skip
        if start.returncode != 0:
            sys.exit(f"start.sh failed:\n{start.stderr[-3000:]}")
        os.environ["SLURM_CONF"] = str(folder / "etc" / "slurm.conf")
        yield
    finally:
        subprocess.run([str(scripts / "stop.sh")], env=env, capture_output=True, timeout=300)
        shutil.rmtree(folder, ignore_errors=True)
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


@contextmanager
def _same_cluster() -> Iterator[None]:
    yield


@contextmanager
def _kept_dir() -> Iterator[str]:
    """A new folder in this run's scratch folder, kept until the script ends: deleting a
    measurement's thousands of files right away slows the next measurement's (``fs_probe``)."""
    yield tempfile.mkdtemp(dir=SCRATCH[0])


def fs_probe(keep: Path, dirs: int = 300) -> float:
    """Milliseconds to create one run directory's worth of files in the scratch folder (a
    folder, three small files, a rename), averaged over ``dirs``. Kept until the script ends:
    on this VM's ext4 (mounted with ``discard``), creating files right after thousands were
    deleted nearby is 10-25x slower for minutes, and the probe shows the state the
    measurements ran in."""
    keep.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(dirs):
        staged = keep / f".{i}.new"
        staged.mkdir()
        for name in ("config.yaml", "overrides.yaml", "manifest.json"):
            (staged / name).write_text("x: 1\n" * 40)
        staged.rename(keep / str(i))
    return round((time.perf_counter() - t0) / dirs * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--no-arrays-too",
        action="store_true",
        help="also time launcher.arrays=false (one sbatch per job via submitit)",
    )
    parser.add_argument("--skip-loop", action="store_true")
    parser.add_argument(
        "--fresh-clusters",
        action="store_true",
        help="run each measurement on a new local cluster (launchers/slurm-local, needs root): "
        "slurmctld keeps a cancelled job's record for MinJobAge (300 s), and a queue holding "
        "the last measurement's 5,000 records slows the next one's sbatch calls",
    )
    parser.add_argument(
        "--scratch",
        default=tempfile.gettempdir(),
        help="folder for the run directories and the loop's job files (default: the "
        "temporary folder); file creation speed differs between folders and file systems, "
        "so name it when comparing",
    )
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        sys.exit("no sbatch: install SLURM (launchers/slurm-local/start.sh does)")
    if not args.fresh_clusters and not os.environ.get("SLURM_CONF"):
        sys.exit('start the cluster first: eval "$(launchers/slurm-local/start.sh | tail -n 1)"'
                 " (or pass --fresh-clusters)")  # fmt: skip
    agents = frontier_agents()
    result: dict[str, object] = {
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "agents": len(agents),
        "grid": f"{len(agents)} agents x {MODELS} models x {TASKS} tasks x "
        f"{len(args.seeds.split(','))} seeds + baselines",
    }
    fresh = cluster if args.fresh_clusters else _same_cluster
    with (
        tempfile.TemporaryDirectory() as cache,
        tempfile.TemporaryDirectory(prefix="ptb-submit-bench-", dir=args.scratch) as probes,
    ):  # the cache empty: the first sweep composes everything; every file kept to the end
        SCRATCH[0] = probes
        with fresh():
            probe_ms = [fs_probe(Path(probes) / "cold")]
            result["ptb_arrays_cold"] = ptb_sweep(agents, args.seeds, True, cache)
        with fresh():
            probe_ms.append(fs_probe(Path(probes) / "warm"))
            result["ptb_arrays_warm"] = ptb_sweep(agents, args.seeds, True, cache)
        if args.no_arrays_too:
            with fresh():
                result["ptb_no_arrays"] = ptb_sweep(agents, args.seeds, False, cache)
        if not args.skip_loop:
            runs = len(agents) * MODELS * TASKS * len(args.seeds.split(","))
            with fresh():
                probe_ms.append(fs_probe(Path(probes) / "loop"))
                result["sbatch_loop"] = sbatch_loop(runs)
    result["fs_probe_ms"] = probe_ms
    result["fresh_clusters"] = args.fresh_clusters
    result["scratch"] = args.scratch
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
