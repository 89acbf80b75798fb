"""Pulling the final answer out of a model's output: ptb's own rules (``protocol=strict``).

The original harness's rules (``protocol=paper``) are in ``ptb.tasks.inspect_rules``.

Reasoning models (Qwen3, SmolLM3 in think mode) write ``<think>…</think>`` before answering; only
the text after the last ``</think>`` is the answer. An unfinished thought (``<think>`` without its
end, e.g. cut off at the token limit) has no answer at all.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ptb.tasks.base import Grade

THINK_END = "</think>"
NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")
ANSWER_LINE = re.compile(r"ANSWER\s*:\s*(.+)", re.IGNORECASE)
BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def strip_thinking(output: str) -> str:
    if THINK_END in output:
        return output.rsplit(THINK_END, 1)[1]
    if "<think>" in output:
        return ""
    return output


def answer_text(output: str) -> str:
    """The part of the answer that holds the result: the last ``ANSWER: …`` line, else the last
    ``\\boxed{…}``, else the whole answer."""
    text = strip_thinking(output)
    lines = ANSWER_LINE.findall(text)
    if lines:
        return str(lines[-1]).strip()
    boxed = BOXED.findall(text)
    if boxed:
        return str(boxed[-1]).strip()
    return text


def to_number(text: str) -> Decimal | None:
    cleaned = text.replace(",", "").replace("$", "").strip()
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def last_number(text: str) -> Decimal | None:
    """The last number in ``text`` by value (thousands separators and ``$`` ignored, sign kept)."""
    found = NUMBER.findall(text)
    return to_number(found[-1]) if found else None


def final_number(output: str) -> Decimal | None:
    return last_number(answer_text(output))


def final_letter(output: str, letters: str = "ABCD") -> str | None:
    """A multiple-choice letter: from the ``ANSWER: X`` line, else a lone letter at the end."""
    text = strip_thinking(output)
    lines = ANSWER_LINE.findall(text)
    if lines:
        match = re.match(rf"\(?\s*([{letters}])\b", str(lines[-1]).strip())
        return match.group(1) if match else None
    match = re.search(rf"\b([{letters}])\W*$", text.strip())
    return match.group(1) if match else None


def code_block(output: str) -> str:
    """The last fenced code block (```python … ``` or ``` … ```), else the whole answer."""
    text = strip_thinking(output)
    blocks = re.findall(r"```(?:[A-Za-z0-9_+-]*)\n(.*?)```", text, re.DOTALL)
    if blocks:
        return str(blocks[-1])
    return text


def for_protocol(scores: dict[str, Grade], protocol: str) -> Grade:
    """The grade under the run's ``protocol``, with the same output's score under each other
    protocol in ``alt`` (``{"paper": …, "strict": …}`` → one ``Grade``)."""
    own = scores[protocol]
    alt = {p: j.score for p, j in scores.items() if p != protocol}
    return Grade(own.score, own.extracted, own.detail, alt)
