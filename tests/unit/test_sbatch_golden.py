"""The ``sbatch`` scripts submitit writes for ptb's jobs, compared with golden files.

Rendered through the launcher's own path (``job_parameters`` -> ``executor_parameters`` ->
submitit; an array's command is ``array_command``'s), so a change in resources, dependencies,
requeue/hold flags or in submitit's template shows up as a diff. Regenerate after an intended
change: ``PTB_UPDATE_GOLDEN=1 pytest tests/unit/test_sbatch_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.config import register_configs
from ptb.launch.slurm import array_command, executor_parameters, make_executor
from ptb.plan import to_run_config

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "sbatch"
SITE = ["launcher.partition=gpu", "launcher.account=proj", "launcher.qos=normal",
        "launcher.constraint=h100", "launcher.setup=[module load cuda/12.4]"]  # fmt: skip
GRID = ["agent=opus46", "model=qwen3_4b", "task=gsm8k", *SITE]
RUN = "opus46__claude_code__qwen3_4b__gsm8k__s0"
# name: (overrides, job, afterok, aftercorr, array size or None)
CASES: dict[str, tuple[list[str], str, list[str], list[str], int | None]] = {
    "solve": (GRID, "solve", [], [], None),
    "evaluate": (GRID, "evaluate", ["101"], [], None),
    "judge": (GRID, "judge", ["101"], [], None),
    # retention=general: its own job after evaluate, with evaluate's resources
    "retention": ([*GRID, "retention=general"], "retention", ["102"], [], None),
    "score": (GRID, "score", ["102", "103", "99"], [], None),
    "solve_array_held": ([*GRID, "launcher.hold=true"], "solve", [], [], 63),
    "score_array": (GRID, "score", ["7_2"], ["201", "202"], 63),
    "solve_cpu_smoke": ([], "solve", [], [], None),
}


def _script(name: str) -> str:
    overrides, job, after_ok, after_corr, size = CASES[name]
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        cfg = to_run_config(compose("config", overrides=["launcher=slurm", *overrides]))
    folder = Path("/results/default") / (".slurm" if size else f"{RUN}/slurm")
    run_name = f"ptb.default.{job}" if size else f"{RUN}.{job}"
    params = executor_parameters(cfg, run_name, job, after_ok, after_corr)
    if size:
        params["slurm_array_parallelism"] = cfg.launcher.array_parallelism
    slurm = make_executor(folder, params)._executor
    command = slurm._submitit_command_str
    if size:
        slurm.parameters["map_count"] = size  # what submit_array sets for an array of `size`
        command = array_command(slurm.python, folder, folder / "array_uid.pkl")
    text: str = slurm._make_submission_file_text(command, "uid")
    return text.replace(sys.executable, "<python>")


@pytest.mark.parametrize("name", sorted(CASES))
def test_sbatch_script_matches_golden(name: str) -> None:
    text = _script(name)
    golden = GOLDEN / f"{name}.sh"
    if os.environ.get("PTB_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}: run with PTB_UPDATE_GOLDEN=1"
    assert text.splitlines() == golden.read_text().splitlines()


def test_the_lines_that_matter() -> None:
    """Independent of the golden files: what the cluster must see."""
    solve = _script("solve").splitlines()
    for line in ("#SBATCH --gres=gpu:h100:1", "#SBATCH --requeue", "#SBATCH --time=615",
                 "#SBATCH --cpus-per-task=16", "#SBATCH --mem=128GB", "#SBATCH --partition=gpu",
                 "#SBATCH --account=proj", "#SBATCH --qos=normal", "#SBATCH --constraint=h100",
                 "module load cuda/12.4"):  # fmt: skip
        assert line in solve, line
    score = _script("score_array")
    assert "#SBATCH --dependency=aftercorr:201,aftercorr:202,afterok:7_2" in score
    assert "#SBATCH --array=0-62%63" in score and "--gres" not in score
    assert "#SBATCH --hold" in _script("solve_array_held")
    assert "--gres" not in _script("solve_cpu_smoke")
    retention = _script("retention").splitlines()
    evaluate = _script("evaluate").splitlines()
    for line in ("#SBATCH --gres=gpu:h100:1", "#SBATCH --dependency=afterok:102",
                 "#SBATCH --requeue"):  # fmt: skip
        assert line in retention, line
    keys = ("#SBATCH --gres", "#SBATCH --mem", "#SBATCH --cpus", "#SBATCH --time")
    same = [ln for ln in evaluate if ln.startswith(keys)]
    assert same and all(ln in retention for ln in same)
