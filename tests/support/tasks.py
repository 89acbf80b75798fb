"""Shipped task configs pointed at the small fixture files in the real data's formats."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from ptb.config.task import TaskConfig
from tests.support.repo import REPO

FIXTURES = REPO / "tests" / "fixtures" / "tasks"
FIXTURE_DATA = {
    "aime2025": {"test": "aime25.jsonl"},
    "arenahard_writing": {
        "test": "arenahard_questions.jsonl",
        "references": "arenahard_references.jsonl",
        "grader_prompt": "upstream/judge_utils.py",
        "grader_config": "upstream/arena-hard-v2.0.yaml",
    },
    "gpqa": {"test": "gpqa_main.csv"},
    "gsm8k": {"test": "gsm8k_test.parquet", "train": "gsm8k_train.jsonl"},
    "healthbench": {"test": "healthbench_easy.jsonl", "grader": "upstream/grader.py"},
}
"""Tasks whose data comes from the HF hub or the original harness (``upstream://``, prompts
included: ``upstream/`` holds fixture files in the pinned files' formats, with ptb's own texts)
on the cluster; bfcl and humaneval use package data."""


def fixture_overrides(name: str) -> list[str]:
    """``task.data.<role>=<fixture>`` command-line overrides for ``python -m ptb.evaluate``."""
    return [f"task.data.{role}={FIXTURES / f}" for role, f in FIXTURE_DATA.get(name, {}).items()]


def task_config(name: str, **eval_overrides: Any) -> TaskConfig:
    node = OmegaConf.load(REPO / "conf" / "task" / f"{name}.yaml")
    node.pop("defaults", None)
    for role, file in FIXTURE_DATA.get(name, {}).items():
        node.data[role] = str(FIXTURES / file)
    cfg = OmegaConf.merge(OmegaConf.structured(TaskConfig), node, {"eval": eval_overrides})
    task = OmegaConf.to_object(cfg)
    assert isinstance(task, TaskConfig)
    return task
