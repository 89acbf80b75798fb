"""Schema of the `retention` group: lm-eval suites run on the final and the base model.

Retention numbers say what post-training for one benchmark cost the model elsewhere. They are
reported next to the score, never part of it, and never reach the agent (``docs/reporting.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from ptb.config.choices import EvalBackend


@dataclass
class RetentionTask:
    name: str = MISSING
    """An lm-eval task, group or tag (``mmlu``, ``arc_challenge``), built in or under
    ``include_path``."""
    shots: int | None = None
    """Few-shot examples (lm-eval's ``num_fewshot``); null: the task's own default."""
    limit: int | None = None
    """At most this many items per (sub)task, the first ones; null: all of them."""
    metric: str | None = None
    """The metric the report shows (``acc_norm``; ``metric,filter`` for a filtered one); null:
    the task's first."""


@dataclass
class RetentionConfig:
    name: str = MISSING
    tasks: list[RetentionTask] = field(default_factory=list)
    """The suite; empty: the retention stage is skipped (and needs no lm-eval)."""
    include_path: list[str] = field(default_factory=list)
    """Folders of extra lm-eval task YAMLs (lm-eval's ``TaskManager(include_path=...)``)."""
    include_defaults: bool = True
    """Index lm-eval's ~14,000 built-in tasks (6-10 s); ``false`` for local tasks only."""
    backend: EvalBackend = EvalBackend.auto
    """auto (lm-eval's vLLM backend on a GPU where vLLM imports, else HF) | vllm | hf."""
    batch_size: str = "auto"
    """lm-eval's ``batch_size`` (a number or ``auto``; vLLM batches by itself)."""
    apply_chat_template: bool = False
    """Render prompts with the model's chat template (base models have none worth using)."""
    max_model_len: int = 4096
    """vLLM's context length (prompt + generation)."""
    gpu_memory_utilization: float = 0.85
    """vLLM's share of each GPU's memory."""
    seed: int = 1234
    """lm-eval's random, numpy, torch and few-shot seeds."""
    bootstrap_iters: int = 1000
    """Bootstrap resamples for the standard error of metrics that are not means."""
