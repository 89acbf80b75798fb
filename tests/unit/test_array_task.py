"""``ptb.launch.array_task``: a task of an array submitted with one pickle for all its tasks runs
its own call and leaves submitit's files (its job pickle, its result) where submitit puts them."""

from __future__ import annotations

import operator
from pathlib import Path

import pytest
from submitit.core import utils

from ptb.launch import array_task


def test_task_runs_its_own_call_in_submitit_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "array_x.pkl"
    utils.cloudpickle_dump([utils.DelayedSubmission(operator.add, i, 10) for i in range(3)], calls)
    env = {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "43", "SLURM_ARRAY_JOB_ID": "41",
           "SLURM_ARRAY_TASK_ID": "2", "SLURM_NTASKS": "1", "SLURM_JOB_NUM_NODES": "1",
           "SLURM_NODEID": "0", "SLURM_JOB_NODELIST": "node", "SLURM_PROCID": "0",
           "SLURM_LOCALID": "0"}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    array_task.main([str(tmp_path), str(calls)])
    assert utils.DelayedSubmission.load(tmp_path / "41_2_submitted.pkl").args == (2, 10)
    assert utils.pickle_load(tmp_path / "41_2_0_result.pkl") == ("success", 12)
    # a requeued task keeps the pickle it has (submitit may have rewritten it to resume)
    utils.cloudpickle_dump(
        utils.DelayedSubmission(operator.add, 5, 5), tmp_path / "41_2_submitted.pkl"
    )
    array_task.main([str(tmp_path), str(calls)])
    assert utils.pickle_load(tmp_path / "41_2_0_result.pkl") == ("success", 10)
