"""Batched generation with transformers: the CPU path and the GPU fallback to vLLM.

On a GPU, plain ``generate`` is bound by Python and kernel-launch overhead (~66 ms per decode
step for a 1.7B model at any batch size, where reading the weights takes ~1.2 ms). With
``static_cache`` the KV cache has a fixed shape, so transformers compiles the decode step
(``torch.compile``, CUDA graphs); prompts are sorted by length and padded to a multiple of
``pad_multiple`` so that only a few shapes are ever compiled. ``benchmarks/hf_decode.py``
measures both paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ptb.eval.backends import Sampling
from ptb.eval.render import render_chat

__all__ = ["HFGenerator", "Sampling"]


class HFGenerator:
    """Loads a model folder once and generates completions for rendered prompts."""

    def __init__(
        self,
        model_path: Path,
        chat_template: str | None = None,
        *,
        static_cache: bool | None = None,
        pad_multiple: int = 64,
        **_: Any,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.template = chat_template or str(self.tokenizer.chat_template or "")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        self.model: Any = model.to(self.device)  # type: ignore[arg-type]
        self.model.eval()
        self.static_cache = self.device == "cuda" if static_cache is None else static_cache
        self.pad_multiple = pad_multiple

    def render(
        self,
        messages: list[dict[str, str]],
        apply_chat_template: bool,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        return render_chat(self.tokenizer, self.template, messages, apply_chat_template, tools)

    def generate_kwargs(self, sampling: Sampling) -> dict[str, Any]:
        """``generate`` settings: the task's decoding, never the model folder's own defaults."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if sampling.temperature > 0:
            kwargs.update(
                do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0
            )
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.static_cache:
            kwargs["cache_implementation"] = "static"
        return kwargs

    def generate(self, prompts: list[str], sampling: Sampling, batch_size: int) -> list[str]:
        torch = self.torch
        torch.manual_seed(sampling.seed)
        kwargs = self.generate_kwargs(sampling)
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))
        outputs: dict[int, str] = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            padded = self.tokenizer.pad(
                {"input_ids": [ids[i] for i in chunk]},
                padding=True,
                pad_to_multiple_of=self.pad_multiple if self.static_cache else None,
                return_tensors="pt",
            )
            enc = {k: v.to(self.device) for k, v in padded.items()}
            with torch.inference_mode():
                out = self.model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            outputs.update(zip(chunk, texts, strict=True))
        return [outputs[i] for i in range(len(prompts))]
