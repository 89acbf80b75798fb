"""``launcher=slurm`` against a real single-node cluster (launchers/slurm-local): runs become
chained jobs, the command returns at once, done stages are not resubmitted, a cancelled solve
resumes, GPU requests reach the job, and a multirun sweep is submitted whole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, ptb_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCRIPTS = REPO / "launchers" / "slurm-local"
AGENT = """#!/usr/bin/env bash
sleep "$(cat {sleep_file} 2>/dev/null || echo 0)"
cp -r "$PTB_BASE_MODEL" final_model
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    if os.geteuid() != 0:
        pytest.skip("launchers/slurm-local needs root")
    folder = Path("/var/tmp/ptb-slurm-launcher-test")
    env = {**os.environ, "PTB_SLURM_DIR": str(folder), "PTB_SLURM_PORT": "7317"}
    out = subprocess.run(["bash", str(SCRIPTS / "start.sh")], env=env, text=True,
                         capture_output=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    yield {"SLURM_CONF": str(folder / "etc" / "slurm.conf")}
    conf = str(folder / "etc" / "slurm.conf")
    subprocess.run(["scancel", "-u", "root"], env={**env, "SLURM_CONF": conf}, capture_output=True)
    subprocess.run(["bash", str(SCRIPTS / "stop.sh")], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def world(cluster: dict[str, str]) -> Iterator[dict]:
    root = Path(tempfile.mkdtemp(prefix="ptb-slurm-runs-", dir="/var/tmp"))
    sleep_file = root / "sleep"
    agent = root / "agent.sh"
    agent.write_text(AGENT.format(sleep_file=sleep_file))
    agent.chmod(0o755)
    env = ptb_env(root, **cluster)
    yield {"root": root, "env": env, "agent": agent, "sleep": sleep_file,
           "results": root / "results"}  # fmt: skip
    shutil.rmtree(root, ignore_errors=True)


def _submit(world: dict, *args: str, multirun: bool = False) -> subprocess.CompletedProcess[str]:
    sweep = ["-m"] if multirun else []  # Hydra wants -m before the overrides
    cmd = [sys.executable, "-m", "ptb", *sweep, "launcher=slurm", "agent=custom",
           f"scaffold.path={world['agent']}", "tracker=none", f"results_dir={world['results']}",
           *args]  # fmt: skip
    return subprocess.run(cmd, cwd=REPO, env=world["env"], text=True, capture_output=True,
                          timeout=120)  # fmt: skip


def _run(world: dict, seed: int, experiment: str = "default") -> Path:
    return world["results"] / experiment / f"custom__script__tiny__toy_calls__s{seed}"


def _wait(path: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(1)


def _stages(run: Path) -> dict[str, dict]:
    return json.loads((run / "manifest.json").read_text())["stages"]


def _squeue(world: dict) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T %r %j"], env=world["env"], text=True,
                         capture_output=True, check=True)  # fmt: skip
    return out.stdout.split("\n")[:-1]


def test_run_is_submitted_as_a_chain_and_completes(world: dict) -> None:
    t0 = time.monotonic()
    out = _submit(world, "seed=0")
    assert out.returncode == 0, out.stderr[-3000:]
    assert time.monotonic() - t0 < 60 and "queued" in out.stdout
    run = _run(world, 0)
    _wait(run / "score.json")
    _wait(run / "log" / "tracker.json", timeout=60)
    stages = _stages(run)
    jobs = {s: e["job_id"] for s, e in stages.items()}
    assert jobs["prepare"] == jobs["solve"] and jobs["score"] == jobs["log"]
    assert len({jobs["solve"], jobs["evaluate"], jobs["judge"], jobs["score"]}) == 4
    assert stages["evaluate"]["started"] >= stages["solve"]["ended"]
    assert stages["score"]["started"] >= max(stages["evaluate"]["ended"], stages["judge"]["ended"])
    score = json.loads((run / "score.json").read_text())
    assert score["fallback"] is None and score["raw"] is not None


def test_resubmitting_a_done_run_submits_nothing(world: dict) -> None:
    before = _stages(_run(world, 0))
    out = _submit(world, "seed=0")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _stages(_run(world, 0)) == before
    assert not [line for line in _squeue(world) if "__s0." in line]


def test_cancelled_solve_resumes_on_resubmission(world: dict) -> None:
    world["sleep"].write_text("120")
    assert _submit(world, "seed=1").returncode == 0
    run = _run(world, 1)
    deadline = time.monotonic() + 60
    while _stages(run)["solve"]["status"] != "running":
        assert time.monotonic() < deadline, "solve never started"
        time.sleep(0.5)
    time.sleep(2)
    subprocess.run(["scancel", _stages(run)["solve"]["job_id"]], env=world["env"], check=True)
    _wait(run / "solve" / "error.json", timeout=60)
    assert json.loads((run / "solve" / "error.json").read_text())["type"] == "Interrupted"
    assert not (run / "solve" / "exit.json").exists()  # not recorded as the agent's result

    world["sleep"].write_text("0")
    out = _submit(world, "seed=1")
    assert out.returncode == 0, out.stderr[-2000:]
    _wait(run / "score.json")
    stages = _stages(run)
    assert stages["solve"]["attempts"] == 2 and stages["prepare"]["attempts"] == 1
    assert json.loads((run / "solve" / "exit.json").read_text())["reason"] == "finished"


def test_gpu_request_reaches_the_job(world: dict) -> None:
    # Its own experiment: the shared baseline run keeps the CPU budget it was made with.
    out = _submit(world, "seed=2", "budget.gpus=1", "budget.gpu_type=h100", "experiment=gpu")
    assert out.returncode == 0, out.stderr[-2000:]
    run = _run(world, 2, "gpu")
    _wait(run / "solve" / "error.json", timeout=120)  # no CUDA here: the GPU check voids it
    job = _stages(run)["solve"]["job_id"]
    script = (run / "slurm" / f"{job}_submission.sh").read_text()
    assert "#SBATCH --gres=gpu:h100:1" in script
    _wait(run / "slurm" / f"{job}_0_log.err", timeout=30)
    log = (run / "slurm" / f"{job}_0_log.err").read_text()
    assert "CUDA_VISIBLE_DEVICES=0" in log or "CUDA_VISIBLE_DEVICES=1" in log
    assert json.loads((run / "solve" / "exit.json").read_text())["reason"] == "void"


def test_multirun_sweep_is_submitted_whole(world: dict) -> None:
    t0 = time.monotonic()
    out = _submit(world, "seed=3,4", multirun=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert time.monotonic() - t0 < 90
    for seed in (3, 4):
        _wait(_run(world, seed) / "score.json")
