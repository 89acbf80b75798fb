from pathlib import Path

import pytest
from hydra import compose

from ptb.fsutil import read_json, write_json
from ptb.plan import plan_run
from ptb.stages import StageContext
from ptb.stages.score import MissingBaseline, fallback_reason
from ptb.stages.score import run as score_run
from tests.support.repo import hydra_conf

OK = {"status": "ok", "score": 0.8}
CLEAN = {"flagged": False, "failed_checks": []}


@pytest.mark.parametrize(
    ("metrics", "verdict", "expected"),
    [
        (OK, CLEAN, None),
        (OK, {"flagged": True, "failed_checks": []}, "flagged"),
        ({"status": "no_final_model", "score": None}, CLEAN, "no_final_model"),
        ({"status": "eval_failed", "score": None}, CLEAN, "eval_failed"),
        (OK, {"flagged": False, "failed_checks": ["lineage"]}, "judge_failed"),
        (OK, None, "judge_failed"),
        ({"status": "no_final_model", "score": None}, {"flagged": True}, "flagged"),
    ],
)
def test_fallback_rules(metrics: dict, verdict: dict | None, expected: str | None) -> None:
    assert fallback_reason(metrics, verdict) == expected


def _ctx(tmp_path: Path) -> StageContext:
    overrides = [f"results_dir={tmp_path}"]
    with hydra_conf():
        node = compose("config", overrides=overrides)
        plan = plan_run(node, overrides, lambda o: compose("config", overrides=o))
    return plan.context()


def test_score_falls_back_to_the_baseline(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert ctx.baseline_run is not None
    write_json(ctx.run.metrics, {"status": "ok", "score": 0.9})
    write_json(ctx.run.verdict, {"flagged": True, "failed_checks": []})
    with pytest.raises(MissingBaseline, match="agent=baseline_zeroshot"):
        score_run(ctx)
    write_json(ctx.baseline_run.score, {"final": 0.1})
    score_run(ctx)
    score = read_json(ctx.run.score)
    assert score["raw"] == 0.9
    assert score["final"] == 0.1
    assert (score["flagged"], score["fallback"]) == (True, "flagged")
    assert (score["agent"], score["scaffold"], score["model"], score["task"]) == (
        "recipe_sft",
        "recipe",
        "tiny",
        "toy_calls",
    )


def test_score_below_base_is_kept(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert ctx.baseline_run is not None
    write_json(ctx.baseline_run.score, {"final": 0.5})
    write_json(ctx.run.metrics, {"status": "ok", "score": 0.2})
    write_json(ctx.run.verdict, {"flagged": False, "failed_checks": []})
    score_run(ctx)
    assert read_json(ctx.run.score)["final"] == 0.2
