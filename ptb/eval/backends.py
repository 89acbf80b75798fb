"""Generation backends behind one interface: vLLM (the cluster's GPUs) and transformers (CPU,
and the GPU fallback). ``task.eval.backend`` picks one; ``auto`` takes vLLM where it imports and a
GPU is present, else transformers.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ptb.registry import Registry

BACKENDS = Registry(
    "generation backend",
    {"hf": "ptb.eval.hf:HFGenerator", "vllm": "ptb.eval.vllm:VLLMGenerator"},
)


@dataclass(frozen=True)
class Sampling:
    """One generation's decoding (``ptb.eval.decoding`` picks the values): greedy when
    ``temperature`` is 0; ``top_k`` 0 and ``min_p`` 0 switch those filters off; a
    ``repetition_penalty`` above 1 penalises every token already in the prompt or the output
    (vLLM's and transformers' rule)."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0


class Generator(Protocol):
    """Loads one model folder once; renders chats and generates completions for all prompts."""

    def render(
        self,
        messages: list[dict[str, str]],
        apply_chat_template: bool,
        tools: list[dict[str, Any]] | None = None,
    ) -> str: ...

    def generate(self, prompts: list[str], sampling: Sampling, batch_size: int) -> list[str]: ...


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_backend(name: str) -> str:
    """``auto`` → ``vllm`` where vLLM is installed and CUDA is present, else ``hf``."""
    if name != "auto":
        BACKENDS.path(name)  # unknown names fail here, with the valid ones
        return name
    if importlib.util.find_spec("vllm") is not None and cuda_available():
        return "vllm"
    return "hf"


def load_generator(name: str, model_path: Path, chat_template: str, **options: Any) -> Generator:
    cls = BACKENDS.load(resolve_backend(name))
    gen: Generator = cls(model_path, chat_template=chat_template, **options)
    return gen
