"""The base model's retention results, computed once per model and suite and reused.

They live under the experiment, ``<experiment>/.retention/<model>-<key>.json``, where the key
hashes everything the numbers depend on (the base model's folder and pinned revision, the suite,
the backend, lm-eval's version). The first stage that needs them — usually the zero-shot baseline
run's — computes them under a file lock; every other run of that model reads them, across
tasks, seeds and agents. Reports never read this folder: it holds no run.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from ptb.config.model import ModelConfig
from ptb.config.retention import RetentionConfig
from ptb.fsutil import read_json, write_json
from ptb.retention.lmeval import SuiteResult, lm_eval_version, run_suite

log = logging.getLogger(__name__)
CACHE_DIR = ".retention"
_NOT_IN_KEY = ("name", "batch_size", "gpu_memory_utilization")
"""Settings that do not change the numbers (the preset's name does not either)."""


def cache_key(cfg: RetentionConfig, model: ModelConfig, base_path: Path, backend: str) -> str:
    suite = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_IN_KEY}
    what = {
        "suite": suite,
        "model": [model.hf_id, model.revision, str(base_path)],
        "backend": backend,
        "lm_eval": lm_eval_version(),
    }
    blob = json.dumps(what, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cache_file(
    experiment_dir: Path, cfg: RetentionConfig, model: ModelConfig, base_path: Path, backend: str
) -> Path:
    key = cache_key(cfg, model, base_path, backend)
    return experiment_dir / CACHE_DIR / f"{model.name}-{key}.json"


def base_results(
    experiment_dir: Path,
    cfg: RetentionConfig,
    model: ModelConfig,
    base_path: Path,
    backend: str,
) -> tuple[dict[str, Any], Path, bool]:
    """(the base model's suite results, their cache file, whether this call computed them)."""
    path = cache_file(experiment_dir, cfg, model, base_path, backend)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run computing them: wait, then read
        try:
            if path.exists():
                return read_json(path), path, False
            log.info("retention: the base model %s, once for %s", model.name, path.parent)
            result: SuiteResult = run_suite(cfg, base_path)
            data = {**result.to_json(), "model": model.name, "path": str(base_path)}
            write_json(path, data)
            return data, path, True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
