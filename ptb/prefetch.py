"""``python -m ptb.prefetch model=<m> [task=<t>]``: fill the shared caches (needs network).

Downloads the base model (at its pinned revision), the official instruct model and the task's data
files (``task.data``: HF dataset files into the HF cache, plain URLs into ``<PTB_CACHE>/data``,
``upstream://`` files — the original harness's data, grader and LLM-judge prompts — into
``<PTB_CACHE>/upstream`` after checking their pinned sha256; package data needs nothing), and the
paper's report weights (``factors.json``) and, with ``retention=<preset>``, the retention
suite's datasets (lm-eval loads each task once, downloading into the HF cache), then checks
that everything loads from the caches alone — the model configs and tokenizers with
``local_files_only``, the task's items and grader prompts parsed, the suite's datasets cached —
so that jobs on offline compute nodes run with ``HF_HUB_OFFLINE=1``. Point ``HF_HOME`` at the
shared cache. Gated sets (GPQA) need ``huggingface-cli login`` with an account
that accepted their terms. ``PTB_UPSTREAM_MIRROR`` points the upstream downloads at a mirror.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from omegaconf import DictConfig

from ptb.cli import hydra_entry
from ptb.config import RunConfig
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


ALWAYS_UPSTREAM = ("factors.json",)
"""Pinned upstream files every site needs whatever the task: the reports' paper weights."""


def data_for(cfg: RunConfig) -> list[str]:
    """The task's data sources that have to be downloaded (not package data or local files),
    the pinned upstream files every run needs (``ALWAYS_UPSTREAM``) and, under
    ``protocol=paper``, the original's chat templates for the model's family and, with
    ``llm_judge`` in ``judge.checks``, its judge prompts."""
    from ptb.tasks.data import parse_source
    from ptb.tasks.templates import upstream_template_keys

    wanted = [
        u for u in cfg.task.data.values() if parse_source(u).kind in ("hf", "url", "upstream")
    ]
    wanted += [f"upstream://{key}" for key in ALWAYS_UPSTREAM]
    # the original's chat templates for the model's family, which protocol=paper renders with
    wanted += [
        f"upstream://{key}"
        for key in upstream_template_keys(cfg.model.chat_template, cfg.protocol.name)
    ]
    # the original's judge prompts, which the LLM judges read under protocol=paper
    from ptb.judge.llm_judge import upstream_prompt_keys

    wanted += [f"upstream://{key}" for key in upstream_prompt_keys(cfg)]
    return list(dict.fromkeys(wanted))


def _step(label: str, fn: Callable[[], object]) -> bool:
    try:
        result = fn()
    except Exception as exc:  # report every item, then fail
        console.print(f"[red]✗[/red] {label}: {type(exc).__name__}: {exc}")
        return False
    console.print(f"[green]✓[/green] {label}" + (f" → {result}" if result else ""))
    return True


def _verify_model(repo: str, revision: str | None) -> str:
    from transformers import AutoConfig, AutoTokenizer

    from ptb.models.resolve import hf_snapshot

    path = hf_snapshot(repo, revision)  # local_files_only
    AutoConfig.from_pretrained(path, local_files_only=True)
    AutoTokenizer.from_pretrained(path, local_files_only=True)
    return "loads offline"


def _verify_task(cfg: RunConfig) -> str:
    from ptb.tasks import load_task
    from ptb.tasks.base import ModelGradedTask

    task = load_task(cfg.task, cfg.protocol.name)
    items = task.test_items()  # reads the cached files only
    if isinstance(task, ModelGradedTask):
        task.grader_gate()  # the grader prompts parse from the cached files
        return f"{len(items)} items and the grader prompts load offline"
    return f"{len(items)} items load offline"


def _verify_retention(cfg: RunConfig) -> str:
    from ptb.retention.data import missing

    gone = missing(cfg.retention)
    if gone:
        raise RuntimeError("not cached: " + "; ".join(gone))
    return "cached for offline jobs"


def _task(node: DictConfig) -> None:
    from huggingface_hub import snapshot_download

    from ptb.tasks.data import resolve

    cfg = to_run_config(node)
    ok = True
    repos = repos_for(node)
    for repo, revision in repos:
        ok &= _step(
            repo, partial(lambda r, v: Path(snapshot_download(r, revision=v)), repo, revision)
        )
    for uri in data_for(cfg):
        ok &= _step(uri, partial(resolve, uri, download=True))
    for repo, revision in repos:
        ok &= _step(f"{repo} (check)", partial(_verify_model, repo, revision))
    ok &= _step(f"task {cfg.task.name} (check)", lambda: _verify_task(cfg))
    if cfg.retention.tasks:
        from ptb.retention.data import prefetch as prefetch_retention

        ok &= _step(f"retention={cfg.retention.name}", lambda: prefetch_retention(cfg.retention))
        ok &= _step(f"retention={cfg.retention.name} (check)", lambda: _verify_retention(cfg))
    if not ok:
        sys.exit(1)


def main() -> None:
    hydra_entry("config", _task)


if __name__ == "__main__":
    main()
