"""Which failures re-submission retries: infrastructure always, the agent's only when asked."""

from __future__ import annotations

import json
from pathlib import Path

from ptb.fsutil import write_json
from ptb.launch.retry import agent_failure, archive_attempt
from ptb.rundir import STAGES, RunDir


def _finished_run(root: Path, reason: str, eval_status: str = "ok") -> RunDir:
    run = RunDir(root / "exp" / "r")
    run.init_manifest(dict.fromkeys(STAGES, "pending"), {})
    for stage in STAGES:
        run.update_stage(stage, status="done", job_id="5_1", attempts=1)
    write_json(run.exit_file, {"reason": reason})
    write_json(run.metrics, {"status": eval_status})
    write_json(run.verdict, {"flagged": False})
    write_json(run.score, {"final": 0.1})
    (run.final_model).mkdir()
    return run


def test_agent_failures_are_told_apart(tmp_path: Path) -> None:
    assert agent_failure(_finished_run(tmp_path / "a", "crashed")) == "crashed"
    assert agent_failure(_finished_run(tmp_path / "b", "timeout")) is None
    assert agent_failure(_finished_run(tmp_path / "c", "finished")) is None
    assert agent_failure(_finished_run(tmp_path / "d", "finished", "no_final_model")) == (
        "no_final_model"
    )


def test_archiving_an_attempt_resets_the_run(tmp_path: Path) -> None:
    run = _finished_run(tmp_path, "crashed")
    assert archive_attempt(run, "crashed") == 1
    kept = run.path / "attempts" / "1"
    assert (kept / "solve" / "exit.json").exists() and (kept / "score.json").exists()
    assert (kept / "final_model").is_dir() and (kept / "manifest.json").exists()
    assert not run.score.exists() and not run.exit_file.exists() and not run.final_model.exists()
    manifest = json.loads(run.manifest.read_text())
    assert {e["status"] for e in manifest["stages"].values()} == {"pending"}
    assert {e["attempts"] for e in manifest["stages"].values()} == {1}  # counts are kept
    assert manifest["agent_retries"][0]["why"] == "crashed"
    assert archive_attempt(run, "crashed") == 2


def test_agent_retries_are_typed_in_the_manifest(tmp_path: Path) -> None:
    from ptb.records import AgentRetry, Manifest

    run = _finished_run(tmp_path, "crashed")
    assert Manifest.read(run.manifest).agent_retries == []  # an old manifest: none
    assert "agent_retries" not in Manifest.read(run.manifest).to_json()  # not written empty
    archive_attempt(run, "crashed")
    archive_attempt(run, "no_final_model")
    manifest = Manifest.read(run.manifest)
    assert [(r.attempt, r.why) for r in manifest.agent_retries] == [
        (1, "crashed"),
        (2, "no_final_model"),
    ]
    assert all(isinstance(r, AgentRetry) and r.at for r in manifest.agent_retries)
    assert "agent_retries" not in manifest.extra
    on_disk = json.loads(run.manifest.read_text())["agent_retries"]
    assert on_disk[0].keys() == {"attempt", "why", "at"}  # written as before
    assert manifest.to_json()["agent_retries"] == on_disk
