"""SLURM job parameters from the config: resources, dependencies, requeue, hold."""

from pathlib import Path
from typing import Any

from ptb.config.root import RunConfig
from ptb.launch.slurm import dependency, executor_parameters, resources
from tests.support.repo import compose_run


def _cfg(*overrides: str) -> RunConfig:
    return compose_run("launcher=slurm", *overrides)


def test_solve_job_takes_the_budget() -> None:
    cfg = _cfg("agent=opus46", "model=qwen3_4b", "task=gsm8k", "launcher.partition=gpu",
               "launcher.account=proj", "launcher.qos=high")  # fmt: skip
    res = resources(cfg, "solve")
    assert (res.cpus, res.mem_gb, res.gpus) == (16, 128, 1)
    assert res.time_min == 10 * 60 + 5 + 10  # hours + grace + margin
    params = executor_parameters(cfg, "run.solve", "solve", [])
    assert params == {
        "name": "run.solve",
        "timeout_min": 615,
        "cpus_per_task": 16,
        "mem_gb": 128,
        "slurm_partition": "gpu",
        "slurm_account": "proj",
        "slurm_qos": "high",
        "slurm_gres": "gpu:h100:1",
        "slurm_additional_parameters": {"requeue": True},
    }


def test_cpu_jobs_ask_no_gpu_and_carry_dependencies() -> None:
    cfg = _cfg("agent=opus46", "model=qwen3_4b", "task=gsm8k")
    params = executor_parameters(cfg, "run.score", "score", ["11", "12"])
    assert "slurm_gres" not in params
    assert params["slurm_additional_parameters"] == {"dependency": "afterok:11:12"}
    assert (params["cpus_per_task"], params["mem_gb"], params["timeout_min"]) == (1, 4, 15)


def test_array_dependencies_are_per_element_and_hold_is_kept() -> None:
    cfg = _cfg("agent=opus46", "model=qwen3_4b", "task=gsm8k", "launcher.hold=true")
    params = executor_parameters(cfg, "ptb.default.score", "score", ["7_0"], ["21", "22"])
    assert params["slurm_additional_parameters"] == {
        "hold": True,
        "dependency": "aftercorr:21,aftercorr:22,afterok:7_0",
    }
    assert dependency([]) is None


def test_requeue_follows_the_config() -> None:
    cfg = _cfg("launcher.requeue=[judge]")
    assert executor_parameters(cfg, "n", "judge", [])["slurm_additional_parameters"] == {
        "requeue": True
    }
    assert "slurm_additional_parameters" not in executor_parameters(cfg, "n", "solve", [])


def test_embedded_budget_fits_a_two_core_node() -> None:
    cfg = _cfg()
    for job in ("solve", "evaluate", "judge", "score"):
        res = resources(cfg, job)
        assert res.cpus <= 2 and res.gpus == 0, job


def test_a_misspelt_job_name_is_a_preflight_problem() -> None:
    from ptb.preflight import check_launcher

    problems = check_launcher(_cfg("launcher.requeue=[solv]"))
    assert any("'solv' does not exist (did you mean 'solve'?)" in p.what for p in problems)
    assert not [p for p in check_launcher(_cfg()) if "does not exist" in p.what]


def test_the_planner_reads_the_typed_manifest(tmp_path: Path) -> None:
    """plan_jobs reads the run's manifest as a records.Manifest: done stages (with their output)
    and skipped ones are not submitted, a live queued job is kept, a dead one replaced."""
    from types import SimpleNamespace

    from ptb.launch.scheduler import JobState
    from ptb.launch.slurm import plan_jobs
    from ptb.records import Manifest
    from ptb.rundir import STAGES, RunDir

    run = RunDir(tmp_path / "exp" / "r")
    run.init_manifest(dict.fromkeys(STAGES, "pending") | {"retention": "skipped"}, {})
    run.prompt.parent.mkdir(parents=True)
    run.prompt.write_text("p")
    run.update_stage("prepare", status="done")
    run.update_stage("solve", job_id="11")
    run.update_stage("evaluate", job_id="12")
    plan: Any = SimpleNamespace(run=run)
    queued = {"11": JobState("RUNNING"), "12": JobState("FAILED")}
    for manifest in (None, Manifest.read(run.manifest)):
        rj = plan_jobs(plan, queued, manifest)
        assert rj.ids == {"solve": "11"} and rj.replaced == ["12"]
        assert rj.todo == {"evaluate": ["evaluate"], "judge": ["judge"], "score": ["score", "log"]}
