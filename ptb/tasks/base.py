"""The task interface: held-out items, allowed training data, prompts and scoring."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptb.config.task import TaskConfig


@dataclass(frozen=True)
class Item:
    """One benchmark item: the user's message and the reference answer."""

    id: str
    prompt: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "target": self.target, "meta": self.meta}


@dataclass(frozen=True)
class Judgement:
    """How one output was scored: ``score`` in [0, 1], ``correct`` for exact-match tasks."""

    score: float
    extracted: Any = None
    detail: str | None = None

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


class Task(ABC):
    """A benchmark. Implementations are registered in ``ptb.tasks.TASKS`` by ``TaskConfig.impl``."""

    def __init__(self, cfg: TaskConfig) -> None:
        self.cfg = cfg

    @property
    def name(self) -> str:
        return self.cfg.name

    @abstractmethod
    def test_items(self) -> list[Item]:
        """The held-out items the final evaluation scores, in a fixed order."""

    def train_items(self) -> list[Item]:
        """Allowed training data ptb ships with the task (empty for hub benchmarks)."""
        return []

    def allowed_items(self) -> list[Item]:
        """Data the agent may train on that may share text with the test items (GSM8K's train
        split): the contamination check ignores n-grams found here. Default: the train items."""
        return self.train_items()

    def fewshot_items(self, k: int) -> list[Item]:
        """Examples for few-shot prompts, never drawn from the test items."""
        return self.train_items()[:k]

    @abstractmethod
    def judge(self, item: Item, output: str) -> Judgement:
        """Score one model output against the item's reference."""

    def context_files(self, dest: Path) -> list[Path]:
        """Write task context for the agent into its task folder; return the files written."""
        items = self.train_items()
        if not items:
            return []
        path = dest / "data" / "train.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for item in items:
                row = {
                    "id": item.id,
                    "messages": [
                        {"role": "user", "content": item.prompt},
                        {"role": "assistant", "content": item.target},
                    ],
                }
                fh.write(json.dumps(row) + "\n")
        return [path]
