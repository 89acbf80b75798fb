"""Config schemas, one module per group, registered in Hydra's ConfigStore.

Each YAML option in ``conf/<group>/`` starts from the group's ``base_<group>`` schema, so a
misspelt key or a wrong type fails at compose time with the key's name.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from ptb.config.agent import AgentConfig, RecipeConfig
from ptb.config.budget import BudgetConfig
from ptb.config.gateway import GatewayConfig
from ptb.config.judge import JudgeConfig
from ptb.config.launcher import LauncherConfig
from ptb.config.model import ModelConfig
from ptb.config.protocol import PROTOCOLS, ProtocolConfig
from ptb.config.retention import RetentionConfig, RetentionTask
from ptb.config.root import EvaluateCommandConfig, RunConfig
from ptb.config.sandbox import SandboxConfig
from ptb.config.scaffold import ScaffoldConfig
from ptb.config.task import EvalSpec, LadderStep, TaskConfig
from ptb.config.tracker import TrackerConfig

GROUP_SCHEMAS: dict[str, type] = {
    "agent": AgentConfig,
    "scaffold": ScaffoldConfig,
    "model": ModelConfig,
    "task": TaskConfig,
    "budget": BudgetConfig,
    "launcher": LauncherConfig,
    "sandbox": SandboxConfig,
    "judge": JudgeConfig,
    "tracker": TrackerConfig,
    "gateway": GatewayConfig,
    "protocol": ProtocolConfig,
    "retention": RetentionConfig,
}

__all__ = [
    "GROUP_SCHEMAS",
    "PROTOCOLS",
    "AgentConfig",
    "BudgetConfig",
    "EvalSpec",
    "EvaluateCommandConfig",
    "GatewayConfig",
    "JudgeConfig",
    "LadderStep",
    "LauncherConfig",
    "ModelConfig",
    "ProtocolConfig",
    "RecipeConfig",
    "RetentionConfig",
    "RetentionTask",
    "RunConfig",
    "SandboxConfig",
    "ScaffoldConfig",
    "TaskConfig",
    "TrackerConfig",
    "register_configs",
]

_registered = False


def register_configs() -> None:
    """Register the root schema and one ``base_<group>`` schema per group (idempotent)."""
    global _registered
    if _registered:
        return
    cs = ConfigStore.instance()
    cs.store(name="ptb_schema", node=RunConfig)
    cs.store(name="ptb_evaluate_schema", node=EvaluateCommandConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)
    _registered = True
