"""The task interface: held-out items, allowed training data, prompts and scoring."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ptb.config.protocol import PROTOCOLS
from ptb.config.task import TaskConfig, TestRefs
from ptb.tasks.grader_gate import GraderGate


@dataclass(frozen=True)
class Item:
    """One benchmark item: the user's message and the reference answer."""

    id: str
    prompt: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "target": self.target, "meta": self.meta}

    def conversation(self) -> list[dict[str, str]]:
        """The messages the model answers: ``meta["messages"]`` for multi-turn items (HealthBench),
        else one user turn holding ``prompt``."""
        messages = self.meta.get("messages")
        if messages:
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
        return [{"role": "user", "content": self.prompt}]


@dataclass(frozen=True)
class Grade:
    """How one output was scored: ``score`` in [0, 1], ``correct`` for exact-match tasks."""

    score: float
    extracted: Any = None
    detail: str | None = None
    alt: dict[str, float] = field(default_factory=dict)
    """The same output's score under the other protocol(s) (``{"strict": 0.0}``), for tasks whose
    scorer differs between them; empty where the protocols agree by construction."""

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


def shipped_fewshot(name: str) -> list[Item]:
    """Hand-written solved examples for the few-shot base baseline (not from any test set)."""
    path = Path(str(resources.files("ptb.tasks") / "fewshot" / f"{name}.jsonl"))
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Item(f"fewshot-{i}", r["prompt"], r["target"]) for i, r in enumerate(rows)]


class Task(ABC):
    """A benchmark. Implementations are registered in ``ptb.tasks.TASKS`` by ``TaskConfig.impl``.

    ``protocol`` (``paper`` | ``strict``, ``ptb.config.protocol``) picks the prompts and the
    scorer: ``paper`` as the original harness, ``strict`` ptb's corrected rules. Tasks whose
    scorers differ between the two fill ``Grade.alt`` with the other protocol's score.
    """

    seed: int = 0
    """The evaluation's seed (``ptb.eval.runner`` sets it before ``test_items()``)."""
    items_depend_on_seed = False
    """True where the items themselves follow the seed (GPQA's choice shuffle under ``paper``):
    each evaluation seed then gets its own items and prompts."""

    def __init__(self, cfg: TaskConfig, protocol: str = "paper") -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
        self.cfg = cfg
        self.protocol = protocol

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
        """Examples for few-shot prompts, never drawn from the test items: the allowed training
        data where ptb has it, else the task's shipped examples (``ptb/tasks/fewshot/``)."""
        return (self.train_items() or shipped_fewshot(self.cfg.name))[:k]

    def messages(self, item: Item, num_fewshot: int) -> list[dict[str, str]]:
        """The chat the model answers: ``num_fewshot`` solved examples, then the item."""
        messages: list[dict[str, str]] = []
        for shot in self.fewshot_items(num_fewshot) if num_fewshot else []:
            messages += [
                {"role": "user", "content": shot.prompt},
                {"role": "assistant", "content": shot.target},
            ]
        return [*messages, *item.conversation()]

    @abstractmethod
    def grade(self, item: Item, output: str) -> Grade:
        """Score one model output against the item's reference."""

    def grade_all(self, items: list[Item], outputs: list[str]) -> list[Grade]:
        """Score every output; model-graded tasks override this to query their grader
        concurrently."""
        return [self.grade(item, out) for item, out in zip(items, outputs, strict=True)]

    def aggregate(self, grades: list[Grade]) -> dict[str, Any]:
        """The task's metrics from per-item grades: by default the mean score, and the mean
        under each other protocol the grades carry (``<metric>_<protocol>``)."""
        n = len(grades)
        mean = sum(j.score for j in grades) / n if n else 0.0
        metrics: dict[str, Any] = {
            self.cfg.eval.metric: mean,
            "n_correct": sum(j.correct for j in grades),
        }
        others = sorted({p for j in grades for p in j.alt})
        for p in others:
            metrics[f"{self.cfg.eval.metric}_{p}"] = (
                sum(j.alt.get(p, j.score) for j in grades) / n if n else 0.0
            )
        return metrics

    def oracle_output(self, item: Item) -> str:
        """What ``model_path=oracle`` answers: the reference, as a model would write it."""
        return item.target

    def tools(self, item: Item) -> list[dict[str, Any]] | None:
        """Function schemas given to the chat template (``tools=``), for tool-calling tasks."""
        return None

    def test_refs(self) -> TestRefs:
        """What names the test split in agent code (``task.test_refs``), with the file name of
        ``data.test`` added (``test-00000-of-00001.parquet``, ``HumanEval.jsonl.gz``)."""
        refs = self.cfg.test_refs
        test = self.cfg.data.get("test")
        name = test.rstrip("/").rsplit("/", 1)[-1] if test else ""
        files = [*refs.files, name] if name and name not in refs.files else list(refs.files)
        return TestRefs(list(refs.calls), list(refs.hub_ids), list(refs.splits), files)

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


class ModelGradedTask(Task):
    """A task scored by a grader model (``task.eval.grader_model``), all outputs at once."""

    def grade(self, item: Item, output: str) -> Grade:
        return self.grade_all([item], [output])[0]

    @abstractmethod
    def grade_all(self, items: list[Item], outputs: list[str]) -> list[Grade]:
        """Score every output, querying the grader concurrently."""

    @abstractmethod
    def grader_gate(self) -> GraderGate:
        """Which requests the agent's own evaluate.py may send the grader through the gateway's
        grader route, and what comes back (``ptb.tasks.grader_gate``)."""
