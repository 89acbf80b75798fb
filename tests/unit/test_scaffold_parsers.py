"""Each CLI adapter's stream parser against golden streams recorded from the real CLIs
(``tests/golden/scaffolds/<scaffold>/<script>.raw.jsonl``, re-recorded by
``PTB_RECORD_GOLDEN=1 pytest tests/integration/test_scaffolds.py``): the normalised events,
usage and the classification of how the run ended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptb.rundir import RunDir
from ptb.sandbox.process import ExecResult
from ptb.scaffolds import SCAFFOLDS, SolveContext
from ptb.scaffolds.cli_scaffold import CliScaffold
from ptb.scaffolds.transcript import Transcript
from ptb.secrets import Redactor
from tests.support.fake_llm import FINAL_TEXT, MARKER_FILE
from tests.support.repo import REPO, compose_run

GOLDEN = REPO / "tests" / "golden" / "scaffolds"
AGENTS = {
    "claude_code": "opus46",
    "codex_cli": "gpt52",
    "gemini_cli": "gemini31pro",
    "opencode": "qwen3coder_vllm",
    "qwen_code": "qwen3coderplus",
}
STREAMS = sorted(GOLDEN.glob("*/*.raw.jsonl"))


def adapter(scaffold: str, tmp_path: Path) -> CliScaffold:
    cfg = compose_run(f"agent={AGENTS[scaffold]}", f"scaffold={scaffold}", "model=tiny")
    ctx = SolveContext(cfg, tmp_path, tmp_path / "task", "base", "the prompt", "python3")
    made = SCAFFOLDS.load(scaffold)(ctx)
    assert isinstance(made, CliScaffold)
    return made


def replay(path: Path, tmp_path: Path) -> tuple[CliScaffold, Transcript, ExecResult, dict]:
    scaffold = path.parent.name
    meta = json.loads(path.with_name(path.name.replace(".raw.jsonl", ".meta.json")).read_text())
    made = adapter(scaffold, tmp_path)
    transcript = Transcript(RunDir(tmp_path).transcripts, Redactor(env={}))
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        made.on_line(record["stream"], record["line"], transcript)
    return made, transcript, ExecResult(meta["exit_code"], "finished", 1.0), meta


def test_every_scaffold_has_golden_streams() -> None:
    for scaffold in AGENTS:
        names = {p.name for p in (GOLDEN / scaffold).glob("*.raw.jsonl")}
        assert {"ok.raw.jsonl", "auth.raw.jsonl", "rate_limit.raw.jsonl"} <= names, scaffold


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}-{p.name.split('.')[0]}")
def test_golden_stream(path: Path, tmp_path: Path) -> None:
    made, transcript, result, meta = replay(path, tmp_path)
    ending = made.classify(result, transcript)
    assert (ending.reason, ending.api_error) == (meta["reason"], meta["api_error"])
    usage = made.usage(transcript, result)
    events = transcript.events
    if meta["reason"] == "finished":
        calls = [e for e in events if e["kind"] == "tool_call"]
        outputs = [e for e in events if e["kind"] == "tool_result"]
        assert calls and MARKER_FILE in json.dumps(calls[0]["input"])
        assert outputs and "scripted-by-fake-llm" in outputs[0]["output"]
        assert made.final_text == FINAL_TEXT
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert usage["turns"] >= 1 and usage["tool_calls"] == 1
    else:
        errors = [e for e in events if e["kind"] == "error" and e.get("error") != "retry"]
        assert errors and errors[-1]["error"] == meta["api_error"]
        assert ending.message


@pytest.mark.parametrize("path", [p for p in STREAMS if p.name == "ok.raw.jsonl"])
def test_a_crash_is_not_an_api_error(path: Path, tmp_path: Path) -> None:
    """The same normal stream, but the CLI then died: crashed, never finished."""
    made, transcript, _, _ = replay(path, tmp_path)
    ending = made.classify(ExecResult(1, "finished", 1.0), transcript)
    assert ending.reason == "crashed"
    timeout = made.classify(ExecResult(None, "timeout", 1.0), transcript)
    assert timeout.reason == "timeout"
