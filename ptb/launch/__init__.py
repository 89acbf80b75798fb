"""Launchers: where a run's stages execute. ``LAUNCHERS`` maps ``LauncherConfig.impl``."""

from __future__ import annotations

from ptb.registry import Registry

LAUNCHERS = Registry(
    "launcher",
    {"local": "ptb.launch.local:LocalLauncher", "slurm": "ptb.launch.slurm:SlurmLauncher"},
)

__all__ = ["LAUNCHERS"]
