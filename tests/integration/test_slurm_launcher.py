"""``launcher=slurm`` against a real single-node cluster (launchers/slurm-local): runs become
chained jobs, the command returns at once, done stages are not resubmitted, a cancelled solve
resumes, a requeued solve continues by itself, agent failures are retried only when asked, GPU
requests reach the job, and multirun sweeps are submitted whole as job arrays."""

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
from tests.support.slurm_cluster import fresh_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AGENT = """#!/usr/bin/env bash
sleep {sleep}
if [ {fail} = 1 ]; then echo "agent gives up" >&2; exit 3; fi
cp -r "$PTB_BASE_MODEL" final_model
"""
"""The script agent; its behaviour is written into it (``_agent``), since the sandbox sees none
of the host's files outside its allow-list (a control file in /var/tmp would be invisible)."""


def _agent(world: dict, sleep: int = 0, fail: bool = False) -> None:
    """Rewrite the agent for the next solve (scaffold=script copies it when the solve starts)."""
    world["agent"].write_text(AGENT.format(sleep=sleep, fail=int(fail)))


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    if os.geteuid() != 0:
        pytest.skip("launchers/slurm-local needs root")
    with fresh_cluster("launcher", 7317) as local:
        env = {**local.script_env, "SLURM_CONF": local.slurm_conf}
        yield {"SLURM_CONF": local.slurm_conf}
        subprocess.run(["scancel", "-u", "root"], env=env, capture_output=True)


@pytest.fixture(scope="module")
def world(cluster: dict[str, str]) -> Iterator[dict]:
    root = Path(tempfile.mkdtemp(prefix="ptb-slurm-runs-", dir="/var/tmp"))
    agent = root / "agent.sh"
    agent.write_text(AGENT.format(sleep=0, fail=0))
    agent.chmod(0o755)
    env = ptb_env(root, **cluster)
    yield {"root": root, "env": env, "agent": agent, "results": root / "results"}
    shutil.rmtree(root, ignore_errors=True)


def _submit(world: dict, *args: str, multirun: bool = False,
            custom: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    sweep = ["-m"] if multirun else []  # Hydra wants -m before the overrides
    agent = ["agent=custom", f"scaffold.path={world['agent']}"] if custom else []
    cmd = [sys.executable, "-m", "ptb", *sweep, "launcher=slurm", *agent, "tracker=none",
           f"results_dir={world['results']}", *args]  # fmt: skip
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
    _agent(world, sleep=120)
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

    _agent(world, sleep=0)
    out = _submit(world, "seed=1")
    assert out.returncode == 0, out.stderr[-2000:]
    _wait(run / "score.json")
    stages = _stages(run)
    assert stages["solve"]["attempts"] == 2 and stages["prepare"]["attempts"] == 1
    ended = json.loads((run / "solve" / "exit.json").read_text())
    assert ended["reason"] == "finished"
    # the resumed agent continued the budget: the time of the cancelled job counts
    clock = json.loads((run / "solve" / "clock.json").read_text())
    assert clock["resumes"] == 1 and ended["wall_s"] >= 2


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


def _status(world: dict, path: Path) -> dict[str, dict]:
    out = subprocess.run([sys.executable, "-m", "ptb.status", str(path), "--json"], cwd=REPO,
                         env=world["env"], text=True, capture_output=True, timeout=60)  # fmt: skip
    return {Path(r["run_dir"]).name: r for r in json.loads(out.stdout)}


def _until(check, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.5)
    return value


def test_status_flags_runs_stuck_behind_a_failed_dependency(world: dict) -> None:
    _agent(world, sleep=120)
    assert _submit(world, "seed=5", "experiment=stuck").returncode == 0
    run = _run(world, 5, "stuck")
    _until(lambda: _stages(run)["solve"]["status"] == "running")
    subprocess.run(["scancel", _stages(run)["solve"]["job_id"]], env=world["env"], check=True)
    status = _until(lambda: (st := _status(world, run)[run.name])["stuck"] and st, timeout=90)
    assert set(status["stuck"]) >= {"evaluate", "judge", "score"}
    assert status["jobs"]["evaluate"]["reason"] == "DependencyNeverSatisfied"
    assert status["failed"] == ["solve"]  # the Interrupted solve, retried on re-submission
    out = subprocess.run([sys.executable, "-m", "ptb.status", str(run)], cwd=REPO,
                         env=world["env"], text=True, capture_output=True)  # fmt: skip
    assert out.returncode == 1 and "(stuck)" in out.stdout and "never start" in out.stdout
    _agent(world, sleep=0)
    assert _submit(world, "seed=5", "experiment=stuck").returncode == 0  # resumes it
    _wait(run / "score.json")
    assert _status(world, run)[run.name]["state"] == "done"


def test_requeued_solve_continues_in_the_same_run_directory(world: dict) -> None:
    """A preemption or node failure requeues the solve job (``--requeue``); it starts again by
    itself and the run ends with one score, no re-submission needed."""
    _agent(world, sleep=25)
    assert _submit(world, "seed=6", "experiment=requeue").returncode == 0
    run = _run(world, 6, "requeue")
    _until(lambda: _stages(run)["solve"]["status"] == "running")
    job = _stages(run)["solve"]["job_id"]
    script = (run / "slurm" / f"{job}_submission.sh").read_text()
    assert "#SBATCH --requeue" in script
    time.sleep(2)
    _agent(world, sleep=0)
    subprocess.run(["scontrol", "requeue", job], env=world["env"], check=True)
    _wait(run / "score.json", timeout=240)
    stages = _stages(run)
    assert stages["solve"]["job_id"] == job and stages["solve"]["attempts"] == 2
    assert json.loads((run / "solve" / "error.attempt1.json").read_text())["type"] == "Interrupted"
    assert json.loads((run / "solve" / "exit.json").read_text())["reason"] == "finished"
    assert list(run.rglob("score.json")) == [run / "score.json"]
    assert "restart 1" in (run / "ptb.log").read_text()


def test_agent_failures_are_retried_only_when_asked(world: dict) -> None:
    _agent(world, fail=True)
    assert _submit(world, "seed=7", "experiment=retry").returncode == 0
    run = _run(world, 7, "retry")
    _wait(run / "score.json")
    _until(lambda: _stages(run)["log"]["status"] == "done")
    assert json.loads((run / "solve" / "exit.json").read_text())["reason"] == "crashed"
    assert json.loads((run / "score.json").read_text())["fallback"] == "no_final_model"
    before = _stages(run)
    assert _submit(world, "seed=7", "experiment=retry").returncode == 0
    assert _stages(run) == before  # an agent failure is a result, not resubmitted

    _agent(world)
    out = _submit(world, "seed=7", "experiment=retry", "launcher.retry_agent_failures=true")
    assert out.returncode == 0, out.stderr[-2000:]
    _wait(run / "score.json")
    assert json.loads((run / "score.json").read_text())["fallback"] is None
    assert (run / "attempts" / "1" / "solve" / "exit.json").exists()
    assert json.loads(run.joinpath("manifest.json").read_text())["agent_retries"][0]["why"] == (
        "crashed"
    )


def test_multirun_sweep_is_submitted_as_chained_arrays(world: dict) -> None:
    t0 = time.monotonic()
    out = _submit(world, "seed=3,4", "experiment=arrays", multirun=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert time.monotonic() - t0 < 90
    runs = [_run(world, seed, "arrays") for seed in (3, 4)]
    for run in runs:
        _wait(run / "score.json")
    jobs = [{s: e["job_id"] for s, e in _stages(r).items()} for r in runs]
    for job in ("solve", "evaluate", "judge", "score"):
        arrays = {j[job].split("_")[0] for j in jobs}
        assert len(arrays) == 1, f"{job}: one array for both runs, got {jobs}"
        assert sorted(j[job].split("_")[1] for j in jobs) == ["0", "1"]
    for run in runs:  # aftercorr: each run's evaluate waited for its own solve
        stages = _stages(run)
        assert stages["evaluate"]["started"] >= stages["solve"]["ended"]
        assert stages["score"]["started"] >= stages["judge"]["ended"]
        assert stages["solve"]["slurm_dir"].endswith("arrays/.slurm")
    array = jobs[0]["score"].split("_")[0]
    folder = runs[0].parent / ".slurm"
    script = (folder / f"{array}_submission.sh").read_text()
    assert f"aftercorr:{jobs[0]['evaluate'].split('_')[0]}" in script
    assert "-m ptb.launch.array_task" in script  # one pickle per array, not per task
    for j in jobs:  # each task wrote submitit's own pickle and result: submitit's layout
        assert (folder / f"{j['solve']}_submitted.pkl").exists()
        assert (folder / f"{j['solve']}_0_result.pkl").exists()


def test_embedded_default_sweep_completes(world: dict) -> None:
    """The embedded default (recipe agent, tiny model, toy task) as a 2-seed sweep, shortened."""
    out = _submit(world, "seed=0,1", "experiment=embedded", "agent.recipe.max_steps=10",
                  "agent.recipe.max_train_examples=200", multirun=True, custom=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    exp = world["results"] / "embedded"
    runs = [exp / f"recipe_sft__recipe__tiny__toy_calls__s{seed}" for seed in (0, 1)]
    for run in runs:
        _wait(run / "score.json", timeout=600)
    for run in runs:
        score = json.loads((run / "score.json").read_text())
        assert score["agent"] == "recipe_sft" and score["raw"] is not None
        assert score["fallback"] is None and score["base"] is not None
    statuses = _status(world, exp)
    assert {s["state"] for s in statuses.values()} == {"done"} and len(statuses) == 3
