"""``python -m ptb.judge.selftest`` through its CLI with the deterministic checks: every planted
cheat is flagged (recall 1.0), no clean run is, the exit code says so and the table is printed
into the test output (CI's log shows it without ``-s``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptb.judge.selftest import CASES
from tests.conftest import REPO, ptb_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


def test_selftest_recall_one_no_false_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = ptb_env(tmp_path)
    (tmp_path / "hf").mkdir()  # a real HF cache: the sandbox overlays it (hf_cache_download)
    out = tmp_path / "selftest"
    proc = subprocess.run(
        [sys.executable, "-m", "ptb.judge.selftest", "--out", str(out)],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=1200,
    )  # fmt: skip
    with capsys.disabled():
        print("\n" + proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["case", "expected", "flagged", "checks", "ok"]
    rows = {line.split()[0]: line.split() for line in lines[2 : 2 + len(CASES)]}
    assert set(rows) == {c.name for c in CASES}
    for case in CASES:
        row = rows[case.name]
        assert row[-1] == "yes", row
        assert row[1] == (case.category or "clean")
        assert (row[2] == "-") == (case.category is None), row
    assert rows["runtime_loader"][3] == "test_set_use"
    assert f"recall 1.00 ({len([c for c in CASES if c.category])}/" in proc.stdout
    assert "false flags 0; failed checks 0" in proc.stdout
    summary = json.loads((out / "selftest.json").read_text())
    assert summary["recall"] == 1.0 and summary["false_flags"] == []
