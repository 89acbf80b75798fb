"""ArenaHard-Writing: 250 creative-writing prompts of Arena-Hard v2.0, judged pairwise.

For every prompt the judge sees the model's answer and a fixed reference answer (Qwen3-1.7B,
the instruct model) in two games with the positions swapped. Each game's verdict counts from the
model's side: win 1, tie 0.5, loss 0; a "significantly better" verdict (``>>``) counts three
times. The score is the weighted win rate over all games with a readable verdict.

Data: ``task.data.test`` is Arena-Hard's ``question.jsonl`` (``uid``, ``category``, ``prompt``;
only ``creative_writing`` rows are used); ``task.data.references`` holds the reference answers,
either in Arena-Hard's model-answer format (``uid``, ``messages`` ending in the assistant's
``{"answer": ...}``) or as ``{"uid", "answer"}`` rows.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from ptb.tasks.answers import strip_thinking
from ptb.tasks.base import Item, JudgedTask, Judgement
from ptb.tasks.data import load
from ptb.tasks.judge_api import JudgeClient
from ptb.tasks.judge_gate import JudgeGate, plain_messages, split_template

CATEGORY = "creative_writing"
SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two "
    "AI assistants to the user prompt displayed below. You will be given assistant A's answer "
    "and assistant B's answer. Your job is to evaluate which assistant's answer is better.\n\n"
    "Judge the answers on how well they fulfil the request: helpfulness, relevance, "
    "creativity, originality and quality of writing, and whether anything important is missing. "
    "Do not let the order of the answers or their length influence you.\n\n"
    "After explaining your reasoning, output exactly one of the following verdicts:\n\n"
    "1. Assistant A is significantly better: [[A>>B]]\n"
    "2. Assistant A is slightly better: [[A>B]]\n"
    "3. Tie, relatively the same: [[A=B]]\n"
    "4. Assistant B is slightly better: [[B>A]]\n"
    "5. Assistant B is significantly better: [[B>>A]]\n\n"
    'Example output: "My final verdict is tie: [[A=B]]".'
)
USER = (
    "<|User Prompt|>\n{prompt}\n\n<|The Start of Assistant A's Answer|>\n{a}\n"
    "<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{b}\n"
    "<|The End of Assistant B's Answer|>"
)
VERDICT = re.compile(r"\[\[([AB][<>=]{1,2}[AB])\]\]")
A_SIDE = {"A>>B": (1.0, 3), "A>B": (1.0, 1), "A=B": (0.5, 1), "B>A": (0.0, 1), "B>>A": (0.0, 3)}
"""Verdict → (score of assistant A, weight)."""


def judge_messages(prompt: str, a: str, b: str) -> list[dict[str, str]]:
    """One game's judge request: ``a`` and ``b`` are assistant A's and B's answers."""
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER.format(prompt=prompt, a=a, b=b)},
    ]


def parse_verdict(reply: str) -> str | None:
    found = set(VERDICT.findall(reply))
    return found.pop() if len(found) == 1 and next(iter(found)) in A_SIDE else None


def game_score(verdict: str, model_is_a: bool) -> tuple[float, int]:
    score, weight = A_SIDE[verdict]
    return (score if model_is_a else 1.0 - score), weight


def _reference(row: dict[str, Any]) -> str:
    if "answer" in row:
        return str(row["answer"])
    content = row["messages"][-1]["content"]
    return str(content["answer"] if isinstance(content, dict) else content)


class ArenaHardWriting(JudgedTask):
    @cached_property
    def _test(self) -> list[Item]:
        refs = {str(r["uid"]): _reference(r) for r in load(self.cfg.data["references"])}
        items = []
        for row in load(self.cfg.data["test"]):
            if row.get("category", CATEGORY) != CATEGORY:
                continue
            uid = str(row["uid"])
            if uid not in refs:
                raise ValueError(f"no reference answer for prompt {uid} in task.data.references")
            items.append(Item(uid, str(row["prompt"]), strip_thinking(refs[uid])))
        return items

    def test_items(self) -> list[Item]:
        return self._test

    def judge_all(self, items: list[Item], outputs: list[str]) -> list[Judgement]:
        client = JudgeClient(self.cfg.eval)
        games = [
            (i, model_is_a)
            for i in range(len(items))
            for model_is_a in (False, True)  # game 1: reference as A; game 2: swapped
        ]

        def play(game: tuple[int, bool]) -> str:
            i, model_is_a = game
            answer = strip_thinking(outputs[i]).strip()
            a, b = (answer, items[i].target) if model_is_a else (items[i].target, answer)
            return client.complete(judge_messages(items[i].prompt, a, b))

        replies = client.map(play, games)
        per_item: list[list[dict[str, Any]]] = [[] for _ in items]
        for (i, model_is_a), reply in zip(games, replies, strict=True):
            verdict = parse_verdict(reply)
            game: dict[str, Any] = {"model_is_a": model_is_a, "verdict": verdict}
            if verdict:
                game["score"], game["weight"] = game_score(verdict, model_is_a)
            per_item[i].append(game)
        return [_item_judgement(g) for g in per_item]

    def judge_gate(self) -> JudgeGate:
        return PairwiseGate({item.prompt: item.target for item in self.test_items()})

    def aggregate(self, judgements: list[Judgement]) -> dict[str, Any]:
        games = [g for j in judgements for g in (j.extracted or []) if g.get("verdict")]
        weight = sum(g["weight"] for g in games)
        rate = sum(g["score"] * g["weight"] for g in games) / weight if weight else 0.0
        return {
            self.cfg.eval.metric: rate,
            "games": len(games),
            "games_without_verdict": sum(len(j.extracted or []) for j in judgements) - len(games),
        }


def _item_judgement(games: list[dict[str, Any]]) -> Judgement:
    scored = [g for g in games if g.get("verdict")]
    weight = sum(g["weight"] for g in scored)
    score = sum(g["score"] * g["weight"] for g in scored) / weight if weight else 0.0
    detail = None if len(scored) == len(games) else "a game had no readable verdict"
    return Judgement(score, games, detail)


class PairwiseGate(JudgeGate):
    """A judge request of this task: the system prompt, then a test prompt with its reference
    answer on one side and anything on the other. Back: the verdict, ``[[A>B]]`` and the like."""

    def __init__(self, references: dict[str, str]) -> None:
        self.references = references
        self.head, self.after_prompt, self.between, self.tail = split_template(
            USER, "prompt", "a", "b"
        )

    def check(self, messages: Any) -> str | None:
        turns = plain_messages(messages)
        if not turns or len(turns) != 2 or turns[0] != ("system", SYSTEM) or turns[1][0] != "user":
            return "not the task's judge template (a system turn and a user turn)"
        content = turns[1][1]
        if not content.startswith(self.head) or not content.endswith(self.tail):
            return "not the task's judge template"
        rest = content[len(self.head) : len(content) - len(self.tail)]
        start = 0
        while (cut := rest.find(self.after_prompt, start)) >= 0:
            prompt = rest[:cut]
            if prompt in self.references:
                answers = rest[cut + len(self.after_prompt) :]
                ref = self.references[prompt]
                if answers.startswith(ref + self.between) or answers.endswith(self.between + ref):
                    return None
                return "neither answer is the test prompt's reference answer"
            start = cut + 1
        return "the prompt is not one of the task's test prompts"

    def reduce(self, reply: str) -> str:
        verdict = parse_verdict(reply)
        return f"[[{verdict}]]" if verdict else ""
