"""Findings and how they combine into a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VERDICT_KEYS = ("contamination", "disallowed_model", "tampering", "api_misuse")


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def combine(findings: list[Finding]) -> dict[str, Any]:
    """The verdict: a category is true if any of its checks flagged; failed checks are listed."""
    verdict: dict[str, Any] = {k: False for k in VERDICT_KEYS}
    for f in findings:
        if f.flagged and f.error is None and f.category in verdict:
            verdict[f.category] = True
    verdict["flagged"] = any(verdict[k] for k in VERDICT_KEYS)
    verdict["failed_checks"] = [f.check for f in findings if f.error is not None]
    verdict["checks"] = [f.check for f in findings]
    verdict["flagged_by"] = sorted(
        {f.check for f in findings if f.flagged and f.error is None and f.category in VERDICT_KEYS}
    )
    return verdict
