"""ArenaHard-Writing and HealthBench-Easy scored through an OpenAI-compatible judge: a fake chat-
completions server on loopback (tests/support/fake_judge.py) with deterministic verdicts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ptb.config.model import ModelConfig
from ptb.eval.runner import evaluate
from ptb.failures import InfraError
from ptb.tasks import load_task
from ptb.tasks.arenahard import game_score, parse_verdict
from ptb.tasks.healthbench import criteria_met, rubric_score
from tests.support.fake_judge import FakeJudge
from tests.support.tasks import task_config

MODEL = ModelConfig(name="t", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3")
KEY = "sk-judge-test-0123456789SECRET"


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJudge]:
    monkeypatch.setenv("PTB_TEST_JUDGE_KEY", KEY)
    with FakeJudge() as fake:
        yield fake


def _task(name: str, judge: FakeJudge) -> object:
    return load_task(
        task_config(name, judge_base_url=judge.base_url, judge_api_key_env="PTB_TEST_JUDGE_KEY")
    )


def test_arenahard_reference_against_itself_is_a_tie(judge: FakeJudge) -> None:
    cfg = task_config(
        "arenahard_writing", judge_base_url=judge.base_url, judge_api_key_env="PTB_TEST_JUDGE_KEY"
    )
    result = evaluate(cfg, MODEL, "oracle")
    assert result.status == "ok", result.error
    assert result.n == 2  # the hard_prompt row of the fixture is not a writing prompt
    assert result.score == 0.5
    assert result.metrics["games"] == 4
    assert {r["auth"] for r in judge.requests} == {f"Bearer {KEY}"}
    assert {r["model"] for r in judge.requests} == {"gpt-5-mini"}


def test_arenahard_two_games_with_positions_swapped_and_strong_verdicts_weighted(
    judge: FakeJudge,
) -> None:
    task = _task("arenahard_writing", judge)
    items = task.test_items()  # type: ignore[attr-defined]
    long_answer = " ".join(["word"] * 400)  # much longer than the reference: [[>>]] for it
    judgements = task.judge_all(items, [long_answer, ""])  # type: ignore[attr-defined]
    assert judgements[0].score == 1.0 and judgements[1].score == 0.0
    games = judgements[0].extracted
    assert [g["model_is_a"] for g in games] == [False, True]
    assert [g["verdict"] for g in games] == ["B>>A", "A>>B"]
    assert all(g["weight"] == 3 for g in games)
    assert task.aggregate(judgements)["judge_winrate"] == 0.5  # type: ignore[attr-defined]
    prompts = [r["messages"][1]["content"] for r in judge.requests]
    first = [p for p in prompts if long_answer in p]
    assert any(p.index(long_answer) > p.index("Assistant B's Answer|>") for p in first)
    assert any(p.index(long_answer) < p.index("Assistant B's Answer|>") for p in first)


def test_arenahard_verdict_parsing_and_weights() -> None:
    assert parse_verdict("... My final verdict is [[A>B]].") == "A>B"
    assert parse_verdict("[[A>B]] no wait [[B>A]]") is None
    assert parse_verdict("no verdict") is None
    assert game_score("A>>B", model_is_a=True) == (1.0, 3)
    assert game_score("A>>B", model_is_a=False) == (0.0, 3)
    assert game_score("A=B", model_is_a=False) == (0.5, 1)
    assert game_score("B>A", model_is_a=False) == (1.0, 1)


def test_healthbench_rubric_points_over_positive_points(judge: FakeJudge) -> None:
    task = _task("healthbench", judge)
    items = task.test_items()  # type: ignore[attr-defined]
    rubrics = items[0].meta["rubrics"]
    good = " ".join(r["criterion"] for r in rubrics if r["points"] > 0)
    harmful = good + " " + rubrics[2]["criterion"]  # also meets the -6 criterion
    judgements = task.judge_all(  # type: ignore[attr-defined]
        [items[0], items[0], items[0], items[1]],
        [good, harmful, "Drink water.", rubrics[0]["criterion"]],
    )
    assert judgements[0].score == 1.0  # 9 / 9
    assert judgements[1].score == pytest.approx(3 / 9)  # (9 - 6) / 9
    assert judgements[2].score == 0.0
    assert judgements[3].score == 0.0  # item 1 has other rubrics
    metrics = task.aggregate(judgements)  # type: ignore[attr-defined]
    assert metrics["rubric"] == pytest.approx((1 + 3 / 9) / 4)
    # the conversation's earlier turns reach the judge
    assert any("Yes, generally." in r["messages"][0]["content"] for r in judge.requests)


def test_healthbench_mean_is_clipped_to_zero() -> None:
    rubrics = [{"points": 2}, {"points": -8}]
    assert rubric_score(rubrics, [False, True]) == -4.0
    assert criteria_met('{"explanation": "x", "criteria_met": true}') is True
    assert criteria_met('```json\n{"criteria_met": false}\n```') is False
    assert criteria_met("I think so") is None


def test_judge_rate_limit_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ptb.tasks.judge_api.BACKOFF_S", 0.01)
    with FakeJudge(fail_first=2) as fake:
        cfg = task_config(
            "arenahard_writing",
            judge_base_url=fake.base_url,
            judge_api_key_env=None,
            judge_concurrency=1,
        )
        result = evaluate(cfg, MODEL, "oracle", limit=1)
    assert result.status == "ok" and result.score == 0.5
    assert len(fake.requests) == 4 and fake.requests[0]["auth"] is None


def test_missing_judge_key_is_an_infra_failure_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PTB_TEST_JUDGE_KEY", raising=False)
    cfg = task_config("healthbench", judge_api_key_env="PTB_TEST_JUDGE_KEY")
    with pytest.raises(InfraError, match=r"scoring failed.*PTB_TEST_JUDGE_KEY") as err:
        evaluate(cfg, MODEL, "oracle")
    assert err.value.reason == "judge"
    assert err.value.samples and "output" in err.value.samples[0]  # kept for a rescore


def test_unreachable_judge_is_an_infra_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ptb.tasks.judge_api.RETRIES", 0)
    cfg = task_config("healthbench", judge_base_url="http://127.0.0.1:9/v1", judge_api_key_env=None)
    with pytest.raises(InfraError, match="judge endpoint") as err:
        evaluate(cfg, MODEL, "oracle", limit=1)
    assert err.value.reason == "judge"
