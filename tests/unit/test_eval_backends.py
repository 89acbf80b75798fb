"""Backends (selection, the vLLM mapping without vLLM), chat templates by family, the static
decoder's helpers and the record of a submission's own settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ptb.eval import backends
from ptb.eval.backends import Sampling, resolve_backend
from ptb.eval.hf_static import bucket, kv_bytes_per_token, max_batch
from ptb.eval.render import render_chat
from ptb.eval.runner import submission_info
from ptb.eval.vllm import VLLMGenerator, engine_kwargs, model_len, sampling_params_kwargs
from ptb.registry import UnknownNameError
from ptb.tasks.templates import families, load_template
from tests.support.repo import REPO

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]


@pytest.fixture(scope="module")
def tokenizer() -> object:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"<unk>": 0, "<bos>": 1, "<eos>": 2}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>")


def test_every_model_config_names_a_shipped_template() -> None:
    for path in (REPO / "conf" / "model").glob("*.yaml"):
        family = OmegaConf.load(path)["chat_template"]
        assert family in families(), f"{path.name}: no ptb/tasks/templates/{family}.jinja"


def test_qwen3_template(tokenizer: object) -> None:
    text = render_chat(tokenizer, load_template("qwen3"), CHAT, True, TOOLS)
    assert text.startswith("<|im_start|>system\nBe brief.\n\n# Tools")
    assert '<tools>\n{"type": "function"' in text and "<tool_call>" in text
    assert text.endswith("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n")


def test_gemma3_template(tokenizer: object) -> None:
    text = render_chat(tokenizer, load_template("gemma3"), CHAT, True)
    assert (
        text
        == "<bos><start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\n"
    )
    with_tools = render_chat(tokenizer, load_template("gemma3"), CHAT, True, TOOLS)
    assert '"name": "f"' in with_tools and with_tools.count("<start_of_turn>user") == 1


def test_smollm3_template(tokenizer: object) -> None:
    text = render_chat(tokenizer, load_template("smollm3"), CHAT[1:], True)
    assert text.startswith("<|im_start|>system\n## Metadata\n\n")
    assert "Reasoning Mode: /think" in text and "named SmolLM" in text
    assert text.endswith("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n")
    custom = render_chat(tokenizer, load_template("smollm3"), CHAT, True, TOOLS)
    assert "Be brief." in custom and "### Tools" in custom


def test_templates_without_tools_get_them_in_a_system_turn(tokenizer: object) -> None:
    text = render_chat(tokenizer, load_template("tiny_chatml"), CHAT[1:], True, TOOLS)
    assert text.startswith("<|im_start|>system\nYou may call one of these functions")
    plain = render_chat(tokenizer, "", CHAT, False, TOOLS)  # few-shot base: no template
    assert plain.startswith("Be brief.\n\nYou may call") and plain.endswith("Hi there\n\n")


def test_backend_selection() -> None:
    assert resolve_backend("auto") == "hf"  # no vLLM, no GPU here
    assert resolve_backend("vllm") == "vllm"
    with pytest.raises(UnknownNameError, match="Did you mean 'vllm'"):
        resolve_backend("vlm")


def test_vllm_sampling_and_engine_follow_the_task_not_the_model_folder() -> None:
    greedy = sampling_params_kwargs(Sampling(16000, seed=3))
    assert greedy == {
        "max_tokens": 16000,
        "seed": 3,
        "skip_special_tokens": True,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": -1,
        "repetition_penalty": 1.0,
    }
    sampled = sampling_params_kwargs(Sampling(4000, temperature=0.6, top_p=0.95))
    assert (sampled["temperature"], sampled["top_p"], sampled["top_k"]) == (0.6, 0.95, -1)
    qwen = sampling_params_kwargs(
        Sampling(4000, temperature=0.6, top_p=0.95, top_k=20, min_p=0.05, repetition_penalty=1.1)
    )
    assert (qwen["top_k"], qwen["min_p"], qwen["repetition_penalty"]) == (20, 0.05, 1.1)
    engine = engine_kwargs(Path("/m"), max_model_len=None, gpu_memory_utilization=0.8, seed=0)
    assert engine["generation_config"] == "vllm"  # the submission's generation_config is ignored
    assert engine["dtype"] == "bfloat16" and "max_model_len" not in engine


def test_vllm_backend_without_vllm_says_how_to_get_it() -> None:
    with pytest.raises(RuntimeError, match="the `gpu` extra"):
        VLLMGenerator(Path("/nonexistent"))


def test_vllm_missing_is_an_infra_failure_not_the_models(tmp_path: Path) -> None:
    from ptb.config.model import ModelConfig
    from ptb.eval.runner import evaluate
    from ptb.failures import InfraError
    from tests.support.tasks import task_config

    (tmp_path / "config.json").write_text("{}")
    model = ModelConfig(name="q", display_name="q", chat_template="qwen3")
    # strict: ptb's own qwen3 template (paper's comes from the prefetched upstream file)
    with pytest.raises(InfraError, match=r"cannot load model.*vLLM") as err:
        evaluate(task_config("gsm8k", backend="vllm"), model, tmp_path, limit=1, protocol="strict")
    assert err.value.reason == "environment"


def test_static_decoder_sizes() -> None:
    assert bucket(1) == 256 and bucket(256) == 256 and bucket(257) == 512

    class Cfg:
        num_hidden_layers, num_attention_heads, num_key_value_heads = 28, 16, 8
        hidden_size, head_dim = 2048, 128

    per_token = kv_bytes_per_token(Cfg())
    assert per_token == 28 * 2 * 8 * 128 * 2  # Qwen3-1.7B: 112 KiB a token
    assert max_batch(80 << 30, per_token, 16384, share=0.7) == 32
    assert max_batch(1 << 20, per_token, 16384) == 1


def test_submission_settings_recorded_against_the_base(tmp_path: Path) -> None:
    base, sub = tmp_path / "base", tmp_path / "sub"
    for folder in (base, sub):
        folder.mkdir()
    (base / "generation_config.json").write_text(json.dumps({"temperature": 0.7, "top_p": 0.8}))
    (sub / "generation_config.json").write_text(json.dumps({"temperature": 0.0, "top_p": 0.8}))
    (sub / "chat_template.jinja").write_text("{{ messages }}")
    info = submission_info(sub, base, load_template("qwen3"))
    assert info["submission_template_differs"] and info["template_differs_from_base"]
    assert info["generation_config_differs_from_base"]
    assert info["generation_config_changes"] == {"temperature": {"base": 0.7, "submission": 0.0}}
    same = submission_info(base, base, load_template("qwen3"))
    assert (
        not same["generation_config_differs_from_base"] and not same["template_differs_from_base"]
    )


def test_backends_registry_lists_both() -> None:
    assert backends.BACKENDS.names() == ["hf", "vllm"]


def test_vllm_generator_flow_with_a_stand_in_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The engine starts once, sized to the prompts, takes token ids and the task's sampling."""
    import types

    from ptb.models.tiny import build_tiny_qwen3

    engines: list[dict[str, object]] = []
    calls: list[tuple[list[dict[str, list[int]]], dict[str, object]]] = []

    class LLM:
        def __init__(self, **kwargs: object) -> None:
            engines.append(kwargs)

        def generate(
            self, inputs: list[dict[str, list[int]]], params: object, use_tqdm: bool
        ) -> list[object]:
            calls.append((inputs, params.kwargs))  # type: ignore[attr-defined]
            out = types.SimpleNamespace(text="ANSWER: 1")
            return [types.SimpleNamespace(outputs=[out]) for _ in inputs]

    class SamplingParams:
        def __init__(self, **kwargs: object) -> None:
            self.kwargs = kwargs

    monkeypatch.setitem(
        sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams)
    )
    path = build_tiny_qwen3(tmp_path)
    gen = VLLMGenerator(path, load_template("tiny_chatml"), gpu_memory_utilization=0.5, seed=7)
    assert engines == []  # lazily started
    prompt = gen.render([{"role": "user", "content": "Hi"}], True)
    assert gen.generate([prompt, prompt], Sampling(300, seed=7), batch_size=1) == ["ANSWER: 1"] * 2
    gen.generate([prompt], Sampling(100), batch_size=1)  # a lower rung: same engine
    assert len(engines) == 1
    assert engines[0]["max_model_len"] == 512 and engines[0]["generation_config"] == "vllm"
    assert engines[0]["gpu_memory_utilization"] == 0.5 and engines[0]["seed"] == 7
    inputs, params = calls[0]
    assert (
        inputs[0]["prompt_token_ids"]
        == gen.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    )
    assert params["max_tokens"] == 300 and params["temperature"] == 0.0


def test_vllm_context_length() -> None:
    assert model_len([[1] * 100, [1] * 700], 16000, None) == 16896
    assert model_len([[1]], 10, 4096) == 4096
