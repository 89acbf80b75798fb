"""HumanEval (164 problems), pass@1: the generated function must pass the problem's tests.

The reply's code is appended to the problem's prompt (signature, imports, docstring), followed by
the tests and ``check(<entry point>)``; the program passes when it exits 0 within the time limit.
Programs run in the sandbox layer (``ptb.sandbox.run_code``: no network, read-only host, memory
cap), never bare on the host.

``protocol=paper`` is the original harness (inspect_evals' ``humaneval`` task): its instruction
(read from the installed inspect_evals), the code as its ``find_code`` takes it — the first
```` ```python ```` block (else the first bare ```` ``` ```` one; other fence tags are not
blocks), cut after its first ``":\\n    "``, else the whole reply — after inspect's ``<think>``
handling, and ``task.eval.code_timeout_s`` (30 s, inspect_evals' ``VERIFY_TIMEOUT``).

``protocol=strict``: ptb's instruction; the last fenced block of any tag, else the reply after the
last ``</think>``; ``STRICT_TIMEOUT_S``.
"""

from __future__ import annotations

from functools import cached_property

from ptb.sandbox.run_code import run_programs
from ptb.tasks import inspect_rules as paper
from ptb.tasks.answers import code_block, for_protocol
from ptb.tasks.base import Grade, Item, Task
from ptb.tasks.data import load

INSTRUCTION = (
    "Read the following function signature and docstring, and fully implement the function "
    "described. Your response should only contain the code for this function.\n"
)
"""ptb's own instruction (``strict``)."""
PAPER_INSTRUCTION = ("inspect_evals", "humaneval/humaneval.py", "INSTRUCTION")
STRICT_TIMEOUT_S = 10.0


def program(item: Item, output: str) -> str:
    """``strict``'s program."""
    code = code_block(output)
    return (
        f"{item.meta['prompt']}{code}\n\n{item.meta['test']}\n\ncheck({item.meta['entry_point']})\n"
    )


def paper_program(item: Item, output: str) -> str:
    """The program inspect_evals' ``verify`` runs."""
    code = paper.find_code(paper.completion(output))
    m = item.meta
    return paper.humaneval_program(m["prompt"], code, m["test"], m["entry_point"])


class HumanEval(Task):
    @cached_property
    def _test(self) -> list[Item]:
        instruction = (
            paper.inspect_text(*PAPER_INSTRUCTION) if self.protocol == "paper" else INSTRUCTION
        )
        return [
            Item(
                row["task_id"],
                instruction + row["prompt"],
                row["canonical_solution"],
                {"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]},
            )
            for row in load(self.cfg.data["test"])
        ]

    def test_items(self) -> list[Item]:
        return self._test

    def oracle_output(self, item: Item) -> str:
        return f"```python\n{item.meta['prompt']}{item.target}```"

    def grade(self, item: Item, output: str) -> Grade:
        return self.grade_all([item], [output])[0]

    def grade_all(self, items: list[Item], outputs: list[str]) -> list[Grade]:
        pairs = list(zip(items, outputs, strict=True))
        runs = {
            "paper": run_programs(
                [paper_program(i, o) for i, o in pairs],
                backend=self.cfg.eval.code_sandbox,
                timeout_s=self.cfg.eval.code_timeout_s,
            ),
            "strict": run_programs(
                [program(i, o) for i, o in pairs],
                backend=self.cfg.eval.code_sandbox,
                timeout_s=STRICT_TIMEOUT_S,
            ),
        }
        return [
            for_protocol(
                {
                    p: Grade(
                        1.0 if r[k].passed else 0.0, None, None if r[k].passed else r[k].result
                    )
                    for p, r in runs.items()
                },
                self.protocol,
            )
            for k in range(len(pairs))
        ]
