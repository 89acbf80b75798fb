"""``ptb.launch.array_task``: a task of an array submitted with one pickle for all its tasks runs
its own call and leaves submitit's files (its job pickle, its result) where submitit puts them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from submitit.core import utils

from ptb.launch import array_task

ENV = {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "43", "SLURM_ARRAY_JOB_ID": "41",
       "SLURM_ARRAY_TASK_ID": "2", "SLURM_NTASKS": "1", "SLURM_JOB_NUM_NODES": "1",
       "SLURM_NODEID": "0", "SLURM_JOB_NODELIST": "node", "SLURM_PROCID": "0",
       "SLURM_LOCALID": "0"}  # fmt: skip


def _calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    calls = tmp_path / "array_x.pkl"
    runs = [str(tmp_path / f"run{i}") for i in range(3)]
    utils.cloudpickle_dump([utils.DelayedSubmission(os.path.join, r, "x") for r in runs], calls)
    return calls


def test_task_runs_its_own_call_in_submitit_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _calls(tmp_path, monkeypatch)
    (tmp_path / "run2").mkdir()
    array_task.main([str(tmp_path), str(calls)])
    assert utils.DelayedSubmission.load(tmp_path / "41_2_submitted.pkl").args[0].endswith("run2")
    assert utils.pickle_load(tmp_path / "41_2_0_result.pkl") == ("success", f"{tmp_path}/run2/x")
    # a requeued task keeps the pickle it has (submitit may have rewritten it to resume)
    mine = utils.DelayedSubmission(os.path.join, str(tmp_path / "run2"), "y")
    utils.cloudpickle_dump(mine, tmp_path / "41_2_submitted.pkl")
    array_task.main([str(tmp_path), str(calls)])
    assert utils.pickle_load(tmp_path / "41_2_0_result.pkl") == ("success", f"{tmp_path}/run2/y")


def test_task_waits_for_its_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher publishes a new run directory once its jobs are queued."""
    calls = _calls(tmp_path, monkeypatch)
    monkeypatch.setattr(array_task, "WAIT_S", 0.2)
    with pytest.raises(RuntimeError, match="did not appear"):
        array_task.main([str(tmp_path), str(calls)])
    assert not (tmp_path / "41_2_0_result.pkl").exists()
