"""The embedded default end to end: ``python -m ptb`` with no overrides, then resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ptb.plan import load_saved_config
from ptb.rundir import RunDir
from tests.conftest import FAKE_SECRET, ptb_env
from tests.support.repo import REPO, run_cli
from tests.support.wandb_log import records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_ID = "recipe_sft__recipe__tiny__toy_calls__s0"
BASE_ID = "baseline_zeroshot__none__tiny__toy_calls__s0"


def _ptb(results: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, f"results_dir={results}", *args, timeout=900)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("embedded")
    # A key-shaped value in the environment must never reach the run directory.
    env = ptb_env(tmp, OPENAI_API_KEY=FAKE_SECRET, MY_SERVICE_TOKEN=FAKE_SECRET)
    results = tmp / "results"
    t0 = time.monotonic()
    out = _ptb(results, env)
    return {
        "out": out,
        "results": results,
        "env": env,
        "wall_s": time.monotonic() - t0,
        "run": results / "default" / RUN_ID,
        "base": results / "default" / BASE_ID,
    }


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_default_run_succeeds_and_prints_a_result_table(embedded: dict) -> None:
    out = embedded["out"]
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ptb results" in out.stdout
    assert RUN_ID in out.stdout.replace("\n", "").replace("│", "").replace(" ", "")


def test_run_directory_contract(embedded: dict) -> None:
    run: Path = embedded["run"]
    for rel in (
        "config.yaml",
        "overrides.yaml",
        "manifest.json",
        "score.json",
        "solve/prompt.txt",
        "solve/transcript.raw.jsonl",
        "solve/transcript.jsonl",
        "solve/transcript.md",
        "solve/usage.json",
        "solve/exit.json",
        "final_model/config.json",
        "evaluate/metrics.json",
        "evaluate/samples.jsonl",
        "judge/findings.json",
        "judge/verdict.json",
    ):
        assert (run / rel).exists(), rel
    manifest = _json(run / "manifest.json")
    assert manifest["run_id"] == RUN_ID and manifest["ptb_version"]
    assert {s: e["status"] for s, e in manifest["stages"].items()} == {
        **dict.fromkeys(("prepare", "solve", "evaluate", "judge", "score", "log"), "done"),
        "retention": "skipped",  # retention=none, the embedded default: no lm-eval needed
    }
    exit_ = _json(run / "solve/exit.json")
    assert exit_["reason"] == "finished" and exit_["exit_code"] == 0
    events = [json.loads(x) for x in (run / "solve/transcript.jsonl").read_text().splitlines()]
    assert events and all({"t", "role", "kind"} <= e.keys() for e in events)
    verdict = _json(run / "judge/verdict.json")
    assert verdict["flagged"] is False and verdict["failed_checks"] == []
    assert verdict["checks"] == [
        "contamination",
        "test_set_use",
        "lineage",
        "eval_files_intact",
        "model_config_intact",
        "api_misuse",
        "egress_model_api",
        "egress_answer_host",
        "live",
    ]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["agent"]["name"] == "recipe_sft" and config["budget"]["name"] == "cpu_smoke"


def test_workspace_keeps_code_not_weights(embedded: dict) -> None:
    ws: Path = embedded["run"] / "solve/workspace"
    assert (ws / "task/train_sft.py").exists() and (ws / "task/evaluate.py").exists()
    assert (ws / "task/data/train.jsonl").exists()
    assert not list(ws.rglob("*.safetensors"))
    assert not (ws / "task/final_model").exists()


def test_baseline_run_is_eval_only(embedded: dict) -> None:
    manifest = _json(embedded["base"] / "manifest.json")
    states = {s: e["status"] for s, e in manifest["stages"].items()}
    assert states["solve"] == states["prepare"] == states["judge"] == "skipped"
    assert states["evaluate"] == states["score"] == "done"
    assert not (embedded["base"] / "solve").exists()


def test_training_beats_zero_shot_by_fifty_points(embedded: dict) -> None:
    score = _json(embedded["run"] / "score.json")
    base = _json(embedded["base"] / "score.json")
    assert score["fallback"] is None and score["flagged"] is False
    assert score["base"] == base["final"]
    assert score["final"] == score["raw"]
    assert score["final"] - base["final"] >= 0.5, (score, base)


def test_no_secret_value_anywhere_in_results(embedded: dict) -> None:
    leaks = [
        p
        for p in embedded["results"].rglob("*")
        if p.is_file() and FAKE_SECRET.encode() in p.read_bytes()
    ]
    assert leaks == []


def test_wandb_offline_run_written(embedded: dict) -> None:
    tracker = _json(embedded["run"] / "log/tracker.json")
    assert tracker["impl"] == "wandb" and tracker["mode"] == "offline"
    runs = list((embedded["run"] / "log/wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_wandb_run_holds_config_summary_transcript_and_workspace(embedded: dict) -> None:
    (path,) = (embedded["run"] / "log/wandb").glob("offline-run-*/run-*.wandb")
    recs = records(path)
    (run,) = [r.run for r in recs if r.WhichOneof("record_type") == "run"]
    assert run.run_group == "default" and "agent:recipe_sft" in run.tags
    config = {i.key: i.value_json for i in run.config.update}
    assert json.loads(config["agent"]) == "recipe_sft" and json.loads(config["task"]) == "toy_calls"
    summary = {i.key for r in recs if r.WhichOneof("record_type") == "summary"
               for i in r.summary.update}  # fmt: skip
    assert {"score/final", "metrics/score", "time/solve_s", "usage/wall_s"} <= summary
    artifacts = {r.artifact.type: [c.path for c in r.artifact.manifest.contents]
                 for r in recs if r.WhichOneof("record_type") == "artifact"}  # fmt: skip
    assert "task/train_sft.py" in artifacts["workspace"]
    assert artifacts["run_table"] == ["transcript.table.json"]


def test_saved_config_round_trips(embedded: dict) -> None:
    cfg = load_saved_config(RunDir(embedded["run"]))
    assert cfg.task.eval.ladder[0].max_new_tokens == 96  # a "token" setting, not a secret
    assert (cfg.agent.name, cfg.model.name, cfg.sandbox.name) == ("recipe_sft", "tiny", "bwrap")


def test_status_lists_both_runs_done(embedded: dict) -> None:
    out = subprocess.run([sys.executable, "-m", "ptb.status", str(embedded["results"]), "--json"],
                         cwd=REPO, text=True, capture_output=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    states = {Path(r["run_dir"]).name: r["state"] for r in json.loads(out.stdout)}
    assert states == {RUN_ID: "done", BASE_ID: "done"}


def test_judge_command_reruns_checks_and_rescores(embedded: dict) -> None:
    before = _json(embedded["run"] / "score.json")
    out = subprocess.run([sys.executable, "-m", "ptb.judge", str(embedded["run"]), "--rescore"],
                         cwd=REPO, env=embedded["env"], text=True, capture_output=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["flagged"] is False
    stages = _json(embedded["run"] / "manifest.json")["stages"]
    assert stages["judge"]["attempts"] >= 2 and stages["score"]["attempts"] >= 2
    assert _json(embedded["run"] / "score.json")["final"] == before["final"]


def test_rerun_skips_every_done_stage(embedded: dict) -> None:
    before = _json(embedded["run"] / "manifest.json")
    t0 = time.monotonic()
    out = _ptb(embedded["results"], embedded["env"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert time.monotonic() - t0 < 60
    after = _json(embedded["run"] / "manifest.json")
    assert after["stages"] == before["stages"]


def test_failed_stage_writes_error_and_rerun_retries_only_it(embedded: dict) -> None:
    run: Path = embedded["run"]
    before = _json(run / "manifest.json")["stages"]
    failing = before["log"]["attempts"] + 1
    # (a wrong tracker.mode now fails at compose time; an unknown tracker past a skipped
    # preflight still fails inside the stage)
    bad = _ptb(embedded["results"], embedded["env"], "force=[log]", "tracker.impl=bogus",
               "preflight=false")  # fmt: skip
    assert bad.returncode == 1
    error = _json(run / "log/error.json")
    assert error["stage"] == "log" and error["traceback"] and error["attempt"] == failing
    assert _json(run / "manifest.json")["stages"]["log"]["status"] == "failed"

    good = _ptb(embedded["results"], embedded["env"])
    assert good.returncode == 0, good.stderr[-2000:]
    stages = _json(run / "manifest.json")["stages"]
    assert stages["log"]["status"] == "done" and stages["log"]["attempts"] == failing + 1
    for stage in ("prepare", "solve", "evaluate", "judge", "score"):
        assert stages[stage] == before[stage], stage  # not re-run
    assert not (run / "log/error.json").exists()
    assert (run / f"log/error.attempt{failing}.json").exists()


def test_changed_config_on_the_same_run_is_refused(embedded: dict) -> None:
    out = _ptb(embedded["results"], embedded["env"], "task.eval.dev_limit=7")
    assert out.returncode == 2
    assert "different config" in out.stderr and "task.eval.dev_limit" in out.stderr
