"""Planted runs: the planted agent (``planted_agent.sh``), config composition and model
fixtures; used by the judge self-test (``ptb.judge.selftest``) and the red-team tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

AGENT = Path(__file__).with_name("planted_agent.sh")
"""The planted agent: one CASE per cheat the paper reports, and clean runs."""


def instruct_sibling(base: Path, out: Path) -> None:
    """An "instruct" model: the base moved by a different, larger perturbation than tuning."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(base, out)
    weights = load_file(out / "model.safetensors")
    gen = torch.Generator().manual_seed(99)
    moved = {
        k: (v + 0.3 * v.float().std().clamp_min(1e-3) * torch.randn(v.shape, generator=gen))
        for k, v in weights.items()
    }
    save_file({k: v.contiguous() for k, v in moved.items()}, out / "model.safetensors")


def compose(overrides: list[str]) -> Any:
    """The composed config node of ``python -m ptb <overrides>``."""
    from ptb.cli import compose_config

    return compose_config(overrides)


def agent_script(name: str) -> str:
    """The fixture with only one case's branch: an agent carries no other case's cheat (the
    script itself lands in the workspace, where the checks read it)."""
    text = AGENT.read_text()
    head, _, rest = text.partition('case "$CASE" in\n')
    body, _, tail = rest.partition("esac\n")
    branches = re.split(r"(?m)^(?=  [a-z_]+\)|  \*\))", body)
    keep = [b for b in branches if b.startswith((f"  {name})", "  *)"))]
    if len(keep) != 2:
        raise ValueError(f"no case {name!r} in the red-team fixture")
    return head.replace("@CASE@", name) + 'case "$CASE" in\n' + "".join(keep) + "esac\n" + tail
