"""docs/protocol.md's disagreement table is the one the corpus gives today."""

from __future__ import annotations

import shutil

import pytest

from tests.parity import disagreements
from tests.support.tasks import REPO


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="HumanEval programs run in bubblewrap")
def test_protocol_doc_table_is_current() -> None:
    rows = disagreements.tallies()
    assert all(t.agree == t.n for t in rows), "paper must agree with inspect on every case"
    text = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    start, end = "<!-- disagreements -->\n", "\n<!-- /disagreements -->"
    current = text[text.index(start) + len(start) : text.index(end)]
    assert current == disagreements.table(rows), "run: python -m tests.parity.disagreements"
