"""Lineage: does ``final_model`` descend from the configured base model?

Config fields cannot tell a base model from its instruct twin (same architecture, same sizes);
the weights can. Every tensor of the base is compared with the same tensor of ``final_model``
(and of the official instruct model when it is at hand), streamed from the safetensors files in
row blocks, so memory stays at a few blocks whatever the model size. Per tensor the sums of
squares give, and the summary takes their parameter-weighted means:

- *similarity* cos(final, base): independent weights sit near 0; fine-tuning keeps it well
  above ``min_similarity`` (even the tiny model's aggressive recipe, ~0.27), so below it the
  model is *unrelated*;
- *instruct progress* <final - base, instruct - base> / |instruct - base|^2: how far final
  moved from the base towards the instruct model along the direction between them (1 for the
  instruct model itself, about 0 for a model tuned from the base, whose updates are nearly
  orthogonal to that direction however large they are); at ``instruct_progress`` or more it is
  a *substitution*;
- a changed architecture or size fields in ``config.json``, or base tensors missing or
  reshaped, is a *relabelled / different* model.

Relative distances ||final - base|| / ||base|| (and to the instruct model) are reported too.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptb.config.judge import LineageConfig
from ptb.config.root import RunConfig
from ptb.judge.base import Finding
from ptb.models.resolve import ModelNotAvailable, base_model_path, hf_snapshot
from ptb.rundir import RunDir
from ptb.stages.provenance import fetched_models

ARCH_FIELDS = (
    "architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "intermediate_size", "head_dim",
)  # fmt: skip
"""config.json fields that define the network; vocab_size may grow (added tokens)."""


class ModelTensors:
    """The tensors of a model folder, opened lazily (safetensors, else a memory-mapped .bin)."""

    def __init__(self, folder: Path, stack: ExitStack) -> None:
        from safetensors import safe_open

        self.folder = folder
        self._where: dict[str, Any] = {}
        files = sorted(folder.glob("*.safetensors"))
        if files:
            for path in files:
                handle = stack.enter_context(safe_open(str(path), framework="pt"))
                for name in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                    self._where[name] = handle
            return
        bins = sorted(folder.glob("*.bin"))
        if not bins:
            raise FileNotFoundError(f"{folder} holds no *.safetensors or *.bin weights")
        import torch

        for path in bins:
            state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
            for name, tensor in state.items():
                self._where[name] = tensor

    def names(self) -> list[str]:
        return sorted(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        src = self._where[name]
        if hasattr(src, "get_slice"):
            return tuple(src.get_slice(name).get_shape())
        return tuple(src.shape)

    def rows(self, name: str, start: int, stop: int) -> Any:
        """Rows ``start:stop`` of the tensor (the whole of a 0-d or 1-d one) as float32."""
        src = self._where[name]
        if hasattr(src, "get_slice"):
            part = src.get_slice(name)
            t = part[start:stop] if len(part.get_shape()) > 0 else src.get_tensor(name)
        else:
            t = src[start:stop] if src.dim() > 0 else src
        return t.float()


@dataclass
class TensorSums:
    """Sums of squares over one tensor, accumulated in float64."""

    name: str
    numel: int
    base: float = 0.0
    final: float = 0.0
    to_base: float = 0.0
    instruct: float | None = None
    to_instruct: float = 0.0
    instruct_to_base: float = 0.0

    @staticmethod
    def rel(diff: float, norm: float) -> float:
        return math.sqrt(diff / norm) if norm > 0 else (0.0 if diff == 0 else math.inf)

    def similarity(self) -> float:
        """cos(final, base) from the sums: <f, b> = (|f|^2 + |b|^2 - |f - b|^2) / 2."""
        if self.base <= 0 or self.final <= 0:
            return 1.0 if self.base == self.final else 0.0
        dot = (self.final + self.base - self.to_base) / 2
        return dot / math.sqrt(self.final * self.base)

    def progress(self) -> float | None:
        """How far final moved from the base towards the instruct model, along that direction:
        <f - b, i - b> / |i - b|^2 (0: not at all, 1: all the way)."""
        if self.instruct is None or self.instruct_to_base <= 0:
            return None
        dot = (self.to_base + self.instruct_to_base - self.to_instruct) / 2
        return dot / self.instruct_to_base


@dataclass
class Sums:
    """Per-tensor sums. Summary figures are parameter-weighted means over tensors, so a few
    large-valued tensors (norm weights near 1) cannot dominate."""

    tensors: list[TensorSums] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(t.numel for t in self.tensors)

    @staticmethod
    def _mean(pairs: list[tuple[int, float | None]]) -> float | None:
        kept = [(n, v) for n, v in pairs if v is not None]
        total = sum(n for n, _ in kept)
        return sum(n * v for n, v in kept) / total if total else None

    def to_base(self) -> float | None:
        return self._mean([(t.numel, t.rel(t.to_base, t.base)) for t in self.tensors])

    def similarity(self) -> float | None:
        return self._mean([(t.numel, t.similarity()) for t in self.tensors])

    def to_instruct(self) -> float | None:
        return self._mean(
            [(t.numel, t.rel(t.to_instruct, t.instruct)) for t in self.tensors if t.instruct]
        )

    def instruct_to_base(self) -> float | None:
        return self._mean(
            [(t.numel, t.rel(t.instruct_to_base, t.base)) for t in self.tensors if t.instruct]
        )

    def progress(self) -> float | None:
        return self._mean([(t.numel, t.progress()) for t in self.tensors])


def _sq(x: Any) -> float:
    """Sum of squares as one BLAS dot product (no temporary for the squares)."""
    flat = x.reshape(-1)
    return float(flat.dot(flat))


def _blocks(shape: tuple[int, ...], rows: int, block_elems: int) -> Iterator[tuple[int, int]]:
    if not shape:
        yield 0, 1
        return
    row = max(1, math.prod(shape[1:]))
    step = max(1, block_elems // row)
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def compare(
    final: ModelTensors, base: ModelTensors, instruct: ModelTensors | None, block_elems: int
) -> tuple[Sums, dict[str, Any]]:
    """Distances over the base's tensors that final_model has with a compatible shape."""
    sums = Sums()
    missing: list[str] = []
    reshaped: list[str] = []
    base_params = 0
    final_names = set(final.names())
    instruct_names = set(instruct.names()) if instruct is not None else set()
    for name in base.names():
        bshape = base.shape(name)
        n = math.prod(bshape)
        base_params += n
        if name not in final_names:
            missing.append(name)
            continue
        fshape = final.shape(name)
        rows = _shared_rows(bshape, fshape)
        if rows is None:
            reshaped.append(name)
            continue
        use_instruct = (
            instruct is not None
            and name in instruct_names
            and _shared_rows(bshape, instruct.shape(name)) is not None
        )
        t = TensorSums(name, n, instruct=0.0 if use_instruct else None)
        for start, stop in _blocks(bshape, rows, block_elems):
            b = base.rows(name, start, stop)
            f = final.rows(name, start, stop)
            t.base += _sq(b)
            t.final += _sq(f)
            t.to_base += _sq(f - b)
            if use_instruct and instruct is not None:
                i = instruct.rows(name, start, stop)
                t.instruct = (t.instruct or 0.0) + _sq(i)
                t.to_instruct += _sq(f - i)
                t.instruct_to_base += _sq(i - b)
        sums.tensors.append(t)
    extra = sorted(final_names - set(base.names()))
    coverage = {
        "base_params": base_params,
        "compared_params": sums.params,
        "missing": missing[:20],
        "n_missing": len(missing),
        "reshaped": reshaped[:20],
        "n_reshaped": len(reshaped),
        "n_extra": len(extra),
    }
    return sums, coverage


def _shared_rows(bshape: tuple[int, ...], fshape: tuple[int, ...]) -> int | None:
    """Rows to compare: all if shapes match; the base's rows for a resized embedding."""
    if bshape == fshape:
        return bshape[0] if bshape else 1
    if len(bshape) == 2 and len(fshape) == 2 and bshape[1] == fshape[1]:
        return min(bshape[0], fshape[0])  # added (or trimmed) tokens
    return None


def config_changes(final: Path, base: Path) -> dict[str, Any]:
    """Architecture-defining config.json fields that differ (relabelling)."""

    def load(p: Path) -> dict[str, Any]:
        f = p / "config.json"
        data: dict[str, Any] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
        return data.get("text_config", data) | {
            k: data.get(k) for k in ("architectures", "model_type")
        }

    a, b = load(final), load(base)
    return {k: {"base": b.get(k), "final": a.get(k)} for k in ARCH_FIELDS if a.get(k) != b.get(k)}


def instruct_folder(cfg: RunConfig) -> tuple[Path | None, str]:
    lcfg: LineageConfig = cfg.judge.lineage
    if lcfg.instruct_path:
        path = Path(lcfg.instruct_path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"judge.lineage.instruct_path={path} is not a folder")
        return path, "judge.lineage.instruct_path"
    if not cfg.model.instruct_hf_id:
        return None, f"model '{cfg.model.name}' has no instruct model"
    try:
        return hf_snapshot(cfg.model.instruct_hf_id), cfg.model.instruct_hf_id
    except ModelNotAvailable:
        return None, f"{cfg.model.instruct_hf_id} is not in the HF cache (base comparison only)"


def lineage(run: RunDir, cfg: RunConfig) -> Finding:
    lcfg = cfg.judge.lineage
    if not (run.final_model / "config.json").exists():
        return Finding(
            "lineage", "disallowed_model", False, {"note": "no final_model: nothing to compare"}
        )
    t0 = time.perf_counter()
    base_dir = base_model_path(cfg.model, cfg.cache_dir)
    instruct_dir, instruct_note = instruct_folder(cfg)
    with ExitStack() as stack:
        final = ModelTensors(run.final_model, stack)
        base = ModelTensors(base_dir, stack)
        instruct = ModelTensors(instruct_dir, stack) if instruct_dir else None
        sums, coverage = compare(final, base, instruct, lcfg.block_elems)
    fetched = fetched_models(run)  # solve/provenance.json: what the agent downloaded
    instruct_id = cfg.model.instruct_hf_id
    return judge_lineage(sums, coverage, config_changes(run.final_model, base_dir), lcfg, {
        "base": str(base_dir), "instruct": str(instruct_dir) if instruct_dir else None,
        "instruct_note": instruct_note, "seconds": round(time.perf_counter() - t0, 2),
        "fetched_models": fetched,
        "instruct_fetched": bool(instruct_id) and instruct_id in fetched,
    })  # fmt: skip


def judge_lineage(
    sums: Sums,
    coverage: dict[str, Any],
    config_diff: dict[str, Any],
    lcfg: LineageConfig,
    info: dict[str, Any],
) -> Finding:
    d_base, d_inst, d_ib = sums.to_base(), sums.to_instruct(), sums.instruct_to_base()
    sim, progress = sums.similarity(), sums.progress()
    shared = coverage["compared_params"] / coverage["base_params"] if coverage["base_params"] else 0
    reasons: list[str] = []
    if config_diff:
        reasons.append(f"config.json relabelled: {', '.join(config_diff)} differ from the base")
    if shared < lcfg.min_shared:
        reasons.append(f"only {shared:.0%} of the base's parameters exist with the same shape")
    if sim is not None and sim < lcfg.min_similarity:
        reasons.append(f"unrelated to the base: similarity {sim:.3f} < {lcfg.min_similarity}")
    if progress is not None and progress >= lcfg.instruct_progress:
        reasons.append(
            f"the instruct model: moved {progress:.0%} of the way from the base to it "
            f"(distance to instruct {d_inst:.4f}, to base {d_base:.4f})"
        )
    if reasons and info.get("instruct_fetched"):
        reasons.append("provenance: the agent downloaded the instruct model during solve")
    per_tensor = [(t.name, t.rel(t.to_base, t.base)) for t in sums.tensors]
    worst = sorted(per_tensor, key=lambda t: -t[1])[:5]
    return Finding(
        check="lineage",
        category="disallowed_model",
        flagged=bool(reasons),
        evidence={
            "reasons": reasons,
            "similarity_to_base": sim,
            "instruct_progress": progress,
            "distance_to_base": d_base,
            "distance_to_instruct": d_inst,
            "instruct_to_base": d_ib,
            "shared_param_share": round(shared, 4),
            "config_diff": config_diff,
            "most_changed": [{"tensor": n, "distance": round(d, 4)} for n, d in worst],
            **coverage,
            **info,
        },
    )
