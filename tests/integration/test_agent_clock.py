"""A resumed solve stage continues the agent's budget (``ptb/stages/agent_clock.py``): after an
interruption the agent gets what is left of ``budget.hours``, not a fresh budget."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ptb.fsutil import write_json
from ptb.plan import RunPlan
from ptb.stages import run_stage
from ptb.stages.agent_clock import AgentClock
from tests.support.plans import planned_run

pytestmark = pytest.mark.integration

BUDGET_S = 36.0  # budget.hours=0.01
AGENT = """#!/usr/bin/env bash
echo started >> started.txt
sleep 60
"""


def _plan(tmp_path: Path) -> RunPlan:
    agent = tmp_path / "agent.sh"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    over = ["agent=custom", f"scaffold.path={agent}", "model=tiny", "task=toy_calls",
            "budget.hours=0.01", "budget.grace_minutes=0", "budget.kill_after_s=1",
            "sandbox=none", "tracker=none", f"results_dir={tmp_path / 'results'}"]  # fmt: skip
    return planned_run(over)


@pytest.fixture(autouse=True)
def _cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = os.environ.get("PTB_TEST_CACHE") or str(tmp_path_factory.mktemp("ptb-cache"))
    monkeypatch.setenv("PTB_CACHE", cache)


def test_a_resumed_stage_gets_only_the_time_left(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    run_stage("prepare", plan.context())
    write_json(plan.run.solve / "clock.json", {"used_s": BUDGET_S - 3, "resumes": 0})
    t0 = time.monotonic()
    run_stage("solve", plan.context())
    took = time.monotonic() - t0
    exit_info = json.loads(plan.run.exit_file.read_text())
    assert exit_info["reason"] == "timeout"
    assert took < 20, f"the agent ran {took:.0f} s of a 3 s remainder"
    assert BUDGET_S - 3 < exit_info["wall_s"] < BUDGET_S + 15  # the whole budget's time used
    clock = json.loads((plan.run.solve / "clock.json").read_text())
    assert clock["resumes"] == 1 and clock["used_s"] >= BUDGET_S - 1


def test_a_stage_resumed_after_its_time_is_up_does_not_start_the_agent(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    run_stage("prepare", plan.context())
    write_json(plan.run.solve / "clock.json", {"used_s": BUDGET_S + 5, "resumes": 0})
    run_stage("solve", plan.context())
    exit_info = json.loads(plan.run.exit_file.read_text())
    assert exit_info["reason"] == "timeout" and exit_info["wall_s"] >= BUDGET_S + 5
    assert "time limit had passed" in exit_info["error_message"]
    assert not list((plan.run.solve / "workspace").rglob("started.txt"))


def test_the_clock_is_saved_while_the_agent_runs(tmp_path: Path) -> None:
    clock = AgentClock(tmp_path / "clock.json", save_every_s=0.05)
    assert (clock.resumes, clock.used_before) == (0, 0.0)
    with clock.running():
        time.sleep(0.3)
        saved = json.loads((tmp_path / "clock.json").read_text())["used_s"]
        assert 0.1 <= saved <= 0.35  # written during the run, not only at its end
    again = AgentClock(tmp_path / "clock.json")
    assert again.resumes == 1 and again.used_before >= 0.3
    assert time.time() - again.start == pytest.approx(again.used_before, abs=0.2)
