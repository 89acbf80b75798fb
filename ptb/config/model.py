"""Schema of the `model` group: the base model to post-train."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    display_name: str = MISSING
    hf_id: str | None = None
    """Base model on the Hugging Face hub (None for locally built models)."""
    revision: str | None = None
    """Pinned hub revision (commit sha or tag); None takes ``main``."""
    instruct_hf_id: str | None = None
    """The official instruct model: the ``baseline_instruct`` reference and a lineage check."""
    chat_template: str = MISSING
    """Chat-template family (qwen3 | smollm3 | gemma3 | tiny_chatml), never guessed from a path."""
    builder: str | None = None
    """For locally built models: registry key of the builder in ``ptb.models``."""
    params_b: float | None = None
