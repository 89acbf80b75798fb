"""Sandbox backends. ``SANDBOXES`` maps ``SandboxConfig.impl`` to a backend class."""

from __future__ import annotations

from ptb.registry import Registry
from ptb.sandbox.base import Sandbox, SandboxSpec
from ptb.sandbox.process import ExecResult, run_limited

SANDBOXES = Registry(
    "sandbox backend",
    {
        "none": "ptb.sandbox.none:NoSandbox",
        "bwrap": "ptb.sandbox.bwrap:BwrapSandbox",
        "apptainer": "ptb.sandbox.apptainer:ApptainerSandbox",
    },
)

__all__ = ["SANDBOXES", "ExecResult", "Sandbox", "SandboxSpec", "run_limited"]
