"""``rundir.create_run_dir``: a new run directory in one rename, the same files as the slow path."""

from __future__ import annotations

from pathlib import Path

from ptb.fsutil import one_sync
from ptb.rundir import RunDir, create_run_dir

STAGES = {"solve": "pending", "retention": "skipped", "score": "pending"}
INFO = {"ptb_version": "x", "git_sha": None}


def test_creates_the_manifest_init_manifest_would(tmp_path: Path) -> None:
    fast, slow = RunDir(tmp_path / "a" / "r__s0"), RunDir(tmp_path / "b" / "r__s0")
    with one_sync():
        data = create_run_dir(fast, {"config.yaml": "a: 1\n"}, STAGES, INFO)
    expected = slow.init_manifest(STAGES, INFO)
    assert data is not None
    assert {**data, "created": None} == {**expected, "created": None}
    assert fast.read_manifest() == data
    text = fast.manifest.read_text().replace(data["created"], expected["created"])
    assert text == slow.manifest.read_text()
    assert fast.config.read_text() == "a: 1\n"
    assert [p.name for p in fast.path.parent.iterdir()] == ["r__s0"]  # no staging folder left
    assert fast.config.stat().st_mode & 0o777 == slow.manifest.stat().st_mode & 0o777


def test_an_existing_run_directory_is_left_alone(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r__s0")
    run.path.mkdir()
    assert create_run_dir(run, {"config.yaml": "a: 1\n"}, STAGES, INFO) is None
    assert list(run.path.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["r__s0"]
