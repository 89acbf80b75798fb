"""``python -m ptb.prefetch model=<m> [task=<t>]``: fill the HF cache on a machine with network.

Downloads the base model (at its pinned revision) and the official instruct model, so that runs
on offline compute nodes find them with ``HF_HUB_OFFLINE=1``. Point ``HF_HOME`` at the shared cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from ptb.cli import hydra_entry
from ptb.console import console
from ptb.plan import to_run_config


def repos_for(node: DictConfig) -> list[tuple[str, str | None]]:
    """(repo id, revision) pairs a run of this config needs from the hub."""
    model = to_run_config(node).model
    repos: list[tuple[str, str | None]] = []
    if model.hf_id:
        repos.append((model.hf_id, model.revision))
    if model.instruct_hf_id:
        repos.append((model.instruct_hf_id, None))
    return repos


def _task(node: DictConfig) -> None:
    from huggingface_hub import snapshot_download

    repos = repos_for(node)
    if not repos:
        console.print("nothing to download: this model is built locally")
        return
    failed = 0
    for repo, revision in repos:
        try:
            path = snapshot_download(repo, revision=revision)
            console.print(f"[green]✓[/green] {repo} → {Path(path)}")
        except Exception as exc:  # report every repo, then fail
            failed += 1
            console.print(f"[red]✗[/red] {repo}: {type(exc).__name__}: {exc}")
    if failed:
        sys.exit(1)


def main() -> None:
    hydra_entry("config", _task)


if __name__ == "__main__":
    main()
