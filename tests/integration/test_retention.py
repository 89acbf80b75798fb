"""Retention for real: lm-eval on the tiny model over a local suite (task YAMLs over JSONL files
written here, no hub), through ``python -m ptb``, ``ptb.status``, ``ptb.report`` and a second
run that reuses the base model's cached numbers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ptb_env
from tests.support.repo import run_cli
from tests.support.retention import suite_overrides, write_local_suite
from tests.support.wandb_log import records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AGENT = """#!/usr/bin/env bash
# post-trains by adding noise to the base model: its retention deltas differ from 0
set -euo pipefail
"$PTB_PYTHON" - <<'PY'
import os
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
src = os.environ["PTB_BASE_MODEL"]
model, tok = AutoModelForCausalLM.from_pretrained(src), AutoTokenizer.from_pretrained(src)
torch.manual_seed(0)
with torch.no_grad():
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.5)
model.save_pretrained("final_model")
tok.save_pretrained("final_model")
PY
"""
RUN = "custom__script__tiny__toy_calls__s{seed}"
BASE = "baseline_zeroshot__none__tiny__toy_calls__s0"


def _cli(env: dict[str, str], module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args, module=module, timeout=900)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("retention")
    agent = tmp / "agent.sh"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    env = ptb_env(tmp)
    results = tmp / "results"
    common = [
        f"results_dir={results}",
        "agent=custom",
        f"scaffold.path={agent}",
        *suite_overrides(write_local_suite(tmp)),
    ]
    first = _cli(env, "ptb", *common)
    second = _cli(env, "ptb", *common, "seed=1")
    return {"first": first, "second": second, "results": results, "env": env, "tmp": tmp}


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_runs_succeed(world: dict) -> None:
    for out in (world["first"], world["second"]):
        assert out.returncode == 0, out.stderr[-3000:]


def test_metrics_hold_final_base_delta_and_stderr(world: dict) -> None:
    run = world["results"] / "default" / RUN.format(seed=0)
    data = _json(run / "retention" / "metrics.json")
    assert data["status"] == "ok" and data["backend"] == "hf"
    assert set(data["results"]) == {"ret_mc", "ret_gen"}
    acc = data["results"]["ret_mc"]["acc"]
    assert acc["delta"] == pytest.approx(acc["final"] - acc["base"])
    assert acc["stderr"] is not None and acc["stderr"] > 0
    assert data["summary"]["ret_mc"]["metric"] == "acc"  # configured
    assert data["summary"]["ret_gen"]["metric"] == "exact_match"  # the task's first
    assert data["n_samples"]["ret_mc"]["effective"] == 5  # limit
    assert data["n_shot"] == {"ret_mc": 1, "ret_gen": 0}
    manifest = _json(run / "manifest.json")
    assert manifest["stages"]["retention"]["status"] == "done"


def test_the_base_model_is_evaluated_once_and_reused(world: dict) -> None:
    exp = world["results"] / "default"
    base = _json(exp / BASE / "retention" / "metrics.json")
    assert base["base"]["computed_here"] is True and base["same_as_base"] is True
    assert all(r["delta"] == 0 for r in base["summary"].values())
    caches = list((exp / ".retention").glob("tiny-*.json"))
    assert len(caches) == 1
    for seed in (0, 1):
        data = _json(exp / RUN.format(seed=seed) / "retention" / "metrics.json")
        assert data["base"]["computed_here"] is False and data["base"]["cache"] == str(caches[0])
    cached = _json(caches[0])["values"]["ret_mc"]["acc"]["value"]
    assert data["results"]["ret_mc"]["acc"]["base"] == cached


def test_retention_is_not_in_the_score_and_not_given_to_the_agent(world: dict) -> None:
    run = world["results"] / "default" / RUN.format(seed=0)
    score = _json(run / "score.json")
    assert not any("retention" in k for k in score)
    workspace = run / "solve" / "workspace"
    names = [p.name for p in workspace.rglob("*")]
    assert not any(n.startswith(("ret_mc", "ret_gen", "mc.jsonl", "gen.jsonl")) for n in names)
    assert "ret_mc" not in (run / "solve" / "prompt.txt").read_text()


def test_status_shows_the_stage(world: dict) -> None:
    out = _cli(world["env"], "ptb.status", str(world["results"]), "--json", "--no-scheduler")
    assert out.returncode == 0, out.stderr[-2000:]
    runs = {Path(r["run_dir"]).name: r for r in json.loads(out.stdout)}
    assert runs[RUN.format(seed=0)]["stages"]["retention"] == "done"
    assert runs[BASE]["stages"]["retention"] == "done"
    text = _cli(world["env"], "ptb.status", str(world["results"]), "--no-scheduler")
    assert "retention" in text.stdout


def test_report_has_the_retention_table_and_plot(world: dict) -> None:
    tmp = world["tmp"]
    out = _cli(
        world["env"],
        "ptb.report",
        str(world["results"]),
        "--equal-weights",
        "--md",
        str(tmp / "r.md"),
        "--html",
        str(tmp / "r.html"),
        "--json",
        str(tmp / "r.json"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _json(tmp / "r.json")["retention"]
    assert len(rows) == 1 and rows[0]["runs"] == 2
    run = _json(world["results"] / "default" / RUN.format(seed=0) / "retention" / "metrics.json")
    seeds = [
        run["summary"]["ret_mc"]["delta"],
        _json(world["results"] / "default" / RUN.format(seed=1) / "retention" / "metrics.json")[
            "summary"
        ]["ret_mc"]["delta"],
    ]
    assert rows[0]["deltas"]["ret_mc"] == pytest.approx(sum(seeds) / 2)
    md = (tmp / "r.md").read_text()
    assert "## Capability retention" in md and "ret_mc Δ (acc)" in md
    assert "Target gain vs retention" in (tmp / "r.html").read_text()


def test_wandb_run_has_the_retention_summary_and_table(world: dict) -> None:
    run = world["results"] / "default" / RUN.format(seed=0)
    (path,) = (run / "log/wandb").glob("offline-run-*/run-*.wandb")
    recs = records(path)
    summary = {
        i.key for r in recs if r.WhichOneof("record_type") == "summary" for i in r.summary.update
    }
    assert {
        "retention/status",
        "retention/mean_delta",
        "retention/ret_mc/delta",
        "retention/ret_mc/base",
        "retention/ret_gen/final",
    } <= summary
    logged = {
        i.key or "/".join(i.nested_key)
        for r in recs
        if r.WhichOneof("record_type") == "history"
        for i in r.history.item
    }
    assert "retention/_type" in logged  # the Table (logged as a table-file artifact)
