"""The settings with a fixed set of values, as enums: a wrong value (``sandbox.network=off``)
fails at compose time, before anything is planned or queued, with OmegaConf's message naming
the key and the valid values::

    Invalid value 'off', expected one of [none, egress, host, open]
        full_key: sandbox.network

They are ``StrEnum``s whose member names are their values, so the YAML files and the command line
use the plain words (``sandbox.network=none``), a loaded config compares equal to strings
(``cfg.sandbox.network == "none"``) and JSON writes them as strings. ``gateway.enabled`` is the one
choice that cannot be an enum (Hydra turns ``true`` into a bool first): its schema checks it when
the typed config is built, which is still before the preflight.
"""

from __future__ import annotations

from enum import StrEnum


class Network(StrEnum):
    """``sandbox.network``: none (loopback + the gateway relay) | egress (internet through the
    logging proxy) | host (the host's network, debugging only) | open (the older name of host)."""

    none = "none"
    egress = "egress"
    host = "host"
    open = "open"


class EvalBackend(StrEnum):
    """``task.eval.backend``: auto (vllm where importable with CUDA, else hf) | vllm | hf."""

    auto = "auto"
    vllm = "vllm"
    hf = "hf"


class CodeSandbox(StrEnum):
    """``task.eval.code_sandbox``: bwrap | apptainer; ``enclosing`` is the agent's evaluate.py's
    (the agent's own sandbox, where nested bubblewrap cannot start)."""

    bwrap = "bwrap"
    apptainer = "apptainer"
    enclosing = "enclosing"


class AgentKind(StrEnum):
    """``agent.kind``: llm (a CLI scaffold) | scripted (a fixed recipe) | baseline (eval only)."""

    llm = "llm"
    scripted = "scripted"
    baseline = "baseline"


class Login(StrEnum):
    """``agent.login``: api_key | subscription."""

    api_key = "api_key"
    subscription = "subscription"


class Baseline(StrEnum):
    """``agent.baseline`` (for ``kind: baseline``): zeroshot | fewshot | instruct."""

    zeroshot = "zeroshot"
    fewshot = "fewshot"
    instruct = "instruct"


class EvalMode(StrEnum):
    """``mode`` of ``python -m ptb.evaluate``: zeroshot (chat template) | fewshot."""

    zeroshot = "zeroshot"
    fewshot = "fewshot"


class TrackerMode(StrEnum):
    """``tracker.mode``: offline | online | disabled."""

    offline = "offline"
    online = "online"
    disabled = "disabled"


class LlmRule(StrEnum):
    """``judge.llm_rule``: any | record."""

    any = "any"
    record = "record"


class LiveRule(StrEnum):
    """``judge.live.stop_on`` entries: api_misuse | test_download | lookup."""

    api_misuse = "api_misuse"
    test_download = "test_download"
    lookup = "lookup"


GATEWAY_MODES = ("auto", "true", "false")
"""``gateway.enabled`` (checked by ``GatewayConfig.__post_init__``)."""


class Protocol(StrEnum):
    """``protocol.name``: paper (the original harness item for item) | strict (ptb's rules)."""

    paper = "paper"
    strict = "strict"


class Decoding(StrEnum):
    """``protocol.decoding``: model (the evaluated folder's generation_config.json over vLLM's
    defaults) | task (``task.eval.temperature`` / ``top_p``)."""

    model = "model"
    task = "task"


class FallbackRules(StrEnum):
    """``protocol.fallback``: paper (only the paper's rules send a run to the base score) |
    strict (every finding does)."""

    paper = "paper"
    strict = "strict"
