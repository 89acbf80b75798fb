"""HumanEval (164 problems), pass@1: the generated function must pass the problem's tests.

The reply's code (the last fenced block, else the whole answer) is appended to the problem's
prompt (signature, imports, docstring), followed by the tests and ``check(<entry point>)``; the
program passes when it exits 0 within ``task.eval.code_timeout_s``. Programs run in the sandbox
layer (``ptb.sandbox.run_code``: no network, read-only host, memory cap), never bare on the host.
"""

from __future__ import annotations

from functools import cached_property

from ptb.sandbox.run_code import run_programs
from ptb.tasks.answers import code_block
from ptb.tasks.base import Item, Judgement, Task
from ptb.tasks.data import load

INSTRUCTION = (
    "Read the following function signature and docstring, and fully implement the function "
    "described. Your response should only contain the code for this function.\n"
)


def program(item: Item, output: str) -> str:
    code = code_block(output)
    return (
        f"{item.meta['prompt']}{code}\n\n{item.meta['test']}\n\ncheck({item.meta['entry_point']})\n"
    )


class HumanEval(Task):
    @cached_property
    def _test(self) -> list[Item]:
        return [
            Item(
                row["task_id"],
                INSTRUCTION + row["prompt"],
                row["canonical_solution"],
                {"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]},
            )
            for row in load(self.cfg.data["test"])
        ]

    def test_items(self) -> list[Item]:
        return self._test

    def oracle_output(self, item: Item) -> str:
        return f"```python\n{item.meta['prompt']}{item.target}```"

    def judge(self, item: Item, output: str) -> Judgement:
        return self.judge_all([item], [output])[0]

    def judge_all(self, items: list[Item], outputs: list[str]) -> list[Judgement]:
        results = run_programs(
            [program(i, o) for i, o in zip(items, outputs, strict=True)],
            backend=self.cfg.eval.code_sandbox,
            timeout_s=self.cfg.eval.code_timeout_s,
        )
        return [
            Judgement(1.0 if r.passed else 0.0, None, None if r.passed else r.result)
            for r in results
        ]
