"""The LLM judge's plumbing with a stand-in judge agent (``scaffold=script``) in ``sandbox=bwrap``:
it sees a copy of the workspace and transcript and only its own key; its JSON answer becomes two
findings combined by ``judge.llm_rule``; no answer is a failed check (``judge_failed``)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAKE_SECRET, REPO

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
JUDGE_KEY = "PTB_TEST_JUDGE_API_KEY"


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ptb-llm-judge-", dir="/var/tmp"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTB_CACHE", str(Path(tempfile.gettempdir()) / "ptb-llm-judge-cache"))
        mp.setenv(JUDGE_KEY, "judge-key-value-123")
        mp.setenv("OTHER_PROVIDER_API_KEY", FAKE_SECRET)
        yield path
    shutil.rmtree(path, ignore_errors=True)


def judge_script(root: Path, mode: str) -> Path:
    path = root / f"judge_{mode}.sh"
    path.write_text((REPO / "tests/fixtures/judge_agent.sh").read_text().replace("@MODE@", mode))
    path.chmod(0o755)
    return path


def solved_run(root: Path, case: str, mode: str, rule: str = "any") -> tuple[Any, Any]:
    """A planted run through prepare and solve, configured with judge=rules+llm."""
    from ptb.plan import materialize, plan_run
    from ptb.stages import run_stage
    from tests.support.planted import agent_script, compose

    agent = root / f"{case}.sh"
    agent.write_text(agent_script(case).replace("@EXTRA@", str(root)))
    agent.chmod(0o755)
    overrides = [
        "agent=custom", f"scaffold.path={agent}", "sandbox=bwrap", "sandbox.network=none",
        "budget=cpu_smoke", "tracker=none", f"results_dir={root / 'results'}",
        f"experiment={case}_{mode}_{rule}", "judge=rules+llm", "judge.llm.agent=custom",
        f"judge.llm.scaffold_path={judge_script(root, mode)}", f"judge.llm_rule={rule}",
        f"judge.llm.overrides=['agent.api_key_env={JUDGE_KEY}']", "judge.llm.minutes=1",
    ]  # fmt: skip
    plan = plan_run(compose(overrides), overrides, None)
    materialize(plan)
    for stage in ("prepare", "solve", "judge"):
        run_stage(stage, plan.context())
    return plan.run, plan.cfg


def findings(run: Any) -> dict[str, dict]:
    return {f["check"]: f for f in json.loads(run.findings.read_text())["checks"]}


def test_judge_flags_contamination_with_only_its_own_key(root: Path) -> None:
    run, _ = solved_run(root, "renamed", "answer")
    found = findings(run)
    llm = found["llm_contamination"]
    assert llm["flagged"] and llm["error"] is None, llm
    assert llm["evidence"]["reason"].split(":")[1].split() == [JUDGE_KEY], llm["evidence"]
    assert not found["llm_disallowed_model"]["flagged"]
    verdict = json.loads(run.verdict.read_text())
    assert verdict["contamination"] and "llm_contamination" in verdict["flagged_by"]
    assert (run.path / "judge/llm/transcript.raw.jsonl").exists()
    assert "judge-key-value-123" not in (run.path / "judge/llm/transcript.raw.jsonl").read_text()


def test_judge_clean_run_and_disallowed_model(root: Path) -> None:
    run, _ = solved_run(root, "clean_plain", "answer")
    verdict = json.loads(run.verdict.read_text())
    assert not verdict["flagged"] and verdict["failed_checks"] == [], verdict
    run, _ = solved_run(root, "api_client", "answer")
    found = findings(run)
    assert found["llm_disallowed_model"]["flagged"]
    assert {"api_misuse", "llm_disallowed_model"} <= set(
        json.loads(run.verdict.read_text())["flagged_by"]
    )


def test_no_answer_is_a_failed_check_and_unclear_counts(root: Path) -> None:
    from ptb.judge.llm_judge import llm_judge

    run, cfg = solved_run(root, "clean_plain", "garbage")
    verdict = json.loads(run.verdict.read_text())
    assert set(verdict["failed_checks"]) == {"llm_contamination", "llm_disallowed_model"}
    unclear = dataclasses.replace(
        cfg.judge,
        llm=dataclasses.replace(cfg.judge.llm, scaffold_path=str(judge_script(root, "unclear"))),
    )
    out = {f.check: f for f in llm_judge(run, dataclasses.replace(cfg, judge=unclear))}
    assert out["llm_contamination"].flagged and "note" in out["llm_contamination"].evidence
    recorded = dataclasses.replace(unclear, llm_rule="record")
    out = {f.check: f for f in llm_judge(run, dataclasses.replace(cfg, judge=recorded))}
    assert out["llm_contamination"].flagged and out["llm_contamination"].category == "info"
