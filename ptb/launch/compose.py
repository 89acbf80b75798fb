"""Compose the runs of a multirun exactly as Hydra would, with a few composes for the whole grid.

A sweep of agents x models x tasks x seeds has one distinct *group combination* per agent,
model and task, and the seeds (and every other plain value override) only change leaves. So:

1. each combination becomes a ``Template`` (its typed ``RunConfig``, its saved config, its
   unresolved config): composed in full by Hydra, or built from the sweep's *reference*
   combination by substitution (below);
2. each run derives its typed and saved configs from its combination's template by setting
   its value overrides (``seed=1``) on the typed and saved trees: no compose, no copy of a
   config node, no ``OmegaConf.to_object`` per run.

Substitution: a combination that differs from the reference in several choices is the
reference with, for each differing choice, the top-level settings that this choice alone
changes (its *footprint*: settings whose unresolved or resolved value differs) taken from the
reference composed with only that choice changed. It is used only when the footprints are
disjoint and no interpolation in a taken setting reads a setting taken from another choice;
the first ``VERIFY`` combinations built this way per sweep shape are compared with a full
compose (on a difference, that shape is composed in full from then on).

A value override is derived only when it sets an existing scalar leaf that no interpolation
reads, under no secret-named key; the value is validated and converted by the template's own
config node (set, read, set back), so a wrong type fails as Hydra's compose would. The first
``VERIFY`` runs derived per sweep shape are compared with the full path (copy the node, apply
the overrides, ``to_object``); anything else takes the full path.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import pickle
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, ValueNode, open_dict, read_write

from ptb.config.root import RunConfig
from ptb.launch import compose_cache
from ptb.launch.compose_memo import ComposeMemo
from ptb.plan import config_text, saved_config, to_run_config
from ptb.secrets import REDACTED, is_secret_name

log = logging.getLogger("ptb")

VERIFY = 2
"""Substituted templates, and runs derived from templates, checked against the full path per
sweep shape."""

_MISSING = object()
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ALL = "*"
"""In a dependency set: the interpolation may read any setting (a relative one, ``${..x}``)."""


@dataclass
class Template:
    """One group combination, resolved: what every run of it starts from."""

    cfg: RunConfig
    saved: dict[str, Any]
    """Resolved and redacted: what ``config.yaml`` holds (``ptb.plan.saved_config``)."""
    plain: dict[str, Any]
    """Unresolved (``OmegaConf.to_container(resolve=False)``): for footprints."""
    owners: dict[str, DictConfig]
    """Top-level setting -> a composed node holding it: validates value overrides."""
    deps: dict[str, set[str]]
    """Top-level setting -> the top-level settings its interpolations read."""
    node: DictConfig | None = None
    """The full config node, when it was composed or has been built."""
    read: set[str] = field(init=False)
    """Every top-level setting that some interpolation reads."""

    def __post_init__(self) -> None:
        self.read = set().union(*self.deps.values())


class SweepComposer:
    """``overrides -> run config`` for the runs of one multirun, exactly as Hydra composes them."""

    def __init__(self, loader: Any, master: DictConfig) -> None:
        self.loader = loader
        self.master = master
        self.parser = OverridesParser.create()
        self.groups = set(master.hydra.runtime.choices.keys())
        self._templates: dict[tuple[str, ...], Template] = {}
        self._refs: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._verified: dict[tuple[str, ...], int] = {}
        self._no_factor: set[tuple[str, ...]] = set()
        self._derived: dict[tuple[str, ...], int] = {}
        self._no_derive: set[tuple[str, ...]] = set()
        self._parsed: dict[str, Override] = {}
        self._group_texts: dict[str, bool] = {}
        self._values: dict[tuple[int, str], tuple[Any, Any] | None] = {}
        self._count: dict[str, int] = {}
        self._prefix: dict[tuple[str, ...], tuple[RunConfig, dict[str, Any]]] = {}
        self._blocks: dict[tuple[str, int], tuple[Any, str]] = {}
        self._precomposed: dict[tuple[str, ...], Template] = {}
        self._sim: tuple[set[tuple[str, ...]], dict[tuple[str, ...], tuple[str, ...]], dict] = (
            set(),
            {},
            {},
        )
        self.composed = 0
        self._cache_file: Path | None = None
        self._cached: dict[tuple[str, ...], Template] = {}
        self._fresh: dict[tuple[str, ...], Template] = {}
        self._check: tuple[str, ...] | None = None
        self._memo = ComposeMemo()

    # -- overrides -------------------------------------------------------------------------

    def _parse(self, text: str) -> Override:
        if text not in self._parsed:
            self._parsed[text] = self.parser.parse_overrides(overrides=[text])[0]
        return self._parsed[text]

    def _is_group(self, o: Override) -> bool:
        key = o.key_or_group
        if key.startswith("hydra") or o.package is not None:
            return True
        if isinstance(o.value(), dict):
            return False
        return key in self.groups or bool(self.loader.repository.group_exists(key))

    def _group_override(self, text: str) -> bool:
        """``_is_group`` of an override, once per distinct text (the repository's
        ``group_exists`` resolves paths on every source: 48,000 calls in the paper grid)."""
        hit = self._group_texts.get(text)
        if hit is None:
            hit = self._group_texts[text] = self._is_group(self._parse(text))
        return hit

    def _split(self, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[Override]]:
        parsed = [self._parse(text) for text in overrides]
        is_group = [self._group_override(text) for text in overrides]
        groups = tuple(text for text, g in zip(overrides, is_group, strict=True) if g)
        return _canonical(groups, parsed, is_group), [
            o for o, g in zip(parsed, is_group, strict=True) if not g
        ]

    # -- public ----------------------------------------------------------------------------

    def __call__(self, overrides: Sequence[str]) -> DictConfig:
        """The run's config node, as ``python -m ptb <overrides>`` composes it (a new copy)."""
        groups, values = self._split(overrides)
        cfg = copy.deepcopy(self._node(groups))
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        return cfg

    def resolve(self, overrides: Sequence[str]) -> tuple[RunConfig, dict[str, Any], str]:
        """The run's typed config, its saved (resolved, redacted) config and that config's
        YAML text (before secret values are redacted from it: ``ptb.plan.materialize``)."""
        groups, values = self._split(overrides)
        template = self.template(groups)
        shape = _shape(groups)
        derived = None if shape in self._no_derive else self._derive(template, values)
        if derived is not None and self._derived.get(shape, 0) >= VERIFY:
            return derived[0], derived[1], self._text(derived[1])
        node = self(overrides)
        full = to_run_config(node), saved_config(node)
        if derived is not None:
            self._derived[shape] = self._derived.get(shape, 0) + 1
            if (*full, config_text(full[1])) != (*derived, self._text(derived[1])):
                differ = sorted(k for k in full[1] if full[1][k] != derived[1].get(k))
                log.warning("sweep: derived configs differ in %s (%s); using the full path",
                            shape, ", ".join(differ) or "text")  # fmt: skip
                self._no_derive.add(shape)
        return full[0], full[1], config_text(full[1])

    def template(self, groups: tuple[str, ...]) -> Template:
        t = self._templates.get(groups)
        if t is None:
            t = self._substituted(groups) or self._full(groups)
            self._templates[groups] = t
        return t

    def precompose(self, runs: Sequence[Sequence[str]], workers: int | None = None) -> None:
        """Compose, ahead and on every core, the combinations that resolving ``runs`` in order
        will compose in full (references, single changes, ``VERIFY`` checks): each worker is a
        fork of this process that composes its share and pickles the templates back. What the
        prediction misses is composed when needed; a worker that fails costs only its share."""
        need = self._predict([self._split(r)[0] for r in runs])
        cached = [g for g in need if g in self._cached]
        if cached:  # one of them is composed all the same, to check the cache
            self._check = cached[0]
            need = [g for g in need if g not in self._cached or g == self._check]
        workers = min(workers or len(os.sched_getaffinity(0)), len(need) // 2)
        if workers < 2 or not hasattr(os, "fork"):
            self._verify_cache()
            return
        t0 = time.monotonic()
        # the first combination (the reference of the others) in this process before the
        # forks, so that every worker starts from its loaded configs and merged prefixes
        self._precomposed[need[0]] = self._full(need[0])
        need = need[1:]
        shares = [need[i::workers] for i in range(workers)]
        with tempfile.TemporaryDirectory(prefix="ptb-compose-") as tmp:
            pids = [_fork_compose(self, share, Path(tmp) / f"{i}.pkl")
                    for i, share in enumerate(shares[:-1])]  # fmt: skip
            for groups in shares[-1]:  # the smallest share: this process composed one more
                self._precomposed[groups] = self._full(groups)
            for i, pid in enumerate(pids):
                _, status = os.waitpid(pid, 0)
                out = Path(tmp) / f"{i}.pkl"
                if status == 0 and out.exists():
                    done: dict[tuple[str, ...], Template] = pickle.loads(out.read_bytes())
                    self._precomposed.update(done)
                    self.composed += len(done)
        log.info("sweep: %d combinations composed ahead in %d processes in %.1f s", len(need) + 1,
                 workers, time.monotonic() - t0)  # fmt: skip
        self._verify_cache()

    def use_cache(self) -> None:
        """Take full composes from the compose cache and add this sweep's to it
        (``ptb.launch.compose_cache``); call before ``precompose``."""
        self._cache_file = compose_cache.cache_file(self.master)
        if self._cache_file is not None:
            self._cached = compose_cache.load(self._cache_file)
            log.info("sweep: %d combinations in the compose cache", len(self._cached))

    def _verify_cache(self) -> None:
        """Compare the cached template of ``_check`` with its fresh compose; on a difference,
        drop the cache (every combination is composed)."""
        if self._check is None:
            return
        check = self._check
        cached = self._cached.pop(check)
        fresh = self._full(check)
        self._check = None
        self._precomposed[check] = fresh
        if (fresh.cfg, fresh.saved, fresh.plain) != (cached.cfg, cached.saved, cached.plain):
            log.warning("sweep: the compose cache disagrees with a fresh compose; not using it")
            self._cached.clear()
            self._cache_file = None

    def save_cache(self) -> None:
        """Add this sweep's full composes to the cache file."""
        if self._cache_file is None or not self._fresh:
            return
        keep = {g: t for g, t in self._fresh.items() if compose_cache.cacheable(t.plain)}
        if keep:
            compose_cache.save(self._cache_file, {**self._cached, **keep})

    def _predict(self, combos: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """The combinations ``template`` composes in full for ``combos``, in order (the common
        case: every substitution works)."""
        known, refs, verified = self._sim  # what earlier predictions decided, kept
        known |= set(self._templates)
        refs.update(self._refs)
        need: list[tuple[str, ...]] = []

        def visit(groups: tuple[str, ...]) -> None:
            if groups in known:
                return
            known.add(groups)
            shape = _shape(groups)
            ref = refs.setdefault(shape, groups)
            differ = [i for i, (g, r) in enumerate(zip(groups, ref, strict=True)) if g != r]
            if len(differ) < 2 or shape in self._no_factor:
                need.append(groups)
                return
            for i in differ:
                visit((*ref[:i], groups[i], *ref[i + 1 :]))
            if verified.get(shape, 0) < VERIFY:
                verified[shape] = verified.get(shape, 0) + 1
                need.append(groups)

        for groups in combos:
            visit(groups)
        return need

    def _full(self, groups: tuple[str, ...]) -> Template:
        """The combination composed in full (ahead by ``precompose``, or now)."""
        t = self._precomposed.pop(groups, None)
        if t is None:
            t = self._cached.get(groups) if groups != self._check else None
            if t is not None:
                return t
            t = self._from_node(self._compose(groups))
        self._fresh[groups] = t
        return t

    # -- templates -------------------------------------------------------------------------

    def _compose(self, groups: tuple[str, ...]) -> DictConfig:
        with self._memo.active(self.loader):
            cfg = self.loader.load_sweep_config(self.master, list(groups))
        with read_write(cfg), open_dict(cfg):
            del cfg["hydra"]
        self.composed += 1
        return cfg

    def _from_node(self, node: DictConfig) -> Template:
        data = OmegaConf.to_container(node, resolve=False)
        assert isinstance(data, dict)
        plain = {str(k): v for k, v in data.items()}
        deps = {k: _refs(v, set(plain)) for k, v in plain.items()}
        owners = {k: node for k in plain}
        return Template(to_run_config(node), saved_config(node), plain, owners, deps, node)

    def _node(self, groups: tuple[str, ...]) -> DictConfig:
        """The full node of a combination; a substituted one is built from its parts' nodes."""
        t = self.template(groups)
        if t.node is None:
            ref = self.template(self._refs[_shape(groups)])
            assert ref.node is not None
            node = copy.deepcopy(ref.node)
            with read_write(node), open_dict(node):
                for key in t.plain:
                    owner = t.owners[key]
                    if owner is not ref.node:
                        node[key] = copy.deepcopy(owner[key])
            t.node = node
        return t.node

    def _substituted(self, groups: tuple[str, ...]) -> Template | None:
        shape = _shape(groups)
        ref_groups = self._refs.setdefault(shape, groups)
        differ = [i for i, (g, r) in enumerate(zip(groups, ref_groups, strict=True)) if g != r]
        if len(differ) < 2 or shape in self._no_factor:
            return None
        ref = self.template(ref_groups)
        parts: list[tuple[Template, set[str]]] = []
        taken: set[str] = set()
        for i in differ:
            single = self.template((*ref_groups[:i], groups[i], *ref_groups[i + 1 :]))
            if single.plain.keys() != ref.plain.keys():
                return None
            keys = {k for k in ref.plain if _differs(single, ref, k)}
            if keys & taken:
                return None  # two choices change the same setting: compose this run in full
            taken |= keys
            parts.append((single, keys))
        t = _combine(ref, parts)
        if t is None:
            return None
        if self._verified.get(shape, 0) < VERIFY:
            self._verified[shape] = self._verified.get(shape, 0) + 1
            full = self._full(groups)
            if (full.cfg, full.saved, full.plain) != (t.cfg, t.saved, t.plain):
                log.warning("sweep: choices interact in %s; composing every run in full", shape)
                self._no_factor.add(shape)
                return full
        return t

    # -- runs ------------------------------------------------------------------------------

    def prepare(self, job_overrides: Sequence[Sequence[str]]) -> None:
        """Count the sweep's overrides: each run applies its most common value overrides first,
        so runs that share them share one derivation (and its YAML blocks)."""
        for overrides in job_overrides:
            for text in overrides:
                self._count[text] = self._count.get(text, 0) + 1

    def _line(self, o: Override) -> str:
        return o.input_line or f"{o.key_or_group}={o.get_value_element_as_str()}"

    def _derive(
        self, t: Template, values: list[Override]
    ) -> tuple[RunConfig, dict[str, Any]] | None:
        """The run's typed and saved configs from its template, or None: take the full path."""
        keys = [o.key_or_group for o in values]
        for i, (o, key) in enumerate(zip(values, keys, strict=True)):
            path = key.split(".")
            if o.type != OverrideType.CHANGE or path[0] not in t.owners:
                return None
            if path[0] in t.read or _ALL in t.read or any(is_secret_name(p) for p in path[:-1]):
                return None
            if any(k == key or k.startswith(key + ".") for j, k in enumerate(keys) if j != i):
                return None  # order matters between these two: Hydra's order, full path
        ordered = sorted(values, key=lambda o: -self._count.get(self._line(o), 0))
        cfg, saved = t.cfg, t.saved
        lines: tuple[str, ...] = (str(id(t)),)
        for o in ordered:
            lines = (*lines, self._line(o))
            hit = self._prefix.get(lines)
            if hit is None:
                hit = self._apply(t, cfg, saved, o)
                if hit is None:
                    return None
                self._prefix[lines] = hit
            cfg, saved = hit
        return cfg, saved

    def _apply(
        self, t: Template, cfg: RunConfig, saved: dict[str, Any], o: Override
    ) -> tuple[RunConfig, dict[str, Any]] | None:
        path = o.key_or_group.split(".")
        converted = self._convert(t.owners[path[0]], o)
        if converted is None:
            return None
        typed, stored = converted
        if is_secret_name(path[-1]) and stored not in (None, ""):
            stored = REDACTED
        try:
            return _replace_typed(cfg, path, typed), _replace_saved(saved, path, stored)
        except (TypeError, ValueError, AttributeError, KeyError):
            return None

    def _convert(self, owner: DictConfig, o: Override) -> tuple[Any, Any] | None:
        """``(typed, saved)`` value of a scalar override, as the owner's node converts it."""
        memo = (id(owner), self._line(o))
        if memo not in self._values:
            self._values[memo] = _convert(owner, o)
        return self._values[memo]

    def _text(self, saved: dict[str, Any]) -> str:
        """``config_text(saved)``, from one cached YAML block per top-level setting."""
        out = []
        for k, v in saved.items():
            hit = self._blocks.get((k, id(v)))
            if hit is None or hit[0] is not v:
                hit = (v, config_text({k: v}))
                self._blocks[k, id(v)] = hit
            out.append(hit[1])
        return "".join(out)


def _fork_compose(composer: SweepComposer, share: list[tuple[str, ...]], out: Path) -> int:
    """Fork a worker that composes ``share`` and pickles the templates to ``out``."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        done = {groups: composer._full(groups) for groups in share}
        out.write_bytes(pickle.dumps(done))
        code = 0
    finally:
        os._exit(code)


def _canonical(
    groups: tuple[str, ...], parsed: list[Override], is_group: list[bool]
) -> tuple[str, ...]:
    """The group overrides in a fixed order that composes the same: Hydra keeps one choice per
    group for ``group=option`` (so their order does not matter when no group is named twice)
    and appends ``+group=option`` in order (kept first, as given). A baseline's
    ``model=.. task=.. agent=..`` then shares the agent runs' shape and their composes."""
    overrides = [o for o, g in zip(parsed, is_group, strict=True) if g]
    change = [
        o.type == OverrideType.CHANGE and o.package is None and not o.is_hydra_override()
        for o in overrides
    ]
    keys = [o.key_or_group for o, c in zip(overrides, change, strict=True) if c]
    if len(set(keys)) != len(keys):
        return groups
    kept = [t for t, c in zip(groups, change, strict=True) if not c]
    chosen = [t for t, c in zip(groups, change, strict=True) if c]
    return (*kept, *sorted(chosen, key=lambda text: text.split("=", 1)[0]))


def _shape(groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(g.split("=", 1)[0] for g in groups)


def _differs(a: Template, b: Template, key: str) -> bool:
    return a.plain.get(key, _MISSING) != b.plain.get(key, _MISSING) or a.saved.get(
        key, _MISSING
    ) != b.saved.get(key, _MISSING)


def _combine(ref: Template, parts: list[tuple[Template, set[str]]]) -> Template | None:
    """The reference with each part's footprint taken from that part, or None when an
    interpolation in a taken setting reads a setting that another source supplies."""
    src_t = {k: ref for k in ref.plain}
    for single, keys in parts:
        for k in keys:
            src_t[k] = single
    deps = {k: src_t[k].deps[k] for k in ref.plain}
    for k in ref.plain:
        for d in _reach(k, deps):
            if d == _ALL or (src_t.get(d) is not src_t[k] and not _unchanged(d, parts)):
                return None
    typed = {k: getattr(src_t[k].cfg, k) for k in ref.plain if src_t[k] is not ref}
    return Template(
        dataclasses.replace(ref.cfg, **typed),
        {k: src_t[k].saved[k] for k in ref.saved},
        {k: src_t[k].plain[k] for k in ref.plain},
        {k: src_t[k].owners[k] for k in ref.plain},
        deps,
    )


def _unchanged(key: str, parts: list[tuple[Template, set[str]]]) -> bool:
    """The setting is the same in the reference and every part (no footprint holds it)."""
    return all(key not in keys for _, keys in parts)


def _reach(key: str, deps: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(deps.get(key, ()))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo += deps.get(d, ())
    return seen


def _refs(value: Any, keys: set[str]) -> set[str]:
    """Top-level settings that interpolations in ``value`` may read (a superset)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for v in value.values():
            found |= _refs(v, keys)
    elif isinstance(value, list):
        for v in value:
            found |= _refs(v, keys)
    elif isinstance(value, str) and "${" in value:
        inner = value[value.index("${") :]
        if "${." in inner:
            return {_ALL}
        found |= set(_IDENT.findall(inner)) & keys
    return found


def _convert(owner: DictConfig, o: Override) -> tuple[Any, Any] | None:
    value = o.value()
    if isinstance(value, dict | list):
        return None
    parent_key, _, leaf = o.key_or_group.rpartition(".")
    try:
        parent = OmegaConf.select(owner, parent_key) if parent_key else owner
        node = parent._get_node(leaf) if isinstance(parent, DictConfig) else None
    except Exception:
        return None
    if not isinstance(node, ValueNode) or not isinstance(parent, DictConfig):
        return None
    if parent is not owner and parent._get_root() is not owner:
        return None  # reached through an interpolation: not the owner's own node
    old = node._value()
    try:
        with read_write(parent):
            parent[leaf] = value
        new = parent._get_node(leaf)
        if not isinstance(new, ValueNode) or new._is_interpolation() or new._is_missing():
            return None
        typed = new._value()
    except Exception:
        return None
    finally:
        with read_write(parent):
            parent[leaf] = old
    return typed, typed.name if isinstance(typed, Enum) else typed


def _replace_typed(obj: Any, path: list[str], value: Any) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        if head not in obj:
            raise KeyError(head)
        return {**obj, head: _replace_typed(obj[head], rest, value) if rest else value}
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"{head}: not a dataclass")
    new = _replace_typed(getattr(obj, head), rest, value) if rest else value
    return dataclasses.replace(obj, **{head: new})


def _replace_saved(data: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    head, rest = path[0], path[1:]
    return {**data, head: _replace_saved(data[head], rest, value) if rest else value}
