"""Scaffold adapters. ``SCAFFOLDS`` maps ``ScaffoldConfig.impl`` to the adapter class.

The five CLI scaffolds (one module each) share ``cli.CliScaffold``; ``recipe`` and ``script``
run scripted agents. ``prompt_note`` gives a scaffold's additions to the task prompt.
"""

from __future__ import annotations

from ptb.registry import Registry
from ptb.scaffolds.base import Ending, Scaffold, SolveContext

SCAFFOLDS = Registry(
    "scaffold adapter",
    {
        "claude_code": "ptb.scaffolds.claude_code:ClaudeCodeScaffold",
        "codex_cli": "ptb.scaffolds.codex_cli:CodexCliScaffold",
        "gemini_cli": "ptb.scaffolds.gemini_cli:GeminiCliScaffold",
        "opencode": "ptb.scaffolds.opencode:OpenCodeScaffold",
        "qwen_code": "ptb.scaffolds.qwen_code:QwenCodeScaffold",
        "recipe": "ptb.scaffolds.recipe:RecipeScaffold",
        "script": "ptb.scaffolds.script:ScriptScaffold",
    },
)


def prompt_note(impl: str) -> str:
    """The scaffold's own lines for the task prompt ("" for none or an unknown scaffold)."""
    if impl not in SCAFFOLDS:
        return ""
    return str(SCAFFOLDS.load(impl).prompt_note)


__all__ = ["SCAFFOLDS", "Ending", "Scaffold", "SolveContext", "prompt_note"]
