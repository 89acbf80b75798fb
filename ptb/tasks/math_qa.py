"""Math word problems with one numeric answer: GSM8K (10-shot), AIME 2025 and 2026 (zero-shot).

``protocol=paper`` is the original harness item for item: inspect_evals' own prompts (read from
the installed package), GSM8K's 10 solved examples drawn as inspect draws them (the train split
shuffled by ``datasets`` with seed 42, ``<<calc>>`` notes kept, a blank line before
``ANSWER: N``, all in one system message), and inspect's ``match(numeric=True)`` on what inspect
keeps of the reply after its ``<think>`` handling: the last number word of the whole reply, which
must *end with* the target (so 170 counts for 70), and a target that is not all digits compared
as text (AIME's scorer first removes ``\\boxed{…}``). ``ptb.tasks.inspect_rules`` holds those
rules.

``protocol=strict`` is ptb's own: solve step by step, end with ``ANSWER: <answer>``; the answer
is the last number of that line (else of the last ``\\boxed{}``, else of the reply after any
``<think>`` block), compared *by value* with the reference — sign and thousands separators
included, so 15 never matches 5 and -3 never matches 3.
"""

from __future__ import annotations

import re
from functools import cached_property

from ptb.tasks import inspect_rules as paper
from ptb.tasks.answers import final_number, for_protocol, to_number
from ptb.tasks.base import Grade, Item, Task
from ptb.tasks.data import load

INSTRUCTION = (
    "Solve the following math problem step by step. The last line of your response should be of "
    'the form "ANSWER: $ANSWER" (without quotes) where $ANSWER is the answer to the problem.'
    "\n\n{problem}\n\n"
    'Remember to put your answer on its own line at the end in the form "ANSWER: $ANSWER" '
    "(without quotes) where $ANSWER is the answer to the problem, and you do not need to use a "
    "\\boxed command.\n\nReasoning:"
)
"""ptb's own prompt (``strict``), written after inspect_evals' GSM8K template."""

GSM8K_TEMPLATE = ("inspect_evals", "gsm8k/gsm8k.py", "MATH_PROMPT_TEMPLATE")
AIME_TEMPLATE = ("inspect_evals", "aime2024/aime2024.py", "USER_PROMPT_TEMPLATE")
"""inspect_evals' AIME 2025 task (and the original's AIME 2026 one) use ``aime2024_solver``,
i.e. the AIME 2024 module's template."""
GSM8K_FEWSHOT_SEED = 42
"""inspect_evals' ``DEFAULT_FEWSHOT_SEED`` (``constants.py``)."""


def grade_number(item: Item, output: str) -> Grade:
    """ptb's rule (``strict``): the answer line's last number, by value."""
    got = final_number(output)
    if got is None:
        return Grade(0.0, None, "no number in the answer")
    expected = to_number(str(item.meta["answer"]))
    ok = expected is not None and got == expected
    return Grade(1.0 if ok else 0.0, str(got), None if ok else f"expected {expected}")


def grade_number_paper(item: Item, output: str, *, boxed: bool) -> Grade:
    """The original's rule: inspect's ``match(numeric=True)`` (after ``\\boxed`` removal for AIME)
    on inspect's completion, against the raw target string."""
    text = paper.completion(output)
    if boxed:
        text = paper.remove_boxed(text)
    got, ok = paper.match_end_numeric(text, str(item.meta["target"]))
    return Grade(1.0 if ok else 0.0, got, None if ok else f"expected {item.meta['target']}")


def paper_prompt(template: tuple[str, str, str], problem: str) -> str:
    """inspect's ``prompt_template``: ``{prompt}`` replaced by the problem."""
    return paper.inspect_text(*template).replace("{prompt}", problem)


def gsm8k_answer(solution: str) -> str:
    """The number after ``####`` in a GSM8K solution."""
    return solution.rsplit("####", 1)[-1].strip().replace(",", "")


def gsm8k_reasoning(solution: str) -> str:
    """A GSM8K solution without its ``<<calculator>>`` annotations and final ``####`` line."""
    return re.sub(r"<<[^>]*>>", "", solution.rsplit("####", 1)[0]).strip()


def gsm8k_paper_fields(solution: str) -> tuple[str, str]:
    """inspect_evals' ``record_to_sample``: (reasoning before the last ``####``, stripped, notes
    kept; the target after it, stripped, commas kept)."""
    parts = solution.split("####")
    target = parts.pop().strip()
    return "####".join(parts).strip(), target


def fewshot_order(n: int, seed: int = GSM8K_FEWSHOT_SEED) -> list[int]:
    """The row order of ``datasets.Dataset.shuffle(seed=seed)``: numpy's default generator's
    permutation (``arrow_dataset.py``)."""
    import numpy as np

    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


class GSM8K(Task):
    """openai/gsm8k main: test for scoring, train for the 10 few-shot examples (allowed data)."""

    def _items(self, role: str) -> list[Item]:
        items = []
        for i, row in enumerate(load(self.cfg.data[role])):
            answer = gsm8k_answer(row["answer"])
            reasoning, target = gsm8k_paper_fields(row["answer"])
            if self.protocol == "paper":
                prompt = paper_prompt(GSM8K_TEMPLATE, row["question"])
                shown = f"{reasoning}\n\nANSWER: {target}"
            else:
                prompt = INSTRUCTION.format(problem=row["question"])
                shown = f"{gsm8k_reasoning(row['answer'])}\nANSWER: {answer}"
            meta = {
                "answer": answer,
                "target": target,
                "question": row["question"],
                "reasoning": reasoning,
            }
            items.append(Item(f"{role}-{i:05d}", prompt, shown, meta))
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

    def fewshot_items(self, k: int) -> list[Item]:
        """``paper``: the first ``k`` train rows after inspect's seed-42 shuffle; ``strict``: the
        first ``k`` train rows."""
        train = self.train_items()
        if self.protocol != "paper" or not train:
            return super().fewshot_items(k)
        return [train[i] for i in self._fewshot_order[:k]]

    @cached_property
    def _fewshot_order(self) -> list[int]:
        return fewshot_order(len(self.train_items()))

    def messages(self, item: Item, num_fewshot: int) -> list[dict[str, str]]:
        """As the paper's harness: solved examples in one system message, then the problem."""
        shots = self.fewshot_items(num_fewshot) if num_fewshot else []
        if not shots:
            return item.conversation()
        if self.protocol == "paper":  # inspect_evals' sample_to_fewshot
            examples = "\n\n".join(
                f"{s.meta['question']}\n\nReasoning:\n{s.meta['reasoning']}\n\n"
                f"ANSWER: {s.meta['target']}"
                for s in shots
            )
        else:
            examples = "\n\n".join(f"{s.meta['question']}\n\nReasoning:\n{s.target}" for s in shots)
        return [{"role": "system", "content": examples}, *item.conversation()]

    def grade(self, item: Item, output: str) -> Grade:
        scores = {
            "paper": grade_number_paper(item, output, boxed=False),
            "strict": grade_number(item, output),
        }
        return for_protocol(scores, self.protocol)


class AIME(Task):
    """An AIME year (``math-ai/aime25``, ``math-ai/aime26``): 30 problems, integer answers 0-999."""

    @cached_property
    def _test(self) -> list[Item]:
        items = []
        for i, row in enumerate(load(self.cfg.data["test"])):
            answer = str(row["answer"]).strip()
            if self.protocol == "paper":
                prompt = paper_prompt(AIME_TEMPLATE, row["problem"])
            else:
                prompt = INSTRUCTION.format(problem=row["problem"])
            items.append(
                Item(
                    str(row.get("id", f"test-{i:03d}")),
                    prompt,
                    f"ANSWER: {answer}",
                    {"answer": answer, "target": str(row["answer"])},
                )
            )
        return items

    def test_items(self) -> list[Item]:
        return self._test

    def grade(self, item: Item, output: str) -> Grade:
        scores = {
            "paper": grade_number_paper(item, output, boxed=True),
            "strict": grade_number(item, output),
        }
        return for_protocol(scores, self.protocol)


AIME2025 = AIME
"""The registry's name for AIME 2025 (``impl: aime2025``)."""
