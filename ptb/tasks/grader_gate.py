"""What the agent's own ``evaluate.py`` may ask a model-graded task's grader model, and what it
gets back.

Inside the sandbox, evaluate.py on ArenaHard and HealthBench reaches the grader only through the
model-API gateway's grader route (``ptb.gateway``). The route lets a request through only if it is
one of the task's own grader requests: its fixed grader template, filled with a test item's prompt
(and, for ArenaHard, that prompt's reference answer), where only the answer under grade is
free. Back comes only the verdict (``[[A>B]]``, or ``{"criteria_met": true}``), never the grader's
text: the grader key cannot be turned into a general-purpose model for generating training data
(a reward hack the paper reports), not even by writing instructions into the answer slot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

REFUSAL = (
    "this key is evaluate.py's, for the task's own grader requests only (a fixed grader template "
    "over a test item); this request is not one: {why}"
)


class GraderGate(ABC):
    """One model-graded task's rule for the gateway's grader route."""

    @abstractmethod
    def check(self, messages: Any) -> str | None:
        """None if ``messages`` is one of the task's grader requests, else why it is not."""

    @abstractmethod
    def reduce(self, reply: str) -> str:
        """What the caller gets back of the grader's reply: the verdict alone, or ``""`` when
        the reply holds none."""


def plain_messages(messages: Any) -> list[tuple[str, str]] | None:
    """``messages`` as (role, text) pairs, or None unless every message is a plain text turn."""
    if not isinstance(messages, list):
        return None
    out = []
    for m in messages:
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            return None
        if not isinstance(m["role"], str) or not isinstance(m["content"], str):
            return None
        out.append((m["role"], m["content"]))
    return out


def split_template(template: str, *fields: str) -> list[str]:
    """The fixed text around the ``{field}`` placeholders of a ``str.format`` template, in
    order: ``len(fields) + 1`` pieces."""
    pieces, rest = [], template
    for name in fields:
        head, sep, rest = rest.partition("{" + name + "}")
        assert sep, f"template has no {{{name}}}"
        pieces.append(head.replace("{{", "{").replace("}}", "}"))
    pieces.append(rest.replace("{{", "{").replace("}}", "}"))
    return pieces
