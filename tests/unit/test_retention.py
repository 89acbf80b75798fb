"""Retention: lm-eval's results flattened, final against base, the per-model cache key, the
config group and the stage tables (the real lm-eval runs are in tests/integration)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.config import register_configs
from ptb.config.model import ModelConfig
from ptb.config.retention import RetentionConfig, RetentionTask
from ptb.launch.slurm import resources
from ptb.plan import to_run_config
from ptb.retention.base import cache_key
from ptb.retention.lmeval import groups
from ptb.retention.results import compare, flatten, mean_delta, metric_key, summary
from ptb.rundir import JOB_NEEDS, JOB_STAGES, STAGES, RunDir
from ptb.stages import applicable, dependents

REPO = Path(__file__).resolve().parents[2]
LM_EVAL_RESULTS = {  # the shape of simple_evaluate(...)["results"] (lm-eval 0.4.13)
    "mmlu": {"alias": "mmlu", "acc,none": 0.5, "acc_stderr,none": 0.03},
    "mmlu_abstract_algebra": {"acc,none": 0.2, "acc_stderr,none": 0.1},
    "gsm": {
        "exact_match,strict-match": 0.25,
        "exact_match_stderr,strict-match": 0.05,
        "exact_match,flexible-extract": 0.3,
        "exact_match_stderr,flexible-extract": "N/A",
        "sample_len": 40,
    },
}


def _compose(*overrides: str):  # type: ignore[no-untyped-def]
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return to_run_config(compose("config", overrides=list(overrides)))


def test_flatten_keeps_requested_tasks_metrics_and_stderr() -> None:
    values = flatten(LM_EVAL_RESULTS, ["mmlu", "gsm"])
    assert set(values) == {"mmlu", "gsm"}  # subtasks of a group are left out
    assert values["mmlu"] == {"acc": {"value": 0.5, "stderr": 0.03}}
    assert values["gsm"]["exact_match,strict-match"] == {"value": 0.25, "stderr": 0.05}
    assert values["gsm"]["exact_match,flexible-extract"]["stderr"] is None  # "N/A"
    assert "sample_len" not in values["gsm"]


def test_flatten_names_a_task_lm_eval_did_not_return() -> None:
    with pytest.raises(KeyError, match="no results for 'arc'"):
        flatten(LM_EVAL_RESULTS, ["arc"])


def test_metric_key() -> None:
    assert metric_key("acc,none") == "acc"
    assert metric_key("exact_match,strict-match") == "exact_match,strict-match"


def test_compare_delta_and_stderr() -> None:
    final = {"t": {"acc": {"value": 0.4, "stderr": 0.03}, "only_final": {"value": 1.0}}}
    base = {"t": {"acc": {"value": 0.5, "stderr": 0.04}}, "gone": {"acc": {"value": 0.1}}}
    out = compare(final, base)
    row = out["t"]["acc"]
    assert row["final"] == 0.4 and row["base"] == 0.5
    assert row["delta"] == pytest.approx(-0.1)
    assert row["stderr"] == pytest.approx(0.05)  # sqrt(0.03² + 0.04²)
    assert out["t"]["only_final"]["delta"] is None and out["t"]["only_final"]["base"] is None
    assert out["gone"]["acc"]["final"] is None and out["gone"]["acc"]["delta"] is None


def test_summary_picks_the_configured_metric_or_the_first() -> None:
    compared = compare(
        {"a": {"acc": {"value": 0.6}, "acc_norm": {"value": 0.7}}, "b": {"em": {"value": 0.2}}},
        {"a": {"acc": {"value": 0.5}, "acc_norm": {"value": 0.5}}, "b": {"em": {"value": 0.4}}},
    )
    rows = summary([RetentionTask("a", metric="acc_norm"), RetentionTask("b")], compared)
    assert rows["a"]["metric"] == "acc_norm" and rows["a"]["delta"] == pytest.approx(0.2)
    assert rows["b"]["metric"] == "em" and rows["b"]["delta"] == pytest.approx(-0.2)
    assert mean_delta(rows) == pytest.approx(0.0)
    assert mean_delta({}) is None
    with pytest.raises(KeyError, match=r"no metric 'f1'.*retention.tasks\[\].metric"):
        summary([RetentionTask("a", metric="f1")], compared)


def test_groups_by_shots_and_limit_in_suite_order() -> None:
    tasks = [RetentionTask("a", 5, 10), RetentionTask("b", 0, None), RetentionTask("c", 5, 10)]
    assert groups(tasks) == {(5, 10): ["a", "c"], (0, None): ["b"]}


def test_cache_key_changes_with_what_changes_the_numbers() -> None:
    cfg = RetentionConfig(name="general", tasks=[RetentionTask("a", 5, 10)])
    model = ModelConfig(name="m", display_name="M", chat_template="qwen3", hf_id="org/m")
    key = cache_key(cfg, model, Path("/m"), "hf")
    renamed = RetentionConfig(name="other", tasks=[RetentionTask("a", 5, 10)], batch_size="8")
    assert cache_key(renamed, model, Path("/m"), "hf") == key  # name, batch size: same numbers
    for changed in (
        cache_key(
            RetentionConfig(name="g", tasks=[RetentionTask("a", 5, 20)]), model, Path("/m"), "hf"
        ),
        cache_key(cfg, model, Path("/m"), "vllm"),
        cache_key(cfg, model, Path("/other"), "hf"),
        cache_key(
            cfg,
            ModelConfig(
                name="m", display_name="M", chat_template="qwen3", hf_id="org/m", revision="abc"
            ),
            Path("/m"),
            "hf",
        ),
    ):
        assert changed != key


@pytest.mark.parametrize("preset", ["none", "general", "full", "local"])
def test_every_preset_composes(preset: str) -> None:
    cfg = _compose(f"retention={preset}")
    assert cfg.retention.name == preset
    if preset in ("general", "full"):
        assert [t.name for t in cfg.retention.tasks] == [
            "mmlu",
            "arc_challenge",
            "hellaswag",
            "ifeval",
        ]
        limits = [t.limit for t in cfg.retention.tasks]
        assert all(n is None for n in limits) == (preset == "full")


def test_the_default_and_the_embedded_run_skip_retention() -> None:
    cfg = _compose()
    assert cfg.retention.name == "none" and cfg.retention.tasks == []
    assert applicable(cfg)["retention"] == "skipped"
    assert applicable(_compose("retention=general"))["retention"] == "pending"


def test_a_misspelt_retention_key_fails_at_compose() -> None:
    with pytest.raises(Exception, match="batch_sze"):
        _compose("retention=general", "retention.batch_sze=4")


def test_stage_tables() -> None:
    assert STAGES.index("retention") > STAGES.index("score")  # its failure never holds the score
    assert dependents("retention") == ["log"]
    assert "retention" in dependents("evaluate")
    assert JOB_STAGES["retention"] == ("retention",)
    assert JOB_NEEDS["retention"] == ("evaluate",)
    assert "retention" in JOB_NEEDS["score"]  # log sends the retention numbers


def test_retention_job_takes_the_evaluate_jobs_resources() -> None:
    cfg = _compose("launcher=slurm", "agent=opus46", "model=qwen3_4b", "task=gsm8k")
    assert resources(cfg, "retention") == resources(cfg, "evaluate")
    assert resources(cfg, "retention").gpus == cfg.budget.gpus > 0


def test_a_suite_turned_on_later_unskips_the_stage(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    run.init_manifest({"score": "pending", "retention": "skipped"}, {})
    run.update_stage("score", status="done")
    run.init_manifest({"score": "pending", "retention": "pending"}, {})
    assert run.stage_status("retention") == "pending"
    assert run.stage_status("score") == "done"  # done work is never reset


def test_delta_stderr_is_missing_when_a_side_has_none() -> None:
    out = compare(
        {"t": {"acc": {"value": 1.0, "stderr": None}}},
        {"t": {"acc": {"value": 0.0, "stderr": 0.1}}},
    )
    assert out["t"]["acc"]["stderr"] is None and not math.isnan(out["t"]["acc"]["delta"] or 0)


def test_preflight_names_missing_data_and_the_prefetch(tmp_path: Path) -> None:
    from ptb.preflight import check_retention
    from tests.support.retention import write_local_suite

    tasks = write_local_suite(tmp_path)
    cfg = _compose(
        "retention=local",
        f"retention.include_path=[{tasks}]",
        "retention.tasks=[{name: ret_mc}, {name: ret_gen}]",
    )
    assert check_retention(cfg) == []
    (tasks / "gen.jsonl").unlink()
    (problem,) = check_retention(cfg)
    assert "gen.jsonl" in problem.what and "python -m ptb.prefetch" in problem.fix
    assert "retention=local" in problem.fix
    bad = _compose(
        "retention=local", f"retention.include_path=[{tasks}]", "retention.tasks=[{name: ret_nope}]"
    )
    (unknown,) = check_retention(bad)
    assert "ret_nope" in unknown.what


def test_preflight_names_uncached_hub_datasets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ptb.retention.data import missing, sources

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = RetentionConfig(name="general", tasks=[RetentionTask("arc_challenge")])
    assert sources(cfg) == (["allenai/ai2_arc"], [])  # from lm-eval's own task YAML
    assert missing(cfg) == ["dataset allenai/ai2_arc (not in the HF cache)"]
