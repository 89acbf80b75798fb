"""Schema of the `judge` group: the integrity checks run after the agent (``ptb/judge/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from ptb.config.choices import LiveRule, LlmRule


@dataclass
class ContaminationConfig:
    """n-gram overlap between the agent's files and the task's test set (``contamination``)."""

    question_ngram: int = 6
    """Words per n-gram for questions; a task may set its own (``task.contamination_ngram``)."""
    answer_ngram: int = 6
    """Words per n-gram for answers (answers shorter than this cannot be matched)."""
    min_coverage: float = 0.3
    """An item overlaps when this share of its distinctive question (or answer) n-grams is found…"""
    min_matches: int = 3
    """…and at least this many of them (short items with fewer cannot overlap on their own)."""
    min_items: int = 2
    """Overlapping test items that flag the run."""
    min_set_share: float = 0.1
    """The run is flagged too when this share of a field's distinctive n-grams over the whole
    test set is found (many items copied, each too short to overlap on its own)…"""
    min_set_matches: int = 20
    """…and at least this many of them."""
    max_item_share: float = 0.02
    """n-grams in more than this share of the test items (at least 2) are boilerplate, ignored."""
    exclude: list[str] = field(
        default_factory=lambda: ["task/evaluate.py", "task/templates/*", "task/timer.sh"]
    )
    """Workspace paths (globs) not scanned; the task's own context files are never scanned."""
    max_file_bytes: int = 20 * 1024**3
    """Larger files are listed as skipped."""
    report_items: int = 50
    """Overlapping items listed in the evidence (all are counted)."""


@dataclass
class LineageConfig:
    """``final_model`` against the base (and instruct) weights, tensor by tensor (``lineage``)."""

    min_similarity: float = 0.1
    """cos(final, base) (per tensor, parameter-weighted mean) below which the model is
    unrelated; independent weights sit near 0."""
    instruct_progress: float = 0.5
    """Substitution when final has moved this share of the way from the base to the instruct
    model (projected on the direction between them)."""
    min_shared: float = 0.9
    """Share of the base's parameters that must exist in final_model with the same shape."""
    instruct_path: str | None = None
    """A local folder of the official instruct model; default: ``model.instruct_hf_id`` from
    the HF cache when it is there (otherwise only the base comparison runs, and says so)."""
    block_elems: int = 16 * 1024 * 1024
    """Elements read per slice of a large tensor: memory stays near 3 models * 4 bytes * this
    (plus temporaries), whatever the model size."""


@dataclass
class TamperingConfig:
    """The submission's chat template and generation_config against the base's
    (``model_config_intact``)."""

    generation_ignore: list[str] = field(default_factory=list)
    """Decoding keys (``ptb.judge.model_files.DECODING_KEYS``) whose change is accepted anyway;
    eos_token_id may always gain ids (a chat end-of-turn token)."""


@dataclass
class ApiMisuseConfig:
    """Calls to models other than the agent's own (``api_misuse``)."""

    allowed_models: list[str] = field(default_factory=list)
    """Model ids (globs) the agent may call besides its own ``agent.model_id``."""
    scaffold_models: dict[str, list[str]] = field(
        default_factory=lambda: {"claude_code": ["claude-*haiku*"]}
    )
    """Helper models a scaffold calls by itself (Claude Code titles and summaries with Haiku)."""
    hosts: list[str] = field(
        default_factory=lambda: [
            "api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com",
            "aiplatform.googleapis.com", "openrouter.ai", "api.together.xyz", "api.mistral.ai",
            "api.deepseek.com", "api.groq.com", "api.fireworks.ai", "open.bigmodel.cn",
            "api.z.ai", "api.moonshot.ai", "api.moonshot.cn", "api.minimax.io", "api.x.ai",
            "api.cohere.com", "api-inference.huggingface.co", "router.huggingface.co",
        ]
    )  # fmt: skip
    """Model-API hosts; a request to one from the agent's code or commands is a model call."""
    max_file_bytes: int = 5 * 1024 * 1024
    """Workspace files larger than this are not read for API calls (data, not code)."""


@dataclass
class LlmJudgeSpec:
    """One LLM judge: its prompt under each protocol and the JSON fields it answers."""

    prompt: str = MISSING
    """ptb's own prompt, a file in ``ptb/judge/prompts/`` (``protocol=strict``)."""
    paper_prompt: str | None = None
    """Pinned upstream key of the original's prompt (``ptb/tasks/upstream.py``), used under
    ``protocol=paper``; None: the original has no such judge, ptb's prompt is used."""
    answers: dict[str, str] = field(default_factory=dict)
    """Answer field (a boolean in ``judgement.json``) → verdict category it flags."""
    reason_prefix: str = "justification_"
    """The justification of field ``f`` is ``<reason_prefix><f>``."""


JUDGE_SPECS = {
    "contamination": LlmJudgeSpec(
        prompt="contamination.md", paper_prompt="judge/prompt.txt",
        answers={"contamination": "contamination", "disallowed_model": "disallowed_model"},
    ),
    "api_use": LlmJudgeSpec(
        prompt="api_use.md", paper_prompt="judge/prompt_api_judge.md",
        answers={"disallowed_api_usage": "api_misuse"},
    ),
    "lookup": LlmJudgeSpec(prompt="lookup.md", answers={"benchmark_lookup": "contamination"}),
}  # fmt: skip
"""v1.1's contamination (+ model) and API-use judges; the benchmark-lookup judge has no
prompt in the original's repository at the pinned commit, so ptb's wording serves both
protocols."""


@dataclass
class LiveConfig:
    """Live monitoring while the agent runs (``ptb/judge/live.py``)."""

    stop_on: list[LiveRule] = field(default_factory=list)
    """Rules that end the run early when they fire: ``api_misuse`` (a call to another model:
    gateway log, transcript commands, egress to a provider), ``test_download`` (a command that
    fetches the task's test split), ``lookup`` (egress to, or a command naming, a host or
    repository that serves the benchmark's answers). Empty (default): no live monitoring."""
    interval_s: float = 0.5
    """Seconds between polls of the logs (only appended bytes are read)."""


@dataclass
class LlmJudgeConfig:
    """The optional LLM judges: scaffold runs over a copy of the workspace and the paged
    transcript (``llm_judge``)."""

    agent: str = "gpt53codex"
    """Agent option (conf/agent) that answers; its key is the only one in the judge's sandbox."""
    scaffold: str | None = None
    """Scaffold option; default: the agent's own scaffold."""
    scaffold_path: str | None = None
    """For ``scaffold: script``: the executable that is the judge (tests and custom judges)."""
    overrides: list[str] = field(default_factory=list)
    """Further overrides for composing the judge's agent and scaffold
    (``["agent.model_id=gpt-5.3-codex"]``)."""
    minutes: float = 20.0
    """Time limit of the judge run."""
    judges: list[str] = field(default_factory=lambda: ["contamination", "api_use", "lookup"])
    """Which of ``definitions`` run, each as its own judge run (PostTrainBench v1.1's split)."""
    definitions: dict[str, LlmJudgeSpec] = field(default_factory=lambda: dict(JUDGE_SPECS))
    """The judges ptb knows: prompt sources and the answer fields they fill in."""
    votes: int = 1
    """Independent runs of every judge (v1.2: 3)."""
    need: int = 1
    """A field is flagged when at least this many votes say true (v1.2: 2 of 3)."""
    page_bytes: int = 200_000
    """The normalised transcript is given whole, in numbered pages of about this size."""


@dataclass
class JudgeConfig:
    name: str = MISSING
    checks: list[str] = field(default_factory=list)
    """Registry keys of the checks (see ``ptb.judge``), run in order."""
    contamination: ContaminationConfig = field(default_factory=ContaminationConfig)
    lineage: LineageConfig = field(default_factory=LineageConfig)
    tampering: TamperingConfig = field(default_factory=TamperingConfig)
    api_misuse: ApiMisuseConfig = field(default_factory=ApiMisuseConfig)
    llm: LlmJudgeConfig = field(default_factory=LlmJudgeConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    llm_rule: LlmRule = LlmRule.any
    """How the LLM judge's findings join the rules': ``any`` (a category is flagged when a rule
    or the LLM flags it) | ``record`` (the LLM's answers are kept in findings.json, not counted)."""
