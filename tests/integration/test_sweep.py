"""A Hydra multirun sweep from the sweeps/ presets, run locally (eval-only agents: fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunPtb

pytestmark = pytest.mark.integration


def test_sweep_preset_runs_every_cell(run_ptb: RunPtb, tmp_path: Path) -> None:
    results = tmp_path / "results"
    out = run_ptb("-m", "+sweeps=toy_grid", "agent=baseline_zeroshot", "tracker=none",
                  f"results_dir={results}")  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    scores = sorted((results / "default").glob("*/score.json"))
    cells = {(json.loads(p.read_text())["task"], json.loads(p.read_text())["seed"]) for p in scores}
    assert cells == {(t, s) for t in ("toy_calls", "toy_math") for s in (0, 1, 2)}
