"""Only evaluations that ran become scores: faults injected through the real CLI.

Each test runs ``python -m ptb`` (via ``tests.support.faults``, which injects one fault) on the
tiny model and checks the stage states, ``score.json`` and what ``python -m ptb.status`` prints.
An infrastructure failure (grader endpoint down, missing task data, a code sandbox that cannot
start, a CUDA error on every rung) fails ``evaluate`` with ``error.json`` and never reaches
``score``; re-running retries it. The agent's own failure (a corrupt final_model) is a result and
scores as the base model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ptb_env
from tests.support.fake_grader import FakeGrader
from tests.support.tasks import fixture_overrides

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASELINE = "baseline_zeroshot__none__tiny__{task}__s0"
RUN = "custom__script__tiny__{task}__s0"
COPY_BASE = """#!/usr/bin/env python3
import os, shutil
shutil.copytree(os.environ["PTB_BASE_MODEL"], "final_model")
"""
CORRUPT = """#!/usr/bin/env python3
import os, pathlib, shutil
shutil.copytree(os.environ["PTB_BASE_MODEL"], "final_model")
pathlib.Path("final_model/config.json").write_text('{"model_type": "qwen3", "hidden_')
"""
QUICK = ["sandbox=none", "gateway.enabled=false", "tracker=none", "judge=none",
         "task.eval.ladder=[{max_new_tokens:4,attempts:2}]"]  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny-model build for the whole module."""
    return tmp_path_factory.mktemp("ptb-cache")


def _agent(tmp_path: Path, source: str) -> list[str]:
    path = tmp_path / "agent.py"
    path.write_text(source)
    path.chmod(0o755)
    return ["agent=custom", f"scaffold.path={path}"]


def _ptb(
    tmp_path: Path, cache: Path, *args: str, fault: str = ""
) -> subprocess.CompletedProcess[str]:
    env = ptb_env(tmp_path, PTB_CACHE=str(cache), PTB_TEST_FAULT=fault)
    return subprocess.run(
        [sys.executable, "-m", "tests.support.faults", *QUICK, *args,
         f"results_dir={tmp_path / 'results'}"],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=600,
    )  # fmt: skip


def _status(tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    results = str(tmp_path / "results")
    table = subprocess.run(
        [sys.executable, "-m", "ptb.status", results, "--no-scheduler"],
        cwd=REPO, text=True, capture_output=True, timeout=120,
    )  # fmt: skip
    raw = subprocess.run(
        [sys.executable, "-m", "ptb.status", results, "--no-scheduler", "--json"],
        cwd=REPO, text=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return table.stdout, json.loads(raw.stdout)


def _stages(run: Path) -> dict[str, str]:
    manifest = json.loads((run / "manifest.json").read_text())
    return {s: e["status"] for s, e in manifest["stages"].items()}


def _result(rows: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    (row,) = [r for r in rows if Path(r["run_dir"]).name == run_id]
    return row


def _assert_infra(run: Path, reason: str) -> None:
    assert _stages(run)["evaluate"] == "failed"
    assert _stages(run)["score"] == "pending"
    error = json.loads((run / "evaluate" / "error.json").read_text())
    assert (error["kind"], error["reason"]) == ("infra", reason), error
    assert not (run / "score.json").exists()
    assert not (run / "evaluate" / "metrics.json").exists()


def test_grader_down_then_up_rerun_scores_with_no_fallback(tmp_path: Path, cache: Path) -> None:
    task = "arenahard_writing"
    args = [*_agent(tmp_path, COPY_BASE), f"task={task}", *fixture_overrides(task),
            "task.eval.grader_api_key_env=null", "task.eval.grader_retries=1",
            "task.eval.grader_backoff_s=0.01", "task.eval.n_items=null"]  # fmt: skip
    results = tmp_path / "results" / "default"
    with FakeGrader(down=True) as grader:
        args.append(f"task.eval.grader_base_url={grader.base_url}")
        first = _ptb(tmp_path, cache, *args)
        assert first.returncode == 1, first.stderr[-3000:]
        for run_id in (BASELINE.format(task=task), RUN.format(task=task)):
            _assert_infra(results / run_id, "grader")
        samples = (results / RUN.format(task=task) / "evaluate" / "samples.jsonl").read_text()
        rows = [json.loads(x) for x in samples.splitlines()]  # kept for rescore=, no score
        assert rows and all("output" in r and "score" not in r for r in rows)
        table, rows = _status(tmp_path)
        assert "not scored yet (infrastructure failure, retryable)" in table
        assert "infra: grader (retryable)" in table
        assert _result(rows, RUN.format(task=task))["result"] == "infra_failed"

        grader.down = False
        second = _ptb(tmp_path, cache, *args)
    assert second.returncode == 0, second.stderr[-3000:]
    run = results / RUN.format(task=task)
    assert _stages(run)["solve"] == "done" and _stages(run)["evaluate"] == "done"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["solve"]["attempts"] == 1  # the agent's work was kept
    assert manifest["stages"]["evaluate"]["attempts"] == 2
    assert (run / "evaluate" / "error.attempt1.json").exists()
    score = json.loads((run / "score.json").read_text())
    assert score["fallback"] is None and score["raw"] is not None
    table, rows = _status(tmp_path)
    assert _result(rows, RUN.format(task=task))["result"] == "scored"
    assert "2 scored" in table and "0 not scored yet" in table


def test_grader_rate_limited_twice_is_one_evaluation(tmp_path: Path, cache: Path) -> None:
    task = "arenahard_writing"
    with FakeGrader(fail_first=2) as grader:
        out = _ptb(
            tmp_path, cache, "agent=baseline_zeroshot", f"task={task}", *fixture_overrides(task),
            "task.eval.grader_api_key_env=null", "task.eval.grader_backoff_s=0.01",
            "task.eval.grader_concurrency=1", "task.eval.n_items=null",
            f"task.eval.grader_base_url={grader.base_url}",
        )  # fmt: skip
        n_requests, refused_left = len(grader.requests), grader.fail_first
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "results" / "default" / BASELINE.format(task=task)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["evaluate"] == {**manifest["stages"]["evaluate"], "status": "done",
                                              "attempts": 1}  # fmt: skip
    assert not list((run / "evaluate").glob("error*.json"))
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())
    assert metrics["status"] == "ok" and len(metrics["attempts"]) == 1
    assert refused_left == 0 and n_requests > 2  # both 429s were answered by a retry
    assert (run / "score.json").exists()
    _, rows = _status(tmp_path)
    assert _result(rows, run.name)["result"] == "scored"


def test_missing_task_data_fails_the_stage(tmp_path: Path, cache: Path) -> None:
    out = _ptb(
        tmp_path, cache, "agent=baseline_zeroshot", "task=gsm8k",
        f"task.data.test={tmp_path / 'gone.parquet'}", "preflight=false",
    )  # fmt: skip
    assert out.returncode == 1
    run = tmp_path / "results" / "default" / BASELINE.format(task="gsm8k")
    _assert_infra(run, "data")
    assert "gone.parquet" in json.loads((run / "evaluate" / "error.json").read_text())["message"]
    table, rows = _status(tmp_path)
    assert _result(rows, run.name)["result"] == "infra_failed"
    assert "infra: data (retryable)" in table


def test_code_sandbox_that_cannot_start_fails_the_stage(tmp_path: Path, cache: Path) -> None:
    out = _ptb(tmp_path, cache, "agent=baseline_zeroshot", "task=humaneval", fault="code_sandbox")
    assert out.returncode == 1
    run = tmp_path / "results" / "default" / BASELINE.format(task="humaneval")
    _assert_infra(run, "code_sandbox")
    table, _ = _status(tmp_path)
    assert "infra: code_sandbox (retryable)" in table


def test_cuda_error_on_every_rung_fails_the_stage(tmp_path: Path, cache: Path) -> None:
    out = _ptb(tmp_path, cache, "agent=baseline_zeroshot", "task=toy_math", fault="cuda")
    assert out.returncode == 1
    run = tmp_path / "results" / "default" / BASELINE.format(task="toy_math")
    _assert_infra(run, "cuda")
    message = json.loads((run / "evaluate" / "error.json").read_text())["message"]
    assert "illegal memory access" in message
    table, _ = _status(tmp_path)
    assert "infra: cuda (retryable)" in table
    # the fault is gone (a healthy node): the re-run evaluates and scores
    again = _ptb(tmp_path, cache, "agent=baseline_zeroshot", "task=toy_math")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((run / "score.json").read_text())["fallback"] is None


def test_corrupt_final_model_is_the_agents_failure_scored_as_base(
    tmp_path: Path, cache: Path
) -> None:
    out = _ptb(tmp_path, cache, *_agent(tmp_path, CORRUPT), "task=toy_math")
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "results" / "default" / RUN.format(task="toy_math")
    assert _stages(run)["evaluate"] == "done" and not (run / "evaluate" / "error.json").exists()
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())
    assert metrics["status"] == "eval_failed"
    assert metrics["failure"] == {"kind": "agent", "reason": "load"}
    score = json.loads((run / "score.json").read_text())
    base = json.loads((run.parent / BASELINE.format(task="toy_math") / "score.json").read_text())
    assert (score["fallback"], score["final"]) == ("eval_failed", base["final"])
    assert score["eval_failure"] == "load"
    table, rows = _status(tmp_path)
    assert _result(rows, run.name)["result"] == "scored_as_base"
    assert "base (eval_failed: load)" in table
    assert "1 scored as base (agent's failure / flagged)" in table
