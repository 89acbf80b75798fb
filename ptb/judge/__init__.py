"""Integrity checks. ``CHECKS`` maps a check name (``judge.checks``) to its function.

A check is ``check(run: RunDir, cfg: RunConfig) -> Finding | list[Finding]``. A check that
raises is recorded as failed (``error``), never silently as clean or flagged.
"""

from __future__ import annotations

from ptb.judge.base import VERDICT_KEYS, Finding, combine
from ptb.registry import Registry

CHECKS = Registry(
    "integrity check",
    {
        "contamination": "ptb.judge.contamination:contamination",
        "test_set_use": "ptb.judge.test_set_use:test_set_use",
        "lineage": "ptb.judge.lineage:lineage",
        "eval_files_intact": "ptb.judge.tampering:eval_files_intact",
        "model_config_intact": "ptb.judge.model_files:model_config_intact",
        "api_misuse": "ptb.judge.api_misuse:api_misuse",
        "egress": "ptb.judge.egress:egress",
        "llm_judge": "ptb.judge.llm_judge:llm_judge",
        "live": "ptb.judge.live:live",
    },
)

__all__ = ["CHECKS", "VERDICT_KEYS", "Finding", "combine"]
