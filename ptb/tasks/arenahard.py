"""ArenaHard-Writing: 250 creative-writing prompts of Arena-Hard v2.0, graded pairwise.

For every prompt the grader sees the model's answer and a fixed reference answer (Qwen3-1.7B,
the instruct model) in two games with the positions swapped: game 1 has the reference as
assistant A, game 2 the model's answer. A win counts 1, a tie ½, a loss 0; a "significantly
better" verdict (``>>``) counts three times.

The grader prompt is the original harness's, read at run time from its pinned files (never copied
into ptb): the ``creative_writing`` system prompt of ``JUDGE_SETTINGS`` in ``judge_utils.py``
(``task.data.grader_prompt``) and ``prompt_template`` / ``regex_patterns`` of
``arena-hard-v2.0.yaml`` (``task.data.grader_config``). Both protocols send the same prompt, with
the reference answers as shipped (two of them are unfinished ``<think>`` texts; the original
shows them to the grader whole, and so does ptb) and the answer capped by ``limit_repetitions``.
They differ in how an answer is cut from its thinking and how a verdict is read:

- ``paper`` (``evaluate.py`` / ``show_result.py`` of the original): the answer is stripped and,
  if it starts with ``<think>`` and holds ``</think>``, cut after the first ``</think>``. The
  verdict is the last match of the first of the config's regexes that matches anywhere in the
  upper-cased reply (``[[…]]``, else ``[…]``). A prompt counts only when both games have a
  verdict; its games add 1 row each (3 for ``>>`` / ``<<``) of the model's score, and the
  score is the mean of all rows.
- ``strict``: ptb's thinking rule (the text after the last ``</think>``; an unclosed block
  leaves nothing), a verdict only when the reply holds exactly one distinct ``[[…]]`` of the
  five the prompt lists, and a game without one is dropped alone (its prompt's other game
  still counts). The score is the weighted mean over all games with a verdict.

Data: ``task.data.test`` is Arena-Hard's ``question.jsonl`` (``uid``, ``category``, ``prompt``;
only ``creative_writing`` rows are used); ``task.data.references`` holds the reference answers,
either in Arena-Hard's model-answer format (``uid``, ``messages`` ending in the assistant's
``{"answer": ...}``) or as ``{"uid", "answer"}`` rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import yaml

from ptb.config.protocol import PROTOCOLS
from ptb.tasks.answers import strip_thinking
from ptb.tasks.base import Grade, Item, ModelGradedTask
from ptb.tasks.data import load, resolve
from ptb.tasks.grader_api import GraderClient
from ptb.tasks.grader_gate import GraderGate, plain_messages, split_template
from ptb.tasks.repetitions import limit_repetitions
from ptb.tasks.upstream import python_constant

CATEGORY = "creative_writing"
STRONG = 3
"""How many times a "significantly better" verdict counts."""
PAPER_SCORES: dict[str, list[float]] = {
    "A>B": [1.0],
    "A>>B": [1.0] * STRONG,
    "A=B": [0.5],
    "A<<B": [0.0] * STRONG,
    "A<B": [0.0],
    "B>A": [0.0],
    "B>>A": [0.0] * STRONG,
    "B=A": [0.5],
    "B<<A": [1.0] * STRONG,
    "B<A": [1.0],
}
"""The original's verdict → rows of assistant A's score (``_judgments_to_battles``)."""
STRICT_SCORES = {
    "A>>B": (1.0, STRONG),
    "A>B": (1.0, 1),
    "A=B": (0.5, 1),
    "B>A": (0.0, 1),
    "B>>A": (0.0, STRONG),
}
"""ptb's verdicts (the five the grader prompt lists) → (score of assistant A, weight)."""
STRICT_VERDICT = re.compile(r"\[\[([AB][<>=]{1,2}[AB])\]\]")


@dataclass(frozen=True)
class GraderPrompt:
    """The grader's prompt, from the pinned upstream files."""

    system: str
    user: str
    """A ``str.format`` template over ``QUESTION``, ``ANSWER_A``, ``ANSWER_B``."""
    patterns: tuple[str, ...]
    """The verdict regexes, in order (the paper protocol's parser)."""

    def messages(self, question: str, a: str, b: str) -> list[dict[str, str]]:
        """One game's grader request: ``a`` and ``b`` are assistant A's and B's answers."""
        user = self.user.format(QUESTION=question, ANSWER_A=a, ANSWER_B=b)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def load_prompt(grader_prompt: str, grader_config: str) -> GraderPrompt:
    """The prompt from ``judge_utils.py`` and ``arena-hard-v2.0.yaml`` (data sources)."""
    source = resolve(grader_prompt).read_text(encoding="utf-8")
    system = python_constant(source, "JUDGE_SETTINGS", CATEGORY, "system_prompt")
    config = yaml.safe_load(resolve(grader_config).read_text(encoding="utf-8"))
    user, patterns = config.get("prompt_template"), config.get("regex_patterns")
    if not isinstance(system, str) or not isinstance(user, str) or not patterns:
        raise ValueError(
            f"{grader_prompt} / {grader_config}: no creative_writing system prompt, "
            "prompt_template or regex_patterns"
        )
    return GraderPrompt(system, user, tuple(str(p) for p in patterns))


def paper_verdict(reply: str, patterns: Iterable[str]) -> str | None:
    """The original's ``get_score``: the last match of the first pattern that matches the
    upper-cased reply."""
    upper = reply.upper()
    for pattern in patterns:
        found = [m for m in re.findall(pattern, upper) if isinstance(m, str) and m]
        if found:
            return found[-1].strip("\n")
    return None


def strict_verdict(reply: str) -> str | None:
    """Exactly one distinct ``[[…]]`` verdict of the five the prompt lists, else None."""
    found = set(STRICT_VERDICT.findall(reply))
    return found.pop() if len(found) == 1 and next(iter(found)) in STRICT_SCORES else None


VERDICT = {"paper": paper_verdict, "strict": lambda reply, _patterns: strict_verdict(reply)}


def paper_rows(game1: str | None, game2: str | None) -> list[float] | None:
    """The model's score rows of one prompt under ``paper``: game 1 had the reference as A,
    game 2 the model. None (the prompt does not count) unless both verdicts are known."""
    if game1 not in PAPER_SCORES or game2 not in PAPER_SCORES:
        return None
    assert game1 is not None and game2 is not None
    return [1.0 - s for s in PAPER_SCORES[game1]] + PAPER_SCORES[game2]


def strict_games(verdicts: list[str | None], model_is_a: list[bool]) -> list[tuple[float, int]]:
    """(model's score, weight) of each game with a verdict, under ``strict``."""
    out = []
    for verdict, is_a in zip(verdicts, model_is_a, strict=True):
        if verdict in STRICT_SCORES:
            score, weight = STRICT_SCORES[verdict]
            out.append((score if is_a else 1.0 - score, weight))
    return out


def game_score(verdict: str, model_is_a: bool) -> tuple[float, int]:
    """One game's (model's score, weight) under ``strict``."""
    score, weight = STRICT_SCORES[verdict]
    return (score if model_is_a else 1.0 - score), weight


def without_thinking(output: str, protocol: str) -> str:
    """The model's answer cut from its thinking under ``protocol`` (before the cap)."""
    text = output.strip()
    if protocol == "paper":
        if text.startswith("<think>") and "</think>" in text:
            text = text.split("</think>", 1)[1].strip()
        return text
    return strip_thinking(text).strip()


def graded_answer(output: str, protocol: str) -> str:
    """The model's answer as the grader sees it under ``protocol``."""
    return limit_repetitions(without_thinking(output, protocol))


def item_score(record: dict[str, Any], protocol: str) -> float | None:
    """One prompt's score under ``protocol`` from its games' verdicts; None if it does not
    count (paper: a game without a verdict; strict: no game with one)."""
    games = record["games"]
    if protocol == "paper":
        rows = paper_rows(games[0]["verdicts"]["paper"], games[1]["verdicts"]["paper"])
        return sum(rows) / len(rows) if rows else None
    scored = strict_games(
        [g["verdicts"]["strict"] for g in games], [g["model_is_a"] for g in games]
    )
    weight = sum(w for _, w in scored)
    return sum(s * w for s, w in scored) / weight if weight else None


def winrate(records: list[dict[str, Any]], protocol: str) -> tuple[float, int, int]:
    """(score, rows or games counted, prompts counted) under ``protocol``."""
    total = weight = 0.0
    counted = 0
    for record in records:
        games = record["games"]
        if protocol == "paper":
            rows = paper_rows(games[0]["verdicts"]["paper"], games[1]["verdicts"]["paper"])
            if rows:
                total, weight, counted = total + sum(rows), weight + len(rows), counted + 1
        else:
            scored = strict_games(
                [g["verdicts"]["strict"] for g in games], [g["model_is_a"] for g in games]
            )
            total += sum(s * w for s, w in scored)
            weight += sum(w for _, w in scored)
            counted += bool(scored)
    return (total / weight if weight else 0.0), int(weight), counted


def _reference(row: dict[str, Any]) -> str:
    if "answer" in row:
        return str(row["answer"])
    content = row["messages"][-1]["content"]
    return str(content["answer"] if isinstance(content, dict) else content)


class ArenaHardWriting(ModelGradedTask):
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
            items.append(Item(uid, str(row["prompt"]), refs[uid]))
        return items

    @cached_property
    def prompt(self) -> GraderPrompt:
        return load_prompt(self.cfg.data["grader_prompt"], self.cfg.data["grader_config"])

    def test_items(self) -> list[Item]:
        return self._test

    def grade_all(self, items: list[Item], outputs: list[str]) -> list[Grade]:
        client = GraderClient(self.cfg.eval, self.protocol)
        prompt = self.prompt
        answers = [graded_answer(out, self.protocol) for out in outputs]
        games = [
            (i, model_is_a)
            for i in range(len(items))
            for model_is_a in (False, True)  # game 1: reference as A; game 2: swapped
        ]

        def play(game: tuple[int, bool]) -> str:
            i, model_is_a = game
            ref = items[i].target
            a, b = (answers[i], ref) if model_is_a else (ref, answers[i])
            return client.complete(prompt.messages(items[i].prompt, a, b))

        replies = client.map(play, games)
        records: list[dict[str, Any]] = [{"games": []} for _ in items]
        for (i, model_is_a), reply in zip(games, replies, strict=True):
            verdicts = {p: VERDICT[p](reply, prompt.patterns) for p in PROTOCOLS}
            records[i]["games"].append({"model_is_a": model_is_a, "verdicts": verdicts})
        grades = []
        for out, record in zip(outputs, records, strict=True):
            # the other protocol would have graded the same text: its score is known too
            cut = without_thinking(out, self.protocol)
            others = [
                p for p in PROTOCOLS if p != self.protocol and without_thinking(out, p) == cut
            ]
            record["other_protocols"] = others
            score = item_score(record, self.protocol)
            alt = {p: s for p in others if (s := item_score(record, p)) is not None}
            detail = None if score is not None else "not counted: a game had no readable verdict"
            grades.append(Grade(score or 0.0, record, detail, alt))
        return grades

    def grader_gate(self) -> GraderGate:
        references = {item.prompt: item.target for item in self.test_items()}
        return PairwiseGate(self.prompt, references, self.protocol)

    def aggregate(self, grades: list[Grade]) -> dict[str, Any]:
        records = [j.extracted for j in grades if isinstance(j.extracted, dict)]
        rate, weight, counted = winrate(records, self.protocol)
        metrics: dict[str, Any] = {
            self.cfg.eval.metric: rate,
            "counted_weight": weight,
            "prompts_counted": counted,
            "prompts_not_counted": len(records) - counted,
            "games_without_verdict": sum(
                g["verdicts"][self.protocol] is None for r in records for g in r["games"]
            ),
            "games_with_unknown_verdict": sum(
                g["verdicts"][self.protocol] not in (None, *PAPER_SCORES, *STRICT_SCORES)
                for r in records
                for g in r["games"]
            ),
        }
        for other in PROTOCOLS:
            if other != self.protocol and all(other in r["other_protocols"] for r in records):
                metrics[f"{self.cfg.eval.metric}_{other}"] = winrate(records, other)[0]
        return metrics


class PairwiseGate(GraderGate):
    """A grader request of this task: the system prompt, then a test prompt with its reference
    answer on one side and anything on the other. Back: the verdict, ``[[A>B]]`` and the like,
    as the protocol's parser reads it."""

    def __init__(self, prompt: GraderPrompt, references: dict[str, str], protocol: str) -> None:
        self.prompt, self.references, self.protocol = prompt, references, protocol
        self.head, self.after_prompt, self.between, self.tail = split_template(
            prompt.user, "QUESTION", "ANSWER_A", "ANSWER_B"
        )

    def check(self, messages: Any) -> str | None:
        turns = plain_messages(messages)
        if (
            not turns
            or len(turns) != 2
            or turns[0] != ("system", self.prompt.system)
            or turns[1][0] != "user"
        ):
            return "not the task's grader template (a system turn and a user turn)"
        content = turns[1][1]
        if not content.startswith(self.head) or not content.endswith(self.tail):
            return "not the task's grader template"
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
        verdict = VERDICT[self.protocol](reply, self.prompt.patterns)
        return f"[[{verdict}]]" if verdict else ""
