"""Math word problems with one numeric answer: GSM8K (10-shot) and AIME 2025 (zero-shot).

Prompts follow the paper's harness (inspect_evals): solve step by step, end with a line
``ANSWER: <answer>``. The answer is the last number of that line (else of the whole reply, after
any ``<think>`` block), compared *by value* with the reference — sign and thousands separators
included, so 15 never matches 5 and -3 never matches 3.
"""

from __future__ import annotations

import re
from functools import cached_property

from ptb.tasks.answers import final_number, to_number
from ptb.tasks.base import Item, Judgement, Task
from ptb.tasks.data import load

INSTRUCTION = (
    "Solve the following math problem step by step. The last line of your response should be of "
    'the form "ANSWER: $ANSWER" (without quotes) where $ANSWER is the answer to the problem.'
    "\n\n{problem}\n\n"
    'Remember to put your answer on its own line at the end in the form "ANSWER: $ANSWER" '
    "(without quotes) where $ANSWER is the answer to the problem, and you do not need to use a "
    "\\boxed command.\n\nReasoning:"
)


def judge_number(item: Item, output: str) -> Judgement:
    got = final_number(output)
    if got is None:
        return Judgement(0.0, None, "no number in the answer")
    expected = to_number(str(item.meta["answer"]))
    ok = expected is not None and got == expected
    return Judgement(1.0 if ok else 0.0, str(got), None if ok else f"expected {expected}")


def gsm8k_answer(solution: str) -> str:
    """The number after ``####`` in a GSM8K solution."""
    return solution.rsplit("####", 1)[-1].strip().replace(",", "")


def gsm8k_reasoning(solution: str) -> str:
    """A GSM8K solution without its ``<<calculator>>`` annotations and final ``####`` line."""
    return re.sub(r"<<[^>]*>>", "", solution.rsplit("####", 1)[0]).strip()


class GSM8K(Task):
    """openai/gsm8k main: test for scoring, train for the 10 few-shot examples (allowed data)."""

    def _items(self, role: str) -> list[Item]:
        items = []
        for i, row in enumerate(load(self.cfg.data[role])):
            answer = gsm8k_answer(row["answer"])
            target = f"{gsm8k_reasoning(row['answer'])}\nANSWER: {answer}"
            items.append(
                Item(
                    f"{role}-{i:05d}",
                    INSTRUCTION.format(problem=row["question"]),
                    target,
                    {"answer": answer, "question": row["question"]},
                )
            )
        return items

    @cached_property
    def _test(self) -> list[Item]:
        return self._items("test")

    @cached_property
    def _train(self) -> list[Item]:
        return self._items("train") if "train" in self.cfg.data else []

    def test_items(self) -> list[Item]:
        return self._test

    def train_items(self) -> list[Item]:
        return self._train

    def messages(self, item: Item, num_fewshot: int) -> list[dict[str, str]]:
        """As the paper's harness: solved examples in one system message, then the problem."""
        shots = self.fewshot_items(num_fewshot) if num_fewshot else []
        if not shots:
            return item.conversation()
        examples = "\n\n".join(f"{s.meta['question']}\n\nReasoning:\n{s.target}" for s in shots)
        return [{"role": "system", "content": examples}, *item.conversation()]

    def judge(self, item: Item, output: str) -> Judgement:
        return judge_number(item, output)


class AIME2025(Task):
    """math-ai/aime25: 30 problems, integer answers 0-999."""

    @cached_property
    def _test(self) -> list[Item]:
        items = []
        for i, row in enumerate(load(self.cfg.data["test"])):
            answer = str(row["answer"]).strip()
            items.append(
                Item(
                    str(row.get("id", f"test-{i:03d}")),
                    INSTRUCTION.format(problem=row["problem"]),
                    f"ANSWER: {answer}",
                    {"answer": answer},
                )
            )
        return items

    def test_items(self) -> list[Item]:
        return self._test

    def judge(self, item: Item, output: str) -> Judgement:
        return judge_number(item, output)
