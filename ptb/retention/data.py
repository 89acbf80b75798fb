"""The datasets a retention suite reads: found from lm-eval's task index without loading them.

``python -m ptb.prefetch retention=<preset>`` loads every task once with network (lm-eval
downloads its datasets into the HF cache); the preflight checks that each hub dataset has a
snapshot in the HF cache and that local data files exist, so jobs run offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptb.config.retention import RetentionConfig

LOCAL_BUILDERS = ("json", "csv", "parquet", "text", "arrow")
"""``dataset_path`` values that read ``dataset_kwargs.data_files`` rather than a hub repo."""


def leaf_configs(cfg: RetentionConfig, manager: Any = None) -> list[dict[str, Any]]:
    """The YAML configs of every task the suite runs (groups and tags expanded)."""
    from lm_eval.tasks._index import Kind

    from ptb.retention.lmeval import task_manager

    manager = manager or task_manager(cfg)
    index = manager.task_index
    out: list[dict[str, Any]] = []

    def walk(name: str) -> None:
        entry = index.get(name)
        if entry is None:
            raise KeyError(
                f"retention task {name!r} is not an lm-eval task, group or tag here "
                "(fix retention.tasks[].name or retention.include_path)"
            )
        if entry.kind == Kind.GROUP:
            for sub in (entry.cfg or {}).get("task", []):
                walk(sub if isinstance(sub, str) else sub["task"])
        elif entry.kind == Kind.TAG:
            for other in index.values():
                if name in other.tags:
                    walk(other.name)
        else:
            out.append({"task": name, **(entry.cfg or {})})

    for spec in cfg.tasks:
        walk(spec.name)
    return out


def sources(cfg: RetentionConfig) -> tuple[list[str], list[Path]]:
    """(hub dataset repos, local data files) the suite reads."""
    repos: list[str] = []
    files: list[Path] = []
    for conf in leaf_configs(cfg):
        path = conf.get("dataset_path")
        if not isinstance(path, str):
            continue
        if path in LOCAL_BUILDERS:
            data_files = (conf.get("dataset_kwargs") or {}).get("data_files") or {}
            values = data_files.values() if isinstance(data_files, dict) else [data_files]
            files += [Path(str(v)) for v in values if isinstance(v, str)]
        elif not Path(path).exists():
            repos.append(path)
    return list(dict.fromkeys(repos)), list(dict.fromkeys(files))


def missing(cfg: RetentionConfig) -> list[str]:
    """What the suite needs that is not on this machine (empty: it runs offline)."""
    from huggingface_hub import snapshot_download

    repos, files = sources(cfg)
    gone = [f"data file {f}" for f in files if not f.is_file()]
    for repo in repos:
        try:
            snapshot_download(repo, repo_type="dataset", local_files_only=True)
        except Exception:  # LocalEntryNotFoundError, or an unreadable cache
            gone.append(f"dataset {repo} (not in the HF cache)")
    return gone


def prefetch(cfg: RetentionConfig) -> str:
    """Load every task once with network: lm-eval downloads their datasets into the HF cache."""
    from ptb.retention.lmeval import require_lm_eval, task_manager

    require_lm_eval()
    manager = task_manager(cfg)
    manager.load_task_or_group([t.name for t in cfg.tasks])
    repos, _ = sources(cfg)
    return f"{len(repos)} dataset(s): {', '.join(repos) or 'local files only'}"
