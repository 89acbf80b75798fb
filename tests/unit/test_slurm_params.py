from pathlib import Path

from hydra import compose, initialize_config_dir

from ptb.config import register_configs
from ptb.launch.slurm import executor_parameters, resources
from ptb.plan import to_run_config
from ptb.rundir import RunDir

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _cfg(*overrides: str):  # type: ignore[no-untyped-def]
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return to_run_config(compose("config", overrides=["launcher=slurm", *overrides]))


def test_solve_job_takes_the_budget() -> None:
    cfg = _cfg("agent=opus46", "model=qwen3_4b", "task=gsm8k", "launcher.partition=gpu",
               "launcher.account=proj", "launcher.qos=high")  # fmt: skip
    res = resources(cfg, "solve")
    assert (res.cpus, res.mem_gb, res.gpus) == (16, 128, 1)
    assert res.time_min == 10 * 60 + 5 + 10  # hours + grace + margin
    params = executor_parameters(cfg, RunDir(Path("/r/e/run")), "solve", [])
    assert params == {
        "name": "run.solve",
        "timeout_min": 615,
        "cpus_per_task": 16,
        "mem_gb": 128,
        "slurm_partition": "gpu",
        "slurm_account": "proj",
        "slurm_qos": "high",
        "slurm_gres": "gpu:h100:1",
    }


def test_cpu_jobs_ask_no_gpu_and_carry_dependencies() -> None:
    cfg = _cfg("agent=opus46", "model=qwen3_4b", "task=gsm8k")
    params = executor_parameters(cfg, RunDir(Path("/r/e/run")), "score", ["11", "12"])
    assert "slurm_gres" not in params
    assert params["slurm_additional_parameters"] == {"dependency": "afterok:11:12"}
    assert (params["cpus_per_task"], params["mem_gb"], params["timeout_min"]) == (1, 4, 15)


def test_embedded_budget_fits_a_two_core_node() -> None:
    cfg = _cfg()
    for job in ("solve", "evaluate", "judge", "score"):
        res = resources(cfg, job)
        assert res.cpus <= 2 and res.gpus == 0, job
