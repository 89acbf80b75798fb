"""Plan runs: resolve the composed config into run ids, run directories and their baselines."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from ptb import __version__
from ptb.config.root import RunConfig
from ptb.config.task import upgrade_saved
from ptb.fsutil import atomic_write_text
from ptb.rundir import RunDir, make_run_id, new_manifest, publish_run_dir, stage_run_dir
from ptb.secrets import Redactor, redact_mapping
from ptb.stages import StageContext, applicable

Composer = Callable[[list[str]], DictConfig]
BASELINE_AGENT = "baseline_zeroshot"
_VOLATILE = ("force", "progress", "tracker", "launcher", "preflight", "retention")
"""Settings that may change between re-runs of the same run (they do not change its result;
retention is reported beside the score, never in it, and may be added to a finished run)."""


class RunConflict(RuntimeError):
    """The run directory exists and holds a different configuration."""


@dataclass
class RunPlan:
    cfg: RunConfig
    node: DictConfig | None
    """The composed config; None when the planner gives ``saved`` instead (sweeps do)."""
    overrides: list[str]
    run: RunDir
    baseline: RunPlan | None
    saved: dict[str, Any] | None = None
    """The redacted, resolved config to save, when the planner computed it already; else it is
    taken from ``node``."""
    text: str | None = None
    """``config_text(saved)``, when the planner rendered it already."""

    def context(self) -> StageContext:
        return StageContext(self.cfg, self.run, self.baseline.run if self.baseline else None)


def to_run_config(node: DictConfig) -> RunConfig:
    cfg = OmegaConf.to_object(node)
    assert isinstance(cfg, RunConfig)
    return cfg


def run_dir_for(cfg: RunConfig) -> RunDir:
    run_id = make_run_id(cfg.agent.name, cfg.scaffold.name, cfg.model.name, cfg.task.name, cfg.seed)
    return RunDir.at(cfg.results_dir, cfg.experiment, run_id)


def baseline_overrides(overrides: list[str], seed: int) -> list[str]:
    """The user's overrides with agent/scaffold/seed replaced: the zero-shot baseline's run."""
    dropped = ("agent", "scaffold", "seed")
    keep = [o for o in overrides if o.lstrip("+~").split("=")[0].split(".")[0] not in dropped]
    return [*keep, f"agent={BASELINE_AGENT}", f"seed={seed}"]


def plan_run(node: DictConfig, overrides: list[str], compose: Composer | None) -> RunPlan:
    cfg = to_run_config(node)
    baseline = None
    if cfg.agent.kind != "baseline" and compose is not None:
        b_over = baseline_overrides(overrides, cfg.baseline_seed)
        baseline = plan_run(compose(b_over), b_over, None)
    return RunPlan(cfg, node, overrides, run_dir_for(cfg), baseline)


def saved_config(node: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    assert isinstance(data, dict)
    redacted = redact_mapping(data)
    assert isinstance(redacted, dict)
    return redacted


def materialize(plan: RunPlan) -> dict[str, Any]:
    """Create the run directory: config.yaml (redacted), overrides.yaml, manifest.json; returns
    the manifest as written."""
    manifest, staging = stage(plan)
    if staging is not None and not publish_run_dir(plan.run, staging, manifest):
        return materialize(plan)  # another process created it meanwhile: check it
    return manifest


def stage(plan: RunPlan) -> tuple[dict[str, Any], Path | None]:
    """``materialize``, except that a new run directory is left staged: its files are written
    into a hidden folder beside it, returned with the manifest to write, and the caller makes
    it the run directory with ``rundir.publish_run_dir`` (after changing the manifest: the
    SLURM launcher adds the job ids and so writes each new manifest once). An existing run
    directory is checked and updated as ``materialize`` does (returned folder None)."""
    run = plan.run
    if plan.text is not None:
        text = plan.text
    elif plan.saved is not None:
        text = config_text(plan.saved)
    else:
        assert plan.node is not None, "a RunPlan needs node or saved"
        text = config_text(saved_config(plan.node))
    text = _redactor()(text)
    overrides = _dump(list(plan.overrides))
    stages = applicable(plan.cfg)
    info = {"ptb_version": __version__, "git_sha": git_sha()}
    staging = stage_run_dir(run, {run.config.name: text, run.overrides.name: overrides})
    if staging is not None:
        return new_manifest(run, stages, info), staging
    if run.config.exists():
        _check_same(run.config, text)
    run.path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.config, text)
    atomic_write_text(run.overrides, overrides)
    return run.init_manifest(stages, info), None


# libyaml's dumper and loader when PyYAML has them: a sweep writes thousands of configs.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


def config_text(saved: dict[str, Any]) -> str:
    """``config.yaml``'s text for a saved config (before secret values are redacted)."""
    return _dump(saved)


_REDACTORS: dict[frozenset[tuple[str, str]], Redactor] = {}


def _redactor() -> Redactor:
    """A ``Redactor`` of the current environment (one per distinct environment: a sweep
    writes thousands of configs)."""
    key = frozenset(os.environ.items())
    if key not in _REDACTORS:
        _REDACTORS.clear()
        _REDACTORS[key] = Redactor()
    return _REDACTORS[key]


def _check_same(path: Path, new_text: str) -> None:
    old = _flat(upgrade_saved(yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}))
    new = _flat(yaml.load(new_text, Loader=_Loader) or {})
    diff = sorted(
        k
        for k in old.keys() | new.keys()
        if k.split(".")[0] not in _VOLATILE and old.get(k) != new.get(k)
    )
    if diff:
        raise RunConflict(
            f"{path.parent} already holds a run with a different config ({', '.join(diff[:8])}). "
            "Use another experiment=... or seed=..., or delete that run directory."
        )


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


@functools.cache
def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def load_saved_config(run: RunDir) -> RunConfig:
    """The typed config of an existing run, from its (redacted) config.yaml."""
    if not run.config.exists():
        raise FileNotFoundError(f"{run.path} has no config.yaml: not a ptb run directory")
    saved = OmegaConf.to_container(OmegaConf.load(run.config))
    assert isinstance(saved, dict)
    node = OmegaConf.merge(OmegaConf.structured(RunConfig), upgrade_saved(saved))
    assert isinstance(node, DictConfig)
    return to_run_config(node)


def baseline_run_of(run: RunDir, cfg: RunConfig) -> RunDir | None:
    """The zero-shot baseline run beside ``run`` (None for baseline runs)."""
    if cfg.agent.kind == "baseline":
        return None
    run_id = make_run_id(BASELINE_AGENT, "none", cfg.model.name, cfg.task.name, cfg.baseline_seed)
    return RunDir(run.path.parent / run_id)
