"""Integrity checks. ``CHECKS`` maps a check name (``judge.checks``) to its function.

A check is ``check(run: RunDir, cfg: RunConfig) -> Finding``. A check that raises is recorded as
failed (``error``), never silently as clean or flagged.
"""

from __future__ import annotations

from ptb.judge.base import VERDICT_KEYS, Finding, combine
from ptb.registry import Registry

CHECKS = Registry(
    "integrity check",
    {
        "eval_files_intact": "ptb.judge.tampering:eval_files_intact",
    },
)

__all__ = ["CHECKS", "VERDICT_KEYS", "Finding", "combine"]
