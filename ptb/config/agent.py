"""Schema of the `agent` group: the LLM (or scripted stand-in) that does the post-training."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from ptb.config.choices import AgentKind, Baseline, Login


@dataclass
class RecipeConfig:
    """Hyper-parameters of a scripted training agent (``kind: scripted``)."""

    script: str = "sft"
    """Name of the recipe script shipped in ``ptb/scaffolds/recipes/`` (without ``.py``)."""
    learning_rate: float = 8e-3
    batch_size: int = 32
    max_steps: int = 800
    """Optimiser steps; the recipe also stops when ``max_minutes`` or the time budget runs out."""
    max_minutes: float = 3.0
    warmup_steps: int = 20
    max_train_examples: int = 4000
    seed: int = 0


@dataclass
class AgentConfig:
    name: str = MISSING
    """The option name (``opus46``); must equal the config file's stem."""
    kind: AgentKind = AgentKind.llm
    """llm (driven by a CLI scaffold) | scripted (a fixed recipe) | baseline (eval only)."""
    provider: str | None = None
    """anthropic | openai | google | zhipu | moonshot | minimax | local."""
    model_id: str | None = None
    """The provider's model id, as sent on the wire."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key. Never the key itself."""
    base_url: str | None = None
    """Endpoint override (vendor-compatible endpoint, local vLLM server, test server)."""
    reasoning_effort: str | None = None
    """Passed to scaffolds that have it (Claude ``--effort``, Codex ``model_reasoning_effort``,
    OpenCode ``--variant``); others ignore it."""
    login: Login = Login.api_key
    """api_key | subscription: ``api_key_env`` then names a subscription token (Claude:
    ``CLAUDE_CODE_OAUTH_TOKEN``) or ``credentials_file`` a login file (Codex ``auth.json``)."""
    credentials_file: str | None = None
    """Host path of a subscription login file copied into the run for this agent only."""
    baseline: Baseline | None = None
    """For ``kind: baseline``: zeroshot | fewshot | instruct."""
    recipe: RecipeConfig | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    """Non-secret environment for the scaffold (e.g. vendor switches)."""
