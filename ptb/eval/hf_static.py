"""Fast decoding for the transformers backend on a GPU: a static KV cache and a compiled step.

``model.generate`` spends most of a decode step in Python and kernel launches (~27-66 ms for a
1.7B model at any batch size, against ~1 ms to read the weights). Here the KV cache has a fixed
shape per (batch, length bucket), the one-token forward is compiled with ``torch.compile``
(``reduce-overhead``: CUDA graphs, so a step is one graph launch), and the loop around it does
only a pick of the next token and a stop check every few steps. The prompt's prefill runs
uncompiled. Caches are reused (reset) across chunks of the same shape, so a whole evaluation
compiles a few shapes only; the batch is capped so the cache fits in free GPU memory.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from ptb.eval.backends import Sampling

log = logging.getLogger(__name__)

LENGTH_BUCKET = 256
"""Cache lengths are rounded up to this, so different prompt lengths share a compiled graph."""
STOP_CHECK_EVERY = 8
"""Steps between checks whether every sequence has ended (each check waits for the GPU)."""
MEMORY_SHARE = 0.7
"""Share of free GPU memory the KV cache may take when the batch size is capped."""


def bucket(n: int, size: int = LENGTH_BUCKET) -> int:
    return -(-n // size) * size


def kv_bytes_per_token(config: Any, dtype_bytes: int = 2) -> int:
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    return int(text.num_hidden_layers * 2 * kv_heads * head_dim * dtype_bytes)


def max_batch(free_bytes: int, per_token: int, cache_len: int, share: float = MEMORY_SHARE) -> int:
    """The most sequences whose static cache of ``cache_len`` fits in ``share`` of free memory."""
    return max(1, int(free_bytes * share) // (per_token * cache_len))


ATTENTION = "ptb_gqa_sdpa"


def gqa_sdpa(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """SDPA attention that, for one new token, never copies the KV cache per query head.

    transformers' SDPA path repeats every key/value head for its query heads (``repeat_kv``)
    whenever a mask is given, which under ``torch.compile`` it always is: for Qwen3-1.7B at
    batch 128 that writes and reads twice the whole cache each step, the largest cost of a step.
    With one query position, the query heads of a group can stand in for query *positions* of
    their shared key/value head instead, and plain SDPA does the rest.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    if query.shape[2] != 1 or groups == 1:
        return sdpa_attention_forward(
            module,
            query,
            key,
            value,
            attention_mask,
            dropout=dropout,
            scaling=scaling,
            is_causal=is_causal,
            **kwargs,
        )
    batch, heads, _, dim = query.shape
    q = query.reshape(batch, key.shape[1], groups, dim)
    mask = attention_mask
    if mask is not None:
        mask = mask[:, :, -1:, : key.shape[2]].expand(batch, 1, groups, key.shape[2])
    out = torch.nn.functional.scaled_dot_product_attention(
        q, key, value, attn_mask=mask, scale=scaling
    )
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def use_gqa_sdpa(model: Any) -> bool:
    """Switch ``model`` to :func:`gqa_sdpa` (registered once); False where it cannot be."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(ATTENTION, gqa_sdpa)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(ATTENTION)
    else:
        model.config._attn_implementation = ATTENTION
    return True


def pick_tokens(
    torch: Any, logits: Any, sampling: Sampling, generator: Any, seen: Any = None
) -> Any:
    """The next token of each sequence from the last position's logits, as vLLM samples:
    repetition penalty (over ``seen``, a (batch, vocab) mask of the prompt's and output's
    tokens), then greedy, or temperature, min-p, top-k and top-p (nucleus) filtering and a draw."""
    if seen is not None and sampling.repetition_penalty != 1.0:
        penalty = sampling.repetition_penalty
        logits = torch.where(
            seen, torch.where(logits > 0, logits / penalty, logits * penalty), logits
        )
    if sampling.temperature <= 0:
        return logits.argmax(dim=-1)
    if 0 < sampling.top_k < logits.shape[-1]:  # filter the k best only: no sort of the vocab
        values, index = logits.topk(sampling.top_k, dim=-1)
        pick = _draw(torch, values, sampling, generator, ordered=True)
        return index.gather(-1, pick[:, None]).squeeze(-1)
    return _draw(torch, logits, sampling, generator, ordered=False)


def _draw(torch: Any, logits: Any, sampling: Sampling, generator: Any, ordered: bool) -> Any:
    """Temperature, min-p and top-p over ``logits`` (sorted best first when ``ordered``), then
    one draw per row: an index into ``logits``' last dimension."""
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    if sampling.min_p > 0:
        floor = probs.amax(dim=-1, keepdim=True) * sampling.min_p
        probs = probs.masked_fill(probs < floor, 0.0)
    if sampling.top_p < 1.0:
        if ordered:
            sorted_p = probs
        else:
            sorted_p, order = probs.sort(dim=-1, descending=True)
        total = sorted_p.sum(dim=-1, keepdim=True)
        outside = sorted_p.cumsum(dim=-1) - sorted_p > sampling.top_p * total
        sorted_p = sorted_p.masked_fill(outside, 0.0)
        probs = sorted_p if ordered else torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class StaticDecoder:
    def __init__(self, model: Any, *, compile: bool = True) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.compile = compile
        self._step = (
            torch.compile(model.__call__, mode="reduce-overhead", fullgraph=False, dynamic=False)
            if compile
            else model.__call__
        )
        self._caches: dict[tuple[int, int], Any] = {}
        self.attention = ATTENTION if use_gqa_sdpa(model) else model.config._attn_implementation
        self.per_token = kv_bytes_per_token(model.config)
        params = inspect.signature(model.forward).parameters
        self.cache_kwarg = "cache" if "cache" in params else "past_key_values"
        """transformers renamed ``past_key_values`` to ``cache`` (5.2x); take what it has."""

    def batch_limit(self, cache_len: int) -> int:
        torch = self.torch
        if not torch.cuda.is_available():
            return 1 << 30
        free, _ = torch.cuda.mem_get_info()
        return max_batch(free, self.per_token, cache_len)

    def _cache(self, batch: int, length: int) -> Any:
        from transformers import StaticCache

        key = (batch, length)
        cache = self._caches.get(key)
        if cache is None:
            self._caches.clear()  # one shape at a time: free the last one's memory first
            cache = StaticCache(config=self.model.config, max_cache_len=length)
            self._caches[key] = cache
        else:
            cache.reset()
        return cache

    def generate(
        self,
        input_ids: Any,
        pad_mask: Any,
        sampling: Sampling,
        eos_ids: list[int],
        pad_id: int,
    ) -> Any:
        """New tokens for a left-padded batch: a (batch, steps) tensor, ``pad_id`` after EOS."""
        torch = self.torch
        batch, prompt_len = input_ids.shape
        length = bucket(prompt_len + sampling.max_new_tokens)
        device = input_ids.device
        mask = torch.ones(batch, length, dtype=pad_mask.dtype, device=device)
        mask[:, :prompt_len] = pad_mask
        positions = (pad_mask.long().cumsum(-1) - 1).clamp(min=0)
        gen = torch.Generator(device=device).manual_seed(sampling.seed)
        eos = torch.tensor(eos_ids, device=device)
        with torch.no_grad():
            cache = self._cache(batch, length)
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                cache_position=torch.arange(prompt_len, device=device),
                use_cache=True,
                **{self.cache_kwarg: cache},
            )
            logits = out.logits[:, -1, :]
            position = positions[:, -1:] + 1
            done = torch.zeros(batch, dtype=torch.bool, device=device)
            seen = None
            if sampling.repetition_penalty != 1.0:
                seen = torch.zeros(batch, logits.shape[-1], dtype=torch.bool, device=device)
                real = torch.where(pad_mask.bool(), input_ids, input_ids[:, -1:])  # left pad
                seen.scatter_(1, real, True)
            tokens = []
            for step in range(sampling.max_new_tokens):
                tok = pick_tokens(torch, logits, sampling, gen, seen)
                tok = torch.where(done, torch.full_like(tok, pad_id), tok)
                if seen is not None:
                    seen.scatter_(1, tok[:, None], True)
                tokens.append(tok)
                done = done | torch.isin(tok, eos)
                last = step == sampling.max_new_tokens - 1
                if last or (step % STOP_CHECK_EVERY == STOP_CHECK_EVERY - 1 and bool(done.all())):
                    break
                logits = self._decode(tok[:, None], position, prompt_len + step, mask, cache)
                position = position + 1
        return torch.stack(tokens, dim=1)

    def _decode(self, tok: Any, position: Any, index: int, mask: Any, cache: Any) -> Any:
        torch = self.torch
        if self.compile:
            torch.compiler.cudagraph_mark_step_begin()
        out = self._step(
            input_ids=tok,
            attention_mask=mask,
            position_ids=position,
            cache_position=torch.tensor([index], device=tok.device),
            use_cache=True,
            **{self.cache_kwarg: cache},
        )
        return out.logits[:, -1, :].clone()
