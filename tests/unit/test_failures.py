"""One classification of failures: the model's are results, the infrastructure's fail the stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptb.failures import (
    AGENT,
    INFRA,
    CodeSandboxError,
    InfraError,
    classify_exception,
    classify_text,
    error_failure,
    ladder_failure,
    metrics_failure,
)
from ptb.fsutil import read_json, write_json
from ptb.stages import StageFailed, dependents, is_done, run_stage
from tests.support.plans import planned_run


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB", AGENT, "oom"),
        ("RuntimeError: CUDA error: out of memory", AGENT, "oom"),
        ("RuntimeError: CUDA error: device-side assert triggered", AGENT, "generation"),
        ("RuntimeError: CUDA error: an illegal memory access was encountered", INFRA, "cuda"),
        ("RuntimeError: No CUDA GPUs are available", INFRA, "cuda"),
        ("RuntimeError: NCCL error: unhandled system error", INFRA, "cuda"),
        ("OSError: [Errno 28] No space left on device", INFRA, "disk"),
        ("GraderError: grader endpoint http://x/v1: HTTP 503 after 5 tries", INFRA, "grader"),
        ("JudgeError: judge endpoint http://x/v1: HTTP 503 after 5 tries", INFRA, "grader"),
        ("sandboxed code run failed (crashed, exit 1)", INFRA, "code_sandbox"),
        ("ValueError: shapes do not match", AGENT, "generation"),
        (None, AGENT, "generation"),
    ],
)
def test_classify_text(text: str | None, kind: str, reason: str) -> None:
    failure = classify_text(text)
    assert (failure.kind, failure.reason) == (kind, reason)


def test_classify_exception_by_type_first() -> None:
    assert classify_exception(CodeSandboxError("x")).reason == "code_sandbox"
    assert classify_exception(InfraError("x", "node")).reason == "node"
    assert classify_exception(OSError(28, "No space left on device")).kind == INFRA
    # transformers says "does not appear to have a file named ..." with a plain OSError
    assert classify_exception(OSError("no file named model.safetensors")).kind == AGENT


def test_ladder_failure_is_the_models_only_when_every_rung_is() -> None:
    oom = {"ok": False, "error": "OutOfMemoryError: CUDA out of memory"}
    cuda = {"ok": False, "error": "RuntimeError: CUDA error: unspecified launch failure"}
    assert ladder_failure([oom, oom]).reason == "oom"
    assert ladder_failure([oom, cuda]).kind == INFRA
    assert ladder_failure([{"ok": False, "error": "ValueError: nan"}]).reason == "generation"


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"status": "ok", "score": 0.5}, None),
        ({"status": "no_final_model", "error": "x has no config.json"}, (AGENT, "no_final_model")),
        (
            {"status": "eval_failed", "failure": {"kind": "agent", "reason": "load"}},
            (AGENT, "load"),
        ),
        # written by older versions, which recorded infrastructure failures as results
        ({"status": "eval_failed", "error": "cannot load the task's data: gone"}, (INFRA, "data")),
        (
            {"status": "eval_failed", "error": "scoring failed: JudgeError: judge endpoint u: 503"},
            (INFRA, "grader"),
        ),
        (  # an older ptb's reason class for the grader
            {"status": "eval_failed", "failure": {"kind": "infra", "reason": "judge"}},
            (INFRA, "grader"),
        ),
        ({"status": "eval_failed", "error": "scoring failed: KeyError: 'x'"}, (INFRA, "scorer")),
        (
            {
                "status": "eval_failed",
                "error": "every attempt of the retry ladder failed",
                "attempts": [{"ok": False, "error": "RuntimeError: CUDA error: launch failed"}],
            },
            (INFRA, "cuda"),
        ),
        (
            {
                "status": "eval_failed",
                "error": "every attempt of the retry ladder failed",
                "attempts": [{"ok": False, "error": "OutOfMemoryError: CUDA out of memory"}],
            },
            (AGENT, "oom"),
        ),
        (
            {"status": "eval_failed", "error": "x has no config.json: not a model"},
            (AGENT, "not_a_model"),
        ),
        (
            {"status": "eval_failed", "error": "cannot load model: KeyError: 'qwen9'"},
            (AGENT, "load"),
        ),
    ],
)
def test_metrics_failure(metrics: dict, expected: tuple[str, str] | None) -> None:
    failure = metrics_failure(metrics)
    assert (None if failure is None else (failure.kind, failure.reason)) == expected


def test_error_json_is_always_infra() -> None:
    assert error_failure({"type": "RuntimeError", "message": "boom"}).reason == "stage"
    assert error_failure({"type": "GraderError", "message": "grader endpoint"}).reason == "grader"
    assert error_failure({"type": "JudgeError", "message": "judge endpoint"}).reason == "grader"
    old = {"type": "JudgeError", "message": "judge endpoint", "reason": "judge"}  # an older ptb's
    assert error_failure(old).reason == "grader"
    assert error_failure({"type": "InfraError", "reason": "judge"}).reason == "judge"  # LLM judge
    assert error_failure({"reason": "cuda"}).kind == INFRA


def test_dependents_in_order() -> None:
    assert dependents("evaluate") == ["score", "retention", "log"]
    assert dependents("solve") == ["evaluate", "judge", "score", "retention", "log"]


def _baseline(tmp_path: Path) -> tuple[object, object]:
    plan = planned_run(
        [f"results_dir={tmp_path}", "agent=baseline_zeroshot", "tracker=none", "task=toy_math"]
    )
    return plan, plan.run


def test_an_older_infra_result_is_not_done_and_its_score_is_stale(tmp_path: Path) -> None:
    _, run = _baseline(tmp_path)
    old = {"status": "eval_failed", "score": None, "error": "scoring failed: JudgeError: HTTP 503"}
    write_json(run.metrics, old)
    write_json(run.score, {"final": 0.0})
    for stage in ("evaluate", "score"):
        run.update_stage(stage, status="done")
    assert not is_done("evaluate", run) and not is_done("score", run)
    write_json(
        run.metrics, {"status": "eval_failed", "score": None, "error": "x has no config.json"}
    )
    assert is_done("evaluate", run) and is_done("score", run)


def test_score_refuses_an_infra_result(tmp_path: Path) -> None:
    plan, run = _baseline(tmp_path)
    write_json(run.metrics, {"status": "eval_failed", "error": "cannot load the task's data: x"})
    run.update_stage("evaluate", status="done")
    run.metrics.write_text(run.metrics.read_text())  # still there: score must not trust it
    with pytest.raises(Exception, match="waits for evaluate"):
        run_stage("score", plan.context())
    run.update_stage("evaluate", status="done")
    from ptb.stages.score import run as score_run

    with pytest.raises(InfraError, match="infrastructure failure \\(data\\)"):
        score_run(plan.context())
    assert not run.score.exists()


def test_a_stage_that_raised_records_kind_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, run = _baseline(tmp_path)

    def down(ctx: object) -> None:
        raise CodeSandboxError("bwrap: setting up uid map: Permission denied")

    monkeypatch.setattr("ptb.stages.evaluate.run", down)
    with pytest.raises(StageFailed):
        run_stage("evaluate", plan.context())
    error = read_json(run.error_file("evaluate"))
    assert (error["kind"], error["reason"]) == ("infra", "code_sandbox")
    assert run.stage_status("evaluate") == "failed"


def test_a_stage_that_runs_again_makes_its_dependents_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, run = _baseline(tmp_path)
    write_json(run.score, {"final": 0.0})
    run.update_stage("score", status="done")

    def ok(ctx: object) -> None:
        write_json(run.metrics, {"status": "ok", "score": 0.5})

    monkeypatch.setattr("ptb.stages.evaluate.run", ok)
    assert run_stage("evaluate", plan.context(), force=True) == "done"
    assert run.stage_status("score") == "pending"


def test_a_check_lost_to_the_infrastructure_fails_the_judge_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check whose disk or endpoint failed is retried, not recorded as ``judge_failed``."""
    from ptb.stages import judge

    plan = planned_run([f"results_dir={tmp_path}", "tracker=none", "judge=rules"])

    def broken(run: object, cfg: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(judge.CHECKS, "load", lambda name: broken)
    with pytest.raises(OSError, match="No space left"):
        judge.run(plan.context())
    assert not plan.run.verdict.exists()


def test_metrics_failure_reads_the_record_and_the_dict_alike() -> None:
    from ptb.records import MetricsRecord

    recorded = {
        "status": "eval_failed",
        "error": "boom",
        "failure": {"kind": INFRA, "reason": "cuda"},
        "mode": "full",
    }
    for data in (recorded, {"status": "ok", "score": 0.5}, {"status": "no_final_model"}):
        from_record = metrics_failure(MetricsRecord.from_json(data))
        assert from_record == metrics_failure(data)
    failure = metrics_failure(MetricsRecord.from_json(recorded))
    assert failure is not None and (failure.kind, failure.reason, failure.message) == (
        INFRA,
        "cuda",
        "boom",
    )
    assert metrics_failure({"score": 0.5}) is not None  # no status: not a score
