"""Schema of the `task` group: the target benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class LadderStep:
    """One rung of the evaluation retry ladder: ``attempts`` tries at ``max_new_tokens``."""

    max_new_tokens: int = MISSING
    attempts: int = 1


@dataclass
class EvalSpec:
    num_fewshot: int = 0
    apply_chat_template: bool = True
    temperature: float = 0.0
    top_p: float = 1.0
    n_items: int | None = None
    """Size of the held-out set the paper reports (checked against the data when loaded)."""
    dev_limit: int = 50
    """Items used by ``evaluate.py --limit`` when the agent gives no number."""
    metric: str = "exact_match"
    ladder: list[LadderStep] = field(default_factory=list)
    batch_size: int = 64
    judge_model: str | None = None
    """For judged tasks: the judge model id (reached through an OpenAI-compatible endpoint)."""
    judge_api_key_env: str | None = None


@dataclass
class TaskConfig:
    name: str = MISSING
    display_name: str = MISSING
    impl: str = MISSING
    """Registry key of the task implementation (see ``ptb.tasks``)."""
    test_source: str = MISSING
    """Where the held-out items come from (hub id + split, a package file, ``generated``)."""
    allowed_training_data: list[str] = field(default_factory=list)
    """Human-readable allow-list given to the agent and to the contamination check."""
    contamination_source: str | None = None
    contamination_ngram: int | None = None
    """Words per question n-gram in the contamination check; None: ``judge.contamination``'s.
    The data it may overlap with is ``Task.allowed_items()`` (by default the train items)."""
    eval: EvalSpec = field(default_factory=EvalSpec)
    size: dict[str, int] = field(default_factory=dict)
    """Sizes of generated splits (local tasks only)."""
