"""Batched generation with transformers: the CPU path and the GPU fallback to vLLM.

``decode`` chooses the loop:

- ``generate``: plain ``model.generate`` (dynamic cache). On a GPU it is bound by Python and
  kernel launches (~27-66 ms per step for a 1.7B model at any batch size, where reading the
  weights takes ~1 ms).
- ``generate_static``: ``generate`` with ``cache_implementation="static"``, which transformers
  compiles itself.
- ``compiled``: ptb's own loop (``ptb.eval.hf_static``): static KV cache, one-token step
  compiled with CUDA graphs, batch capped to the free memory.
- ``static``: the same loop uncompiled (CPU tests of its logic).
- ``auto`` (default): ``compiled`` on a GPU, ``generate`` on a CPU.

Prompts are sorted by length (longest first) and padded to a multiple of ``pad_multiple``, so
batches waste little on padding and few shapes are compiled. ``benchmarks/hf_decode.py``
measures the loops.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ptb.eval.backends import Sampling
from ptb.eval.hf_static import StaticDecoder, bucket
from ptb.eval.render import ChatRenderer

__all__ = ["HFGenerator", "Sampling"]
DECODERS = ("generate", "generate_static", "static", "compiled")


class HFGenerator(ChatRenderer):
    """Loads a model folder once and generates completions for rendered prompts."""

    def __init__(
        self,
        model_path: Path,
        chat_template: str | None = None,
        *,
        decode: str = "auto",
        pad_multiple: int = 64,
        **_: Any,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
        self.load_tokenizer(model_path, chat_template)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        self.model: Any = model.to(self.device)  # type: ignore[arg-type]
        self.model.eval()
        if decode == "auto":
            decode = "compiled" if self.device == "cuda" else "generate"
        if decode not in DECODERS:
            raise ValueError(f"decode={decode!r}: expected one of auto, {', '.join(DECODERS)}")
        self.decode = decode
        self.pad_multiple = pad_multiple
        self.static: StaticDecoder | None = None
        if decode in ("static", "compiled"):
            self.static = StaticDecoder(self.model, compile=decode == "compiled")
        if decode in ("generate_static", "compiled"):
            _allow_recompiles(torch)

    def generate_kwargs(self, sampling: Sampling) -> dict[str, Any]:
        """``generate`` settings: exactly ``sampling`` (``ptb.eval.decoding`` chose it), never
        the defaults transformers would take from the folder's own generation config."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if sampling.temperature > 0:
            kwargs.update(
                do_sample=True,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                min_p=sampling.min_p or None,
            )
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        kwargs["repetition_penalty"] = (
            sampling.repetition_penalty if sampling.repetition_penalty != 1.0 else None
        )
        if self.decode == "generate_static":
            kwargs["cache_implementation"] = "static"
        return kwargs

    def attention(self) -> str:
        return str(self.model.config._attn_implementation)

    def eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        ids = {self.tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])}
        return sorted(i for i in ids if i is not None)

    def generate(self, prompts: list[str], sampling: Sampling, batch_size: int) -> list[str]:
        torch = self.torch
        torch.manual_seed(sampling.seed)
        ids = self.encode(prompts)
        order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))
        outputs: dict[int, str] = {}
        start = 0
        while start < len(order):
            size = batch_size
            if self.static is not None:  # the static cache must fit: cap the batch
                longest = len(ids[order[start]]) + self.pad_multiple + sampling.max_new_tokens
                size = min(batch_size, self.static.batch_limit(bucket(longest)))
            chunk = order[start : start + size]
            start += len(chunk)
            outputs.update(zip(chunk, self._chunk([ids[i] for i in chunk], sampling), strict=True))
        return [outputs[i] for i in range(len(prompts))]

    def _chunk(self, ids: list[list[int]], sampling: Sampling) -> list[str]:
        padded = self.tokenizer.pad(
            {"input_ids": ids},
            padding=True,
            pad_to_multiple_of=self.pad_multiple if self.decode != "generate" else None,
            return_tensors="pt",
        )
        enc = {k: v.to(self.device) for k, v in padded.items()}
        if self.static is not None:
            new = self.static.generate(
                enc["input_ids"],
                enc["attention_mask"],
                sampling,
                self.eos_ids(),
                int(self.tokenizer.pad_token_id),
            )
        else:
            with self.torch.inference_mode():
                out = self.model.generate(**enc, **self.generate_kwargs(sampling))
            new = out[:, enc["input_ids"].shape[1] :]
        texts: list[str] = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return texts


def _allow_recompiles(torch: Any, limit: int = 64) -> None:
    """Each (batch, cache length) shape compiles once; dynamo's default limit of 8 recompiles
    would silently fall back to eager on a long evaluation."""
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), limit))
