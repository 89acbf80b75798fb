"""Decoding settings by protocol, sampling in the static loop, and evaluation over several seeds."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from ptb.config.model import ModelConfig
from ptb.config.task import EvalSpec, LadderStep, TaskConfig
from ptb.eval import backends, decoding, runner
from ptb.eval.backends import Sampling
from ptb.eval.hf_static import pick_tokens
from ptb.eval.runner import evaluate, rescore
from ptb.tasks.templates import protocol_template, protocol_templates
from ptb.tasks.upstream import UpstreamNotAvailable
from tests.support.upstream import cache_upstream

SPEC = EvalSpec()
QWEN_INSTRUCT = {
    "bos_token_id": 151643,
    "do_sample": True,
    "eos_token_id": [151645, 151643],
    "temperature": 0.6,
    "top_k": 20,
    "top_p": 0.95,
    "max_new_tokens": 2048,
    "transformers_version": "4.51.0",
}


def _folder(tmp_path: Path, gen: dict[str, object] | None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text("{}")
    if gen is not None:
        (tmp_path / "generation_config.json").write_text(json.dumps(gen))
    return tmp_path


def test_paper_decodes_with_the_evaluated_models_generation_config(tmp_path: Path) -> None:
    chosen = decoding.choose("model", "zeroshot", SPEC, _folder(tmp_path, QWEN_INSTRUCT))
    assert chosen == {
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 20,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "source": "model",
    }  # do_sample and max_new_tokens are ignored, as vLLM ignores them


def test_a_base_model_without_sampling_keys_gets_vllms_defaults(tmp_path: Path) -> None:
    base = {"bos_token_id": 1, "do_sample": False, "eos_token_id": 2, "temperature": None}
    for folder in (_folder(tmp_path / "a", base), _folder(tmp_path / "b", None)):
        chosen = decoding.choose("model", "zeroshot", SPEC, folder)
        assert (chosen["temperature"], chosen["top_p"], chosen["top_k"]) == (1.0, 1.0, 0)


def test_strict_and_fewshot_ignore_the_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path, QWEN_INSTRUCT)
    strict = decoding.choose("task", "zeroshot", SPEC, folder)
    assert (strict["temperature"], strict["top_k"], strict["source"]) == (0.0, 0, "task")
    for rule in ("model", "task"):
        few = decoding.choose(rule, "fewshot", SPEC, folder)
        assert (few["temperature"], few["top_p"], few["source"]) == (0.6, 0.95, "fewshot")
    with pytest.raises(ValueError, match="expected one of model, task"):
        decoding.choose("greedy", "zeroshot", SPEC, folder)


def test_hf_generate_kwargs_carry_every_sampling_setting() -> None:
    from ptb.eval.hf import HFGenerator

    gen = HFGenerator.__new__(HFGenerator)
    gen.decode = "generate"

    class Tok:
        pad_token_id, eos_token_id = 0, 1

    gen.tokenizer = Tok()
    sampled = gen.generate_kwargs(
        Sampling(64, temperature=0.6, top_p=0.95, top_k=20, min_p=0.05, repetition_penalty=1.1)
    )
    assert sampled["do_sample"] is True
    assert (sampled["top_k"], sampled["min_p"], sampled["repetition_penalty"]) == (20, 0.05, 1.1)
    greedy = gen.generate_kwargs(Sampling(64))
    assert greedy["do_sample"] is False and greedy["repetition_penalty"] is None


def _draws(logits: list[float], sampling: Sampling, n: int = 4000) -> list[int]:
    import torch

    gen = torch.Generator().manual_seed(sampling.seed)
    batch = torch.tensor([logits] * n)
    return [int(t) for t in pick_tokens(torch, batch, sampling, gen)]


def test_static_loop_sampling_filters_as_vllm() -> None:
    logits = [2.0, 1.5, 1.0, 0.0, -1.0]
    assert set(_draws(logits, Sampling(1))) == {0}  # greedy
    assert set(_draws(logits, Sampling(1, temperature=1.0, top_k=2))) == {0, 1}
    assert set(_draws(logits, Sampling(1, temperature=1.0, top_k=1))) == {0}
    # top-k first (its fast path draws among the k best only), then top-p over what is left,
    # renormalised as vLLM does: token 0 alone holds 0.506 of the three best
    assert set(_draws(logits, Sampling(1, temperature=1.0, top_k=3, top_p=0.5))) == {0}
    assert set(_draws(logits, Sampling(1, temperature=1.0, top_k=3, min_p=0.5))) == {0, 1}
    # min-p 0.5: only tokens with at least half the top token's probability (e^-0.5 = 0.61)
    assert set(_draws(logits, Sampling(1, temperature=1.0, min_p=0.5))) == {0, 1}
    # top-p 0.5 keeps the smallest prefix reaching half the mass: tokens 0 and 1 here
    assert set(_draws(logits, Sampling(1, temperature=1.0, top_p=0.5))) == {0, 1}
    everything = _draws(logits, Sampling(1, temperature=1.0))
    assert set(everything) == {0, 1, 2, 3, 4}
    import math

    expected = math.exp(2.0) / sum(math.exp(x) for x in logits)  # 0.463
    assert abs(everything.count(0) / len(everything) - expected) < 0.03
    assert _draws(logits, Sampling(1, temperature=1.0, seed=3)) == _draws(
        logits, Sampling(1, temperature=1.0, seed=3)
    )


def test_repetition_penalty_discourages_seen_tokens() -> None:
    import torch

    logits = torch.tensor([[2.0, 1.9, -1.0]])
    seen = torch.tensor([[True, False, True]])
    gen = torch.Generator().manual_seed(0)
    plain = pick_tokens(torch, logits, Sampling(1), gen, seen)
    penalised = pick_tokens(torch, logits, Sampling(1, repetition_penalty=1.2), gen, seen)
    assert (int(plain), int(penalised)) == (0, 1)  # 2.0 / 1.2 < 1.9


TASK = TaskConfig(
    name="toy_calls",
    display_name="t",
    impl="toy_calls",
    test_source="g",
    size={"train": 100, "test": 12},
    eval=EvalSpec(ladder=[LadderStep(max_new_tokens=8, attempts=1)], seeds=3),
)
MODEL = ModelConfig(
    name="tiny", display_name="t", chat_template="tiny_chatml", builder="tiny_qwen3"
)


class SeededGenerator:
    """Answers correctly on a share of the items that depends on the seed; records sampling."""

    def __init__(self, oracle: list[str]) -> None:
        self.oracle = oracle
        self.seen: list[Sampling] = []

    def render(self, messages: list[dict[str, str]], apply: bool, tools: object = None) -> str:
        return messages[-1]["content"]

    def generate(self, prompts: list[str], sampling: Sampling, batch_size: int) -> list[str]:
        self.seen.append(sampling)
        right = 4 + 2 * sampling.seed  # seeds 0, 1, 2 get 4, 6, 8 of 12 right
        return [o if k < right else "no" for k, o in enumerate(self.oracle)]


def test_several_seeds_report_mean_std_and_each_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ptb.tasks import load_task

    task = load_task(TASK, "paper")
    oracle = [task.oracle_output(i) for i in task.test_items()]
    fake = SeededGenerator(oracle)
    monkeypatch.setattr(backends, "load_generator", lambda *a, **k: fake)
    folder = _folder(tmp_path / "model", QWEN_INSTRUCT)
    result = evaluate(TASK, MODEL, folder, protocol="paper")
    assert result.status == "ok"
    assert [s.seed for s in fake.seen] == [0, 1, 2]
    assert {(s.temperature, s.top_k) for s in fake.seen} == {(0.6, 20)}
    assert result.info["decoding"]["source"] == "model"
    scores = [4 / 12, 6 / 12, 8 / 12]
    assert result.score == pytest.approx(statistics.mean(scores))
    assert result.info["score_std"] == pytest.approx(statistics.stdev(scores))
    assert [r["score"] for r in result.info["seed_scores"]] == pytest.approx(scores)
    assert [a["seed"] for a in result.attempts] == [0, 1, 2]
    assert sorted({s["seed"] for s in result.samples}) == [0, 1, 2]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(s) + "\n" for s in result.samples))
    again = rescore(TASK, samples, "paper")
    assert again.score == pytest.approx(result.score)
    assert again.info["score_std"] == pytest.approx(result.info["score_std"])


def test_strict_decodes_greedily_whatever_the_folder_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = SeededGenerator(["x"] * 12)
    monkeypatch.setattr(backends, "load_generator", lambda *a, **k: fake)
    one = TaskConfig(**{**TASK.__dict__, "eval": EvalSpec(ladder=TASK.eval.ladder)})
    result = evaluate(one, MODEL, _folder(tmp_path, QWEN_INSTRUCT), protocol="strict")
    assert [(s.temperature, s.top_k) for s in fake.seen] == [(0.0, 0)]
    assert "score_std" not in result.info and result.info["scores"] == {"strict": 0.0}
    assert runner.default_decoding("strict") == "task"


def test_paper_templates_are_the_originals_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(UpstreamNotAvailable, match=r"python -m ptb\.prefetch") as err:
        monkeypatch.setenv("PTB_CACHE", str(tmp_path / "empty"))
        protocol_template("qwen3", "paper")
    assert err.value.reason == "data"  # the site's cache, not the model: the stage fails
    cache = tmp_path / "cache"
    cache_upstream(monkeypatch, cache, "templates/gemma3.jinja", "GEMMA {{ messages }}")
    cache_upstream(monkeypatch, cache, "templates/gemma3_tool_calling.jinja", "TOOLS {{ tools }}")
    assert protocol_template("gemma3", "paper") == "GEMMA {{ messages }}"
    assert protocol_template("gemma3", "paper", tools=True) == "TOOLS {{ tools }}"
    assert protocol_template("gemma3", "strict") != "GEMMA {{ messages }}"  # ptb's own
    assert protocol_template("tiny_chatml", "paper") == protocol_template("tiny_chatml", "strict")
    assert sorted(protocol_templates("gemma3", "paper")) == [
        "gemma3.jinja",
        "gemma3_tool_calling.jinja",
    ]
    assert sorted(protocol_templates("gemma3", "strict")) == ["gemma3.jinja"]


def test_preflight_names_the_uncached_upstream_templates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ptb.preflight import _upstream_templates

    monkeypatch.setenv("PTB_CACHE", str(tmp_path))
    problems = [str(p) for p in _upstream_templates("gemma3", "paper")]
    assert len(problems) == 2 and "gemma3_tool_calling.jinja" in problems[1]
    assert "python -m ptb.prefetch" in problems[0] and "protocol=strict" in problems[0]
    assert _upstream_templates("gemma3", "strict") == []
    assert _upstream_templates("tiny_chatml", "paper") == []
    cache_upstream(monkeypatch, tmp_path, "templates/gemma3.jinja", "x")
    cache_upstream(monkeypatch, tmp_path, "templates/gemma3_tool_calling.jinja", "y")
    assert _upstream_templates("gemma3", "paper") == []


def test_gpqa_paper_shuffles_its_choices_per_evaluation_seed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The original's GPQA shuffle was unseeded: each evaluation seed gets its own choice order
    (targets and prompts), and rescore= scores each seed's rows against that seed's items."""
    from tests.support.tasks import task_config

    cfg = task_config("gpqa", seeds=6)
    cfg.eval.ladder = [LadderStep(max_new_tokens=8, attempts=1)]
    fake = SeededGenerator([])
    fake.generate = lambda prompts, sampling, batch_size: ["ANSWER: A"] * len(prompts)  # type: ignore[method-assign]
    monkeypatch.setattr(backends, "load_generator", lambda *a, **k: fake)
    result = evaluate(cfg, MODEL, _folder(tmp_path / "m", None), protocol="paper")
    assert result.status == "ok"
    by_seed: dict[int, list[str]] = {}
    for row in result.samples:
        by_seed.setdefault(row["seed"], []).append(row["target"])
    assert len(by_seed) == 6 and len({tuple(t) for t in by_seed.values()}) > 1
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(s) + "\n" for s in result.samples))
    again = rescore(cfg, samples, "paper")
    assert again.score == pytest.approx(result.score)
    assert [r["score"] for r in again.info["seed_scores"]] == [
        r["score"] for r in result.info["seed_scores"]
    ]
    strict = evaluate(cfg, MODEL, _folder(tmp_path / "m", None), protocol="strict")
    targets = {tuple(r["target"] for r in strict.samples if r["seed"] == s) for s in range(6)}
    assert len(targets) == 1  # strict's order is fixed by the record id
