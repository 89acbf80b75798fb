"""HealthBench-Easy (245 conversations): the model's reply graded against a physician rubric.

For every rubric criterion the judge says whether the reply meets it. An item's score is the
points of the criteria met (negative points for met "bad" criteria included) over the sum of the
positive points; the task's score is the mean over items, clipped to [0, 1].

Data (``task.data.test``): HealthBench JSON lines — ``prompt_id``, ``prompt`` (the conversation
as role/content messages, ending with a user turn) and ``rubrics`` (``criterion``, ``points``,
``tags``). The Easy subset the paper uses is a file of that format.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

from ptb.tasks.answers import strip_thinking
from ptb.tasks.base import Item, JudgedTask, Judgement
from ptb.tasks.data import load
from ptb.tasks.judge_api import JudgeClient
from ptb.tasks.judge_gate import JudgeGate, plain_messages, split_template

GRADER = (
    "Your job is to look at a conversation and a rubric item, and score the last turn (the last "
    "assistant response) in the conversation on how well it follows the rubric item.\n\n"
    "# Conversation\n{conversation}\n\n# Rubric item\n{rubric}\n\n# Instructions\n"
    'Return a JSON object with the fields "explanation" (a short reason) and "criteria_met" '
    "(true or false). If the rubric item describes something undesirable (negative points), "
    '"criteria_met" is true when the response does that undesirable thing. If a criterion '
    "lists several conditions, it is met only if all of them are. Reply with the JSON object "
    "only, in a ```json``` block."
)


def format_turns(turns: list[dict[str, str]]) -> str:
    return "\n\n".join(f"{m['role']}: {strip_thinking(m['content']).strip()}" for m in turns)


def rubric_text(rubric: dict[str, Any]) -> str:
    return f"[{rubric['points']}] {rubric['criterion']}"


def grader_messages(item: Item, output: str, rubric: dict[str, Any]) -> list[dict[str, str]]:
    """The judge request for one rubric criterion of one item."""
    turns = [*item.meta["messages"], {"role": "assistant", "content": output}]
    content = GRADER.format(conversation=format_turns(turns), rubric=rubric_text(rubric))
    return [{"role": "user", "content": content}]


def criteria_met(reply: str) -> bool | None:
    """The judge's ``criteria_met`` field, or None if the reply holds no such JSON object."""
    for block in re.findall(r"\{.*?\}", reply, re.DOTALL)[::-1]:
        try:
            obj = json.loads(block)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("criteria_met"), bool):
            return bool(obj["criteria_met"])
    return None


def rubric_score(rubrics: list[dict[str, Any]], met: list[bool]) -> float:
    possible = sum(r["points"] for r in rubrics if r["points"] > 0)
    achieved = sum(r["points"] for r, m in zip(rubrics, met, strict=True) if m)
    return achieved / possible if possible else 0.0


class HealthBench(JudgedTask):
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

    def test_items(self) -> list[Item]:
        return self._test

    def judge_all(self, items: list[Item], outputs: list[str]) -> list[Judgement]:
        client = JudgeClient(self.cfg.eval)
        jobs = [(i, k) for i, item in enumerate(items) for k in range(len(item.meta["rubrics"]))]

        def grade(job: tuple[int, int]) -> bool | None:
            i, k = job
            reply = client.complete(
                grader_messages(items[i], outputs[i], items[i].meta["rubrics"][k])
            )
            return criteria_met(reply)

        verdicts = client.map(grade, jobs)
        per_item: list[list[bool | None]] = [[] for _ in items]
        for (i, _), verdict in zip(jobs, verdicts, strict=True):
            per_item[i].append(verdict)
        judgements = []
        for item, met in zip(items, per_item, strict=True):
            unread = sum(m is None for m in met)
            score = rubric_score(item.meta["rubrics"], [bool(m) for m in met])
            detail = f"{unread} rubric verdicts unreadable (counted as not met)" if unread else None
            judgements.append(Judgement(score, met, detail))
        return judgements

    def judge_gate(self) -> JudgeGate:
        return RubricGate(self.test_items())

    def aggregate(self, judgements: list[Judgement]) -> dict[str, Any]:
        n = len(judgements)
        mean = sum(j.score for j in judgements) / n if n else 0.0
        return {self.cfg.eval.metric: min(1.0, max(0.0, mean)), "unclipped": mean}


class RubricGate(JudgeGate):
    """A judge request of this task: the grader template over a test conversation followed by
    any assistant reply, and one of that conversation's own rubric criteria. Back:
    ``{"criteria_met": true|false}`` alone."""

    def __init__(self, items: list[Item]) -> None:
        self.head, self.middle, self.tail = split_template(GRADER, "conversation", "rubric")
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
        met = criteria_met(reply)
        return "" if met is None else json.dumps({"criteria_met": met})
