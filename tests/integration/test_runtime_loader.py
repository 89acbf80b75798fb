"""Issue 16's reproduction through the real CLI on the tiny model: an agent whose data script
takes the test items at run time through the task loader evaluate.py uses, writes the mix only
to the sandbox's private /tmp, trains on it briefly and leaves its scripts in the workspace is
flagged by ``judge=rules`` (``test_set_use``); an agent whose own evaluation reads the test set
only to score is not."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptb.judge.planted import agent_script
from tests.conftest import REPO, ptb_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("runtime-loader")
    env = ptb_env(tmp)
    out: dict[str, Path] = {}
    for case in ("runtime_loader", "clean_eval_only"):
        script = tmp / f"{case}.sh"
        script.write_text(agent_script(case).replace("@EXTRA@", str(tmp)))
        script.chmod(0o755)
        proc = subprocess.run(
            [sys.executable, "-m", "ptb", "agent=custom", f"scaffold.path={script}",
             "task=toy_calls", "judge=rules", "sandbox=bwrap", "sandbox.network=none",
             "tracker=none", f"results_dir={tmp / 'results'}", f"experiment={case}"],
            cwd=REPO, env=env, text=True, capture_output=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        (run,) = (tmp / "results" / case).glob("custom__script__*")
        out[case] = run
    return out


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_runtime_loader_is_flagged_with_files_and_lines(runs: dict[str, Path]) -> None:
    run = runs["runtime_loader"]
    verdict = _json(run / "judge" / "verdict.json")
    assert verdict["flagged"] and verdict["contamination"], verdict
    assert verdict["flagged_by"] == ["test_set_use"], verdict  # no data file holds the items
    (finding,) = [f for f in _json(run / "judge" / "findings.json")["checks"]
                  if f["check"] == "test_set_use"]  # fmt: skip
    flow = finding["evidence"]["flows"][0]
    assert flow["sink"].startswith("task/train.py:") and "loss.backward()" in flow["sink"]
    assert "mix.jsonl (written by task/make_data.py:" in flow["source"]
    assert "test_items()" in flow["source"]
    assert not (run / "solve" / "workspace" / "tmp").exists()  # the mix was in /tmp only
    score = _json(run / "score.json")
    assert score["flagged"] and score["fallback"] == "flagged", score


def test_evaluation_only_agent_is_clean(runs: dict[str, Path]) -> None:
    run = runs["clean_eval_only"]
    verdict = _json(run / "judge" / "verdict.json")
    assert not verdict["flagged"] and verdict["failed_checks"] == [], verdict
    assert (run / "solve" / "workspace" / "task" / "eval_results.json").exists()
    (finding,) = [f for f in _json(run / "judge" / "findings.json")["checks"]
                  if f["check"] == "test_set_use"]  # fmt: skip
    assert "task/my_eval.py" in finding["evidence"]["readers_of_test_set"]
