"""Whose failure is it: the one classification of failures that evaluate, score, status and the
report share.

Two kinds, never mixed (``docs/design.md``, "Failures"):

- ``agent``: the submitted model's own failure — no ``final_model``, missing or malformed files,
  an architecture that will not load, a template that will not render, out of memory on every
  rung of the retry ladder. A *result*: ``evaluate`` ends done with ``status: no_final_model |
  eval_failed`` and a ``reason``, and the run scores as the zero-shot base.
- ``infra``: anything that is not the model's fault — the task's data cannot be read, the task's
  grader or an LLM judge's model API fails (after its own retries), the code sandbox cannot
  start, CUDA/driver, node or disk errors, a rung that failed for such a reason. The stage
  *fails* (``error.json``), is retried on the next run (and by SLURM requeue), and never reaches
  ``score``.

Where ptb's own code knows it is infrastructure, it raises :class:`InfraError` (or a subclass);
errors that arrive as text (an attempt of the ladder, an older ``metrics.json``, an
``error.json``) are classified by :func:`classify_text`. Depends on nothing else in ptb.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ptb.records import MetricsRecord

AGENT = "agent"
INFRA = "infra"

AGENT_REASONS = {
    "no_final_model": "no final_model folder was submitted",
    "not_a_model": "final_model has no config.json or is not a model folder",
    "load": "the model's files or architecture will not load",
    "render": "the chat template cannot render the task's prompts",
    "oom": "out of memory on every rung of the retry ladder",
    "generation": "generation failed on every rung (the model's own error)",
}
"""Reason classes of the agent's failures (``metrics.json`` ``reason``)."""
INFRA_REASONS = {
    "data": "the task's data cannot be read",
    "grader": "the task's grader endpoint (the model that grades a model-graded task) failed",
    "judge": "an LLM judge's model API failed (the integrity stage's, not the run's)",
    "code_sandbox": "the sandbox that runs generated code cannot start or failed",
    "cuda": "a CUDA, driver or GPU fault",
    "disk": "a disk or file-system fault",
    "node": "a node, network or process fault",
    "scorer": "the task's scorer raised (ptb's fault, not the model's)",
    "environment": "a package ptb needs is missing where the stage runs",
    "stage": "a stage raised (ptb or the infrastructure)",
}
"""Reason classes of infrastructure failures (``error.json`` ``reason``)."""
LEGACY_GRADER = "judge"
"""The reason class an older ptb wrote for the task's grader endpoint (``metrics.json``, and
``error.json`` of a ``JudgeError``); today's is ``grader``."""


class InfraError(RuntimeError):
    """A failure that is not the submitted model's: the stage fails and is retried."""

    reason = "stage"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.samples: list[dict[str, Any]] = []
        """Outputs generated before the failure (a grader that went down while scoring): the
        evaluate stage keeps them in ``samples.jsonl`` for ``rescore=``; they are no score."""


class DataUnavailable(InfraError):
    reason = "data"


class GraderUnavailable(InfraError):
    """A task's grader endpoint that still fails after its retries."""

    reason = "grader"


class CodeSandboxError(InfraError):
    reason = "code_sandbox"


@dataclass(frozen=True)
class Failure:
    kind: str
    """agent | infra"""
    reason: str
    message: str = ""

    @property
    def retryable(self) -> bool:
        return self.kind == INFRA

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "reason": self.reason}


_OOM = re.compile(
    r"out of memory|OutOfMemoryError|CUDA_ERROR_OUT_OF_MEMORY|\bOOM\b"
    r"|No available memory for the cache blocks|can be stored in KV cache",  # vLLM's
    re.I,
)
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # JudgeError / "judge endpoint": an older ptb's names for the grader's failure
    (
        "grader",
        re.compile(
            r"GraderError|GraderUnavailable|grader endpoint|JudgeError|judge endpoint", re.I
        ),
    ),
    ("code_sandbox", re.compile(r"CodeSandboxError|sandboxed code run failed", re.I)),
    ("data", re.compile(r"DataUnavailable|cannot load the task's data", re.I)),
    ("disk", re.compile(r"No space left|Errno 28|Input/output error|Errno 5\b|Stale file", re.I)),
    (
        "cuda",
        re.compile(
            r"CUDA error|CUDA driver|cudaError|cuInit|CUDA_ERROR|NCCL|ECC error|no CUDA GPUs"
            r"|NVML|Xid|CUDA-capable device|device not ready|GPU is lost|driver version",
            re.I,
        ),
    ),
    ("node", re.compile(r"Bus error|Connection reset by peer|Broken pipe", re.I)),
    ("environment", re.compile(r"No module named|is not installed|the `gpu` extra", re.I)),
)
_MODEL_CUDA = re.compile(r"device-side assert", re.I)
"""A device-side assert is an index out of range: the model's (e.g. a vocabulary that does not
match its embeddings), not the GPU's."""


def classify_text(text: str | None) -> Failure:
    """The kind and reason class of an error message; the agent's when nothing says infra."""
    message = text or ""
    if _OOM.search(message) or _MODEL_CUDA.search(message):
        return Failure(AGENT, "oom" if _OOM.search(message) else "generation", message)
    for reason, pattern in _PATTERNS:
        if pattern.search(message):
            return Failure(INFRA, reason, message)
    return Failure(AGENT, "generation", message)


def classify_exception(exc: BaseException) -> Failure:
    """An exception's kind: :class:`InfraError` by type, anything else by its text."""
    if isinstance(exc, InfraError):
        return Failure(INFRA, exc.reason, str(exc))
    if isinstance(exc, OSError) and exc.errno in (5, 28, 116):  # EIO, ENOSPC, ESTALE
        return Failure(INFRA, "disk", str(exc))
    return classify_text(f"{type(exc).__name__}: {exc}")


def raise_if_infra(exc: BaseException, context: str) -> None:
    """Re-raise ``exc`` as an :class:`InfraError` when it is not the model's fault."""
    failure = classify_exception(exc)
    if failure.kind == INFRA:
        raise InfraError(f"{context}: {type(exc).__name__}: {exc}", failure.reason) from exc


def ladder_failure(attempts: Iterable[Mapping[str, Any]]) -> Failure:
    """Every rung failed: the model's failure only if every rung failed for the model's reason
    (e.g. out of memory); one rung lost to the infrastructure makes the whole evaluation so."""
    failures = [classify_text(str(a.get("error") or "")) for a in attempts if not a.get("ok")]
    infra = [f for f in failures if f.kind == INFRA]
    if infra:
        return Failure(INFRA, infra[0].reason, infra[0].message)
    if failures and all(f.reason == "oom" for f in failures):
        return Failure(AGENT, "oom")
    return Failure(AGENT, "generation", failures[-1].message if failures else "")


def metrics_failure(metrics: MetricsRecord | Mapping[str, Any]) -> Failure | None:
    """Why an ``evaluate/metrics.json`` holds no score, or None when it holds one.

    Written by this version, it names ``failure``; written by an older ptb, its ``error`` text
    and attempts are classified, so an infrastructure failure recorded as a result is retried.
    A plain dict (the file's JSON) is read as the record it holds."""
    if not isinstance(metrics, MetricsRecord):
        metrics = MetricsRecord.from_json({"status": "", **metrics})
    if metrics.ok and metrics.score is not None:
        return None
    error = str(metrics.error or "")
    recorded = metrics.extra.get("failure")
    if isinstance(recorded, Mapping) and recorded.get("kind") in (AGENT, INFRA):
        reason = str(recorded.get("reason"))  # metrics.json is the evaluate stage's
        return Failure(
            str(recorded["kind"]), "grader" if reason == LEGACY_GRADER else reason, error
        )
    if metrics.status == "no_final_model":
        return Failure(AGENT, "no_final_model", error)
    if "every attempt of the retry ladder failed" in error:
        return ladder_failure(metrics.attempts or [])
    if "no config.json" in error:
        return Failure(AGENT, "not_a_model", error)
    failure = classify_text(error)
    if failure.kind == AGENT and error.startswith("scoring failed"):
        return Failure(INFRA, "scorer", error)  # the scorer's fault is never the model's
    if failure.kind == AGENT and error.startswith("cannot load model"):
        return Failure(AGENT, "load", error)
    if failure.kind == AGENT and error.startswith("cannot render"):
        return Failure(AGENT, "render", error)
    return failure


def error_failure(error: Mapping[str, Any]) -> Failure:
    """The kind of a stage's ``error.json`` (always infrastructure's: a stage that raised is
    retried), with the recorded reason class or one read from its text."""
    reason = error.get("reason")
    if reason == LEGACY_GRADER and error.get("type") == "JudgeError":
        reason = "grader"  # an older ptb's grader failure
    if isinstance(reason, str) and reason in INFRA_REASONS:
        return Failure(INFRA, reason, str(error.get("message") or ""))
    text = f"{error.get('type', '')}: {error.get('message', '')}"
    found = classify_text(text)
    return Failure(INFRA, found.reason if found.kind == INFRA else "stage", text)
