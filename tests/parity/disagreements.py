"""Where ptb's ``strict`` rules part from ``paper`` (= the original's) on the parity corpus.

``python -m tests.parity.disagreements`` prints the Markdown table ``docs/protocol.md`` carries
between its ``<!-- disagreements -->`` markers; ``test_protocol_doc.py`` checks it is current.
Every output is scored by ptb under both protocols (``Grade.alt``); the ``paper = inspect``
column is the agreement with the reference (``tests.parity.reference``) on the same cases.
HumanEval programs run in ptb's code sandbox (bwrap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ptb.tasks import Item, load_task
from ptb.tasks.data import load
from tests.parity import reference as ref
from tests.support.tasks import task_config

EXAMPLES = 3


@dataclass
class Tally:
    task: str
    n: int = 0
    agree: int = 0
    paper_only: int = 0
    strict_only: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, note: str, output: str, paper: float, strict: float, agrees: bool) -> None:
        self.n += 1
        self.agree += agrees
        if paper == strict:
            return
        if paper > strict:
            self.paper_only += 1
        else:
            self.strict_only += 1
        if len(self.examples) < EXAMPLES:
            shown = output if len(output) <= 60 else output[:57] + "..."
            self.examples.append(f"{note}: `{_md(shown)}` → paper {paper:g}, strict {strict:g}")


def _md(text: str) -> str:
    return text.replace("\n", "\\n").replace("|", "\\|").replace("`", "'")


def _math(name: str, corpus: str, reference: Any) -> Tally:
    tally = Tally(name)
    task = load_task(task_config(name), "paper")
    for case in ref.corpus(corpus):
        t = case["target"]
        item = Item(case["id"], "", t, {"answer": t.replace(",", ""), "target": t})
        j = task.grade(item, case["output"])
        theirs = ref.correct(reference(case["output"], t))
        tally.add(case["note"], case["output"], j.score, j.alt["strict"], j.score == theirs)
    return tally


def _gpqa() -> Tally:
    tally = Tally("gpqa")
    task = load_task(task_config("gpqa"), "paper")
    choices = ["2.0 eV", "4.0 eV", "8.0 eV", "16.0 eV"]
    for case in ref.corpus("gpqa"):
        letter = case["answer"]
        j = task.grade(Item(case["id"], "", "", {"answer": letter}), case["output"])
        theirs = ref.correct(ref.gpqa_score(case["output"], choices, letter)[0])
        tally.add(case["note"], case["output"], j.score, j.alt["strict"], j.score == theirs)
    return tally


def _humaneval() -> Tally:
    import pytest

    from ptb.tasks.humaneval import paper_program

    tally = Tally("humaneval")
    task = load_task(task_config("humaneval"), "paper")
    records = {r["task_id"]: r for r in load(task.cfg.data["test"])}
    items = {i.id: i for i in task.test_items()}
    cases = ref.corpus("humaneval")
    chosen, outputs, agrees = [], [], []
    with pytest.MonkeyPatch.context() as mp:
        for case in cases:
            record = list(records.values())[case["problem"]]
            out = (
                str(case["output"])
                .replace("<<PROMPT>>", record["prompt"])
                .replace("<<SOLUTION>>", record["canonical_solution"])
            )
            theirs, _ = ref.humaneval_program(out, record, mp)
            item = items[record["task_id"]]
            chosen.append(item)
            outputs.append(out)
            agrees.append(paper_program(item, out) == theirs)
    for case, j, ok in zip(cases, task.grade_all(chosen, outputs), agrees, strict=True):
        tally.add(case["note"], str(case["output"]), j.score, j.alt["strict"], ok)
    return tally


def _bfcl() -> Tally:
    tally = Tally("bfcl")
    cfg = task_config("bfcl")
    task = load_task(cfg, "paper")
    answers = {r["id"]: r["ground_truth"] for r in load(cfg.data["answers"])}
    records = [{**r, "ground_truth": answers[r["id"]]} for r in load(cfg.data["test"])]
    items = task.test_items()
    for case in ref.corpus("bfcl"):
        j = task.grade(items[case["item"]], case["output"])
        theirs = ref.correct(ref.bfcl_score(case["output"], records[case["item"]]))
        tally.add(case["note"], case["output"], j.score, j.alt["strict"], j.score == theirs)
    return tally


def tallies() -> list[Tally]:
    return [
        _math("gsm8k", "gsm8k", ref.gsm8k_score),
        _math("aime2025", "aime", ref.aime_score),
        _gpqa(),
        _humaneval(),
        _bfcl(),
    ]


def table(rows: list[Tally]) -> str:
    lines = [
        "| task | cases | paper = inspect | strict ≠ paper | paper 1, strict 0 | "
        "paper 0, strict 1 | examples |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in rows:
        lines.append(
            f"| {t.task} | {t.n} | {t.agree}/{t.n} | {t.paper_only + t.strict_only} | "
            f"{t.paper_only} | {t.strict_only} | {'<br>'.join(t.examples)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(tallies()))
