"""Project-written stand-ins for pinned upstream files, placed where the prefetch caches them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptb.tasks import upstream


def cache_upstream(monkeypatch: pytest.MonkeyPatch, cache: Path, key: str, text: str) -> Path:
    """Point ``PTB_CACHE`` at ``cache`` and put ``text`` where ``key``'s verified copy lives."""
    monkeypatch.setenv("PTB_CACHE", str(cache))
    path = upstream.cached_path(upstream.pinned(key))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
