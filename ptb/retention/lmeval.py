"""Run a retention suite through lm-eval's Python API (``lm_eval.simple_evaluate``).

The model is loaded once (lm-eval's vLLM backend on GPUs, its HF backend elsewhere) and the
suite's tasks are evaluated in groups of equal shots and limit, since ``simple_evaluate`` takes
one of each per call. Jobs run offline: the datasets come from the HF cache
(``python -m ptb.prefetch retention=<preset>``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ptb.config.retention import RetentionConfig, RetentionTask
from ptb.eval.backends import cuda_available
from ptb.failures import InfraError
from ptb.retention.results import Values, flatten

log = logging.getLogger(__name__)


@dataclass
class SuiteResult:
    values: Values
    backend: str
    wall_s: float
    versions: dict[str, Any] = field(default_factory=dict)
    n_samples: dict[str, Any] = field(default_factory=dict)
    n_shot: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "lm_eval_version": lm_eval_version()}


def lm_eval_version() -> str:
    import lm_eval

    return str(getattr(lm_eval, "__version__", "unknown"))


def require_lm_eval() -> None:
    if importlib.util.find_spec("lm_eval") is None:
        raise InfraError(
            "retention needs lm-eval, which is not installed here: pip install -e '.[retention]' "
            "(the cluster's evaluation image has it)",
            "environment",
        )


def pick_backend(cfg: RetentionConfig) -> str:
    """``auto`` → vllm where it imports and a GPU is present, else hf."""
    if cfg.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise InfraError("retention.backend=vllm but vLLM is not installed here", "environment")
    if cfg.backend != "auto":
        return str(cfg.backend)
    return "vllm" if importlib.util.find_spec("vllm") and cuda_available() else "hf"


def _batch_size(cfg: RetentionConfig) -> int | str:
    return int(cfg.batch_size) if cfg.batch_size.isdigit() else cfg.batch_size


def load_lm(cfg: RetentionConfig, path: Path, backend: str, gpus: int) -> Any:
    """lm-eval's model object for ``path``, loaded once for the whole suite."""
    from lm_eval.api.registry import get_model

    if backend == "vllm":
        args: dict[str, Any] = {
            "pretrained": str(path),
            "tensor_parallel_size": max(gpus, 1),
            "gpu_memory_utilization": cfg.gpu_memory_utilization,
            "max_model_len": cfg.max_model_len,
            "dtype": "auto",
            "seed": cfg.seed,
            "batch_size": "auto",
        }
    else:
        args = {
            "pretrained": str(path),
            "device": "cuda" if cuda_available() else "cpu",
            "dtype": "auto",
            "batch_size": _batch_size(cfg),
        }
    return get_model(backend).create_from_arg_obj(args)


def task_manager(cfg: RetentionConfig) -> Any:
    from lm_eval.tasks import TaskManager

    paths = [str(Path(p).expanduser().resolve()) for p in cfg.include_path]
    return TaskManager(include_path=paths or None, include_defaults=cfg.include_defaults)


def groups(tasks: list[RetentionTask]) -> dict[tuple[int | None, int | None], list[str]]:
    """Task names by (shots, limit): one ``simple_evaluate`` call each, in the suite's order."""
    out: dict[tuple[int | None, int | None], list[str]] = defaultdict(list)
    for spec in tasks:
        out[(spec.shots, spec.limit)].append(spec.name)
    return dict(out)


def offline_env() -> None:
    """Jobs read datasets from the HF cache only: no hub calls, no three retries per dataset."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def run_suite(cfg: RetentionConfig, path: Path, *, gpus: int = 0) -> SuiteResult:
    """Every task of ``cfg`` on the model folder ``path``."""
    require_lm_eval()
    offline_env()
    import lm_eval

    backend = pick_backend(cfg)
    t0 = time.monotonic()
    lm = load_lm(cfg, path, backend, gpus)
    manager = task_manager(cfg)
    result = SuiteResult({}, backend, 0.0)
    for (shots, limit), names in groups(cfg.tasks).items():
        log.info("retention: %s (shots %s, limit %s) on %s", names, shots, limit, path)
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=names,
            num_fewshot=shots,
            limit=limit,
            task_manager=manager,
            log_samples=False,
            bootstrap_iters=cfg.bootstrap_iters,
            apply_chat_template=cfg.apply_chat_template,
            random_seed=cfg.seed,
            numpy_random_seed=cfg.seed,
            torch_random_seed=cfg.seed,
            fewshot_random_seed=cfg.seed,
        )
        if out is None:  # only on non-zero ranks of a multi-process run
            raise InfraError("lm-eval returned no results (a multi-process run?)", "stage")
        result.values.update(flatten(out["results"], names))
        for key, target in (
            ("versions", result.versions),
            ("n-samples", result.n_samples),
            ("n-shot", result.n_shot),
        ):
            target.update({k: v for k, v in out.get(key, {}).items() if k in names})
    result.wall_s = round(time.monotonic() - t0, 2)
    return result
