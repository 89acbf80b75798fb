"""The typed records of the run directory: what ``solve/exit.json``, ``evaluate/metrics.json``,
``judge/verdict.json``, ``score.json`` and ``manifest.json`` hold (see docs/design.md,
"Records").

Each record is a frozen dataclass with ``to_json()`` (the dict written to disk) and
``from_json()`` (the dict read back). Every file written carries ``schema`` (``SCHEMA``); a file
without it (written before records had a version) reads as version 0, the same keys. Keys a
record does not know (task-specific metrics, keys of a newer version) are kept in ``extra`` and
written back unchanged, so reading and writing a record never loses what another version wrote.

This module depends on nothing else in ptb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Self, cast

SCHEMA = 1
"""The version of the records this ptb writes. 0: files from before the field existed (the
same keys, read as they are)."""


def _schema(data: dict[str, Any]) -> int:
    value = data.get("schema", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@cache
def _names(cls: type) -> frozenset[str]:
    """A record's keys: its fields but ``extra`` (once per class: a sweep reads thousands)."""
    return frozenset(f.name for f in fields(cls)) - {"extra"}


class Record:
    """``to_json``/``from_json`` for a dataclass with ``schema`` and ``extra``: the known keys in
    field order (``schema`` first), then ``extra``'s. ``_OPTIONAL`` keys are left out when None,
    as the writers before the records did. ``_REQUIRED`` keys must be in a file read back: a
    file without one is malformed, never read as a default (a score.json without ``final`` is
    not a score of 0)."""

    _OPTIONAL: ClassVar[tuple[str, ...]] = ()
    _REQUIRED: ClassVar[tuple[str, ...]] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name in self._OPTIONAL and value is None:
                continue
            out[f.name] = value
        extra: dict[str, Any] = getattr(self, "extra", {})
        out.update({k: v for k, v in extra.items() if k not in out})
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        missing = [k for k in cls._REQUIRED if k not in data]
        if missing:
            raise ValueError(f"{cls.__name__}: malformed, no {', '.join(map(repr, missing))}")
        names = _names(cast(type, cls))
        kwargs = {k: v for k, v in data.items() if k in names}
        if "schema" in names:
            kwargs["schema"] = _schema(data)
        extra = {k: v for k, v in data.items() if k not in names}
        make: Any = cls  # a dataclass subclass: its fields take these
        record: Self = make(extra=extra, **kwargs)
        return record

    @classmethod
    def read(cls, path: Path) -> Self:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class ExitRecord(Record):
    """``solve/exit.json``: how the agent ended. ``reason``: finished | timeout | killed | crashed
    | api_error | usage_limit | stopped | interrupted | void (the agent was not started)."""

    _REQUIRED = ("reason",)

    schema: int = SCHEMA
    exit_code: int | None = None
    reason: str = ""
    api_error: str | None = None
    error_message: str | None = None
    wall_s: float | None = None
    detail: str | None = None
    final_model: bool = False
    pruned_files: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def void(cls, detail: str) -> ExitRecord:
        """The run is void: the agent was not started (e.g. the GPU check failed)."""
        return cls(exit_code=None, reason="void", wall_s=0.0, detail=detail)


@dataclass(frozen=True)
class MetricsRecord(Record):
    """``evaluate/metrics.json``. ``status``: ok | eval_failed | no_final_model; ``metrics`` the
    task's own numbers; the evaluation's other keys (``failure``, ``mode``, ``protocol``,
    per-seed results, ...) are in ``extra``."""

    _REQUIRED = ("status",)

    schema: int = SCHEMA
    task: str = ""
    status: str = ""
    score: float | None = None
    n: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class VerdictRecord(Record):
    """``judge/verdict.json``: one bool per verdict category, ``flagged`` (what the score falls
    back on, by ``fallback_rules``), and which checks failed, ran, flagged or were recorded
    only."""

    _REQUIRED = ("flagged",)

    schema: int = SCHEMA
    contamination: bool = False
    disallowed_model: bool = False
    tampering: bool = False
    api_misuse: bool = False
    flagged: bool = False
    fallback_rules: str = "strict"
    flagged_paper: bool = False
    flagged_strict: bool = False
    failed_checks: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    flagged_by: list[str] = field(default_factory=list)
    recorded_only: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreRecord(Record):
    """``score.json``: fractions in [0, 1]. ``fallback``: None | flagged | no_final_model |
    eval_failed | judge_failed; ``base`` the zero-shot base's score a fallback takes (None for
    baselines); ``eval_failure`` (written only when set) the reason class of the model's own
    evaluation failure."""

    _OPTIONAL = ("eval_failure",)
    _REQUIRED = ("final",)

    schema: int = SCHEMA
    run_id: str = ""
    agent: str = ""
    scaffold: str = ""
    model: str = ""
    task: str = ""
    seed: int = 0
    budget: str | None = None
    raw: float | None = None
    eval_failure: str | None = None
    final: float = 0.0
    flagged: bool = False
    fallback: str | None = None
    base: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageEntry(Record):
    """One stage of ``manifest.json``. Launchers add their own keys (``slurm_dir``, ...) and the
    wrapper ``wall_s``: the ones not named here are in ``extra``. Entries carry no ``schema``:
    the manifest's covers them."""

    status: str = "pending"
    job_id: str | None = None
    started: str | None = None
    ended: str | None = None
    attempts: int = 0
    wall_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _OPTIONAL = ("wall_s",)


@dataclass(frozen=True)
class AgentRetry(Record):
    """One entry of the manifest's ``agent_retries``: an agent failure retried on request, its
    attempt moved aside to ``attempts/<attempt>/`` because of ``why`` (``crashed``, ...)."""

    _OPTIONAL = ("at",)

    attempt: int = 0
    why: str = ""
    at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest(Record):
    """``manifest.json``: the run's id, when it was created, ptb's version and commit (in
    ``extra`` with the planner's other keys), one ``StageEntry`` per stage and the agent
    failures retried (``agent_retries``: written only once there is one)."""

    schema: int = SCHEMA
    run_id: str = ""
    created: str | None = None
    stages: dict[str, StageEntry] = field(default_factory=dict)
    agent_retries: list[AgentRetry] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["stages"] = {name: e.to_json() for name, e in self.stages.items()}
        if self.agent_retries:
            out["agent_retries"] = [r.to_json() for r in self.agent_retries]
        else:
            del out["agent_retries"]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        stages = data.get("stages") if isinstance(data, dict) else None
        entries = {
            str(name): StageEntry.from_json(e)
            for name, e in (stages.items() if isinstance(stages, dict) else ())
            if isinstance(e, dict)
        }
        retries = data.get("agent_retries") if isinstance(data, dict) else None
        tried = [
            AgentRetry.from_json(r)
            for r in (retries if isinstance(retries, list) else ())
            if isinstance(r, dict)
        ]
        plain = super().from_json(
            {k: v for k, v in data.items() if k not in ("stages", "agent_retries")}
        )
        return replace(plain, stages=entries, agent_retries=tried)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """The manifest at ``path``; an empty one when there is none."""
        if not path.exists():
            return cls(schema=0)
        return super().read(path)

    def status(self, stage: str, absent: str = "pending") -> str:
        entry = self.stages.get(stage)
        return entry.status if entry is not None else absent

    def entry(self, stage: str) -> StageEntry:
        return self.stages.get(stage) or StageEntry()
