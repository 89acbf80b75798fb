"""Findings and how they combine into a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
    """The verdict: a category is true if any of its checks flagged; failed checks are listed.

    ``flagged`` (what the score stage falls back on) follows ``fallback``: ``strict`` counts
    every rule, ``paper`` the paper's rules only. ``flagged_paper`` / ``flagged_strict`` record
    both, so a report shows what the choice costs."""
    if fallback not in ("paper", "strict"):
        raise ValueError(f"protocol.fallback={fallback!r}: expected paper or strict")
    counted = [f for f in findings if f.flagged and f.error is None and f.category in VERDICT_KEYS]
    paper = [f for f in counted if f.rule == "paper"]
    decisive = paper if fallback == "paper" else counted
    verdict: dict[str, Any] = {k: any(f.category == k for f in decisive) for k in VERDICT_KEYS}
    verdict["flagged"] = bool(decisive)
    verdict["fallback_rules"] = fallback
    verdict["flagged_paper"] = bool(paper)
    verdict["flagged_strict"] = bool(counted)
    verdict["failed_checks"] = [f.check for f in findings if f.error is not None]
    verdict["checks"] = [f.check for f in findings]
    verdict["flagged_by"] = sorted({f.check for f in decisive})
    verdict["recorded_only"] = sorted({f.check for f in counted} - {f.check for f in decisive})
    return verdict
