"""``python -m ptb.launch.array_task <folder> <calls.pkl>``: one task of a job array submitted by
``ptb.launch.slurm.submit_array``, which pickles the calls of all its tasks into one file.

The task takes its own call (``SLURM_ARRAY_TASK_ID``) from that file, writes it where submitit
keeps a job's pickle (``<folder>/<array>_<task>_submitted.pkl``, unless a requeued or resumed
task finds one there already) and runs it as submitit's own job entry point does: result
pickles, logs, signal handling and requeues are submitit's. A new run directory is published
by the launcher only once its jobs are queued (with their ids in the manifest): the task waits
for it first.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

WAIT_S = 600.0
"""How long a task waits for its run directory (published once the whole sweep is queued)."""


def main(argv: list[str] | None = None) -> None:
    from submitit.core import job_environment, submission, utils

    folder, calls = argv if argv is not None else sys.argv[1:]
    os.environ["SUBMITIT_FOLDER"] = folder
    paths = job_environment.JobEnvironment().paths
    if not paths.submitted_pickle.exists():
        task = int(os.environ["SLURM_ARRAY_TASK_ID"])
        delayed = utils.pickle_load(calls)[task]
        with utils.temporary_save_path(paths.submitted_pickle) as tmp:
            utils.cloudpickle_dump(delayed, tmp)
    else:
        delayed = utils.DelayedSubmission.load(paths.submitted_pickle)
    _wait_for(Path(delayed.args[0]), WAIT_S)
    submission.process_job(folder)


def _wait_for(run_dir: Path, timeout: float) -> None:
    """A new run directory appears (with its manifest) just after its jobs are queued."""
    deadline = time.monotonic() + timeout
    while not run_dir.is_dir():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run_dir} did not appear within {timeout:.0f} s of the job start")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
