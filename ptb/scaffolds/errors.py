"""Telling API errors apart from what each CLI says about them.

The CLIs report the same few failures in different shapes (a status code field, a JSON error body
inside a message, or only words); they all reduce to one of ``auth | rate_limit | overloaded |
quota | other``. Quota is checked before rate limit because both arrive as HTTP 429.
"""

from __future__ import annotations

import re

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "quota",
        re.compile(
            r"insufficient_quota|quota exceeded|exceeded your current quota|credit balance|"
            r"billing|usage limit|out of credits|quota metric|plan limit",
            re.I,
        ),
    ),
    (
        "auth",
        re.compile(
            r"\b401\b|\b403\b|unauthori[sz]ed|unauthenticated|authentication|"
            r"invalid[ _-]api[ _-]key|"
            r"incorrect api key|api key not valid|invalid x-api-key|permission_denied|"
            r"oauth token (?:has )?expired",
            re.I,
        ),
    ),
    (
        "rate_limit",
        re.compile(
            r"\b429\b|rate[ _-]?limit|too many requests|resource[ _](?:has been )?exhausted",
            re.I,
        ),
    ),
    (
        "overloaded",
        re.compile(
            r"\b529\b|\b503\b|\b502\b|overloaded|unavailable|server_error|internal server error|"
            r"\b500\b",
            re.I,
        ),
    ),
)

STATUS_KINDS = {401: "auth", 403: "auth", 429: "rate_limit", 529: "overloaded", 503: "overloaded"}


def api_error_kind(message: str, status: int | None = None) -> str:
    """The kind of one API error from its message (and status code where the CLI gives one)."""
    for kind, pattern in _PATTERNS:
        if kind == "quota" and pattern.search(message):
            return kind
    if status in STATUS_KINDS:
        return STATUS_KINDS[status]
    for kind, pattern in _PATTERNS:
        if pattern.search(message):
            return kind
    return "other"


_API_ERROR_TEXT = re.compile(r"API Error", re.I)
_STATUS = re.compile(r"\b([45]\d\d)\b")


def api_error_in_text(text: str) -> tuple[int | None, str] | None:
    """``(status, text)`` if ``text`` is a CLI's rendering of an API error ("[API Error: 401 …]",
    "API Error: Request rejected (429) · …"), else None."""
    if not _API_ERROR_TEXT.search(text):
        return None
    match = _STATUS.search(text)
    return (int(match.group(1)) if match else None), text
