"""What the composes of one sweep share, kept between them: the same configs, faster.

Hydra composes every config from scratch: it copies its config repository, loads each YAML
file and ConfigStore node again, builds an interpolation map at every node of the defaults
tree, and merges the defaults one by one into an empty config. The composes of one sweep read
the same files and share most of their defaults lists (every combination of the paper grid
differs from its reference in one group), so ``ComposeMemo.active`` keeps, for the sweep:

- **loaded configs**: each file, package resource or ConfigStore node is loaded once; a
  compose gets its own header and defaults list, and a deep copy of the config only where it
  merges it (a merge may take nodes over; building the defaults tree only reads them);
- **merged prefixes**: the config after each of the first compose's defaults, as a deep copy;
  a later compose whose defaults list starts the same way starts from the longest such prefix
  and merges only the rest. The merge of a default depends only on the config so far and on
  what that default loads, so the result is the same config;
- **no unused interpolation maps**: Hydra builds, at every node of the defaults tree, a config
  of the known choices that it reads only when a default of that node is an interpolation
  (``group: ${other}``); it is built only then.

The repository's deep copy at the start of each compose is a shallow copy (it only protects
the original's list of sources, which the copy replaces rather than changes).

These touch Hydra internals (``hydra._internal``, pinned to 1.3 in pyproject), inside
``active`` only. ``tests/unit/test_compose_memo.py`` (small configs made to exercise each) and
``tests/integration/test_compose_memo_grid.py`` (the paper grid's combinations) compose with
and without them and compare the configs, including their flags and node types.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydra._internal import defaults_list as hydra_defaults
from hydra._internal.config_repository import ConfigRepository
from hydra.core.default_element import InputDefault, ResultDefault
from hydra.core.object_type import ObjectType
from omegaconf import DictConfig, OmegaConf, flag_override


class ComposeMemo:
    """The loaded configs and merged prefixes of one sweep's composes."""

    def __init__(self) -> None:
        self.loads: dict[tuple[str, str, str], Any] = {}
        self.prefixes: dict[tuple[tuple[Any, ...], ...], DictConfig] = {}
        self._recording = True
        """Prefixes are kept from the first compose only: later ones start from them."""
        self._loader: Any = None

    @contextmanager
    def active(self, loader: Any) -> Iterator[None]:
        """Within the block, ``loader``'s composes use and fill this memo."""
        repository = loader.repository
        memo = self

        def shallow(_memo: Any) -> Any:
            dup = copy.copy(repository)
            dup.__class__ = _SharedLoads
            dup._loads = memo.loads
            return dup

        plain_map = hydra_defaults._create_interpolation_map
        repository.__deepcopy__ = shallow
        self._loader = loader
        loader._compose_config_from_defaults_list = self._compose_from_defaults
        hydra_defaults._create_interpolation_map = _lazy_map(plain_map)
        try:
            yield
        finally:
            hydra_defaults._create_interpolation_map = plain_map
            del loader._compose_config_from_defaults_list
            self._loader = None
            del repository.__deepcopy__

    def _compose_from_defaults(self, defaults: list[ResultDefault], repo: Any) -> DictConfig:
        """``ConfigLoaderImpl._compose_config_from_defaults_list``, from the longest merged
        prefix this memo has (Hydra 1.3's loop and its ``strip_defaults``, otherwise as is)."""
        from hydra.errors import ConfigCompositionException
        from omegaconf.errors import OmegaConfBaseException

        keys = tuple(_key(d) for d in defaults)
        start = 0
        for i in range(len(keys), 0, -1):
            if keys[:i] in self.prefixes:
                start = i
                break
        cfg = copy.deepcopy(self.prefixes[keys[:start]]) if start else OmegaConf.create()
        record = self._recording
        self._recording = False
        with flag_override(cfg, "no_deepcopy_set_nodes", True):
            for i in range(start, len(defaults)):
                default = defaults[i]
                loaded = self._loader._load_single_config(default=default, repo=_Copies(repo))
                try:
                    cfg.merge_with(loaded.config)
                except OmegaConfBaseException as e:
                    raise ConfigCompositionException(
                        f"In '{default.config_path}': {type(e).__name__} raised while"
                        f" composing config:\n{e}"
                    ).with_traceback(e.__traceback__) from None
                if record:  # as it would be outside this block: no flag of its own
                    kept = self.prefixes[keys[: i + 1]] = copy.deepcopy(cfg)
                    kept._set_flag("no_deepcopy_set_nodes", None)
        _strip_defaults(cfg)
        return cfg


def _key(d: ResultDefault) -> tuple[Any, ...]:
    return (d.config_path, d.parent, d.package, d.is_self, d.primary, d.override_key)


def _strip_defaults(cfg: Any) -> None:
    """Hydra 1.3's ``strip_defaults``: remove the defaults lists left in the composed nodes."""
    if isinstance(cfg, DictConfig):
        if cfg._is_missing() or cfg._is_none():
            return
        with flag_override(cfg, ["readonly", "struct"], False):
            if cfg._get_flag("HYDRA_REMOVE_TOP_LEVEL_DEFAULTS"):
                cfg._set_flag("HYDRA_REMOVE_TOP_LEVEL_DEFAULTS", None)
                cfg.pop("defaults", None)
        for _, value in cfg.items_ex(resolve=False):
            _strip_defaults(value)


def _lazy_map(plain: Any) -> Any:
    def interpolation_map(
        overrides: Any, defaults_list: list[InputDefault], self_added: bool
    ) -> DictConfig | None:
        if not any(d.is_interpolation() for d in defaults_list):
            return None  # read only to resolve a default that is an interpolation: none here
        return plain(overrides, defaults_list, self_added)

    return interpolation_map


class _SharedLoads(ConfigRepository):
    """A ``ConfigRepository`` whose loaded configs outlive it (``ComposeMemo.loads``)."""

    _loads: dict[tuple[str, str, str], Any]

    def load_config(self, config_path: str) -> Any:
        source = self._find_object_source(config_path, ObjectType.CONFIG)
        if source is None:
            return super().load_config(config_path)
        key = (type(source).__name__, str(source.path), config_path)
        hit = self._loads.get(key)
        if hit is None:
            hit = self._loads[key] = super().load_config(config_path)
        return _copy(hit, config=False)


class _Copies:
    """The repository of one compose as its merges see it: each config a deep copy, which
    the merge may take nodes over from (its defaults building only reads them)."""

    def __init__(self, repo: Any) -> None:
        self.repo = repo

    def load_config(self, config_path: str) -> Any:
        return _copy(self.repo.load_config(config_path), config=True)

    def get_schema_source(self) -> Any:
        return self.repo.get_schema_source()


def _copy(result: Any, *, config: bool) -> Any:
    """A ``ConfigResult`` that can be changed without changing ``result``: its header and
    defaults list copied, and its config too if ``config``."""
    if result is None:
        return None
    dup = copy.copy(result)
    dup.header = dict(result.header)
    dup.defaults_list = copy.deepcopy(result.defaults_list)
    if config:
        dup.config = copy.deepcopy(result.config)
    return dup
