"""Where a model's files are: a locally built folder, or a snapshot in the HF cache."""

from __future__ import annotations

from pathlib import Path

from ptb.config.model import ModelConfig
from ptb.models import BUILDERS


class ModelNotAvailable(RuntimeError):
    """The model's files are not on this machine; the message says how to get them."""


def hf_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """The local snapshot folder of ``repo_id`` in the HF cache (no network)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as exc:
        raise ModelNotAvailable(
            f"{repo_id} is not in the HF cache ({_hf_cache()}): run "
            f"`python -m ptb.prefetch model=<name>` on a machine with network, or point HF_HOME "
            f"at the shared cache ({type(exc).__name__})"
        ) from exc


def _hf_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def base_model_path(cfg: ModelConfig, cache_dir: str) -> Path:
    """The base model's folder, building local models on first use."""
    if cfg.builder:
        build = BUILDERS.load(cfg.builder)
        path: Path = build(cache_dir)
        return path
    if not cfg.hf_id:
        raise ModelNotAvailable(f"model '{cfg.name}' has neither hf_id nor builder")
    return hf_snapshot(cfg.hf_id, cfg.revision)


def instruct_model_path(cfg: ModelConfig) -> Path:
    if not cfg.instruct_hf_id:
        raise ModelNotAvailable(
            f"model '{cfg.name}' has no instruct_hf_id: baseline_instruct cannot run for it"
        )
    return hf_snapshot(cfg.instruct_hf_id)
