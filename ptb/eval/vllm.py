"""vLLM offline batched generation: the cluster's evaluation backend (``task.eval.backend=vllm``).

One ``vllm.LLM`` engine per evaluation, loaded once, takes every prompt of the task in a single
``generate`` call and schedules them itself (continuous batching, paged KV cache) — no server, no
client connections. Prompts are rendered with ptb's chat template for the model family and given
as token ids, so vLLM adds no second BOS and applies no template of its own.

Decoding is given in full with every request (``ptb.eval.decoding`` resolves it: under
``protocol=paper`` from the evaluated folder's ``generation_config.json`` over vLLM's defaults,
exactly what the original's ``generation_config="auto"`` server does for a request that sends only
``max_tokens``; under ``strict`` from the task config). The engine itself runs with
``generation_config="vllm"``, so nothing is taken from the folder behind ptb's back.

vLLM lives in the ``gpu`` extra (``vllm==0.33.0``) with its own torch pin; it is not installed
on CPU machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptb.eval.backends import Sampling
from ptb.eval.render import ChatRenderer


def sampling_params_kwargs(sampling: Sampling) -> dict[str, Any]:
    """``vllm.SamplingParams`` arguments for a task's decoding settings."""
    kwargs: dict[str, Any] = {
        "max_tokens": sampling.max_new_tokens,
        "seed": sampling.seed,
        "skip_special_tokens": True,
    }
    if sampling.temperature > 0:
        kwargs.update(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else -1,
            min_p=sampling.min_p,
        )
    else:
        kwargs.update(temperature=0.0, top_p=1.0, top_k=-1)
    kwargs["repetition_penalty"] = sampling.repetition_penalty
    return kwargs


def model_len(ids: list[list[int]], max_new_tokens: int, fixed: int | None) -> int:
    """The engine's context length: the longest prompt plus the new tokens, rounded up to 256
    (so vLLM reserves no KV space for a model's full 40k-128k context), unless one is fixed."""
    if fixed:
        return fixed
    longest = max((len(i) for i in ids), default=0)
    return -(-(longest + max_new_tokens) // 256) * 256


def _free_gpu() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


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


class VLLMGenerator(ChatRenderer):
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
        from transformers import AutoConfig

        self.vllm = vllm
        AutoConfig.from_pretrained(model_path)  # a broken folder fails here, not per attempt
        self.load_tokenizer(model_path, chat_template)
        self.model_path = model_path
        self.gpu_memory_utilization, self.seed = gpu_memory_utilization, seed
        self.max_model_len = max_model_len
        self.engine: Any = None
        self.engine_len = 0

    def generate(self, prompts: list[str], sampling: Sampling, batch_size: int) -> list[str]:
        """All prompts in one call; ``batch_size`` is the transformers backend's and unused."""
        params = self.vllm.SamplingParams(**sampling_params_kwargs(sampling))
        ids = self.encode(prompts)
        self._engine(model_len(ids, sampling.max_new_tokens, self.max_model_len))
        inputs = [{"prompt_token_ids": i} for i in ids]
        results = self.engine.generate(inputs, params, use_tqdm=False)
        return [r.outputs[0].text for r in results]

    def _engine(self, needed: int) -> None:
        """Start the engine (once) with a context just long enough for these prompts and this
        rung of the ladder; a later, lower rung reuses it."""
        if self.engine is not None and needed <= self.engine_len:
            return
        self.engine = None
        _free_gpu()
        self.engine = self.vllm.LLM(
            **engine_kwargs(
                self.model_path,
                max_model_len=needed,
                gpu_memory_utilization=self.gpu_memory_utilization,
                seed=self.seed,
            )
        )
        self.engine_len = needed
