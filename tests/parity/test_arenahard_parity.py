"""ArenaHard-Writing under ``paper`` against a re-implementation of the original harness's verdict
reading and aggregation (aisa-group/PostTrainBench ``main@9082063``,
``src/eval/tasks/arenahardwriting/evaluate.py``: ``get_score``, ``_judgments_to_battles``,
``_compute_metrics``; ``config/arena-hard-v2.0.yaml``: ``regex_patterns``), case by case on a
corpus of judge replies; and where ``strict`` reads them otherwise (docs/protocol.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ptb.tasks import load_task
from ptb.tasks.arenahard import ArenaHardWriting, paper_verdict, strict_verdict, winrate
from ptb.tasks.base import Item
from tests.support.tasks import task_config

pytestmark = pytest.mark.parity

# --- the original, re-implemented from reading it -----------------------------------------------

ORIGINAL_PATTERNS = [r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]"]  # arena-hard-v2.0.yaml
WEIGHT = 3
SCORE_MAP = {
    "A>B": [1],
    "A>>B": [1] * WEIGHT,
    "A=B": [0.5],
    "A<<B": [0] * WEIGHT,
    "A<B": [0],
    "B>A": [0],
    "B>>A": [0] * WEIGHT,
    "B=A": [0.5],
    "B<<A": [1] * WEIGHT,
    "B<A": [1],
}


def original_get_score(judgment: str) -> str | None:
    for pattern in ORIGINAL_PATTERNS:
        compiled = re.compile(pattern)
        matches = [m for m in compiled.findall(judgment.upper()) if isinstance(m, str) and m]
        if matches:
            return matches[-1].strip("\n")
    return None


class Crash(Exception):
    """The original raises here (a KeyError in ``_judgments_to_battles``): no metrics at all."""


def original_rows(score_ab: str | None, score_ba: str | None) -> list[float] | None:
    """One record's battle rows: game 1 (``ab``) had the baseline as A."""
    if score_ab is None or score_ba is None:
        return None
    try:
        scores_ab, scores_ba = SCORE_MAP[score_ab.upper()], SCORE_MAP[score_ba.upper()]
    except KeyError as exc:
        raise Crash(str(exc)) from exc
    return [1 - s for s in scores_ab] + scores_ba


def original_accuracy(records: list[tuple[str, str]]) -> float:
    rows: list[float] = []
    for reply_ab, reply_ba in records:
        got = original_rows(original_get_score(reply_ab), original_get_score(reply_ba))
        rows += got or []
    return float(sum(rows) / len(rows)) if rows else 0.0


# --- the corpus ------------------------------------------------------------------------------

REASONING = (
    "Assistant A's poem keeps the meter but the imagery is generic; Assistant B takes a risk "
    "with the second stanza and it pays off. Neither has factual errors."
)
CORPUS = [
    f"{REASONING}\n\nMy final verdict is: [[B>A]]",
    f"{REASONING}\n\nMy final verdict is tie: [[A=B]]",
    "[[A>>B]]",
    "**Final verdict:** [[B>>A]]",
    "My final verdict is Assistant A is slightly better: [[A>B]].",
    "Final verdict: [[b>a]]",
    "Initially I thought [[A>B]], but on reflection [[B>A]].",
    "The options are [[A>>B]], [[A>B]], [[A=B]], [[B>A]], [[B>>A]]. My verdict: [[A=B]]",
    "Final verdict: [B>A]",
    "Verdict [[A>B]] (see also [B>A] above)",
    "Both answers are good and I cannot decide.",
    "",
    "[[A<B]]",
    "[[B<A]]",
    "[[B=A]]",
    "[[A<<B]]",
    "[[B<<A]]",
    "My final verdict is [[AB]]",
    "[[A>>>B]]",
    "[[A > B]]",
    "[[A]]",
    "[[=]]",
    "Verdict: **[[B>A]]**",
    "[[B>A]]\n",
    "```\n[[A>B]]\n```",
    "[[ A>B ]]",
    "[A>B] and later [B>A]",
    "Assistant A: [[A>B]] - correction, the label is [[B>>A]]",
    "The verdict is [[A=B]] (tie).",
    "[[A=B]][[B>A]]",
    "[[B>>A]] [[A=B]]",
    "[[a>>b]]",
    "[[AB>]]",
    "[[BA]]",
    "Final: [[A>B]",
    "Final: [A>B]]",
    "Final: \uff3b\uff3bA>B\uff3d\uff3d",
    "Verdict: A>B",
    f"[[A>B]]\n\n{REASONING}",
    f"{REASONING * 20}\n\nMy final verdict is: [[B>A]]",
    "[[A\u2265B]]",
    "[[Tie]]",
    "[[A=B]] or equally [[B=A]]",
    "I prefer [a].",
    "As noted in reference [1], B is better.",
    "Answer [B] is better.",
    "[[A>B]].",
    "[[B>A]]\r\n",
    "<<A>B>>",
    "[[A>>B]] [[A>>B]]",
    "[[A>B]] [[A>B]] [[B>A]]",
    "Final: [[B > A]]",
    "My final verdict is $[[B>A]]$",
    '{"verdict": "[[A>B]]"}',
    "[[[A>B]]]",
    "[[A<>B]]",
    "[[B>>a]]",
    "Assistant A is better [[A>B]]. Table: | A | [B] |",
    "My verdict: [A=B]",
    "no brackets, but A>>B",
    "[[A=B]]\n\n(Reconsidering: B is marginally better, [[B>A]].)",
    "Significantly better: [[A>>B]]; slightly: [[A>B]]. I pick [[A>B]].",
]


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 50


@pytest.fixture(scope="module")
def patterns() -> tuple[str, ...]:
    """The regexes as ptb reads them from the judge config file (the fixture in its format)."""
    task = load_task(task_config("arenahard_writing"), "paper")
    assert isinstance(task, ArenaHardWriting)
    return task.prompt.patterns


@pytest.mark.parametrize("reply", CORPUS)
def test_paper_verdict_equals_the_originals(reply: str, patterns: tuple[str, ...]) -> None:
    assert paper_verdict(reply, patterns) == original_get_score(reply)


PAIRS = [(CORPUS[i], CORPUS[(7 * i + 3) % len(CORPUS)]) for i in range(len(CORPUS))]


def _crashes(pair: tuple[str, str]) -> bool:
    try:
        original_rows(original_get_score(pair[0]), original_get_score(pair[1]))
    except Crash:
        return True
    return False


class Scripted:
    """Stands in for the judge client: the replies in the order the task asks."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = iter(replies)

    def __call__(self, *_: Any) -> Scripted:
        return self

    def complete(self, messages: list[dict[str, str]]) -> str:
        return next(self.replies)

    def map(self, fn: Any, jobs: list[Any]) -> list[Any]:
        return [fn(job) for job in jobs]


def _judge(protocol: str, pairs: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch) -> Any:
    task = load_task(task_config("arenahard_writing"), protocol)
    items = [Item(f"p{i}", f"Prompt {i}", f"Reference {i}") for i in range(len(pairs))]
    replies = [reply for pair in pairs for reply in pair]  # game 1 (reference as A), game 2
    monkeypatch.setattr("ptb.tasks.arenahard.GraderClient", Scripted(replies))
    grades = task.grade_all(items, [f"Answer {i}" for i in range(len(pairs))])  # type: ignore[attr-defined]
    return task, grades


def test_paper_rows_and_score_equal_the_originals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pair of replies as one prompt's two games: ptb counts the same prompts, with the
    same rows, and the same win rate. Pairs on which the original crashes (a label outside its
    score map) are left to the next test."""
    pairs = [p for p in PAIRS if not _crashes(p)]
    assert len(pairs) >= 40
    task, grades = _judge("paper", pairs, monkeypatch)
    for pair, grade in zip(pairs, grades, strict=True):
        rows = original_rows(original_get_score(pair[0]), original_get_score(pair[1]))
        expected = sum(rows) / len(rows) if rows else None
        assert (grade.detail is None) == (rows is not None), pair
        if expected is not None:
            assert grade.score == pytest.approx(expected), pair
    metrics = task.aggregate(grades)
    assert metrics["judge_winrate"] == pytest.approx(original_accuracy(pairs))


def test_where_the_original_crashes_ptb_leaves_the_prompt_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A verdict outside the original's score map (``[[AB]]``, ``[[A>>>B]]``, ``[A]``) raises
    a KeyError there and the evaluation writes no metrics; ptb does not count that prompt and
    reports the game as ``games_with_unknown_verdict`` (a departure, docs/protocol.md)."""
    crashing = [p for p in PAIRS if _crashes(p)]
    assert crashing
    task, grades = _judge("paper", crashing, monkeypatch)
    assert all(j.detail for j in grades)
    metrics = task.aggregate(grades)
    assert metrics["prompts_counted"] == 0 and metrics["games_with_unknown_verdict"] >= 1


# --- strict against paper on the same corpus (the numbers docs/protocol.md gives) -------------


def strict_vs_paper(patterns: tuple[str, ...]) -> dict[str, int]:
    counts = {"same": 0, "paper_only": 0, "strict_only": 0, "different": 0}
    for reply in CORPUS:
        paper, strict = paper_verdict(reply, patterns), strict_verdict(reply)
        if paper == strict:
            counts["same"] += 1
        elif strict is None:
            counts["paper_only"] += 1  # paper reads a verdict, strict drops the game
        elif paper is None:
            counts["strict_only"] += 1
        else:
            counts["different"] += 1
    return counts


def test_strict_reads_fewer_verdicts_and_never_another_one(patterns: tuple[str, ...]) -> None:
    counts = strict_vs_paper(patterns)
    assert counts == {"same": 31, "paper_only": 31, "strict_only": 0, "different": 0}


def test_strict_and_paper_scores_on_the_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [p for p in PAIRS if not _crashes(p)]
    paper_task, paper_j = _judge("paper", pairs, monkeypatch)
    strict_task, strict_j = _judge("strict", pairs, monkeypatch)
    paper = paper_task.aggregate(paper_j)
    strict = strict_task.aggregate(strict_j)
    # the same replies, so each run also reports the other's score
    assert paper["judge_winrate_strict"] == pytest.approx(strict["judge_winrate"])
    assert strict["judge_winrate_paper"] == pytest.approx(paper["judge_winrate"])
    records = [j.extracted for j in paper_j]
    assert winrate(records, "paper")[2] == paper["prompts_counted"]
    summary = (
        round(paper["judge_winrate"], 4),
        paper["prompts_counted"],
        round(strict["judge_winrate"], 4),
        strict["prompts_counted"],
    )
    assert summary == (0.5395, 26, 0.5333, 26), summary


OUTPUTS = [
    "A plain answer.",
    "  padded answer \n",
    "<think>plan the poem</think>\n\nThe poem.",
    "<think>a</think>B</think>C",
    "<think>unfinished thinking, no answer",
    "Preamble <think>x</think> answer",
    "\n<think>leading newline</think>Answer",
    "<think></think>",
    "<THINK>upper</THINK>Answer",
    "Answer with </think> inside",
    "",
    "<think>\nstep 1\nstep 2\n</think>\n\n# Title\n\nBody text.",
]


def original_answer(content: str) -> str:
    """``generate_answers`` before ``limit_repetitions`` (the outputs here repeat nothing)."""
    answer_text = content.strip()
    if answer_text.startswith("<think>") and ("</think>" in answer_text):
        answer_text = answer_text.split("</think>", maxsplit=1)[1]
        answer_text = answer_text.strip()
    return answer_text


@pytest.mark.parametrize("output", OUTPUTS)
def test_the_answer_the_judge_sees_is_the_originals(output: str) -> None:
    from ptb.tasks.arenahard import graded_answer

    assert graded_answer(output, "paper") == original_answer(output)
