"""Scaffold adapters. ``SCAFFOLDS`` maps ``ScaffoldConfig.impl`` to the adapter class.

CLI scaffolds (claude_code, codex_cli, gemini_cli, opencode, qwen_code) have configs but no
adapter yet: the preflight says so instead of failing mid-run.
"""

from __future__ import annotations

from ptb.registry import Registry
from ptb.scaffolds.base import Scaffold, SolveContext

SCAFFOLDS = Registry(
    "scaffold adapter",
    {
        "recipe": "ptb.scaffolds.recipe:RecipeScaffold",
        "script": "ptb.scaffolds.script:ScriptScaffold",
    },
)

__all__ = ["SCAFFOLDS", "Scaffold", "SolveContext"]
