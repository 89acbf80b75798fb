"""Generated code runs in the bwrap sandbox: pass, fail, time limit, no network, no writes to
the host, and never bare on the host."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ptb.sandbox.run_code import run_programs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]


def test_outcomes(tmp_path: Path) -> None:
    marker = tmp_path / "written-by-generated-code"
    programs = [
        "assert sum([1, 2]) == 3\n",
        "assert 1 == 2, 'wrong answer'\n",
        "while True:\n    pass\n",
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n",
        f"open({str(marker)!r}, 'w').write('x')\n",
        "import os\nassert os.environ.get('HOME', '').endswith('/job')\n",
    ]
    results = run_programs(programs, timeout_s=3)
    assert [r.passed for r in results] == [True, False, False, False, False, True]
    assert "AssertionError: wrong answer" in results[1].result
    assert results[2].result == "timed out"
    assert "OSError" in results[3].result or "Network is unreachable" in results[3].result
    assert not marker.exists()


def test_refuses_the_bare_host() -> None:
    with pytest.raises(ValueError, match="only in an isolating sandbox"):
        run_programs(["print(1)"], backend="none")
