"""Which sampling settings an evaluation decodes with.

- ``protocol.decoding=model`` (``paper``): as the original harness, whose vLLM server runs with
  ``generation_config="auto"`` and whose client (inspect) sends only ``max_tokens``: every key of
  the *evaluated* folder's ``generation_config.json`` that vLLM reads (temperature, top_p, top_k,
  min_p, repetition_penalty) over vLLM's own defaults (T=1, top-p 1, no top-k, no min-p, no
  penalty). A base model's file sets none of them, so it is sampled at T=1; an instruct model
  gets its recommended sampling; a submission that edits its file changes its own decoding (the
  paper allowed it; ptb records the change in ``metrics.json``).
- ``protocol.decoding=task`` (``strict``): ``task.eval.temperature`` / ``top_p``, greedy unless
  a task sets otherwise; the folder's file is ignored.
- The few-shot base baseline samples at T=0.6, top-p 0.95 under both, as the paper does.

``do_sample`` and ``max_new_tokens`` in the file are ignored, as vLLM ignores them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptb.config.task import EvalSpec

VLLM_DEFAULTS: dict[str, float] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
}
"""vLLM's sampling defaults for a request that sets nothing, and the keys it takes from a
model's ``generation_config.json`` (``get_diff_sampling_param``)."""
FEWSHOT = {"temperature": 0.6, "top_p": 0.95}
"""The paper's few-shot base baseline: no chat template, sampled."""
DECODINGS = ("model", "task")


def model_settings(folder: Path) -> dict[str, float]:
    """The sampling keys vLLM reads from ``folder/generation_config.json`` (those set, not null)."""
    path = folder / "generation_config.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: data[k] for k in VLLM_DEFAULTS if data.get(k) is not None}


def choose(decoding: str, mode: str, spec: EvalSpec, folder: Path | None) -> dict[str, Any]:
    """The sampling settings (``Sampling`` keyword arguments) and where they came from
    (``source``: model | task | fewshot)."""
    if decoding not in DECODINGS:
        raise ValueError(f"protocol.decoding={decoding!r}: expected one of {', '.join(DECODINGS)}")
    if mode == "fewshot":
        return {**VLLM_DEFAULTS, **FEWSHOT, "source": "fewshot"}
    if decoding == "task" or folder is None:
        return {
            **VLLM_DEFAULTS,
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "source": "task",
        }
    settings = {**VLLM_DEFAULTS, **model_settings(folder)}
    return {
        "temperature": float(settings["temperature"]),
        "top_p": float(settings["top_p"]),
        "top_k": int(settings["top_k"]),
        "min_p": float(settings["min_p"]),
        "repetition_penalty": float(settings["repetition_penalty"]),
        "source": "model",
    }
