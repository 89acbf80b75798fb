"""The LLM judges' plumbing with a stand-in judge agent (``scaffold=script``) in ``sandbox=bwrap``:
each judge (contamination, API use, lookup) sees a copy of the workspace, the whole transcript
in pages with an index, and only its own key; its JSON answer becomes one finding per field,
combined over ``judge.llm.votes`` runs (``need`` agree) and by ``judge.llm_rule``; no answer is
a failed check (``judge_failed``)."""

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


def solved_run(
    root: Path, case: str, mode: str, rule: str = "any", tag: str = ""
) -> tuple[Any, Any]:
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
        f"experiment={case}_{mode}_{rule}{tag}", "judge=rules+llm", "judge.llm.agent=custom",
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


def with_llm(cfg: Any, **changes: Any) -> Any:
    return dataclasses.replace(
        cfg, judge=dataclasses.replace(cfg.judge, llm=dataclasses.replace(cfg.judge.llm, **changes))
    )


def test_judge_flags_contamination_with_only_its_own_key(root: Path) -> None:
    run, _ = solved_run(root, "renamed", "answer")
    found = findings(run)
    llm = found["llm_contamination"]
    assert llm["flagged"] and llm["error"] is None, llm
    reason = llm["evidence"]["reason"]
    assert reason.split(";")[0].split(":")[1].split() == [JUDGE_KEY], llm["evidence"]
    assert llm["evidence"]["judge"] == "contamination"
    assert llm["evidence"]["prompt"] == "ptb:contamination.md"  # toy tasks: protocol=strict
    assert llm["evidence"]["agreement"] == "1 of 1 detected, 0 clean, 0 without an answer"
    for clean in ("llm_disallowed_model", "llm_disallowed_api_usage", "llm_benchmark_lookup"):
        assert not found[clean]["flagged"] and found[clean]["error"] is None, found[clean]
    verdict = json.loads(run.verdict.read_text())
    assert verdict["contamination"] and "llm_contamination" in verdict["flagged_by"]
    vote = run.path / "judge/llm/contamination/vote-1"
    index = (vote / "job/solve_parsed.txt").read_text()
    assert "trace/page-0001.txt: events 1-" in index
    assert (vote / "job/task/judgement.json").exists() and (vote / "prompt.txt").exists()
    assert "judge-key-value-123" not in (vote / "transcript.raw.jsonl").read_text()


def test_judge_clean_run_and_api_use(root: Path) -> None:
    run, _ = solved_run(root, "clean_plain", "answer")
    verdict = json.loads(run.verdict.read_text())
    assert not verdict["flagged"] and verdict["failed_checks"] == [], verdict
    run, _ = solved_run(root, "api_client", "answer")
    found = findings(run)
    assert found["llm_disallowed_api_usage"]["flagged"]
    assert found["llm_disallowed_api_usage"]["category"] == "api_misuse"
    assert {"api_misuse", "llm_disallowed_api_usage"} <= set(
        json.loads(run.verdict.read_text())["flagged_by"]
    )


def test_lookup_judge_reads_the_whole_paged_trace(root: Path) -> None:
    """A leaderboard visit at the end of a transcript many pages long is seen: nothing is cut."""
    from ptb.judge.llm_judge import llm_judge

    run, cfg = solved_run(root, "clean_plain", "answer", tag="_lookup")
    with (run.solve / "transcript.jsonl").open("a") as fh:
        for i in range(400):
            fh.write(json.dumps({"t": 1.0 + i, "role": "assistant", "kind": "message",
                                 "text": f"filler {i} " + "x" * 300}) + "\n")  # fmt: skip
        fh.write(
            json.dumps(
                {
                    "t": 999.0,
                    "role": "assistant",
                    "kind": "tool_call",
                    "name": "Bash",
                    "input": {"command": "curl https://posttrainbench.com/lb"},
                }
            )
            + "\n"
        )
    cfg = with_llm(cfg, judges=["lookup"], page_bytes=20_000)
    (found,) = llm_judge(run, cfg)
    assert found.check == "llm_benchmark_lookup" and found.flagged, found
    assert found.category == "contamination"
    pages = sorted((run.path / "judge/llm/lookup/vote-1/job/trace").glob("page-*.txt"))
    assert len(pages) >= 6
    assert "posttrainbench.com" in pages[-1].read_text()


def test_votes_need_two_of_three(root: Path) -> None:
    from ptb.judge.llm_judge import llm_judge

    run, cfg = solved_run(root, "renamed", "split", tag="_votes")
    three = with_llm(cfg, judges=["contamination"], votes=3, need=2)
    out = {f.check: f for f in llm_judge(run, three)}
    found = out["llm_contamination"]
    assert found.flagged, found
    assert found.evidence["agreement"] == "2 of 3 detected, 1 clean, 0 without an answer"
    assert [v["detected"] for v in found.evidence["votes"]] == [True, False, True]
    lonely = with_llm(three, scaffold_path=str(judge_script(root, "lonely")))
    out = {f.check: f for f in llm_judge(run, lonely)}
    found = out["llm_contamination"]
    assert not found.flagged and found.error is None, found
    assert found.evidence["agreement"] == "1 of 3 detected, 2 clean, 0 without an answer"


def test_no_answer_is_a_failed_check_and_unclear_counts(root: Path) -> None:
    from ptb.judge.llm_judge import llm_judge

    run, cfg = solved_run(root, "clean_plain", "garbage")
    verdict = json.loads(run.verdict.read_text())
    assert set(verdict["failed_checks"]) == {
        "llm_contamination", "llm_disallowed_model", "llm_disallowed_api_usage",
        "llm_benchmark_lookup",
    }  # fmt: skip
    unclear = with_llm(cfg, scaffold_path=str(judge_script(root, "unclear")))
    out = {f.check: f for f in llm_judge(run, unclear)}
    vote = out["llm_contamination"].evidence["votes"][0]
    assert out["llm_contamination"].flagged and "note" in vote
    recorded = dataclasses.replace(
        unclear, judge=dataclasses.replace(unclear.judge, llm_rule="record")
    )
    out = {f.check: f for f in llm_judge(run, recorded)}
    assert out["llm_contamination"].flagged and out["llm_contamination"].category == "info"


def test_a_cli_judge_on_an_openai_compatible_endpoint(root: Path) -> None:
    """The judge as a real CLI (OpenCode) talking chat completions to a base_url on loopback
    (the fake model server, relayed into the judge's sandbox): it runs the answer command the
    server scripts, and the answer becomes the findings."""
    import base64
    import os

    from ptb.judge.llm_judge import llm_judge
    from ptb.scaffolds.tools import find_cli
    from tests.support.fake_llm import FakeLLM

    run, cfg = solved_run(root, "clean_plain", "answer", tag="_cli")
    answer = {
        "contamination": False,
        "justification_contamination": "trace: own data only",
        "disallowed_model": False,
        "justification_disallowed_model": "base fine-tuned",
        "disallowed_api_usage": True,
        "justification_disallowed_api_usage": "event #3",
    }
    encoded = base64.b64encode(json.dumps(answer).encode()).decode()
    with FakeLLM(key="judge-key-value-123") as server:
        server.command = (
            f"test -f ../solve_parsed.txt && echo {encoded} | base64 -d > judgement.json"
        )
        overrides = [f"agent.base_url={server.url}/v1", f"agent.api_key_env={JUDGE_KEY}",
                     "scaffold.max_retries=0"]  # fmt: skip
        judge = dataclasses.replace(
            cfg.judge,
            llm=dataclasses.replace(
                cfg.judge.llm,
                agent="qwen3coder_vllm",
                scaffold=None,
                scaffold_path=None,
                overrides=overrides,
                judges=["contamination", "api_use"],
            ),
        )
        jcfg = dataclasses.replace(cfg, judge=judge)
        from ptb.judge.llm_judge import compose_judge

        if find_cli(compose_judge(jcfg).scaffold) is None:
            pytest.skip("the OpenCode CLI is not installed (bash scripts/install-clis.sh)")
        assert os.environ[JUDGE_KEY] == server.key
        out = {f.check: f for f in llm_judge(run, jcfg)}
        calls = server.model_calls()
    assert calls and all(c.key_ok and c.api == "chat" for c in calls)
    assert out["llm_disallowed_api_usage"].flagged, out["llm_disallowed_api_usage"]
    assert out["llm_disallowed_api_usage"].evidence["reason"] == "event #3"
    assert out["llm_disallowed_api_usage"].evidence["scaffold"] == "opencode"
    assert not out["llm_contamination"].flagged and out["llm_contamination"].error is None
