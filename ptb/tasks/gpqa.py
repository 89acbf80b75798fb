"""GPQA (main, 448 questions): four-way multiple choice with chain of thought.

The data lists the correct answer first; the choices are shuffled per question with a generator
seeded by the question's record id, so the order is random but the same on every machine and run.
"""

from __future__ import annotations

import random
from functools import cached_property

from ptb.tasks.answers import final_letter
from ptb.tasks.base import Item, Judgement, Task
from ptb.tasks.data import load

LETTERS = "ABCD"
INSTRUCTION = (
    "Answer the following multiple choice question. The last line of your response should be of "
    "the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of ABCD. "
    "Think step by step before answering.\n\n{question}\n\n{choices}"
)
SHUFFLE_SEED = 0


def shuffled_choices(row: dict[str, str], key: str) -> tuple[list[str], str]:
    """The four choices in a stable random order and the correct letter."""
    correct = str(row["Correct Answer"]).strip()
    choices = [correct] + [str(row[f"Incorrect Answer {k}"]).strip() for k in (1, 2, 3)]
    random.Random(f"{SHUFFLE_SEED}:{key}").shuffle(choices)
    return choices, LETTERS[choices.index(correct)]


class GPQA(Task):
    @cached_property
    def _test(self) -> list[Item]:
        items = []
        for i, row in enumerate(load(self.cfg.data["test"])):
            key = str(row.get("Record ID") or f"row-{i}")
            choices, letter = shuffled_choices(row, key)
            listed = "\n".join(f"{LETTERS[j]}) {c}" for j, c in enumerate(choices))
            prompt = INSTRUCTION.format(question=str(row["Question"]).strip(), choices=listed)
            items.append(Item(key, prompt, f"ANSWER: {letter}", {"answer": letter}))
        return items

    def test_items(self) -> list[Item]:
        return self._test

    def judge(self, item: Item, output: str) -> Judgement:
        letter = final_letter(output, LETTERS)
        if letter is None:
            return Judgement(0.0, None, "no 'ANSWER: <letter>' found")
        expected = item.meta["answer"]
        ok = letter == expected
        return Judgement(1.0 if ok else 0.0, letter, None if ok else f"expected {expected}")
