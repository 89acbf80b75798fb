"""New run directories of a sweep are staged in hidden folders beside them: a submission that
fails removes its own, and one that died is cleaned up by the next submission."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ptb.launch import array_task, slurm
from ptb.rundir import _HOST, STAGES, RunDir, clean_staging, new_manifest, stage_run_dir


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _leftover(folder: Path, run_id: str, pid: int, host: str | None = _HOST) -> Path:
    name = f".{run_id}.{pid}-0123abcd" + (f".{host}" if host else "") + ".new"
    path = folder / name
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("x")
    return path


def test_a_staged_folder_names_its_process_and_host(tmp_path: Path) -> None:
    staging = stage_run_dir(RunDir(tmp_path / "exp" / "a.b__c__d__e__s0"), {"config.yaml": "x"})
    assert staging is not None and staging.name.endswith(f".{_HOST}.new")
    assert f".{os.getpid()}-" in staging.name
    assert clean_staging(staging.parent, array_task.WAIT_S) == []  # ours, fresh: kept


def test_stale_staged_folders_are_removed(tmp_path: Path) -> None:
    dead = _leftover(tmp_path, "r.1", _dead_pid())
    alive = _leftover(tmp_path, "r.2", os.getpid())
    elsewhere = _leftover(tmp_path, "r.3", _dead_pid(), host="otherhost")
    old = _leftover(tmp_path, "r.4", os.getpid(), host="otherhost")
    unnamed = _leftover(tmp_path, "r.5", os.getpid(), host=None)  # before hosts were named
    past = time.time() - array_task.WAIT_S - 60
    os.utime(old, (past, past))
    os.utime(unnamed, (past, past))
    (tmp_path / ".slurm").mkdir()
    (tmp_path / "run").mkdir()
    removed = clean_staging(tmp_path, array_task.WAIT_S)
    assert sorted(removed) == sorted([dead, old, unnamed])
    assert alive.is_dir() and elsewhere.is_dir()  # a submission under way, or not ours to judge
    assert (tmp_path / ".slurm").is_dir() and (tmp_path / "run").is_dir()
    assert clean_staging(tmp_path / "missing", 1.0) == []


def _plans(root: Path, n: int) -> list[Any]:
    launcher = SimpleNamespace(retry_agent_failures=False)
    return [
        SimpleNamespace(run=RunDir(root / "exp" / f"a__b__c__d__s{i}"), baseline=None,
                        cfg=SimpleNamespace(launcher=launcher))
        for i in range(n)
    ]  # fmt: skip


def _fake_stage(plan: Any) -> tuple[dict[str, Any], Path | None]:
    staging = stage_run_dir(plan.run, {plan.run.config.name: "cfg: 1\n"})
    return new_manifest(plan.run, dict.fromkeys(STAGES, "pending"), {}), staging


@pytest.fixture
def fake_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurm, "stage", _fake_stage)
    monkeypatch.setattr(slurm, "queue_states", lambda ids: {})


def test_a_failed_submission_leaves_no_staged_folder(tmp_path: Path, fake_slurm: None) -> None:
    def sbatch_down(self: Any, batch: Any) -> None:
        raise RuntimeError("sbatch: error: Slurm controller not responding")

    plans = _plans(tmp_path, 3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(slurm.SlurmLauncher, "submit_jobs", sbatch_down)
        with pytest.raises(RuntimeError, match="not responding"):
            slurm.SlurmLauncher().submit(plans)
    assert list((tmp_path / "exp").iterdir()) == []  # neither staged nor published


def test_a_submission_cleans_what_a_dead_one_left(tmp_path: Path, fake_slurm: None) -> None:
    dead = _leftover(tmp_path / "exp", "a__b__c__d__s0", _dead_pid())
    plans = _plans(tmp_path, 2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(slurm.SlurmLauncher, "submit_jobs", lambda self, batch: None)
        outcomes = slurm.SlurmLauncher().submit(plans)
    assert not dead.exists() and len(outcomes) == 2
    # nothing was queued (submit_jobs did nothing): the runs are published as materialize would
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == [p.run.run_id for p in plans]
    assert all(p.run.manifest.is_file() and p.run.config.is_file() for p in plans)


def test_jobs_queued_before_a_failure_are_cancelled(
    tmp_path: Path, fake_slurm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sbatch fails after the solve array was queued: those tasks are cancelled with the
    staged folders removed, so none waits for (or later runs in) a run directory of a
    resubmission."""
    cancelled: list[str] = []

    def fails_midway(self: Any, batch: Any) -> None:
        for i, rj in enumerate(batch):
            rj.ids["solve"] = f"700_{i}"
        raise RuntimeError("sbatch: error: Batch job submission failed")

    monkeypatch.setattr(slurm, "cancel", lambda ids: cancelled.extend(ids))
    monkeypatch.setattr(slurm.SlurmLauncher, "submit_jobs", fails_midway)
    with pytest.raises(RuntimeError, match="submission failed"):
        slurm.SlurmLauncher().submit(_plans(tmp_path, 3))
    assert sorted(cancelled) == ["700_0", "700_1", "700_2"]
    assert list((tmp_path / "exp").iterdir()) == []
