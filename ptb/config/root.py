"""The root schema: one run = one choice in every group plus run-level settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from ptb.config.agent import AgentConfig
from ptb.config.budget import BudgetConfig
from ptb.config.choices import EvalMode, Protocol
from ptb.config.gateway import GatewayConfig
from ptb.config.judge import JudgeConfig
from ptb.config.launcher import LauncherConfig
from ptb.config.model import ModelConfig
from ptb.config.protocol import ProtocolConfig
from ptb.config.retention import RetentionConfig
from ptb.config.sandbox import SandboxConfig
from ptb.config.scaffold import ScaffoldConfig
from ptb.config.task import TaskConfig
from ptb.config.tracker import TrackerConfig


@dataclass
class RunConfig:
    agent: AgentConfig = MISSING
    scaffold: ScaffoldConfig = MISSING
    model: ModelConfig = MISSING
    task: TaskConfig = MISSING
    budget: BudgetConfig = MISSING
    launcher: LauncherConfig = MISSING
    sandbox: SandboxConfig = MISSING
    judge: JudgeConfig = MISSING
    tracker: TrackerConfig = MISSING
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    """The model-API gateway (a default, so run directories saved before it existed still load)."""
    protocol: ProtocolConfig = field(default_factory=lambda: ProtocolConfig(name=Protocol.paper))
    """Evaluation and fallback rules (``conf/protocol``; a default for older run directories)."""
    retention: RetentionConfig = field(default_factory=lambda: RetentionConfig(name="none"))
    """lm-eval suites on the final and the base model (``conf/retention``; none by default)."""

    seed: int = 0
    experiment: str = "default"
    """Folder under ``results_dir`` that groups runs (one sweep, one paper table)."""
    results_dir: str = "results"
    cache_dir: str = "${oc.env:PTB_CACHE,${oc.env:HOME}/.cache/ptb}"
    """Locally built models and other reusable artefacts."""
    baseline_seed: int = 0
    """Seed of the zero-shot baseline run whose score a fallback takes."""
    force: list[str] = field(default_factory=list)
    """Stages to re-run even if done (``force=[evaluate,score]``); ``[all]`` for every stage."""
    progress: bool = True
    """Show live progress on the terminal."""
    preflight: bool = True
    """``false`` skips the checks before submission (keys, CLIs, weights in the HF cache): for a
    login node that cannot see what the compute nodes see, or a dry submission with
    ``launcher.hold=true``. Missing pieces then fail inside the jobs instead."""


@dataclass
class EvaluateCommandConfig:
    """``python -m ptb.evaluate``: evaluate any model folder on a task."""

    model: ModelConfig = MISSING
    task: TaskConfig = MISSING
    budget: BudgetConfig = MISSING
    model_path: str | None = None
    """A model folder, ``base`` (the config's base model) or ``oracle`` (reference answers)."""
    limit: int | None = None
    mode: EvalMode = EvalMode.zeroshot
    """zeroshot (chat template) | fewshot (the paper's few-shot base setting)."""
    results_dir: str | None = None
    """If set, metrics.json and samples.jsonl are written to this folder."""
    rescore: str | None = None
    protocol: ProtocolConfig = field(default_factory=lambda: ProtocolConfig(name=Protocol.paper))
    """A samples.jsonl to score again without a model (``model_path`` is then not needed)."""
    seed: int = 0
    cache_dir: str = "${oc.env:PTB_CACHE,${oc.env:HOME}/.cache/ptb}"
