"""The LLM judges' pieces without a sandbox: the paged trace, the prompts' sources under each
protocol (the original's served from project-written fixtures), the votes, and the live rules."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from ptb.config.root import RunConfig
from ptb.judge.live import LiveWatch, Rules
from ptb.judge.llm_judge import judge_specs, prompt_text, tally, upstream_prompt_keys
from ptb.judge.trace import write_pages
from ptb.rundir import RunDir
from tests.support.planted import compose
from tests.support.upstream import cache_upstream


def run_config(*overrides: str) -> RunConfig:
    cfg = OmegaConf.to_object(compose(list(overrides)))
    assert isinstance(cfg, RunConfig)
    return cfg


def write_events(solve: Path, events: list[dict[str, Any]]) -> None:
    solve.mkdir(parents=True, exist_ok=True)
    (solve / "transcript.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_pages_hold_every_event_in_order_and_split_large_ones(tmp_path: Path) -> None:
    events = [{"t": 100.0 + i, "role": "assistant", "kind": "message", "text": f"step {i} " * 40}
              for i in range(60)]  # fmt: skip
    events.append({"t": 200.0, "role": "tool", "kind": "tool_result", "output": "y" * 5000})
    write_events(tmp_path / "solve", events)
    pages = write_pages(tmp_path / "solve", tmp_path / "job", page_bytes=2048)
    text = "".join((tmp_path / "job" / p.name).read_text() for p in pages)
    assert all(p.bytes <= 2048 + 64 for p in pages)
    assert [int(n) for n in __import__("re").findall(r"^\[#(\d+) \+", text, flags=8)] == list(
        range(1, 62)
    )
    assert text.count("y") == 5000  # the large output is split across pages, not cut
    assert "[#61 continues on the next page]" in text and "[#61 continued]" in text
    assert pages[0].first == 1 and pages[-1].last == 61
    index = (tmp_path / "job/solve_parsed.txt").read_text()
    assert f"61 events in {len(pages)} pages" in index
    assert "trace/page-0001.txt: events 1-" in index and "+00:01:40" in index


def test_raw_stream_is_the_trace_when_there_are_no_events(tmp_path: Path) -> None:
    solve = tmp_path / "solve"
    solve.mkdir()
    (solve / "transcript.raw.jsonl").write_text(json.dumps({"t": 1, "stream": "stdout",
                                                            "line": "hello"}) + "\n")  # fmt: skip
    write_pages(solve, tmp_path / "job", 4096)
    assert "hello" in (tmp_path / "job/trace/page-0001.txt").read_text()


def test_paper_uses_the_originals_prompts_strict_ptbs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fixture = 'Judge `{model}` on `{benchmark}`.\n{allowed_data_examples}Write {"x": 1}.\n'
    cache_upstream(monkeypatch, tmp_path, "judge/prompt.txt", fixture)
    cfg = run_config("task=gsm8k", "judge=rules+llm")  # gsm8k defaults to protocol=paper
    assert upstream_prompt_keys(cfg) == ["judge/prompt.txt", "judge/prompt_api_judge.md"]
    specs = judge_specs(cfg)
    text, source = prompt_text(specs["contamination"], cfg)
    assert source == "upstream://judge/prompt.txt"
    assert text.startswith("Judge `Tiny-Qwen3 (local)` on `GSM8K`.\n- Allowed data")
    assert "  - openai/gsm8k main train split\n" in text and 'Write {"x": 1}.' in text
    text, source = prompt_text(specs["lookup"], cfg)  # the original has no lookup judge
    assert source == "ptb:lookup.md" and "benchmark_lookup" in text
    strict = run_config("task=gsm8k", "judge=rules+llm", "protocol=strict")
    assert upstream_prompt_keys(strict) == []
    text, source = prompt_text(judge_specs(strict)["api_use"], strict)
    assert source == "ptb:api_use.md" and "`Tiny-Qwen3 (local)`" in text
    assert "{model}" not in text and "disallowed_api_usage" in text


def test_missing_original_prompt_is_a_preflight_problem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ptb.preflight import check_judge

    monkeypatch.setenv("PTB_CACHE", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    problems = [str(p) for p in check_judge(run_config("task=gsm8k", "judge=rules+llm"))]
    assert any("original's prompt judge/prompt.txt, which is not cached" in p for p in problems)
    bad = run_config("judge=rules+llm", "judge.llm.votes=3", "judge.llm.need=4")
    assert any("need 1 <= need <= votes" in str(p) for p in check_judge(bad))
    bad = run_config("judge=rules+llm", "judge.llm.judges=[contamnation]")
    assert any("not in judge.llm.definitions" in str(p) for p in check_judge(bad))


def test_prefetch_lists_the_judge_prompts_under_paper() -> None:
    from ptb.prefetch import data_for

    wanted = data_for(run_config("task=gsm8k", "judge=rules+llm"))
    assert wanted[-2:] == ["upstream://judge/prompt.txt", "upstream://judge/prompt_api_judge.md"]
    assert "upstream://judge/prompt.txt" not in data_for(run_config("task=gsm8k"))


def vote(value: Any) -> dict[str, Any]:
    return {"answer": None if value is None else {"f": value, "justification_f": "r"}, "exit": {}}


@pytest.mark.parametrize(
    ("values", "need", "flagged", "failed"),
    [
        ([True, False, True], 2, True, False),
        ([True, False, False], 2, False, False),
        ([True, None, False], 2, False, True),  # the missing vote could have decided
        ([False, None, False], 2, False, False),  # two clean: flagging is out of reach
        ([True, None, None], 1, True, False),
        (["maybe", False, "unclear"], 2, True, False),  # not a boolean counts as detected
        (["no contamination detected"], 1, False, False),  # v1.0's phrase
    ],
)
def test_votes(values: list[Any], need: int, flagged: bool, failed: bool) -> None:
    found = tally("f", "contamination", [vote(v) for v in values], need, "any", {})
    assert (found.flagged, found.error is not None) == (flagged, failed), found
    assert len(found.evidence["votes"]) == len(values) and found.check == "llm_f"


def test_live_rules_reuse_the_judges(tmp_path: Path) -> None:
    cfg = run_config("task=gsm8k", "judge.live.stop_on=[api_misuse,test_download,lookup]",
                     "agent=custom", "agent.model_id=good-model")  # fmt: skip
    rules = Rules(cfg, gateway=True)

    def call(cmd: str) -> dict[str, Any]:
        return {"kind": "tool_call", "name": "Bash", "input": {"command": cmd}}

    def fired(cmd: str) -> list[str]:
        return [rule for rule, _ in rules.transcript(call(cmd))]

    assert fired("python -c \"load_dataset('openai/gsm8k', 'main', split='test')\"") == [
        "test_download"
    ]
    assert fired("python -c \"load_dataset('openai/gsm8k', 'main', split='train')\"") == []
    assert fired("git clone https://github.com/aisa-group/PostTrainBench") == ["lookup"]
    api = 'curl https://api.openai.com/v1/chat/completions -d \'{"model": "gpt-4o"}\''
    assert fired(api) == ["api_misuse"]
    assert rules.transcript({"kind": "message", "text": "split='test' openai/gsm8k"}) == []
    assert rules.gateway({"model": "gpt-4o", "allowed": False})[0][0] == "api_misuse"
    assert rules.gateway({"model": "good-model", "allowed": True}) == []
    assert rules.egress({"host": "posttrainbench.com", "allowed": True})[0][0] == "lookup"
    assert rules.egress({"host": "posttrainbench.com", "allowed": False}) == []
    assert rules.egress({"host": "api.openai.com", "allowed": True})[0][0] == "api_misuse"
    assert rules.egress({"host": "pypi.org", "allowed": True}) == []


def test_watcher_reads_only_appended_lines_and_sets_stop(tmp_path: Path) -> None:
    cfg = run_config("judge.live.stop_on=[api_misuse]", "agent=custom", "agent.model_id=m")
    run = RunDir(tmp_path / "run")
    run.solve.mkdir(parents=True)
    stop = threading.Event()
    watch = LiveWatch(run, cfg, stop, gateway=True)
    rules = Rules(cfg, gateway=True)
    log = run.solve / "gateway.jsonl"
    log.write_text(json.dumps({"model": "m", "allowed": True}) + "\n" + '{"model": "gpt-4o"')
    watch.poll(rules)
    assert not stop.is_set() and watch._tails["gateway"].offset > 0
    with log.open("a") as fh:  # the torn line completes
        fh.write(', "allowed": false}\n')
    watch.poll(rules)
    assert stop.is_set() and [h["model"] for h in watch.hits] == ["gpt-4o"]
    watch.poll(rules)
    assert len(watch.hits) == 1  # the same bytes are never read twice
