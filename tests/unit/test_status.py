import json
from pathlib import Path

from ptb.fsutil import write_json
from ptb.status import find_runs, main, run_status


def _run(root: Path, name: str, states: dict[str, str], error: str | None = None) -> Path:
    run = root / "exp" / name
    stages = {s: {"status": states.get(s, "pending")} for s in
              ("prepare", "solve", "evaluate", "judge", "score", "log")}  # fmt: skip
    write_json(run / "manifest.json", {"run_id": name, "stages": stages})
    if error:
        failed = next(s for s, st in states.items() if st == "failed")
        write_json(run / failed / "error.json", {"type": "RuntimeError", "message": error})
    return run


def test_failed_stage_blocks_its_dependents(tmp_path: Path) -> None:
    run = _run(tmp_path, "a", {"prepare": "done", "solve": "done", "evaluate": "failed",
                               "judge": "done"}, error="CUDA OOM")  # fmt: skip
    status = run_status(run)
    assert status.state == "failed" and status.failed == ["evaluate"]
    assert status.blocked == ["score", "log"]
    assert status.error == "evaluate: RuntimeError: CUDA OOM"


def test_counts_and_exit_code(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    done = dict.fromkeys(("prepare", "solve", "evaluate", "judge", "score", "log"), "done")
    _run(tmp_path, "ok", done)
    _run(tmp_path, "bad", {"prepare": "failed"}, error="disk full")
    (tmp_path / "exp" / "ok" / "solve" / "workspace").mkdir(parents=True)
    assert len(find_runs(tmp_path)) == 2
    assert main([str(tmp_path), "--json"]) == 1
    states = {Path(r["run_dir"]).name: r["state"] for r in json.loads(capsys.readouterr().out)}
    assert states == {"ok": "done", "bad": "failed"}


def test_without_slurm_the_run_directories_still_answer(
    tmp_path: Path,
    capsys,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    run = _run(tmp_path, "queued", {"prepare": "pending"})
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"]["prepare"]["job_id"] = "41_3"
    write_json(run / "manifest.json", manifest)
    (run / "attempts" / "1").mkdir(parents=True)
    write_json(run / "attempts" / "1" / "manifest.json", manifest)  # an archived attempt
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    assert find_runs(tmp_path) == [run]
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no scheduler states" in out and "1 pending" in out


DONE = dict.fromkeys(("prepare", "solve", "evaluate", "judge", "score", "log"), "done")


def test_results_separate_infra_failures_from_base_scores(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ok = _run(tmp_path, "ok", DONE)
    write_json(ok / "score.json", {"final": 0.5, "fallback": None})
    base = _run(tmp_path, "base", DONE)
    write_json(base / "score.json", {"final": 0.1, "fallback": "eval_failed"})
    oom = {"status": "eval_failed", "failure": {"kind": "agent", "reason": "oom"}}
    write_json(base / "evaluate" / "metrics.json", oom)
    infra = _run(tmp_path, "infra", {**DONE, "evaluate": "failed", "score": "pending",
                                     "log": "pending"})  # fmt: skip
    write_json(infra / "evaluate" / "error.json",
               {"type": "JudgeError", "message": "judge endpoint u: HTTP 503", "kind": "infra",
                "reason": "judge"})  # fmt: skip
    old = _run(tmp_path, "old", DONE)  # an older ptb scored a judge outage as a result
    write_json(old / "score.json", {"final": 0.1, "fallback": "eval_failed"})
    outage = {"status": "eval_failed", "error": "scoring failed: JudgeError: HTTP 503"}
    write_json(old / "evaluate" / "metrics.json", outage)
    results = {Path(r).name: run_status(Path(r)).result for r in map(str, find_runs(tmp_path))}
    assert results == {"ok": "scored", "base": "scored_as_base", "infra": "infra_failed",
                       "old": "infra_failed"}  # fmt: skip
    assert main([str(tmp_path), "--no-scheduler"]) == 1
    out = capsys.readouterr().out
    assert "base (eval_failed: oom)" in out and "infra: grader (retryable)" in out
    assert ("results: 1 scored, 1 scored as base (agent's failure / flagged), 2 not scored yet "
            "(infrastructure failure, retryable), 0 unfinished") in out  # fmt: skip
    assert "evaluate: an infrastructure failure recorded as a result (grader)" in out


def test_egress_log_is_shown(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    done = dict.fromkeys(("prepare", "solve", "evaluate", "judge", "score", "log"), "done")
    run = _run(tmp_path, "net", done)
    rows = [
        {"host": "pypi.org", "allowed": True, "bytes_up": 10, "bytes_down": 2_500_000},
        {"host": "127.0.0.1", "allowed": False, "bytes_up": 0, "bytes_down": 0},
    ]
    (run / "solve").mkdir(parents=True, exist_ok=True)
    (run / "solve" / "egress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(tmp_path), "--no-scheduler"]) == 0
    assert "2 (1 refused), 2.5 MB" in capsys.readouterr().out
    assert main([str(tmp_path), "--json", "--no-scheduler"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["egress"]["hosts"]["pypi.org"] == {"allowed": 1, "refused": 0, "bytes": 2_500_010}


def test_a_score_without_final_is_a_failed_score_not_a_zero(tmp_path: Path) -> None:
    run = _run(tmp_path, "malformed", DONE)
    write_json(run / "score.json", {"run_id": "malformed", "raw": 0.4, "flagged": False})
    status = run_status(run)
    assert status.final is None and status.result != "scored"
    assert "score" in status.failed and "'final'" in (status.error or "")


def test_status_and_report_find_run_directories_alike(tmp_path: Path) -> None:
    """One search (rundir.find_run_dirs) serves both: status by manifest, the report by score
    or manifest; neither enters a run directory (workspace, attempts), .git, wandb or a hidden
    staging folder."""
    from ptb.report.scan import find_run_dirs as report_runs
    from ptb.rundir import find_run_dirs

    done = {"prepare": "done"}
    a = _run(tmp_path, "a", done)
    b = _run(tmp_path, "b", done)
    write_json(tmp_path / "exp" / "c" / "score.json", {"final": 0.1})  # a score, no manifest
    for inside in (a / "solve" / "workspace" / "x", a / "attempts" / "1", a / "judge" / "llm"):
        write_json(inside / "manifest.json", {"stages": {}})
    for skipped in (".git", "wandb", ".r.1-0123abcd.host.new"):
        write_json(tmp_path / "exp" / skipped / "manifest.json", {"stages": {}})
    assert find_runs(tmp_path) == find_run_dirs(tmp_path) == [a, b]
    assert report_runs(tmp_path) == [a, b, tmp_path / "exp" / "c"]
    assert find_runs(a) == report_runs(a) == [a]  # the root itself
    assert find_runs(tmp_path / "none") == []
