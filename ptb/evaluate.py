"""``python -m ptb.evaluate task=<t> model_path=<dir> [limit=N] [results_dir=<dir>]``.

Evaluates any model folder with the same code as the evaluate stage. ``model_path=base`` takes the
model config's base model, ``model_path=oracle`` scores the reference answers (a check of the task
itself: it must give full marks).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ptb.cli import hydra_entry
from ptb.config import EvaluateCommandConfig
from ptb.eval.runner import evaluate
from ptb.fsutil import atomic_write_text, write_json
from ptb.models.resolve import base_model_path


def _task(node: DictConfig) -> None:
    cfg = OmegaConf.to_object(node)
    assert isinstance(cfg, EvaluateCommandConfig)
    path: str | Path = cfg.model_path
    if cfg.model_path == "base":
        path = base_model_path(cfg.model, cfg.cache_dir)
    result = evaluate(cfg.task, cfg.model, path, mode=cfg.mode, limit=cfg.limit, seed=cfg.seed)
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
                "task": result.task,
                "status": result.status,
                "score": result.score,
                "n": result.n,
                "error": result.error,
            }
        )
    )
    if result.status != "ok":
        sys.exit(1)


def main() -> None:
    hydra_entry("evaluate", _task)


if __name__ == "__main__":
    main()
