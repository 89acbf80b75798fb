"""vLLM offline batched generation: the cluster's evaluation backend (``task.eval.backend=vllm``).

One ``vllm.LLM`` engine per evaluation, loaded once, takes every prompt of the task in a single
``generate`` call and schedules them itself (continuous batching, paged KV cache) — no server, no
client connections. Prompts are rendered with ptb's chat template for the model family and given
as token ids, so vLLM adds no second BOS and applies no template of its own.

Decoding follows the task config: ``generation_config="vllm"`` stops vLLM from taking defaults
out of the submitted model's ``generation_config.json`` (a submission must not choose its own
sampling). vLLM lives in the ``gpu`` extra (``vllm==0.33.0``) with its own torch pin; it is not
installed on CPU machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptb.eval.backends import Sampling
from ptb.eval.render import render_chat


def sampling_params_kwargs(sampling: Sampling) -> dict[str, Any]:
    """``vllm.SamplingParams`` arguments for a task's decoding settings."""
    kwargs: dict[str, Any] = {
        "max_tokens": sampling.max_new_tokens,
        "seed": sampling.seed,
        "skip_special_tokens": True,
    }
    if sampling.temperature > 0:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=-1)
    else:
        kwargs.update(temperature=0.0, top_p=1.0, top_k=-1)
    return kwargs


def engine_kwargs(
    model_path: Path, *, max_model_len: int | None, gpu_memory_utilization: float, seed: int
) -> dict[str, Any]:
    """``vllm.LLM`` arguments: bf16, the task's decoding only, the local folder only."""
    kwargs: dict[str, Any] = {
        "model": str(model_path),
        "tokenizer": str(model_path),
        "dtype": "bfloat16",
        "seed": seed,
        "gpu_memory_utilization": gpu_memory_utilization,
        "generation_config": "vllm",
        "trust_remote_code": False,
    }
    if max_model_len:
        kwargs["max_model_len"] = max_model_len
    return kwargs


class VLLMGenerator:
    def __init__(
        self,
        model_path: Path,
        chat_template: str | None = None,
        *,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        seed: int = 0,
        **_: Any,
    ) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise RuntimeError(
                "task.eval.backend=vllm needs vLLM (the `gpu` extra: pip install 'ptb[gpu]' in "
                "the evaluation image); use task.eval.backend=hf for the transformers fallback"
            ) from exc
        from transformers import AutoTokenizer

        self.vllm = vllm
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.template = chat_template or str(self.tokenizer.chat_template or "")
        self.engine = vllm.LLM(
            **engine_kwargs(
                model_path,
                max_model_len=max_model_len,
                gpu_memory_utilization=gpu_memory_utilization,
                seed=seed,
            )
        )

    def render(
        self,
        messages: list[dict[str, str]],
        apply_chat_template: bool,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        return render_chat(self.tokenizer, self.template, messages, apply_chat_template, tools)

    def generate(self, prompts: list[str], sampling: Sampling, batch_size: int) -> list[str]:
        """All prompts in one call; ``batch_size`` is the transformers backend's and unused."""
        params = self.vllm.SamplingParams(**sampling_params_kwargs(sampling))
        inputs = [
            {"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]}
            for p in prompts
        ]
        results = self.engine.generate(inputs, params, use_tqdm=False)
        return [r.outputs[0].text for r in results]
