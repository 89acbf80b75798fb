"""Benchmarks. ``TASKS`` maps ``TaskConfig.impl`` to the implementing class."""

from __future__ import annotations

from ptb.config.task import TaskConfig
from ptb.registry import Registry
from ptb.tasks.base import Grade, Item, Task

TASKS = Registry(
    "task implementation",
    {
        "toy_calls": "ptb.tasks.toy:ToyCalls",
        "toy_math": "ptb.tasks.toy:ToyMath",
        "aime2025": "ptb.tasks.math_qa:AIME2025",
        "arenahard_writing": "ptb.tasks.arenahard:ArenaHardWriting",
        "bfcl": "ptb.tasks.bfcl:BFCL",
        "gpqa": "ptb.tasks.gpqa:GPQA",
        "gsm8k": "ptb.tasks.math_qa:GSM8K",
        "healthbench": "ptb.tasks.healthbench:HealthBench",
        "humaneval": "ptb.tasks.humaneval:HumanEval",
    },
)


def load_task(cfg: TaskConfig, protocol: str = "paper") -> Task:
    """The task of ``cfg`` under ``protocol`` (``paper`` | ``strict``; ``ptb.config.protocol``)."""
    task_cls = TASKS.load(cfg.impl)
    task: Task = task_cls(cfg, protocol)
    return task


__all__ = ["TASKS", "Grade", "Item", "Task", "load_task"]
