import json
import threading
from pathlib import Path

import pytest

from ptb.fsutil import atomic_write_text, file_hashes
from ptb.rundir import RunDir, make_run_id


def test_run_id_contract() -> None:
    assert make_run_id("opus46", "claude_code", "qwen3_4b", "gsm8k", 2) == (
        "opus46__claude_code__qwen3_4b__gsm8k__s2"
    )
    with pytest.raises(ValueError, match="must match"):
        make_run_id("a/b", "x", "y", "z", 0)
    with pytest.raises(ValueError):
        make_run_id("a__b", "x", "y", "z", 0)


def test_paths_follow_the_contract(tmp_path: Path) -> None:
    run = RunDir.at(tmp_path, "exp", "a__b__c__d__s0")
    assert run.path == tmp_path.resolve() / "exp" / "a__b__c__d__s0"
    assert run.metrics == run.path / "evaluate" / "metrics.json"
    assert run.verdict == run.path / "judge" / "verdict.json"
    assert run.score == run.path / "score.json"
    assert run.error_file("solve") == run.path / "solve" / "error.json"


def test_manifest_init_keeps_done_work(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    run.init_manifest({"solve": "pending", "score": "pending"}, {"ptb_version": "x"})
    run.update_stage("solve", status="done", attempts=1)
    data = run.init_manifest({"solve": "pending", "score": "pending"}, {"ptb_version": "y"})
    assert data["stages"]["solve"]["status"] == "done"
    assert data["ptb_version"] == "y"
    with pytest.raises(ValueError):
        run.update_stage("solve", status="weird")


def test_concurrent_manifest_updates_are_not_lost(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    run.init_manifest({f"s{i}": "pending" for i in range(8)}, {})

    def work(i: int) -> None:
        for n in range(20):
            run.update_stage(f"s{i}", attempts=n + 1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stages = json.loads(run.manifest.read_text())["stages"]
    assert all(stages[f"s{i}"]["attempts"] == 20 for i in range(8))


def test_atomic_write_leaves_no_temp_and_normal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "f.txt"
    atomic_write_text(path, "hello")
    assert path.read_text() == "hello"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]
    assert path.stat().st_mode & 0o044  # readable by others (not mkstemp's 0600)


def test_file_hashes_cover_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.jinja").write_text("x")
    (tmp_path / "evaluate.py").write_text("y")
    hashes = file_hashes(tmp_path, ("evaluate.py", "templates", "absent"))
    assert set(hashes) == {"evaluate.py", "templates/t.jinja"}
