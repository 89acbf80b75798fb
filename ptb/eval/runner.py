"""Evaluate a model folder on a task: one code path for the evaluate stage, the agent's
``evaluate.py`` and the baselines.

The retry ladder of the task config is walked in order (e.g. 4 tries at 16000 new tokens, then 3 at
12000, ...); every attempt is recorded. A model that cannot be loaded is an ``eval_failed`` result
with the reason class, never a crash; a failure that is not the model's (data, grader, code
sandbox, CUDA/driver) raises ``ptb.failures.InfraError`` instead. ``model_path="oracle"`` scores
the task's reference answers (a self-test of the scorer); ``rescore`` scores saved outputs again
without a model.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
import traceback
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ptb.config.model import ModelConfig
from ptb.config.protocol import PROTOCOLS
from ptb.config.task import LadderStep, TaskConfig
from ptb.eval import backends
from ptb.eval import decoding as decoding_rules
from ptb.eval.backends import Sampling
from ptb.failures import (
    INFRA,
    DataUnavailable,
    InfraError,
    classify_exception,
    ladder_failure,
    raise_if_infra,
)
from ptb.records import MetricsRecord
from ptb.tasks import Item, Task, load_task
from ptb.tasks.templates import protocol_template

log = logging.getLogger(__name__)

FEWSHOT_MIN_SHOTS = 3


@dataclass
class EvalResult:
    """An evaluation's outcome: ``record``, what ``evaluate/metrics.json`` holds (``status`` ok |
    eval_failed | no_final_model, the score, ...; the evaluation's other keys in its ``extra``,
    also named ``info``), and the samples (``samples.jsonl``). The record's fields read through
    (``result.score`` is ``result.record.score``); ``set`` changes them."""

    record: MetricsRecord
    samples: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def start(cls, task: str, n: int = 0, **info: Any) -> EvalResult:
        """An ``ok`` result of ``task`` not yet scored, the evaluation's keys ``info``."""
        return cls(MetricsRecord(task=task, status="ok", n=n, extra=dict(info)))

    @property
    def info(self) -> dict[str, Any]:
        """The evaluation's keys beyond the record's own (``mode``, ``protocol``, ``failure``,
        ...): the record's ``extra``, changed in place."""
        return self.record.extra

    def set(self, **fields: Any) -> None:
        """Change the record's fields (``score=..., status=...``)."""
        self.record = replace(self.record, **fields)

    def __getattr__(self, name: str) -> Any:
        if name != "record" and name in _RECORD_FIELDS:  # result.score, result.status, ...
            return getattr(self.record, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_json(self) -> dict[str, Any]:
        return self.record.to_json()


_RECORD_FIELDS = frozenset(f.name for f in fields(MetricsRecord)) - {"extra"}


def _ladder(task_cfg: TaskConfig) -> list[int]:
    steps: list[LadderStep] = list(task_cfg.eval.ladder) or [LadderStep(max_new_tokens=256)]
    return [s.max_new_tokens for s in steps for _ in range(s.attempts)]


def score_outputs(
    task: Task, items: list[Item], outputs: list[str], prompts: list[str] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics and one sample per item (prompt, output, target, verdict)."""
    grades = task.grade_all(items, outputs)
    samples = []
    for k, (item, output, j) in enumerate(zip(items, outputs, grades, strict=True)):
        samples.append(
            {
                "id": item.id,
                "prompt": prompts[k] if prompts else item.prompt,
                "output": output,
                "target": item.target,
                "score": j.score,
                "correct": j.correct,
                "extracted": j.extracted,
                "detail": j.detail,
            }
        )
    return task.aggregate(grades), samples


def _read_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def own_template(folder: Path) -> str | None:
    """A model folder's own chat template (``chat_template.jinja`` or tokenizer_config's)."""
    text = _read_text(folder / "chat_template.jinja")
    if text is not None:
        return text
    config = _read_text(folder / "tokenizer_config.json")
    if config:
        value = json.loads(config).get("chat_template")
        return value if isinstance(value, str) else json.dumps(value) if value else None
    return None


def own_generation_config(folder: Path) -> dict[str, Any] | None:
    text = _read_text(folder / "generation_config.json")
    if text is None:
        return None
    data = json.loads(text)
    data.pop("transformers_version", None)
    return dict(data)


def submission_info(path: Path, base_path: Path | None, family_template: str) -> dict[str, Any]:
    """How the submission's own chat template / generation config differ from the base model's
    (and the template from ptb's, which is what the evaluation uses). Recorded, never applied."""
    template = own_template(path)
    gen = own_generation_config(path)
    info: dict[str, Any] = {
        "submission_template_differs": template is not None
        and template.strip() != family_template.strip(),
        "submission_generation_config": gen,
    }
    if base_path is not None:
        base_template = own_template(base_path)
        base_gen = own_generation_config(base_path)
        info["template_differs_from_base"] = (template or "").strip() != (
            base_template or ""
        ).strip()
        info["generation_config_differs_from_base"] = gen != base_gen
        if gen != base_gen:
            keys = set(gen or {}) | set(base_gen or {})
            info["generation_config_changes"] = {
                k: {"base": (base_gen or {}).get(k), "submission": (gen or {}).get(k)}
                for k in sorted(keys)
                if (gen or {}).get(k) != (base_gen or {}).get(k)
            }
    return info


def evaluate(
    task_cfg: TaskConfig,
    model_cfg: ModelConfig,
    model_path: Path | str,
    *,
    mode: str = "zeroshot",
    limit: int | None = None,
    seed: int = 0,
    base_path: Path | None = None,
    protocol: str = "paper",
    decoding: str | None = None,
) -> EvalResult:
    """Score ``model_path`` (or ``"oracle"``: the reference answers) on ``task_cfg`` under
    ``protocol`` (``paper`` | ``strict``), decoding as ``decoding`` says (``model`` | ``task``;
    default: the protocol's, ``ptb.eval.decoding``), ``task.eval.seeds`` times."""
    result = EvalResult.start(
        task_cfg.name, mode=mode, limit=limit, model_path=str(model_path), protocol=protocol
    )
    try:
        task = load_task(task_cfg, protocol)
        task.seed = seed
        items = task.test_items()[: limit or None]
    except Exception as exc:  # missing data is ptb's or the site's problem, never the model's
        raise DataUnavailable(f"cannot load the task's data ({task_cfg.name}): {exc}") from exc
    result.set(n=len(items))
    _check_size(task_cfg, items, limit, result)
    if str(model_path) == "oracle":
        return _scored(result, task, items, [task.oracle_output(i) for i in items], None)
    path = Path(model_path)
    if not (path / "config.json").exists():
        missing = not path.exists()
        return _failed(
            result,
            "no_final_model" if missing else "eval_failed",
            f"{path} has no config.json: not a model folder",
            "no_final_model" if missing else "not_a_model",
        )
    template = protocol_template(model_cfg.chat_template, protocol, tools=_uses_tools(task, items))
    result.info.update(submission_info(path, base_path, template))
    backend = backends.resolve_backend(task_cfg.eval.backend)
    result.info["backend"] = backend
    try:
        gen = backends.load_generator(
            backend,
            path,
            template,
            gpu_memory_utilization=task_cfg.eval.gpu_memory_utilization,
            seed=seed,
        )
    except Exception as exc:  # the agent's model, unless the GPU, driver or disk failed
        raise_if_infra(exc, "cannot load model")
        error = f"cannot load model: {type(exc).__name__}: {exc}"
        return _failed(result, "eval_failed", error, "load")
    fewshot = mode == "fewshot"
    use_template = task_cfg.eval.apply_chat_template and not fewshot
    shots = task_cfg.eval.num_fewshot
    if fewshot:  # a base model without a template needs examples to see the answer format
        shots = max(shots, FEWSHOT_MIN_SHOTS)
    prompts_of: dict[int, tuple[list[Item], list[str]]] = {}

    def render(chosen: list[Item]) -> tuple[list[Item], list[str]]:
        return chosen, [
            gen.render(task.messages(it, shots), use_template, task.tools(it)) for it in chosen
        ]

    try:
        prompts_of[seed] = render(items)
        for run_seed in eval_seeds(seed, task_cfg.eval.seeds)[1:]:
            if task.items_depend_on_seed:  # GPQA's paper shuffle: each seed its own order
                task.seed = run_seed
                prompts_of[run_seed] = render(task.test_items()[: limit or None])
    except Exception as exc:  # e.g. a template that rejects the conversation's roles
        error = f"cannot render a prompt: {type(exc).__name__}: {exc}"
        return _failed(result, "eval_failed", error, "render")
    chosen = decoding_rules.choose(
        decoding or default_decoding(protocol), mode, task_cfg.eval, path
    )
    result.info["decoding"] = chosen
    sampling = {k: v for k, v in chosen.items() if k != "source"}
    runs: list[Run] = []
    for run_seed in eval_seeds(seed, task_cfg.eval.seeds):
        run_items, prompts = prompts_of.get(run_seed, prompts_of[seed])
        outputs = _walk_ladder(gen, prompts, sampling, run_seed, task_cfg, result)
        if outputs is None:
            return _ladder_failed(result)
        runs.append(Run(run_seed, run_items, prompts, outputs))
    return _scored_runs(result, task, runs)


def default_decoding(protocol: str) -> str:
    """``paper`` decodes with the model's generation config, ``strict`` with the task's."""
    return "model" if protocol == "paper" else "task"


def eval_seeds(seed: int, count: int) -> list[int]:
    """The seeds of ``task.eval.seeds`` evaluations: ``seed``, ``seed + 1``, ..."""
    return [seed + k for k in range(max(1, count))]


def _uses_tools(task: Task, items: list[Item]) -> bool:
    return bool(items) and task.tools(items[0]) is not None


def _walk_ladder(
    gen: backends.Generator,
    prompts: list[str],
    sampling: dict[str, Any],
    seed: int,
    task_cfg: TaskConfig,
    result: EvalResult,
) -> list[str] | None:
    """Outputs of the first rung of the retry ladder that generates; None if none does. Every
    attempt is recorded in the result's ``attempts``."""
    for max_new in _ladder(task_cfg):
        t0 = time.monotonic()
        attempt: dict[str, Any] = {"max_new_tokens": max_new, "seed": seed}
        try:
            outputs = gen.generate(
                prompts, Sampling(max_new, seed=seed, **sampling), task_cfg.eval.batch_size
            )
        except Exception as exc:  # OOM and friends: next rung of the ladder
            attempt.update(
                ok=False,
                error=f"{type(exc).__name__}: {exc}",
                wall_s=round(time.monotonic() - t0, 2),
            )
            result.record.attempts.append(attempt)
            log.warning("evaluation attempt failed (%s); retrying", attempt["error"])
            log.debug(traceback.format_exc())
            _free_memory()
            continue
        attempt.update(ok=True, wall_s=round(time.monotonic() - t0, 2))
        result.record.attempts.append(attempt)
        return outputs
    return None


def _ladder_failed(result: EvalResult) -> EvalResult:
    """Every rung failed: the model's result (OOM everywhere), or an infrastructure failure
    (a rung lost to the GPU or node says nothing about the model) that fails the stage."""
    failure = ladder_failure(result.record.attempts)
    if failure.kind == INFRA:
        message = f"every attempt of the retry ladder failed: {failure.message}"
        raise InfraError(message, failure.reason)
    return _failed(
        result, "eval_failed", "every attempt of the retry ladder failed", failure.reason
    )


def rescore(task_cfg: TaskConfig, samples_path: Path | str, protocol: str = "paper") -> EvalResult:
    """Score the outputs saved in a ``samples.jsonl`` again, without a model (each seed's rows
    against that seed's items, for tasks whose items depend on it)."""
    task = load_task(task_cfg, protocol)
    lines = Path(samples_path).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    by_seed: dict[int | None, list[dict[str, Any]]] = {}
    for row in rows:
        by_seed.setdefault(row.get("seed"), []).append(row)
    first = next(iter(by_seed.values()), [])
    if any([r["id"] for r in g] != [r["id"] for r in first] for g in by_seed.values()):
        raise ValueError(f"{samples_path}: the seeds' samples do not cover the same items")
    runs: list[Run] = []
    for seed, group in by_seed.items():
        task.seed = seed or 0
        by_id = {it.id: it for it in task.test_items()}
        unknown = [r["id"] for r in group if r["id"] not in by_id]
        if unknown:
            raise ValueError(
                f"{samples_path}: {len(unknown)} item ids are not in task {task_cfg.name} "
                f"(first: {unknown[0]}): were these samples written for another task?"
            )
        items = [by_id[r["id"]] for r in group]
        runs.append(Run(seed, items, [r["prompt"] for r in group], [r["output"] for r in group]))
    result = EvalResult.start(
        task_cfg.name, len(first), rescored=str(samples_path), protocol=protocol
    )
    return _scored_runs(result, task, runs)


def _scored(
    result: EvalResult,
    task: Task,
    items: list[Item],
    outputs: list[str],
    prompts: list[str] | None,
) -> EvalResult:
    return _scored_runs(result, task, [Run(None, items, prompts, outputs)])


@dataclass(frozen=True)
class Run:
    """One evaluation seed's generation: its items (their order and choices can depend on the
    seed), the prompts as rendered and the outputs."""

    seed: int | None
    items: list[Item]
    prompts: list[str] | None
    outputs: list[str]


def _scored_runs(result: EvalResult, task: Task, runs: list[Run]) -> EvalResult:
    """Score each run's outputs (one run per evaluation seed); the metrics are the means over
    the runs, with each run's score and the sample std (n-1) beside them when there are several.
    """
    per_run: list[dict[str, Any]] = []
    result.samples = []
    for run in runs:
        run_seed, items, prompts, outputs = run.seed, run.items, run.prompts, run.outputs
        try:
            metrics, samples = score_outputs(task, items, outputs, prompts)
        except Exception as exc:  # a grader endpoint, sandbox or scorer that fails is not a score
            failure = classify_exception(exc)
            reason = failure.reason if failure.kind == INFRA else "scorer"
            error = InfraError(f"scoring failed: {type(exc).__name__}: {exc}", reason)
            error.samples = result.samples + [
                row if run_seed is None else {**row, "seed": run_seed}
                for row in _unscored(items, outputs, prompts)
            ]
            raise error from exc
        if run_seed is not None:  # rescore= regroups by it (and GPQA's items follow it)
            samples = [{**row, "seed": run_seed} for row in samples]
        result.samples += samples
        per_run.append(metrics)
    metric = task.cfg.eval.metric
    mean = _mean_metrics(per_run)
    result.set(metrics=mean, score=float(mean[metric]))
    result.info["scores"] = protocol_scores(mean, metric, task.protocol)
    if len(runs) > 1:
        scores = [float(m[metric]) for m in per_run]
        result.info["score_std"] = statistics.stdev(scores)
        result.info["seed_scores"] = [
            {"seed": seed, "score": score, "scores": protocol_scores(m, metric, task.protocol)}
            for (seed, score, m) in zip([r.seed for r in runs], scores, per_run, strict=True)
        ]
    return result


def protocol_scores(metrics: dict[str, Any], metric: str, protocol: str) -> dict[str, float]:
    """``{protocol: score, other: score}`` from ``metric`` and its ``<metric>_<other>`` twins."""
    scores = {protocol: float(metrics[metric])}
    for other in PROTOCOLS:
        if other != protocol and f"{metric}_{other}" in metrics:
            scores[other] = float(metrics[f"{metric}_{other}"])
    return scores


def _mean_metrics(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    if len(per_run) == 1:
        return per_run[0]
    keys = [k for k, v in per_run[0].items() if isinstance(v, int | float)]
    return {k: sum(float(m[k]) for m in per_run) / len(per_run) for k in keys}


def _unscored(
    items: list[Item], outputs: list[str], prompts: list[str] | None
) -> list[dict[str, Any]]:
    """The outputs of a run whose scoring failed, kept for ``rescore``."""
    return [
        {"id": i.id, "prompt": p, "output": o, "target": i.target}
        for i, o, p in zip(items, outputs, prompts or [i.prompt for i in items], strict=True)
    ]


def _check_size(task_cfg: TaskConfig, items: list[Item], limit: int | None, r: EvalResult) -> None:
    expected = task_cfg.eval.n_items
    if expected and not limit and len(items) != expected:
        r.info["size_warning"] = f"{len(items)} items, the paper's set has {expected}"
        log.warning("%s: %s", task_cfg.name, r.info["size_warning"])


def _free_memory() -> None:
    try:
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def _failed(result: EvalResult, status: str, error: str, reason: str) -> EvalResult:
    """The model's own failure (a result); ``reason`` is its class in ``ptb.failures``."""
    result.set(status=status, error=error, score=None)
    result.info["failure"] = {"kind": "agent", "reason": reason}
    return result
