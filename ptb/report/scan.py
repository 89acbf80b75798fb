"""Find the run directories below a folder and read what the report needs from each.

A run directory is any folder holding ``score.json`` or ``manifest.json`` (see the run-directory
contract in the design map). The walk does not descend into a run directory, so files an agent left
in ``solve/workspace`` are never mistaken for runs.

Failures are told apart as everywhere else (``ptb.failures``): a run without score.json is an
infrastructure failure (``failure: infra``, retryable) when a stage failed, or when its
``metrics.json`` records an infrastructure failure as a result — a score.json an older ptb built
on such a result is not trusted either; otherwise it is unfinished (``failure: None``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ptb import rundir
from ptb.failures import INFRA, error_failure, metrics_failure
from ptb.fsutil import read_json
from ptb.records import Manifest, MetricsRecord, ScoreRecord
from ptb.rundir import RunDir

BASELINE_AGENTS = ("baseline_zeroshot", "baseline_fewshot", "baseline_instruct")
FALLBACKS = ("flagged", "no_final_model", "eval_failed", "judge_failed")
_SEED = re.compile(r"^s(\d+)$")


class ReportError(Exception):
    """A problem the user must fix (bad input files, underivable weights); the CLI prints it."""


@dataclass(frozen=True)
class RunInfo:
    """What groups a run: the method (agent, scaffold, budget) and the cell (model, task, seed)."""

    agent: str
    scaffold: str
    model: str
    task: str
    seed: int
    budget: str | None = None

    @property
    def is_baseline(self) -> bool:
        return self.agent in BASELINE_AGENTS


@dataclass(frozen=True)
class ScoredRun:
    path: Path
    info: RunInfo
    final: float
    """Fraction in [0, 1], as in score.json."""
    raw: float | None
    flagged: bool
    fallback: str | None
    wall_s: float | None = None
    cost_usd: float | None = None
    eval_failure: str | None = None
    """The reason class of the agent's evaluation failure (oom, load, ...), when it fell back."""
    base: float | None = None
    """The zero-shot base's score this run falls back to (``score.json`` ``base``)."""


@dataclass(frozen=True)
class UnscoredRun:
    """A run directory without score.json: failed, still running, or never finished."""

    path: Path
    run_id: str
    info: RunInfo | None
    stage: str | None
    """The failed stage, else the first stage not done; None when the manifest says nothing."""
    status: str | None
    error: str | None = None
    failure: str | None = None
    """``infra`` (a stage failed: not scored yet, retried on re-run) or None (unfinished)."""
    reason: str | None = None
    """The infrastructure failure's reason class (grader, data, cuda, ...)."""


@dataclass(frozen=True)
class Scan:
    scored: list[ScoredRun]
    unscored: list[UnscoredRun]


def find_run_dirs(root: Path) -> list[Path]:
    """Every folder below ``root`` (``root`` included) that holds score.json or manifest.json."""
    return rundir.find_run_dirs(root, ("score", "manifest"))


def scan(root: Path) -> Scan:
    if not root.is_dir():
        raise ReportError(f"results folder {root} does not exist or is not a folder")
    scored: list[ScoredRun] = []
    unscored: list[UnscoredRun] = []
    for run_dir in find_run_dirs(root):
        config = _read_config(run_dir)
        stale = _infra_metrics(run_dir)
        if RunDir(run_dir).score.is_file() and stale is None:
            scored.append(read_scored(run_dir, config))
        else:
            unscored.append(read_unscored(run_dir, config, stale))
    return Scan(scored, unscored)


def read_score(path: Path) -> ScoreRecord:
    """``score.json`` as a record, its fields checked (a ``ReportError`` names the bad one)."""
    data = _load_json(path)
    for key in ("agent", "scaffold", "model", "task"):
        _str_field(data, key, path)
    _int_field(data, "seed", path)
    _required_fraction(data, "final", path)
    _fraction(data, "raw", path, nullable=True)
    _bool_field(data, "flagged", path)
    _fallback(data, path)
    return ScoreRecord.from_json(data)


def read_scored(run_dir: Path, config: dict[str, Any]) -> ScoredRun:
    run = RunDir(run_dir)
    score = read_score(run.score)
    info = RunInfo(
        agent=score.agent,
        scaffold=score.scaffold,
        model=score.model,
        task=score.task,
        seed=score.seed,
        budget=_budget(config),
    )
    wall_s, cost = _usage(run.usage)
    return ScoredRun(
        path=run_dir,
        info=info,
        final=float(score.final),
        raw=_opt_number(score.raw),
        flagged=score.flagged,
        fallback=score.fallback,
        wall_s=wall_s,
        cost_usd=cost,
        eval_failure=_opt_str(score.eval_failure),
        base=_opt_number(score.base),
    )


def read_unscored(run_dir: Path, config: dict[str, Any], stale: str | None = None) -> UnscoredRun:
    """``stale``: the reason of an infrastructure failure that ``metrics.json`` records as a
    result (see :func:`_infra_metrics`)."""
    manifest_path = RunDir(run_dir).manifest
    manifest = (
        Manifest.from_json(_load_json(manifest_path)) if manifest_path.is_file() else Manifest()
    )
    run_id = str(manifest.run_id or run_dir.name)
    info = _info_from_config(config) or info_from_run_id(run_id, _budget(config))
    if stale is not None:
        return UnscoredRun(
            run_dir, run_id, info, "evaluate", "failed",
            f"an infrastructure failure ({stale}) recorded as a result by an older ptb: re-run",
            failure=INFRA, reason=stale,
        )  # fmt: skip
    stage, status = stuck_stage(manifest)
    error = _error_json(run_dir, stage) if stage else None
    return UnscoredRun(
        path=run_dir,
        run_id=run_id,
        info=info,
        stage=stage,
        status=status,
        error=_error_message(run_dir, stage) if stage else None,
        failure=INFRA if status == "failed" else None,
        reason=error_failure(error or {}).reason if status == "failed" else None,
    )


def _infra_metrics(run_dir: Path) -> str | None:
    """The reason class when ``evaluate/metrics.json`` records an infrastructure failure."""
    path = RunDir(run_dir).metrics
    if not path.is_file():
        return None
    failure = metrics_failure(MetricsRecord.from_json(_load_json(path)))
    return failure.reason if failure is not None and failure.kind == INFRA else None


def stuck_stage(manifest: Manifest) -> tuple[str | None, str | None]:
    """The first failed stage, else the first stage that is not done or skipped."""
    entries = [(name, e.status) for name, e in manifest.stages.items()]
    for name, status in entries:
        if status == "failed":
            return name, status
    for name, status in entries:
        if status not in ("done", "skipped"):
            return name, str(status)
    return None, None


def info_from_run_id(run_id: str, budget: str | None = None) -> RunInfo | None:
    """Parse ``<agent>__<scaffold>__<model>__<task>__s<seed>`` (the run-id contract)."""
    parts = run_id.split("__")
    seed = _SEED.match(parts[-1])
    if len(parts) != 5 or seed is None or not all(parts[:4]):
        return None
    agent, scaffold, model, task = parts[:4]
    return RunInfo(agent, scaffold, model, task, int(seed[1]), budget=budget)


def _info_from_config(config: dict[str, Any]) -> RunInfo | None:
    names = [_group_name(config, g) for g in ("agent", "scaffold", "model", "task")]
    seed = config.get("seed")
    if any(n is None for n in names) or not isinstance(seed, int):
        return None
    agent, scaffold, model, task = (str(n) for n in names)
    return RunInfo(agent, scaffold, model, task, seed, budget=_budget(config))


def _group_name(config: dict[str, Any], group: str) -> str | None:
    section = config.get(group)
    name = section.get("name") if isinstance(section, dict) else None
    return name if isinstance(name, str) else None


def _budget(config: dict[str, Any]) -> str | None:
    return _group_name(config, "budget")


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = RunDir(run_dir).config
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReportError(f"{path}: not valid YAML ({exc})") from exc
    return data if isinstance(data, dict) else {}


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _usage(path: Path) -> tuple[float | None, float | None]:
    if not path.is_file():
        return None, None
    data = _load_json(path)
    return _opt_number(data.get("wall_s")), _opt_number(data.get("cost_usd"))


def _error_json(run_dir: Path, stage: str) -> dict[str, Any] | None:
    path = RunDir(run_dir).error_file(stage)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _error_message(run_dir: Path, stage: str) -> str | None:
    data = _error_json(run_dir, stage)
    if data is None:
        return None
    text = f"{data.get('type', 'error')}: {data.get('message', '')}".strip()
    return text[:300]


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str_field(data: dict[str, Any], key: str, path: Path) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ReportError(f"{path}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _int_field(data: dict[str, Any], key: str, path: Path) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportError(f"{path}: {key!r} must be an integer, got {value!r}")
    return value


def _bool_field(data: dict[str, Any], key: str, path: Path) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise ReportError(f"{path}: {key!r} must be true or false, got {value!r}")
    return value


def _fraction(data: dict[str, Any], key: str, path: Path, *, nullable: bool) -> float | None:
    if key not in data:
        raise ReportError(f"{path}: missing key {key!r}")
    value = data[key]
    if value is None and nullable:
        return None
    number = _opt_number(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise ReportError(f"{path}: {key!r} must be a number in [0, 1], got {value!r}")
    return number


def _required_fraction(data: dict[str, Any], key: str, path: Path) -> float:
    value = _fraction(data, key, path, nullable=False)
    assert value is not None  # _fraction raises on null when not nullable
    return value


def _fallback(data: dict[str, Any], path: Path) -> str | None:
    value = data.get("fallback")
    if value is not None and value not in FALLBACKS:
        raise ReportError(f"{path}: 'fallback' must be null or one of {FALLBACKS}, got {value!r}")
    return value
