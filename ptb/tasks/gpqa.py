"""GPQA (main, 448 questions): four-way multiple choice with chain of thought.

The data lists the correct answer first, so the choices are shuffled.

``protocol=paper`` is the original harness (``src/eval/tasks/gpqamain/evaluate.py``): inspect's
multiple-choice chain-of-thought template (read from the installed inspect_ai), the question and
choices as the CSV has them, ``shuffle_choices=True``, i.e. one ``random.Random`` drawing a
permutation per row in file order (``MemoryDataset.shuffle_choices``). The original passes no seed,
so each of its runs drew another order; ptb seeds that generator with ``GPQA.seed`` (0 unless the
caller sets it before ``test_items()``; the evaluation's seed belongs there), so a run is
reproducible and seeds differ as the original's runs did. The answer is the letter inspect's
``multiple_choice`` solver reads — the first line-anchored ``ANSWER: X`` with one bare capital
letter, no fallback to a trailing letter — after inspect's ``<think>`` handling.

``protocol=strict``: ptb's template; choices shuffled by a generator seeded with the record id
(the same order on every machine, run and seed); the letter of the last ``ANSWER:`` line (``(B)``
accepted), else a lone letter at the end, after the last ``</think>``.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

from ptb.tasks import inspect_rules as paper
from ptb.tasks.answers import final_letter, for_protocol
from ptb.tasks.base import Grade, Item, Task
from ptb.tasks.data import load

LETTERS = "ABCD"
INSTRUCTION = (
    "Answer the following multiple choice question. The last line of your response should be of "
    "the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of ABCD. "
    "Think step by step before answering.\n\n{question}\n\n{choices}"
)
"""ptb's own template (``strict``)."""
SHUFFLE_SEED = 0
PAPER_TEMPLATE = ("inspect_ai", "solver/_multiple_choice.py", "SINGLE_ANSWER_TEMPLATE_COT")


def shuffled_choices(row: dict[str, str], key: str) -> tuple[list[str], str]:
    """``strict``: the four choices in a stable random order and the correct letter."""
    correct = str(row["Correct Answer"]).strip()
    choices = [correct] + [str(row[f"Incorrect Answer {k}"]).strip() for k in (1, 2, 3)]
    random.Random(f"{SHUFFLE_SEED}:{key}").shuffle(choices)
    return choices, LETTERS[choices.index(correct)]


def paper_prompt(question: str, choices: list[str]) -> str:
    """inspect's ``multiple_choice`` prompt: ``A) …`` lines and ``letters`` = ``A,B,C,D``."""
    listed = "\n".join(f"{paper.answer_character(i)}) {c}" for i, c in enumerate(choices))
    letters = ",".join(paper.answer_character(i) for i in range(len(choices)))
    template = paper.inspect_text(*PAPER_TEMPLATE)
    return template.format(choices=listed, letters=letters, question=question)


def paper_items(rows: list[dict[str, Any]], seed: int | None) -> list[Item]:
    """The original's samples (``record_to_sample``: choices unstripped, target ``A``) with
    inspect's ``shuffle_choices``: one generator, one permutation per row in order."""
    rand = random.Random(seed)
    items = []
    for i, row in enumerate(rows):
        original = [
            str(row["Correct Answer"]),
            *(str(row[f"Incorrect Answer {k}"]) for k in (1, 2, 3)),
        ]
        positions = list(range(len(original)))
        rand.shuffle(positions)
        choices = [original[p] for p in positions]
        letter = paper.answer_character(positions.index(0))
        key = str(row.get("Record ID") or f"row-{i}")
        prompt = paper_prompt(str(row["Question"]), choices)
        items.append(Item(key, prompt, f"ANSWER: {letter}", {"answer": letter}))
    return items


class GPQA(Task):
    """``seed`` (the evaluation's) seeds the choice shuffle under ``paper``: the original's was
    unseeded, so each of its runs drew another order."""

    @property
    def items_depend_on_seed(self) -> bool:  # type: ignore[override]
        return self.protocol == "paper"

    @cache  # noqa: B019 - one task object per evaluation; keyed by seed
    def _items(self, protocol: str, seed: int) -> list[Item]:
        rows = load(self.cfg.data["test"])
        if protocol == "paper":
            return paper_items(rows, seed)
        items = []
        for i, row in enumerate(rows):
            key = str(row.get("Record ID") or f"row-{i}")
            choices, letter = shuffled_choices(row, key)
            listed = "\n".join(f"{LETTERS[j]}) {c}" for j, c in enumerate(choices))
            prompt = INSTRUCTION.format(question=str(row["Question"]).strip(), choices=listed)
            items.append(Item(key, prompt, f"ANSWER: {letter}", {"answer": letter}))
        return items

    def test_items(self) -> list[Item]:
        return self._items(self.protocol, self.seed)

    def grade(self, item: Item, output: str) -> Grade:
        expected = item.meta["answer"]
        scores = {}
        got = paper.choice_letter(paper.completion(output), len(LETTERS))
        scores["paper"] = (
            Grade(0.0, None, "no line 'ANSWER: <letter>' inspect reads")
            if got is None
            else Grade(
                float(got == expected), got, None if got == expected else f"expected {expected}"
            )
        )
        letter = final_letter(output, LETTERS)
        scores["strict"] = (
            Grade(0.0, None, "no 'ANSWER: <letter>' found")
            if letter is None
            else Grade(
                float(letter == expected),
                letter,
                None if letter == expected else f"expected {expected}",
            )
        )
        return for_protocol(scores, self.protocol)
