"""The paper grid's composes with ``ComposeMemo`` equal Hydra's own (a unit test of the memo
on small configs is ``tests/unit/test_compose_memo.py``; this one composes ~25 real
combinations twice, ~10 s)."""

from __future__ import annotations

import re

import pytest

from tests.support.repo import REPO, hydra_conf
from tests.unit.test_compose_memo import compose_both


def test_the_paper_grid_composes_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under +sweeps=paper_grid: an agent of every scaffold, every model and every task, each
    changed alone from the first run (as most of a sweep's composes are), then together."""
    monkeypatch.setenv("PTB_REPO_DIR", str(REPO))
    by_scaffold: dict[str, str] = {}
    for path in sorted((REPO / "conf" / "agent").glob("*.yaml")):
        scaffold = re.search(r"scaffold: (\w+)", path.read_text())
        by_scaffold.setdefault(scaffold.group(1) if scaffold else "", path.stem)
    models = [p.stem for p in sorted((REPO / "conf" / "model").glob("*.yaml"))]
    tasks = [p.stem for p in sorted((REPO / "conf" / "task").glob("*.yaml"))]
    ref = {"agent": "opus46", "model": "qwen3_4b", "task": "gsm8k"}
    changes = [("agent", a) for a in by_scaffold.values()] + [("model", m) for m in models]
    changes += [("task", t) for t in tasks if t != "base_task"]
    runs = [[f"{k}={v}" for k, v in ({**ref, key: value}).items()] for key, value in changes]
    runs += [["agent=gpt52", "model=gemma3_4b", "task=bfcl"], ["agent=glm5", "model=tiny"]]
    runs = [["+sweeps=paper_grid", "launcher=slurm", *run] for run in runs]
    with hydra_conf():
        pass  # registers the schemas
    compose_both(REPO / "conf", runs, runs[0])
