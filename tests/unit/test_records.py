"""The typed run-directory records (ptb.records) and the single stage table (ptb.rundir)."""

from __future__ import annotations

import ast
import json
from dataclasses import fields
from pathlib import Path

import pytest

from ptb.fsutil import write_json
from ptb.judge.base import VERDICT_KEYS, Finding, combine, verdict
from ptb.records import (
    SCHEMA,
    ExitRecord,
    Manifest,
    MetricsRecord,
    Record,
    ScoreRecord,
    StageEntry,
    VerdictRecord,
)
from ptb.rundir import (
    JOB_NEEDS,
    JOB_STAGES,
    JOBS,
    MANIFEST_SCHEMA,
    NEEDS,
    STAGE_TABLE,
    STAGES,
    RunDir,
    TranscriptFiles,
    _stage_entry,
)
from ptb.scaffolds.transcript import Transcript
from ptb.secrets import Redactor
from ptb.stages import STAGE_FUNCS, applicable, dependents, output_of

EXIT = {
    "exit_code": 0,
    "reason": "finished",
    "api_error": None,
    "error_message": None,
    "wall_s": 12.5,
    "detail": None,
    "final_model": True,
    "pruned_files": [{"path": "m.safetensors", "bytes": 9}],
}
METRICS = {
    "task": "toy_math",
    "status": "ok",
    "score": 0.5,
    "n": 4,
    "metrics": {"accuracy": 0.5, "accuracy_strict": 0.25},
    "attempts": [{"max_new_tokens": 256, "ok": True}],
    "error": None,
    "mode": "zeroshot",
    "protocol": "paper",
    "failure": None,
}
SCORE = {
    "run_id": "a__b__c__d__s0",
    "agent": "a",
    "scaffold": "b",
    "model": "c",
    "task": "d",
    "seed": 0,
    "budget": "cpu_smoke",
    "raw": 0.2,
    "eval_failure": "oom",
    "final": 0.1,
    "flagged": False,
    "fallback": "eval_failed",
    "base": 0.1,
}
VERDICT = combine([Finding("lineage", "disallowed_model", True)])
MANIFEST = {
    "run_id": "a__b__c__d__s0",
    "created": "2026-01-01T00:00:00+00:00",
    "stages": {
        "solve": {"status": "done", "job_id": "5_1", "started": "x", "ended": "y",
                  "attempts": 1, "wall_s": 3.0, "slurm_dir": "/s"},
        "score": {"status": "pending", "job_id": None, "started": None, "ended": None,
                  "attempts": 0},
    },
    "ptb_version": "0.1",
    "git_sha": "abc",
    "agent_retries": [{"attempt": 1, "why": "crashed"}],
}  # fmt: skip
RECORDS = [
    (ExitRecord, EXIT),
    (MetricsRecord, METRICS),
    (ScoreRecord, SCORE),
    (VerdictRecord, VERDICT),
    (Manifest, MANIFEST),
]


@pytest.mark.parametrize(("cls", "data"), RECORDS)
def test_round_trip_keeps_every_key_and_adds_the_schema(cls: type, data: dict) -> None:
    old = {k: v for k, v in data.items() if k != "schema"}
    record = cls.from_json(old)
    assert record.schema == 0  # a file from before the records had a version
    out = record.to_json()
    assert {k: v for k, v in out.items() if k != "schema"} == old
    assert cls.from_json(out) == record
    written = cls.from_json({**old, "schema": SCHEMA}).to_json()
    assert written["schema"] == SCHEMA and next(iter(written)) == "schema"


@pytest.mark.parametrize(("cls", "data"), RECORDS)
def test_unknown_keys_are_kept(cls: type, data: dict) -> None:
    newer = {**data, "schema": SCHEMA + 1, "from_the_future": {"x": [1, 2]}}
    record = cls.from_json(newer)
    assert record.extra["from_the_future"] == {"x": [1, 2]}
    assert record.to_json() == newer


def test_records_read_files(tmp_path: Path) -> None:
    write_json(tmp_path / "exit.json", {"reason": "crashed"})  # an old, partial file
    assert ExitRecord.read(tmp_path / "exit.json").reason == "crashed"
    assert Manifest.read(tmp_path / "none.json") == Manifest(schema=0)
    assert Manifest.read(tmp_path / "none.json").status("retention", "skipped") == "skipped"
    write_json(tmp_path / "m.json", MANIFEST)
    manifest = Manifest.read(tmp_path / "m.json")
    assert manifest.status("solve") == "done" and manifest.entry("solve").wall_s == 3.0
    assert manifest.entry("solve").extra == {"slurm_dir": "/s"}
    assert manifest.entry("judge") == StageEntry()
    assert manifest.extra["git_sha"] == "abc"
    with pytest.raises(ValueError, match="JSON object"):
        ScoreRecord.from_json([1])  # type: ignore[arg-type]


def test_exit_record_one_constructor_for_both_writers() -> None:
    void = ExitRecord.void("no GPU").to_json()
    assert void["reason"] == "void" and void["wall_s"] == 0.0 and void["detail"] == "no GPU"
    assert {"exit_code", "final_model", "pruned_files"} <= set(void)
    assert set(ExitRecord().to_json()) == {"schema", *EXIT}


def test_score_record_writes_eval_failure_only_when_set() -> None:
    assert "eval_failure" not in ScoreRecord(final=0.5).to_json()
    assert ScoreRecord(final=0.5, eval_failure="oom").to_json()["eval_failure"] == "oom"


def test_verdict_record_is_what_combine_writes() -> None:
    findings = [Finding("lineage", "disallowed_model", True), Finding("x", "info", True)]
    record = verdict(findings)
    assert record.to_json() == combine(findings)
    assert record.flagged and record.flagged_by == ["lineage"] and not record.extra
    names = [f.name for f in fields(VerdictRecord)]
    assert all(k in names for k in VERDICT_KEYS)


def test_manifest_entries_and_schema_agree_with_the_writer(tmp_path: Path) -> None:
    assert MANIFEST_SCHEMA == SCHEMA
    for status in ("pending", "skipped"):
        assert StageEntry(status=status).to_json() == _stage_entry(status)
    run = RunDir(tmp_path / "r")
    run.init_manifest({"solve": "pending", "retention": "skipped"}, {"ptb_version": "x"})
    run.update_stage("solve", status="done", wall_s=1.5, job_id="7")
    manifest = Manifest.read(run.manifest)
    assert manifest.schema == SCHEMA and manifest.run_id == "r"
    assert manifest.entry("solve") == StageEntry("done", "7", None, None, 0, 1.5)
    assert manifest.to_json() == json.loads(run.manifest.read_text())


# the stage table and what is derived from it


def test_one_stage_table() -> None:
    assert STAGES == ("prepare", "solve", "evaluate", "judge", "score", "retention", "log")
    assert NEEDS == {
        "prepare": (),
        "solve": ("prepare",),
        "evaluate": ("solve",),
        "judge": ("solve",),
        "score": ("evaluate", "judge"),
        "retention": ("evaluate",),
        "log": ("score", "retention"),
    }
    for i, stage in enumerate(STAGE_TABLE):  # in dependency order
        assert all(STAGES.index(n) < i for n in stage.needs)
        assert STAGE_FUNCS.path(stage.name) == stage.func
        module, func = stage.func.split(":")
        assert module == f"ptb.stages.{stage.name}" and func == "run"
    assert dependents("evaluate") == ["score", "retention", "log"]


def test_stage_outputs_are_run_dir_paths(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    outputs = {s.name: output_of(s.name, run).relative_to(run.path) for s in STAGE_TABLE}
    assert {k: str(v) for k, v in outputs.items()} == {
        "prepare": "solve/prompt.txt",
        "solve": "solve/exit.json",
        "evaluate": "evaluate/metrics.json",
        "judge": "judge/verdict.json",
        "score": "score.json",
        "retention": "retention/metrics.json",
        "log": "log/tracker.json",
    }


def test_jobs_derive_from_the_stage_table() -> None:
    assert JOB_STAGES == {
        "solve": ("prepare", "solve"),
        "evaluate": ("evaluate",),
        "retention": ("retention",),
        "judge": ("judge",),
        "score": ("score", "log"),
    }
    assert JOB_NEEDS == {
        "solve": (),
        "evaluate": ("solve",),
        "retention": ("evaluate",),
        "judge": ("solve",),
        "score": ("evaluate", "judge", "retention"),  # log sends the retention numbers
    }
    assert sorted(s for stages in JOB_STAGES.values() for s in stages) == sorted(STAGES)
    for i, job in enumerate(JOBS):  # submitted after the jobs it waits for
        assert all(JOBS.index(d) < i for d in JOB_NEEDS[job])


def test_applicable_covers_every_stage() -> None:
    class _Cfg:  # the two settings applicable() reads
        class agent:
            kind = "baseline"

        class retention:
            tasks: list[str] = []

    status = applicable(_Cfg())  # type: ignore[arg-type]
    assert tuple(status) == STAGES
    skipped = {"prepare", "solve", "judge", "retention"}
    assert {s for s, st in status.items() if st == "skipped"} == skipped


def test_transcript_paths_agree_with_run_dir(tmp_path: Path) -> None:
    """The transcript writes the files RunDir names. (The sandbox names no path of its own:
    the solve stage gives it RunDir's.)"""
    run = RunDir(tmp_path / "r")
    transcript = Transcript(run.transcripts, Redactor(env={}))
    assert (transcript.raw_path, transcript.events_path, transcript.md_path) == (
        run.transcript_raw,
        run.transcript,
        run.transcript_md,
    )


def test_rundir_and_records_import_nothing_else_of_ptb() -> None:
    root = Path(__file__).resolve().parents[2] / "ptb"
    for name, allowed in (("rundir.py", {"ptb.fsutil"}), ("records.py", set())):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ptb")
        }
        assert imported <= allowed, name


@pytest.mark.parametrize(
    ("record", "data", "key"),
    [
        (ScoreRecord, {"run_id": "r", "flagged": False, "raw": 0.5}, "final"),
        (ExitRecord, {"exit_code": 0, "wall_s": 1.0}, "reason"),
        (VerdictRecord, {"contamination": False}, "flagged"),
        (MetricsRecord, {"task": "toy_calls", "score": 0.5}, "status"),
    ],
)
def test_a_file_without_a_required_key_is_malformed_not_a_default(
    tmp_path: Path, record: type[Record], data: dict[str, object], key: str
) -> None:
    """A score.json without ``final`` must not read as a score of 0 (nor an exit.json without
    ``reason`` as an agent that finished): reading it fails and names the key."""
    path = tmp_path / "record.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=repr(key)):
        record.read(path)


def test_transcript_writes_the_files_rundir_names(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    transcript = Transcript(run.transcripts, Redactor(env={}))
    transcript.raw("stdout", "hello")
    transcript.event("assistant", "message", text="hi")
    transcript.write_markdown("run")
    assert run.transcript_raw.is_file() and run.transcript.is_file() and run.transcript_md.is_file()
    vote = tmp_path / "judge" / "llm" / "x" / "vote-1"
    files = TranscriptFiles.in_folder(vote)
    Transcript(files, Redactor(env={})).event("user", "message", text="q")
    assert files.folder == vote and files.events.is_file()
    assert RunDir(vote.parent).transcripts == TranscriptFiles.in_folder(vote.parent / "solve")


def test_no_run_dir_file_name_is_spelled_outside_rundir() -> None:
    """The transcript's file names are rundir's: no other module spells them."""
    root = Path(__file__).resolve().parents[2] / "ptb"
    names = {"transcript.jsonl", "transcript.raw.jsonl", "transcript.md"}
    for path in root.rglob("*.py"):
        if path.name == "rundir.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        spelled = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not names & spelled, path
