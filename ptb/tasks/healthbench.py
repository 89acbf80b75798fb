"""HealthBench-Easy (245 conversations): the model's reply graded against a physician rubric.

For every rubric criterion the grader says whether the reply meets it. An item's score is the
points of the criteria met (negative points for met "bad" criteria included) over the sum of the
positive points; the task's score is the mean over items, clipped to [0, 1].

The grader prompt is OpenAI's HealthBench template as the original harness ships it
(``GRADER_TEMPLATE`` of its ``grader.py``, ``task.data.grader``), read from the pinned file at run
time, never copied into ptb; it is filled as there: ``<<conversation>>`` with the turns as
``role: content`` lines joined by blank lines (the model's reply last), then ``<<rubric_item>>``
with ``[points] criterion``. A reply without a readable verdict is asked again, up to 5 calls in
all; a criterion still without one counts as not met (as the original) and is recorded. A grader
endpoint that fails after its retries raises (``GraderError``): the evaluation fails and is
retried, never scored (the original counts such a criterion as not met; ptb does not).

- ``paper``: the reply is stripped and, if it starts with ``<think>``, cut after the first
  ``</think>`` (an unclosed block keeps the whole text); capped by ``limit_repetitions``. The
  verdict is the original's ``parse_json_to_dict``: the whole reply, without a leading
  `````json`` and a trailing ````````, must be one JSON object whose ``criteria_met`` is
  ``true`` or ``false``.
- ``strict``: ptb's thinking rule (the text after the last ``</think>``; an unclosed block
  leaves nothing), the same cap; the verdict is the last JSON object anywhere in the reply with
  a boolean ``criteria_met`` (prose or a fence around it does not matter).

Data (``task.data.test``): HealthBench JSON lines — ``prompt_id``, ``prompt`` (the conversation
as role/content messages, ending with a user turn) and ``rubrics`` (``criterion``, ``points``,
``tags``). The Easy subset the paper uses is the original's ``healthbench.jsonl``.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

from ptb.config.protocol import PROTOCOLS
from ptb.tasks.answers import strip_thinking
from ptb.tasks.base import Grade, Item, ModelGradedTask
from ptb.tasks.data import load, resolve
from ptb.tasks.grader_api import GraderClient
from ptb.tasks.grader_gate import GraderGate, plain_messages
from ptb.tasks.repetitions import limit_repetitions
from ptb.tasks.upstream import python_constant

CONVERSATION, RUBRIC = "<<conversation>>", "<<rubric_item>>"
CALLS = 5
"""Grader calls per criterion at most (the first and the retries for unreadable replies)."""


def load_template(grader: str) -> str:
    """``GRADER_TEMPLATE`` of the grader file ``grader`` (a data source)."""
    template = python_constant(resolve(grader).read_text(encoding="utf-8"), "GRADER_TEMPLATE")
    if (
        not isinstance(template, str)
        or not template.count(CONVERSATION) == template.count(RUBRIC) == 1
    ):
        raise ValueError(f"{grader}: GRADER_TEMPLATE has no {CONVERSATION} / {RUBRIC} fields")
    return template


def format_turns(turns: list[dict[str, str]]) -> str:
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)


def rubric_text(rubric: dict[str, Any]) -> str:
    return f"[{rubric['points']}] {rubric['criterion']}"


def grader_prompt(template: str, conversation: list[dict[str, str]], answer: str,
                  rubric: dict[str, Any]) -> str:  # fmt: skip
    """The grader's prompt, filled as the original does (two ``str.replace`` in a row)."""
    turns = format_turns([*conversation, {"role": "assistant", "content": answer}])
    return template.replace(CONVERSATION, turns).replace(RUBRIC, rubric_text(rubric))


def without_thinking(output: str, protocol: str) -> str:
    """The model's reply cut from its thinking under ``protocol`` (before the cap)."""
    text = output.strip()
    if protocol == "paper":
        return text.split("</think>", 1)[-1].strip() if text.startswith("<think>") else text
    return strip_thinking(text).strip()


def graded_answer(output: str, protocol: str) -> str:
    """The model's reply as the grader sees it under ``protocol``."""
    return limit_repetitions(without_thinking(output, protocol))


def paper_criteria_met(reply: str) -> bool | None:
    """The original's reading (``parse_json_to_dict`` and its check): None if unreadable."""
    cleaned = re.sub(r"^```json\s*|\s*```$", "", reply.strip())
    try:
        obj = json.loads(cleaned)
    except (json.JSONDecodeError, RecursionError):
        return None
    if isinstance(obj, dict) and (
        obj.get("criteria_met") is True or obj.get("criteria_met") is False
    ):
        return bool(obj["criteria_met"])
    return None


def criteria_met(reply: str) -> bool | None:
    """ptb's reading: the last JSON object in the reply (fenced or not, nested values and
    braces in strings allowed) with a boolean ``criteria_met``, else None."""
    decoder = json.JSONDecoder()
    start = reply.rfind("{")
    while start >= 0:
        try:
            obj, _ = decoder.raw_decode(reply, start)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("criteria_met"), bool):
            return bool(obj["criteria_met"])
        start = reply.rfind("{", 0, start)
    return None


VERDICT = {"paper": paper_criteria_met, "strict": criteria_met}


def rubric_score(rubrics: list[dict[str, Any]], met: list[bool]) -> float:
    possible = sum(r["points"] for r in rubrics if r["points"] > 0)
    achieved = sum(r["points"] for r, m in zip(rubrics, met, strict=True) if m)
    return achieved / possible if possible else 0.0


def clipped_mean(scores: list[float]) -> float:
    mean = sum(scores) / len(scores) if scores else 0.0
    return min(1.0, max(0.0, mean))


class HealthBench(ModelGradedTask):
    @cached_property
    def _test(self) -> list[Item]:
        items = []
        for row in load(self.cfg.data["test"]):
            messages = [{"role": m["role"], "content": m["content"]} for m in row["prompt"]]
            items.append(
                Item(
                    str(row["prompt_id"]),
                    messages[-1]["content"],
                    str(row.get("ideal_completion") or ""),
                    {"messages": messages, "rubrics": row["rubrics"]},
                )
            )
        return items

    @cached_property
    def template(self) -> str:
        return load_template(self.cfg.data["grader"])

    def test_items(self) -> list[Item]:
        return self._test

    def grade_all(self, items: list[Item], outputs: list[str]) -> list[Grade]:
        client = GraderClient(self.cfg.eval, self.protocol)
        answers = [graded_answer(out, self.protocol) for out in outputs]
        jobs = [(i, k) for i, item in enumerate(items) for k in range(len(item.meta["rubrics"]))]

        def grade(job: tuple[int, int]) -> dict[str, Any]:
            i, k = job
            item = items[i]
            prompt = grader_prompt(
                self.template, item.meta["messages"], answers[i], item.meta["rubrics"][k]
            )
            seen: dict[str, bool | None] = dict.fromkeys(PROTOCOLS)
            calls = 0
            while calls < CALLS and seen[self.protocol] is None:
                reply = client.complete([{"role": "user", "content": prompt}])
                calls += 1
                for p in PROTOCOLS:
                    if seen[p] is None:
                        seen[p] = VERDICT[p](reply)
            return {"met": seen, "calls": calls}

        grades = client.map(grade, jobs)
        per_item: list[list[dict[str, Any]]] = [[] for _ in items]
        for (i, _), grade_ in zip(jobs, grades, strict=True):
            per_item[i].append(grade_)
        results = []
        for item, out, graded in zip(items, outputs, per_item, strict=True):
            rubrics = item.meta["rubrics"]
            cut = without_thinking(out, self.protocol)
            met = [g["met"][self.protocol] for g in graded]
            unread = sum(m is None for m in met)
            score = rubric_score(rubrics, [bool(m) for m in met])
            detail = (
                f"{unread} criteria without a readable verdict after {CALLS} calls"
                if unread
                else None
            )
            alt = {}
            for p in PROTOCOLS:
                # the same reply text: its verdicts are known, unless this protocol stopped
                # asking before the other could read one
                if p == self.protocol or without_thinking(out, p) != cut:
                    continue
                if all(g["met"][p] is not None or g["calls"] == CALLS for g in graded):
                    alt[p] = rubric_score(rubrics, [bool(g["met"][p]) for g in graded])
            results.append(Grade(score, graded, detail, alt))
        return results

    def grader_gate(self) -> GraderGate:
        return RubricGate(self.template, self.test_items(), self.protocol)

    def aggregate(self, grades: list[Grade]) -> dict[str, Any]:
        n = len(grades)
        scores = [j.score for j in grades]
        metrics: dict[str, Any] = {
            self.cfg.eval.metric: clipped_mean(scores),
            "unclipped": sum(scores) / n if n else 0.0,
            "criteria_unreadable": sum(
                g["met"][self.protocol] is None for j in grades for g in (j.extracted or [])
            ),
        }
        for p in PROTOCOLS:
            if p != self.protocol and n and all(p in j.alt for j in grades):
                metrics[f"{self.cfg.eval.metric}_{p}"] = clipped_mean([j.alt[p] for j in grades])
        return metrics


class RubricGate(GraderGate):
    """A grader request of this task: the grader template over a test conversation followed by
    any assistant reply, and one of that conversation's own rubric criteria. Back:
    ``{"criteria_met": true|false}`` alone."""

    def __init__(self, template: str, items: list[Item], protocol: str) -> None:
        self.protocol = protocol
        self.head, rest = template.split(CONVERSATION)
        self.middle, _, self.tail = rest.partition(RUBRIC)
        self.items = [
            (format_turns(item.meta["messages"]) + "\n\nassistant: ",
             {rubric_text(r) for r in item.meta["rubrics"]})
            for item in items
        ]  # fmt: skip

    def check(self, messages: Any) -> str | None:
        turns = plain_messages(messages)
        if not turns or len(turns) != 1 or turns[0][0] != "user":
            return "not the task's grader template (one user turn)"
        content = turns[0][1]
        if not content.startswith(self.head) or not content.endswith(self.tail):
            return "not the task's grader template"
        body = content[len(self.head) : len(content) - len(self.tail)]
        for prefix, rubrics in self.items:
            if body.startswith(prefix):
                conversation_end = body.rfind(self.middle)
                if conversation_end >= len(prefix) and (
                    body[conversation_end + len(self.middle) :] in rubrics
                ):
                    return None
        return "not a test conversation with one of its own rubric criteria"

    def reduce(self, reply: str) -> str:
        met = VERDICT[self.protocol](reply)
        return "" if met is None else json.dumps({"criteria_met": met})
