from pathlib import Path

import pytest

from ptb.config.model import ModelConfig
from ptb.config.task import EvalSpec, LadderStep, TaskConfig
from ptb.eval import backends, runner
from ptb.eval.runner import evaluate

TASK = TaskConfig(
    name="toy_calls",
    display_name="t",
    impl="toy_calls",
    test_source="g",
    size={"train": 100, "test": 20},
    eval=EvalSpec(
        ladder=[LadderStep(max_new_tokens=8, attempts=2), LadderStep(max_new_tokens=4, attempts=1)]
    ),
)
MODEL = ModelConfig(
    name="tiny", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3"
)


def test_oracle_scores_full_marks() -> None:
    result = evaluate(TASK, MODEL, "oracle")
    assert (result.status, result.score, result.n) == ("ok", 1.0, 20)


def test_missing_model_is_no_final_model(tmp_path: Path) -> None:
    result = evaluate(TASK, MODEL, tmp_path / "final_model")
    assert result.status == "no_final_model" and result.score is None


def test_unloadable_model_is_eval_failed_with_reason(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "no_such_arch"}')
    result = evaluate(TASK, MODEL, tmp_path)
    assert result.status == "eval_failed"
    assert "cannot load model" in (result.error or "")


def test_retry_ladder_records_every_attempt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[int] = []

    class FlakyGenerator:
        def render(
            self, messages: list[dict[str, str]], apply_chat_template: bool, tools: object = None
        ) -> str:
            return messages[-1]["content"]

        def generate(
            self, prompts: list[str], sampling: runner.Sampling, batch_size: int
        ) -> list[str]:
            calls.append(sampling.max_new_tokens)
            if len(calls) < 3:
                raise RuntimeError("CUDA out of memory")
            return ["nope"] * len(prompts)

    monkeypatch.setattr(backends, "load_generator", lambda *a, **k: FlakyGenerator())
    (tmp_path / "config.json").write_text("{}")
    result = evaluate(TASK, MODEL, tmp_path)
    assert calls == [8, 8, 4]
    assert [a["ok"] for a in result.attempts] == [False, False, True]
    assert result.status == "ok" and result.score == 0.0


def test_all_attempts_failing_is_eval_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Broken:
        def render(self, *a: object) -> str:
            return ""

        def generate(self, *a: object) -> list[str]:
            raise RuntimeError("out of memory")

    monkeypatch.setattr(backends, "load_generator", lambda *a, **k: Broken())
    (tmp_path / "config.json").write_text("{}")
    result = evaluate(TASK, MODEL, tmp_path)
    assert result.status == "eval_failed" and len(result.attempts) == 3


def test_the_result_holds_the_metrics_record_and_the_samples() -> None:
    from ptb.records import MetricsRecord

    result = evaluate(TASK, MODEL, "oracle")
    assert isinstance(result.record, MetricsRecord) and len(result.samples) == 20
    assert result.score is result.record.score and result.info is result.record.extra
    assert result.record.extra["mode"] == "zeroshot" and "samples" not in result.to_json()
    assert MetricsRecord.from_json(result.to_json()) == result.record
    result.set(status="eval_failed", score=None)
    assert (result.status, result.record.score) == ("eval_failed", None)
    with pytest.raises(AttributeError):
        _ = result.no_such_field
