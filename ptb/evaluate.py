"""``python -m ptb.evaluate task=<t> model_path=<dir> [limit=N] [results_dir=<dir>]``.

Evaluates any model folder with the same code as the evaluate stage. ``model_path=base`` takes the
model config's base model, ``model_path=instruct`` the official instruct model,
``model_path=oracle`` scores the reference answers (a check of the task itself: full marks on
every exact-match task). ``rescore=<samples.jsonl>`` scores saved outputs again without a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ptb.cli import hydra_entry
from ptb.config import EvaluateCommandConfig
from ptb.eval.runner import EvalResult, evaluate, rescore
from ptb.failures import InfraError
from ptb.fsutil import atomic_write_text, write_json
from ptb.models.resolve import ModelNotAvailable, base_model_path, instruct_model_path


def _base_path(cfg: EvaluateCommandConfig) -> Path | None:
    """The base model's folder, to compare the submission's settings with (None if absent)."""
    try:
        return base_model_path(cfg.model, cfg.cache_dir)
    except ModelNotAvailable:
        return None


def _run(cfg: EvaluateCommandConfig) -> EvalResult:
    if cfg.rescore:
        return rescore(cfg.task, cfg.rescore, cfg.protocol.name)
    if not cfg.model_path:
        sys.exit("give model_path=<folder> (or base, instruct, oracle) or rescore=<samples.jsonl>")
    path: str | Path = cfg.model_path
    if cfg.model_path == "base":
        path = base_model_path(cfg.model, cfg.cache_dir)
    elif cfg.model_path == "instruct":
        path = instruct_model_path(cfg.model)
    base = None if cfg.model_path in ("base", "oracle") else _base_path(cfg)
    return evaluate(
        cfg.task,
        cfg.model,
        path,
        mode=cfg.mode,
        limit=cfg.limit,
        seed=cfg.seed,
        base_path=base,
        protocol=cfg.protocol.name,
        decoding=cfg.protocol.decoding,
    )


def _task(node: DictConfig) -> None:
    cfg = OmegaConf.to_object(node)
    assert isinstance(cfg, EvaluateCommandConfig)
    try:
        result = _run(cfg)
    except InfraError as exc:  # not the model's fault (data, grader, sandbox, GPU): no metrics
        error = {"task": cfg.task.name, "status": "error", "reason": exc.reason, "error": str(exc)}
        print(json.dumps(error))
        sys.exit(1)
    if cfg.results_dir:
        out = Path(cfg.results_dir)
        write_json(out / "metrics.json", result.to_json())
        atomic_write_text(
            out / "samples.jsonl",
            "".join(json.dumps(s, default=str) + "\n" for s in result.samples),
        )
    print(
        json.dumps(
            {
                "task": result.record.task,
                "status": result.record.status,
                "score": result.record.score,
                "n": result.record.n,
                "error": result.record.error,
            }
        )
    )
    if result.record.status != "ok":
        sys.exit(1)


def main() -> None:
    hydra_entry("evaluate", _task)


if __name__ == "__main__":
    main()
