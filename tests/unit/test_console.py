"""Off a terminal (a log file, CI), nothing ptb prints is wrapped at 80 columns."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from ptb import console as ptb_console
from ptb.launch.local import RunOutcome
from ptb.rundir import RunDir

LONG = "/scratch/" + "very-long-folder-name/" * 8 + "run"


def test_end_of_run_table_keeps_paths_and_errors_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    error = "StageFailed: evaluate failed: JudgeError: judge endpoint " + "x" * 150 + ": HTTP 503"
    ptb_console.print_outcomes([RunOutcome(RunDir(Path(LONG)), error=error, wall_s=3.0)])
    out = capsys.readouterr().out
    assert LONG in out and error in out
    assert max(len(line) for line in out.splitlines()) > 200


def test_log_lines_are_plain_and_whole_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(ptb_console, "console", ptb_console.output_console(stderr=True))
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        ptb_console.setup_logging(verbose=False)
        logging.getLogger("ptb.test").warning("failed: %s", LONG)
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
    (line,) = [x for x in stream.getvalue().splitlines() if "failed:" in x]
    assert line.endswith(f"WARNING ptb.test: failed: {LONG}")


def test_a_terminal_still_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Tty())
    assert ptb_console.output_console().width != ptb_console.UNWRAPPED


def test_a_sweep_summary_says_how_many_runs_ran_cleanly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ptb.fsutil import write_json

    runs = [RunDir(tmp_path / name) for name in ("a", "b", "c")]
    write_json(runs[0].score, {"final": 0.5, "fallback": None})
    write_json(runs[1].score, {"final": 0.1, "fallback": "eval_failed"})
    outcomes = [RunOutcome(runs[0]), RunOutcome(runs[1]), RunOutcome(runs[2], error="judge down")]
    ptb_console.print_outcomes(outcomes)
    out = capsys.readouterr().out
    assert "2/3 runs scored (67% clean), 1 of them as base" in out
    assert "1 not scored yet" in out and "not scored (re-run retries it): judge down" in out


def test_a_run_outcome_reads_its_score_as_a_record(tmp_path: Path) -> None:
    from ptb.fsutil import write_json
    from ptb.records import ScoreRecord

    run = RunDir(tmp_path / "r")
    assert RunOutcome(run).score is None
    write_json(run.score, {"agent": "baseline", "final": 0.25, "fallback": None, "k": 1})
    score = RunOutcome(run).score
    assert isinstance(score, ScoreRecord) and score.final == 0.25 and score.extra == {"k": 1}
    write_json(run.score, {"raw": 0.5})  # no final: malformed, never a score of 0
    assert RunOutcome(run).score is None


def test_a_baseline_outcome_shows_its_final_as_base(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ptb.fsutil import write_json

    run = RunDir(tmp_path / "b")
    write_json(run.score, {"agent": "baseline_zeroshot", "final": 0.123, "base": None})
    ptb_console.print_outcomes([RunOutcome(run)])
    out = capsys.readouterr().out
    assert out.count("12.3") == 2
