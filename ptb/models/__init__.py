"""Models ptb builds itself. ``BUILDERS`` maps ``ModelConfig.builder`` to a build function."""

from __future__ import annotations

from ptb.registry import Registry

BUILDERS = Registry("model builder", {"tiny_qwen3": "ptb.models.tiny:build_tiny_qwen3"})

__all__ = ["BUILDERS"]
