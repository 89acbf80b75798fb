"""HealthBench-Easy under ``paper`` against a re-implementation of the original harness's grader
reading, retries and scoring (aisa-group/PostTrainBench ``main@9082063``,
``src/eval/tasks/healthbench/evaluation_code/grader.py``: ``parse_json_to_dict``,
``grade_criterion``, ``grade_example``; ``scoring.py``: ``aggregate_scores``), case by case on
a corpus of grader replies; and where ``strict`` reads them otherwise (docs/protocol.md)."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptb.tasks import load_task
from ptb.tasks.base import Item
from ptb.tasks.healthbench import (
    CALLS,
    HealthBench,
    clipped_mean,
    criteria_met,
    grader_prompt,
    paper_criteria_met,
    rubric_score,
)
from tests.support.tasks import FIXTURES, task_config

pytestmark = pytest.mark.parity

# --- the original, re-implemented from reading it -----------------------------------------------


def original_parse_json_to_dict(json_string: str) -> Any:
    json_cleaned = re.sub(r"^```json\s*|\s*```$", "", json_string.strip())
    try:
        return json.loads(json_cleaned)
    except json.JSONDecodeError:
        return {}


def original_label(reply: str) -> bool | None:
    """One attempt of ``grade_criterion``: the label, or None (bad JSON, or an exception the
    loop catches and retries, e.g. ``"criteria_met" in`` a number)."""
    try:
        grading_dict = original_parse_json_to_dict(reply)
        if "criteria_met" in grading_dict:
            label = grading_dict["criteria_met"]
            if label is True or label is False:
                return bool(label)
    except Exception:
        return None
    return None


def original_criterion(replies: list[str]) -> bool:
    """``grade_criterion`` over successive replies (5 attempts), then ``grade_example``'s
    fallback: a criterion whose attempts all fail is not met."""
    for reply in replies[:5]:
        label = original_label(reply)
        if label is not None:
            return label
    return False


def original_example_score(points: list[int], met: list[bool]) -> float:
    total = sum(p if m else 0 for p, m in zip(points, met, strict=True))
    possible = sum(p for p in points if p > 0)
    return total / possible if possible > 0 else 0.0


def original_accuracy(scores: list[float]) -> float:
    return float(np.clip(np.mean(scores), 0, 1))


# --- the corpus ------------------------------------------------------------------------------

BODIES = [
    '{"explanation": "The reply tells the user to seek care now.", "criteria_met": true}',
    '{"explanation": "No mention of dosing.", "criteria_met": false}',
    '{\n  "explanation": "Concise and accurate.",\n  "criteria_met": false\n}',
    '{"criteria_met": "true", "explanation": "quoted"}',
    '{"criteria_met": 1}',
    '{"criteria_met": null}',
    '{"explanation": {"summary": "nested"}, "criteria_met": true}',
    '{"explanation": "uses {braces} in text", "criteria_met": false}',
]
WRAPPERS = [
    "{}",
    "```json\n{}\n```",
    "```\n{}\n```",
    "```JSON\n{}\n```",
    "Here is my grading:\n{}",
    "```json\n{}\n```\nI hope this helps.",
    "<think>check each part</think>\n{}",
    "  \n\n{}\n\n  ",
]
EXTRA = [
    "",
    "criteria_met: true",
    '"criteria_met"',
    '["criteria_met"]',
    "42",
    "null",
    '[{"criteria_met": true}]',
    '{"criteria_met": true, "criteria_met": false}',
    '{"criteria_met": true}\n{"criteria_met": false}',
    '{"criteria_met": true,}',
    '{"criteria_met": True}',
    "{'criteria_met': True}",
    '```json{"criteria_met":true}```',
    '```json\n\n{"criteria_met": false}\n\n```',
    '{"explanation": "Not applicable", "criteria_met": false, "confidence": 0.9}',
    '{"a": {"criteria_met": true}}',
]
CORPUS = [w.replace("{}", b) for b in BODIES for w in WRAPPERS] + EXTRA


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("reply", CORPUS)
def test_paper_reading_equals_the_originals(reply: str) -> None:
    assert paper_criteria_met(reply) == original_label(reply)


def test_the_prompt_is_filled_as_the_original_fills_it() -> None:
    """ptb reads GRADER_TEMPLATE from the file's syntax tree; the original imports it. The
    fixture grader file (its format, ptb's text), executed, gives the same prompt."""
    spec = importlib.util.spec_from_file_location("grader", FIXTURES / "upstream" / "grader.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    task = load_task(task_config("healthbench"), "paper")
    assert isinstance(task, HealthBench)
    item = task.test_items()[0]
    rubric = item.meta["rubrics"][0]
    answer = "Call an ambulance. <<rubric_item>> stays?"  # the original's chained replace
    convo = [*item.meta["messages"], {"role": "assistant", "content": answer}]
    formatted = "\n\n".join(f"{t['role']}: {t['content']}" for t in convo)
    expected = module.GRADER_TEMPLATE.replace("<<conversation>>", formatted).replace(
        "<<rubric_item>>", f"[{rubric['points']}] {rubric['criterion']}"
    )
    assert grader_prompt(task.template, item.meta["messages"], answer, rubric) == expected


class Scripted:
    """Stands in for the judge client: each criterion's replies, in the order asked."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = {k: iter(v) for k, v in script.items()}
        self.calls: dict[str, int] = dict.fromkeys(script, 0)

    def __call__(self, *_: Any) -> Scripted:
        return self

    def complete(self, messages: list[dict[str, str]]) -> str:
        content = messages[0]["content"]
        key = next(k for k in self.script if f"] {k}\n" in content)
        self.calls[key] += 1
        return next(self.script[key])

    def map(self, fn: Any, jobs: list[Any]) -> list[Any]:
        return [fn(job) for job in jobs]


def _items(rng: random.Random, n: int) -> list[Item]:
    items = []
    for i in range(n):
        rubrics = [
            {"criterion": f"c{i}_{k}", "points": rng.choice([-8, -5, -2, 1, 3, 5, 7, 10])}
            for k in range(rng.randint(1, 6))
        ]
        messages = [{"role": "user", "content": f"Question {i}?"}]
        meta = {"messages": messages, "rubrics": rubrics}
        items.append(Item(f"i{i}", messages[0]["content"], "", meta))
    return items


def test_paper_retries_and_scores_equal_the_originals(monkeypatch: pytest.MonkeyPatch) -> None:
    """60 items with random rubrics; each criterion gets 1-6 replies drawn from the corpus
    (unreadable ones asked again, up to 5 calls). Per item and overall, ptb's paper score is
    the original's; so is the number of calls."""
    rng = random.Random(13)
    items = _items(rng, 60)
    script = {
        r["criterion"]: [rng.choice(CORPUS) for _ in range(6)]
        for item in items
        for r in item.meta["rubrics"]
    }
    fake = Scripted({k: list(v) for k, v in script.items()})
    monkeypatch.setattr("ptb.tasks.healthbench.GraderClient", fake)
    task = load_task(task_config("healthbench"), "paper")
    grades = task.grade_all(items, ["A reply."] * len(items))  # type: ignore[attr-defined]
    expected = []
    for item, grade in zip(items, grades, strict=True):
        rubrics = item.meta["rubrics"]
        met = [original_criterion(script[r["criterion"]]) for r in rubrics]
        want = original_example_score([r["points"] for r in rubrics], met)
        expected.append(want)
        assert grade.score == pytest.approx(want), item.id
        for r, graded in zip(rubrics, grade.extracted, strict=True):
            replies = script[r["criterion"]]
            calls = next(
                (n + 1 for n, x in enumerate(replies[:5]) if original_label(x) is not None), 5
            )
            assert graded["calls"] == calls
    metrics = task.aggregate(grades)  # type: ignore[attr-defined]
    assert metrics["rubric"] == pytest.approx(original_accuracy(expected))


def test_the_clipped_mean_and_item_scores_on_edge_cases() -> None:
    cases = [
        ([5, -8], [True, True]),  # below zero
        ([-2, -5], [True, False]),  # no positive points: 0
        ([3, 3], [True, True]),
        ([10, -2, 1], [False, True, False]),
        ([1], [False]),
    ]
    scores = []
    for points, met in cases:
        rubrics = [{"points": p} for p in points]
        assert rubric_score(rubrics, met) == pytest.approx(original_example_score(points, met))
        scores.append(rubric_score(rubrics, met))
    assert clipped_mean(scores) == pytest.approx(original_accuracy(scores))
    assert clipped_mean([-0.5, -0.1]) == 0.0 == original_accuracy([-0.5, -0.1])
    assert clipped_mean([1.0, 1.0]) == 1.0


# --- strict against paper on the same corpus (the numbers docs/protocol.md gives) -------------


def test_strict_reads_more_replies_and_never_another_label() -> None:
    counts = {"same": 0, "strict_only": 0, "paper_only": 0, "different": 0}
    for reply in CORPUS:
        paper, strict = paper_criteria_met(reply), criteria_met(reply)
        key = (
            "same" if paper == strict
            else "strict_only" if paper is None
            else "paper_only" if strict is None
            else "different"
        )  # fmt: skip
        counts[key] += 1
    assert counts == {"same": 52, "strict_only": 28, "paper_only": 0, "different": 0}


def test_a_criterion_always_unreadable_is_not_met_after_five_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(1)
    (item,) = _items(rng, 1)
    script = {r["criterion"]: ["I cannot grade this."] * 6 for r in item.meta["rubrics"]}
    fake = Scripted(script)
    monkeypatch.setattr("ptb.tasks.healthbench.GraderClient", fake)
    task = load_task(task_config("healthbench"), "paper")
    (grade,) = task.grade_all([item], ["x"])  # type: ignore[attr-defined]
    assert set(fake.calls.values()) == {CALLS}
    points = [r["points"] for r in item.meta["rubrics"]]
    assert grade.score == original_example_score(points, [False] * len(points))


def test_the_fixture_files_are_not_the_upstream_texts() -> None:
    """The fixtures are in the upstream files' formats with the project's own words."""
    text = (FIXTURES / "upstream" / "grader.py").read_text()
    assert "fixture" in text and "iron supplements" not in text
    assert Path(FIXTURES / "upstream" / "judge_utils.py").read_text().count("fixture") >= 2


OUTPUTS = [
    "A plain reply.",
    "  padded reply \n",
    "<think>triage first</think>\n\nCall emergency services.",
    "<think>a</think>B</think>C",
    "<think>unfinished thinking, no reply",
    "Preamble <think>x</think> reply",
    "\n<think>leading newline</think>Reply",
    "<think></think>",
    "<THINK>upper</THINK>Reply",
    "",
]


def original_reply(content: str) -> str:
    """HB ``generate_answers`` before ``limit_repetitions`` (the outputs repeat nothing)."""
    answer_text = content.strip()
    if answer_text.startswith("<think>"):
        answer_text = answer_text.split("</think>", maxsplit=1)[-1].strip()
    return answer_text


@pytest.mark.parametrize("output", OUTPUTS)
def test_the_reply_the_grader_sees_is_the_originals(output: str) -> None:
    from ptb.tasks.healthbench import graded_answer

    assert graded_answer(output, "paper") == original_reply(output)
