"""Multirun sweeps (``python -m ptb -m ...``): compose every run, check them all, then hand the
whole sweep to its launcher in one call.

Hydra's basic launcher composes and runs one job at a time (about 0.1 s to compose one run of
this config, so minutes for the paper grid), and its submitit launcher waits for every job to
end. ptb's Hydra launcher (``hydra_plugins/ptb_launcher``, selected in ``conf/config.yaml``)
calls ``launch_sweep`` instead, which

- composes each distinct set of config-group choices once (and most of them by substitution,
  see ``SweepComposer``) and applies the plain value overrides (``seed=1``) to a copy: every
  run's config is exactly what ``python -m ptb <its overrides>`` composes;
- plans every run and its (shared) baseline and preflights each distinct configuration once;
  if any run has a problem, nothing is created or submitted;
- hands all runs to the launcher at once: ``launcher=slurm`` submits them as job arrays and
  returns, ``launcher=local`` runs them one after another.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, ValueNode, open_dict, read_write

from ptb.config.root import RunConfig
from ptb.launch import LAUNCHERS
from ptb.launch.local import RunOutcome
from ptb.plan import (
    RunConflict,
    RunPlan,
    baseline_overrides,
    run_dir_for,
    saved_config,
    to_run_config,
)
from ptb.preflight import Problem, preflight

log = logging.getLogger("ptb")


VERIFY = 2
"""Configs built by substitution that are checked against a full compose, per sweep shape."""


class SweepComposer:
    """``overrides -> run config`` for the runs of one multirun, exactly as Hydra composes them.

    Two savings, both exact:

    - memoised: each distinct set of config-group choices is composed once; plain value
      overrides (``seed=1``) are applied to a copy afterwards, which is what Hydra's compose
      does too (it applies them after merging the defaults);
    - factorised: a run that differs from the sweep's first run (its *reference*) in several
      group choices (agent, model, task) is built from the reference by taking, for each
      differing choice, the top-level settings that this choice alone changes (its
      *footprint*) from the reference composed with only that choice changed. The footprints
      of the combined choices must be disjoint (else the run is composed in full), and the
      first ``VERIFY`` runs built this way per sweep shape are compared with a full compose
      (any difference: that shape is composed in full from then on). A grid of 14 agents x
      4 models x 7 tasks costs 26 composes instead of 392.
    """

    def __init__(self, loader: Any, master: DictConfig) -> None:
        self.loader = loader
        self.master = master
        self.parser = OverridesParser.create()
        self.groups = set(master.hydra.runtime.choices.keys())
        self._bases: dict[tuple[str, ...], DictConfig] = {}
        self._plain: dict[tuple[str, ...], dict[str, Any]] = {}
        self._refs: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._verified: dict[tuple[str, ...], int] = {}
        self._no_factor: set[tuple[str, ...]] = set()
        self._parsed: dict[str, Override] = {}
        self.composed = 0

    def _is_group(self, o: Override) -> bool:
        key = o.key_or_group
        if key.startswith("hydra") or o.package is not None:
            return True
        if isinstance(o.value(), dict):
            return False
        return key in self.groups or bool(self.loader.repository.group_exists(key))

    def _split(self, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[Override]]:
        parsed = [self._parse(text) for text in overrides]
        is_group = [self._is_group(o) for o in parsed]
        groups = tuple(text for text, g in zip(overrides, is_group, strict=True) if g)
        return groups, [o for o, g in zip(parsed, is_group, strict=True) if not g]

    def __call__(self, overrides: Sequence[str]) -> DictConfig:
        groups, values = self._split(overrides)
        cfg = copy.deepcopy(self._base(groups))
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        return cfg

    def resolve(self, overrides: Sequence[str]) -> tuple[RunConfig, dict[str, Any], DictConfig]:
        """The run's typed config and saved (resolved, redacted) config, plus a node for it.

        When every value override sets an existing scalar (``seed=1``, ``budget.hours=2``),
        they are set on the shared base, read, and set back: no copy of the whole config per
        run. The node returned is then the shared base, to be used for nothing else.
        """
        groups, values = self._split(overrides)
        base = self._base(groups)
        previous = _set_scalars(base, values)
        if previous is None:
            node = self(overrides)
            return to_run_config(node), saved_config(node), node
        try:
            return to_run_config(base), saved_config(base), base
        finally:
            _restore(base, previous)

    def _parse(self, text: str) -> Override:
        if text not in self._parsed:
            self._parsed[text] = self.parser.parse_overrides(overrides=[text])[0]
        return self._parsed[text]

    def _base(self, groups: tuple[str, ...]) -> DictConfig:
        base = self._bases.get(groups)
        if base is None:
            base = self._substituted(groups) or self._compose(groups)
            self._bases[groups] = base
        return base

    def _compose(self, groups: tuple[str, ...]) -> DictConfig:
        cfg = self.loader.load_sweep_config(self.master, list(groups))
        with read_write(cfg), open_dict(cfg):
            del cfg["hydra"]
        self.composed += 1
        return cfg

    def _as_dict(self, groups: tuple[str, ...]) -> dict[str, Any]:
        if groups not in self._plain:
            data = OmegaConf.to_container(self._base(groups), resolve=False)
            assert isinstance(data, dict)
            self._plain[groups] = {str(k): v for k, v in data.items()}
        return self._plain[groups]

    def _footprint(self, single: tuple[str, ...], ref: tuple[str, ...]) -> set[str]:
        a, b = self._as_dict(single), self._as_dict(ref)
        return {k for k in a.keys() | b.keys() if a.get(k, _MISSING) != b.get(k, _MISSING)}

    def _substituted(self, groups: tuple[str, ...]) -> DictConfig | None:
        shape = tuple(g.split("=", 1)[0] for g in groups)
        ref = self._refs.setdefault(shape, groups)
        differ = [i for i, (g, r) in enumerate(zip(groups, ref, strict=True)) if g != r]
        if len(differ) < 2 or shape in self._no_factor:
            return None
        parts: list[tuple[tuple[str, ...], set[str]]] = []
        taken: set[str] = set()
        for i in differ:
            single = (*ref[:i], groups[i], *ref[i + 1 :])
            keys = self._footprint(single, ref)
            if keys & taken:
                return None  # two choices change the same setting: compose this run in full
            taken |= keys
            parts.append((single, keys))
        cfg = copy.deepcopy(self._base(ref))
        with read_write(cfg), open_dict(cfg):
            for single, keys in parts:
                src = self._base(single)
                for key in keys:
                    if key in src:
                        cfg[key] = copy.deepcopy(src[key])
                    else:
                        del cfg[key]
        if self._verified.get(shape, 0) < VERIFY:
            self._verified[shape] = self._verified.get(shape, 0) + 1
            full = self._compose(groups)
            if OmegaConf.to_container(full) != OmegaConf.to_container(cfg):
                log.warning("sweep: choices interact in %s; composing every run in full", shape)
                self._no_factor.add(shape)
                return full
        return cfg


_MISSING = object()
_Slot = tuple[DictConfig, str, Any]


def _set_scalars(base: DictConfig, values: list[Override]) -> list[_Slot] | None:
    """Apply plain ``key=scalar`` overrides of existing leaves in place; returns what to put
    back, or None (nothing changed) when an override is anything else."""
    slots: list[_Slot] = []
    for o in values:
        value = o.value()
        if o.type != OverrideType.CHANGE or isinstance(value, dict | list):
            return None
        parent_key, _, leaf = o.key_or_group.rpartition(".")
        try:
            parent = OmegaConf.select(base, parent_key) if parent_key else base
            node = parent._get_node(leaf) if isinstance(parent, DictConfig) else None
        except Exception:
            return None
        if not isinstance(node, ValueNode) or not isinstance(parent, DictConfig):
            return None
        if parent is not base and parent._get_root() is not base:
            return None  # reached through an interpolation: not the base's own node
        slots.append((parent, leaf, node._value()))
    done: list[_Slot] = []
    try:
        for (parent, leaf, old), o in zip(slots, values, strict=True):
            with read_write(parent):
                parent[leaf] = o.value()
            done.append((parent, leaf, old))
    except Exception:
        _restore(base, done)
        return None
    return done


def _restore(base: DictConfig, slots: list[_Slot]) -> None:
    for parent, leaf, old in reversed(slots):
        with read_write(parent):
            parent[leaf] = old


PREFLIGHT_FREE = ("seed", "baseline_seed", "experiment", "force", "progress")
"""Run settings that no preflight check reads: runs differing only in these are checked once."""


def _preflight_key(plan: RunPlan) -> str:
    """Every setting a check may read (the whole config but ``PREFLIGHT_FREE``): two runs that
    differ in ``judge``, ``gateway``, ``task.data`` or ``task.eval`` are both checked."""
    c = plan.cfg
    return repr({k: v for k, v in vars(c).items() if k not in PREFLIGHT_FREE})


def check(plans: list[RunPlan]) -> dict[str, list[Problem]]:
    """Preflight problems by run id; each distinct configuration is checked once."""
    seen: dict[str, list[Problem]] = {}
    found: dict[str, list[Problem]] = {}
    for plan in plans:
        for p in (plan.baseline, plan):
            if p is None or not p.cfg.preflight:
                continue
            key = _preflight_key(p)
            if key not in seen:
                seen[key] = preflight(p.cfg)
            if seen[key]:
                found.setdefault(plan.run.run_id, [])
                found[plan.run.run_id] += [x for x in seen[key] if x not in found[plan.run.run_id]]
    return found


def plan_sweep(composer: SweepComposer, job_overrides: Sequence[Sequence[str]]) -> list[RunPlan]:
    """``plan_run`` for every job, with each distinct baseline planned once."""
    baselines: dict[tuple[str, ...], RunPlan] = {}
    plans = []
    for overrides in job_overrides:
        plan = _plan(composer, list(overrides))
        if plan.cfg.agent.kind != "baseline":
            b_over = tuple(baseline_overrides(list(overrides), plan.cfg.baseline_seed))
            if b_over not in baselines:
                baselines[b_over] = _plan(composer, list(b_over))
            plan.baseline = baselines[b_over]
        plans.append(plan)
    return plans


def _plan(composer: SweepComposer, overrides: list[str]) -> RunPlan:
    """``plan_run(node, overrides, None)``, without a copy of the config per run."""
    cfg, saved, node = composer.resolve(overrides)
    return RunPlan(cfg, node, overrides, run_dir_for(cfg), None, saved)


def launch_sweep(composer: SweepComposer, job_overrides: Sequence[Sequence[str]]) -> int:
    """Compose, check and launch every run of a multirun; returns the exit code."""
    from ptb.console import console, print_outcomes, print_problems

    t0 = time.monotonic()
    plans = plan_sweep(composer, job_overrides)
    log.info("%d runs composed (%d distinct group choices) in %.1f s", len(plans),
             composer.composed, time.monotonic() - t0)  # fmt: skip
    problems = check(plans)
    if problems:
        for run_id, found in list(problems.items())[:20]:
            print_problems(run_id, found)
        if len(problems) > 20:
            console.print(f"... and {len(problems) - 20} more runs with problems")
        return 2
    outcomes: list[RunOutcome] = []
    by_launcher: dict[str, list[RunPlan]] = {}
    for plan in plans:
        by_launcher.setdefault(plan.cfg.launcher.impl, []).append(plan)
    try:
        for impl, group in by_launcher.items():
            outcomes += LAUNCHERS.load(impl)().submit(group)
    except RunConflict as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    log.info("sweep of %d runs handled in %.1f s", len(plans), time.monotonic() - t0)
    if len(outcomes) <= 50:
        print_outcomes(outcomes)
    else:
        queued = sum(1 for o in outcomes if any(v.startswith("job ") for v in o.stages.values()))
        console.print(f"{len(outcomes)} runs: {queued} with jobs queued; see python -m ptb.status")
    return 0 if all(o.error is None for o in outcomes) else 1
