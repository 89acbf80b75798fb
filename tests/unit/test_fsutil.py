"""Atomic writes: one fsync per file, or one file-system sync for a whole block."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ptb import fsutil


def test_one_sync_defers_the_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(fsutil, "_syncfs", lambda folder: calls.append(f"syncfs {folder}"))
    with fsutil.one_sync():
        with fsutil.one_sync():  # nested blocks sync once, at the outer end
            fsutil.atomic_write_text(tmp_path / "a" / "x.txt", "1")
        fsutil.write_json(tmp_path / "b.json", {"k": 2})
        assert calls == []
    assert calls == [f"syncfs {tmp_path / 'a'}"]  # one file system
    assert (tmp_path / "a" / "x.txt").read_text() == "1" and fsutil.read_json(tmp_path / "b.json")
    fsutil.atomic_write_text(tmp_path / "c.txt", "3")
    assert calls[-1] == "fsync"
