"""ArenaHard-Writing and HealthBench-Easy scored through an OpenAI-compatible grader: a fake chat-
completions server on loopback (tests/support/fake_grader.py) with deterministic verdicts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ptb.config.model import ModelConfig
from ptb.eval.runner import evaluate
from ptb.failures import InfraError
from ptb.tasks import load_task
from ptb.tasks.arenahard import game_score, paper_verdict, strict_verdict
from ptb.tasks.healthbench import criteria_met, paper_criteria_met, rubric_score
from tests.support.fake_grader import FakeGrader
from tests.support.tasks import task_config

MODEL = ModelConfig(name="t", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3")
KEY = "sk-grader-test-0123456789SECRET"


@pytest.fixture
def grader(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGrader]:
    monkeypatch.setenv("PTB_TEST_GRADER_KEY", KEY)
    with FakeGrader() as fake:
        yield fake


def _task(name: str, grader: FakeGrader, protocol: str = "paper") -> object:
    return load_task(
        task_config(
            name, grader_base_url=grader.base_url, grader_api_key_env="PTB_TEST_GRADER_KEY"
        ),
        protocol,
    )


def test_arenahard_reference_against_itself_is_a_tie(grader: FakeGrader) -> None:
    cfg = task_config(
        "arenahard_writing",
        grader_base_url=grader.base_url,
        grader_api_key_env="PTB_TEST_GRADER_KEY",
    )
    result = evaluate(cfg, MODEL, "oracle")
    assert result.status == "ok", result.error
    assert result.n == 2  # the hard_prompt row of the fixture is not a writing prompt
    assert result.score == 0.5
    assert result.metrics["prompts_counted"] == 2 and result.metrics["counted_weight"] == 4
    assert {r["auth"] for r in grader.requests} == {f"Bearer {KEY}"}
    assert {r["model"] for r in grader.requests} == {"gpt-5-mini"}
    # the grader settings of the paper protocol (the original's evaluate.py)
    assert {r["max_completion_tokens"] for r in grader.requests} == {49152}
    assert {r["reasoning_effort"] for r in grader.requests} == {"medium"}
    # the prompt read from the pinned file's format (the fixture's texts)
    system = grader.requests[0]["messages"][0]["content"]
    assert system.startswith("You judge two pieces of creative writing")


def test_arenahard_references_are_shown_as_shipped(grader: FakeGrader) -> None:
    """An unfinished ``<think>`` reference (two of the real ones are) reaches the grader whole
    under both protocols; the model's own unclosed block is kept under paper only."""
    for protocol in ("paper", "strict"):
        task = _task("arenahard_writing", grader, protocol)
        item = task.test_items()[0]  # type: ignore[attr-defined]
        assert item.target.startswith("<think>") and "</think>" not in item.target
    prompts = [r["messages"][1]["content"] for r in grader.requests]
    assert prompts == []  # loading the items asks no grader
    paper = _task("arenahard_writing", grader, "paper")
    strict = _task("arenahard_writing", grader, "strict")
    items = paper.test_items()[:1]  # type: ignore[attr-defined]
    paper_j = paper.grade_all(items, [items[0].target])  # type: ignore[attr-defined]
    strict_j = strict.grade_all(items, [items[0].target])  # type: ignore[attr-defined]
    assert paper_j[0].score == 0.5  # the same text on both sides
    assert strict_j[0].score == 0.0  # ptb's rule: an unclosed block leaves no answer
    assert paper_j[0].alt == {} and strict_j[0].alt == {}  # the grader saw other texts


def test_arenahard_two_games_with_positions_swapped_and_strong_verdicts_weighted(
    grader: FakeGrader,
) -> None:
    for protocol in ("paper", "strict"):
        task = _task("arenahard_writing", grader, protocol)
        items = task.test_items()  # type: ignore[attr-defined]
        long_answer = " ".join(f"w{i}" for i in range(400))  # much longer than the reference
        grades = task.grade_all(items, [long_answer, ""])  # type: ignore[attr-defined]
        assert grades[0].score == 1.0 and grades[1].score == 0.0
        games = grades[0].extracted["games"]
        assert [g["model_is_a"] for g in games] == [False, True]
        assert [g["verdicts"][protocol] for g in games] == ["B>>A", "A>>B"]
        other = "strict" if protocol == "paper" else "paper"
        assert grades[0].alt == {other: 1.0}
        metrics = task.aggregate(grades)  # type: ignore[attr-defined]
        assert metrics["judge_winrate"] == 0.5 and metrics["counted_weight"] == 12
        assert metrics[f"judge_winrate_{other}"] == 0.5
    prompts = [r["messages"][1]["content"] for r in grader.requests]
    first = [p for p in prompts if long_answer in p]
    assert any(p.index(long_answer) > p.index("[Assistant B's Answer]") for p in first)
    assert any(p.index(long_answer) < p.index("[Assistant B's Answer]") for p in first)


PATTERNS = (r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]")


def test_arenahard_verdict_parsing_and_weights() -> None:
    assert strict_verdict("... My final verdict is [[A>B]].") == "A>B"
    assert strict_verdict("[[A>B]] no wait [[B>A]]") is None
    assert strict_verdict("no verdict") is None
    assert paper_verdict("[[A>B]] no wait [[B>A]]", PATTERNS) == "B>A"  # the last one
    assert paper_verdict("[[a>b]]", PATTERNS) == "A>B"  # upper-cased first
    assert paper_verdict("verdict [B>A]", PATTERNS) == "B>A"  # single brackets as a fallback
    assert paper_verdict("[A>B] but [[B=A]]", PATTERNS) == "B=A"  # [[…]] wins over a later […]
    assert paper_verdict("no verdict", PATTERNS) is None
    assert game_score("A>>B", model_is_a=True) == (1.0, 3)
    assert game_score("A>>B", model_is_a=False) == (0.0, 3)
    assert game_score("A=B", model_is_a=False) == (0.5, 1)
    assert game_score("B>A", model_is_a=False) == (1.0, 1)


@pytest.mark.parametrize("protocol", ["paper", "strict"])
def test_healthbench_rubric_points_over_positive_points(grader: FakeGrader, protocol: str) -> None:
    task = _task("healthbench", grader, protocol)
    items = task.test_items()  # type: ignore[attr-defined]
    rubrics = items[0].meta["rubrics"]
    good = " ".join(r["criterion"] for r in rubrics if r["points"] > 0)
    harmful = good + " " + rubrics[2]["criterion"]  # also meets the -6 criterion
    grades = task.grade_all(  # type: ignore[attr-defined]
        [items[0], items[0], items[0], items[1]],
        [good, harmful, "Drink water.", rubrics[0]["criterion"]],
    )
    assert grades[0].score == 1.0  # 9 / 9
    assert grades[1].score == pytest.approx(3 / 9)  # (9 - 6) / 9
    assert grades[2].score == 0.0
    assert grades[3].score == 0.0  # item 1 has other rubrics
    metrics = task.aggregate(grades)  # type: ignore[attr-defined]
    assert metrics["rubric"] == pytest.approx((1 + 3 / 9) / 4)
    # the conversation's earlier turns reach the grader, in the grader file's template
    assert any("Yes, generally." in r["messages"][0]["content"] for r in grader.requests)
    assert all(r["messages"][0]["content"].startswith("Grade the last") for r in grader.requests)
    assert {r["max_completion_tokens"] for r in grader.requests} == {49152}
    efforts = {r.get("reasoning_effort") for r in grader.requests}
    assert efforts == ({None} if protocol == "paper" else {"medium"})  # paper: not sent


def test_healthbench_mean_is_clipped_to_zero() -> None:
    rubrics = [{"points": 2}, {"points": -8}]
    assert rubric_score(rubrics, [False, True]) == -4.0
    assert criteria_met('{"explanation": "x", "criteria_met": true}') is True
    assert criteria_met('```json\n{"criteria_met": false}\n```') is False
    assert criteria_met("I think so") is None
    assert paper_criteria_met('```json\n{"criteria_met": false}\n```') is False
    assert paper_criteria_met('Sure: {"criteria_met": true}') is None  # not JSON as a whole
    assert paper_criteria_met('{"criteria_met": 1}') is None  # a boolean, nothing else


def test_healthbench_unreadable_replies_are_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to 5 calls per criterion; still nothing readable: not met, and counted."""
    replies = iter(["thinking...", "", '{"criteria_met": true}'] + ["no json"] * 5)

    class Grader(FakeGrader):
        def reply(self, body: dict) -> str:  # type: ignore[type-arg]
            return next(replies)

    with Grader() as fake:
        cfg = task_config("healthbench", grader_base_url=fake.base_url, grader_api_key_env=None,
                          grader_concurrency=1)  # fmt: skip
        task = load_task(cfg, "paper")
        item = task.test_items()[1]
        first = {**item.meta, "rubrics": item.meta["rubrics"][:1]}
        one = type(item)(item.id, item.prompt, item.target, first)
        grades = task.grade_all([one, one], ["a reply", "a reply"])  # type: ignore[attr-defined]
        assert len(fake.requests) == 3 + 5
    assert grades[0].extracted[0]["calls"] == 3 and grades[0].score == 1.0
    assert grades[1].extracted[0]["calls"] == 5 and grades[1].score == 0.0
    assert "1 criteria without a readable verdict" in (grades[1].detail or "")
    assert task.aggregate(grades)["criteria_unreadable"] == 1  # type: ignore[attr-defined]


def test_grader_that_refuses_reasoning_effort_is_asked_without_it() -> None:
    with FakeGrader(reject_reasoning_effort=True) as fake:
        cfg = task_config("arenahard_writing", grader_base_url=fake.base_url,
                          grader_api_key_env=None, grader_concurrency=1)  # fmt: skip
        result = evaluate(cfg, MODEL, "oracle", limit=1)
    assert result.status == "ok" and result.score == 0.5, result.error
    assert [("reasoning_effort" in r) for r in fake.requests] == [True, False, True, False]


def test_grader_rate_limit_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ptb.tasks.grader_api.BACKOFF_S", 0.01)
    with FakeGrader(fail_first=2) as fake:
        cfg = task_config(
            "arenahard_writing",
            grader_base_url=fake.base_url,
            grader_api_key_env=None,
            grader_concurrency=1,
        )
        result = evaluate(cfg, MODEL, "oracle", limit=1)
    assert result.status == "ok" and result.score == 0.5
    assert len(fake.requests) == 4 and fake.requests[0]["auth"] is None


def test_missing_grader_key_is_an_infra_failure_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PTB_TEST_GRADER_KEY", raising=False)
    cfg = task_config("healthbench", grader_api_key_env="PTB_TEST_GRADER_KEY")
    with pytest.raises(InfraError, match=r"scoring failed.*PTB_TEST_GRADER_KEY") as err:
        evaluate(cfg, MODEL, "oracle")
    assert err.value.reason == "grader"
    assert err.value.samples and "output" in err.value.samples[0]  # kept for a rescore


def test_unreachable_grader_is_an_infra_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ptb.tasks.grader_api.RETRIES", 0)
    cfg = task_config(
        "healthbench", grader_base_url="http://127.0.0.1:9/v1", grader_api_key_env=None
    )
    with pytest.raises(InfraError, match="grader endpoint") as err:
        evaluate(cfg, MODEL, "oracle", limit=1)
    assert err.value.reason == "grader"


def test_limit_repetitions_caps_lines_blocks_and_patterns_at_five() -> None:
    from ptb.tasks.repetitions import limit_repetitions

    assert limit_repetitions("x\n" * 8 + "end") == "x\n" * 5 + "end"  # identical lines
    assert limit_repetitions("a\nb\n" * 7) == "a\nb\n" * 5  # a block of lines
    song = "verse one\nchorus\n" * 9 + "verse on"  # a cut-off copy after the run goes too
    assert limit_repetitions(song) == "verse one\nchorus\n" * 4 + "verse one\nchorus"
    assert limit_repetitions("abc" * 10) == "abc" * 5  # a repeated substring
    assert limit_repetitions("Yes! " * 20 + "Done.") == "Yes! " * 5 + "Done."
    text = "A poem.\n\nThe lamp turns slow above the sea,\nHe counts the ships.\n"
    assert limit_repetitions(text) == text
    assert limit_repetitions("ha" * 3) == "ha" * 3


def test_the_capped_answer_is_what_the_grader_sees(grader: FakeGrader) -> None:
    task = _task("arenahard_writing", grader)
    items = task.test_items()[:1]  # type: ignore[attr-defined]
    task.grade_all(items, ["Again and again. " * 50])  # type: ignore[attr-defined]
    for request in grader.requests:
        # stripped first, so the last copy lacks its space and stays out of the run: 5 + 1
        assert request["messages"][1]["content"].count("Again and again.") == 6


def test_prompt_constants_are_read_from_the_syntax_tree_without_running_the_file() -> None:
    from ptb.tasks.upstream import python_constant

    source = (
        "import os\n"
        "os.system('echo never run')\n"
        "BASE = 'Judge well. '\n"
        "SETTINGS = {'w': {'system_prompt': BASE + 'Be brief.', 'n': 3}, 'x': {}}\n"
        'TEMPLATE = """\n<<conversation>>\n""".strip()\n'
        "DYNAMIC = os.environ['HOME']\n"
    )
    assert python_constant(source, "SETTINGS", "w", "system_prompt") == "Judge well. Be brief."
    assert python_constant(source, "SETTINGS", "w") == {
        "system_prompt": "Judge well. Be brief.",
        "n": 3,
    }
    assert python_constant(source, "TEMPLATE") == "<<conversation>>"
    with pytest.raises(ValueError, match="no entry 'y'"):
        python_constant(source, "SETTINGS", "y")
    with pytest.raises(ValueError, match="no module-level constant"):
        python_constant(source, "MISSING")
    with pytest.raises(ValueError, match="without running the file"):
        python_constant(source, "DYNAMIC")
