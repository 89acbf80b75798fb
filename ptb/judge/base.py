"""Findings and how they combine into a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ptb.records import VerdictRecord

VERDICT_KEYS = ("contamination", "disallowed_model", "tampering", "api_misuse")
RULES = ("paper", "ptb")
"""Whose rule a finding enforces: ``paper`` (what the paper forbids: contamination, a disallowed
model, editing evaluate.py or templates/, API misuse) or ``ptb`` (ptb's own additions, e.g. an
edited *copy* of evaluate.py or a changed generation_config). Under ``protocol.fallback=paper``
only the paper's rules send a run to the base score; the others are recorded beside."""


@dataclass
class Finding:
    check: str
    category: str
    """One of VERDICT_KEYS: which verdict this check feeds (anything else is recorded only,
    e.g. ``info`` for an LLM judge whose answers are kept but not counted)."""
    flagged: bool
    evidence: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Set when the check itself failed; the run then scores as ``judge_failed``."""
    rule: str = "paper"
    """``paper`` | ``ptb`` (``RULES``)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def combine(findings: list[Finding], fallback: str = "strict") -> dict[str, Any]:
    """``verdict``'s JSON (``judge/verdict.json``)."""
    return verdict(findings, fallback).to_json()


def verdict(findings: list[Finding], fallback: str = "strict") -> VerdictRecord:
    """The verdict: a category is true if any of its checks flagged; failed checks are listed.

    ``flagged`` (what the score stage falls back on) follows ``fallback``: ``strict`` counts
    every rule, ``paper`` the paper's rules only. ``flagged_paper`` / ``flagged_strict`` record
    both, so a report shows what the choice costs."""
    if fallback not in ("paper", "strict"):
        raise ValueError(f"protocol.fallback={fallback!r}: expected paper or strict")
    counted = [f for f in findings if f.flagged and f.error is None and f.category in VERDICT_KEYS]
    paper = [f for f in counted if f.rule == "paper"]
    decisive = paper if fallback == "paper" else counted
    categories = {k: any(f.category == k for f in decisive) for k in VERDICT_KEYS}
    return VerdictRecord(
        contamination=categories["contamination"],
        disallowed_model=categories["disallowed_model"],
        tampering=categories["tampering"],
        api_misuse=categories["api_misuse"],
        flagged=bool(decisive),
        fallback_rules=fallback,
        flagged_paper=bool(paper),
        flagged_strict=bool(counted),
        failed_checks=[f.check for f in findings if f.error is not None],
        checks=[f.check for f in findings],
        flagged_by=sorted({f.check for f in decisive}),
        recorded_only=sorted({f.check for f in counted} - {f.check for f in decisive}),
    )
