"""Templates of full composes kept between sweeps (``ptb.launch.compose``).

A full compose of one group combination costs ~0.13 s; the paper grid needs 28, every time it
is submitted. A combination's template depends only on what Hydra reads while composing it, so
the templates are kept in one file per *key*, a hash of all of that:

- the versions of Python, Hydra, OmegaConf and ptb, and the source of the modules that define
  the schemas or turn a config node into a template (``ptb/config``, ``compose.py``,
  ``plan.py``, ``secrets.py``, ``hydra_plugins``);
- the master config's name and Hydra overrides (what ``load_sweep_config`` starts from);
- every ``.yaml`` file under every ``file://`` source of the search path (path, size,
  modification time; hidden folders and the results folder are skipped), every node of
  ``ConfigStore``; a ``pkg://`` source other than Hydra's own makes the sweep uncacheable;
- the value of every environment variable that an ``oc.env`` interpolation in those files names.

A template is kept only when its interpolations use no resolver but OmegaConf's deterministic
ones and ``oc.env``. ``SweepComposer`` still composes one cached combination per sweep and
compares (a cache that disagrees is dropped). ``PTB_COMPOSE_CACHE=off`` turns the cache off;
``PTB_COMPOSE_CACHE=<folder>`` moves it (default ``<PTB_CACHE>/compose``, ptb's cache folder).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("ptb")

VERSION = 1
KEEP = 8
"""Cache files kept (the most recently written): one per config tree and master config."""
_PTB = Path(__file__).resolve().parents[1]
_SOURCES = ("config", "launch/compose.py", "launch/compose_cache.py", "plan.py", "secrets.py")
_ENV = re.compile(r"oc\.env:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)")
_RESOLVER = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*:")
_SAFE_RESOLVERS = {"oc.env", "oc.select", "oc.decode", "oc.create", "oc.dict.keys",
                   "oc.dict.values"}  # fmt: skip


def folder() -> Path | None:
    """Where the cache files go, or None when ``PTB_COMPOSE_CACHE=off``."""
    setting = os.environ.get("PTB_COMPOSE_CACHE", "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("PTB_CACHE") or Path.home() / ".cache" / "ptb") / "compose"


def cache_file(master: Any) -> Path | None:
    """The cache file of a sweep composed from ``master`` (None: do not cache)."""
    where = folder()
    if where is None:
        return None
    try:
        key = _key(master)
    except Exception as exc:  # a cache that cannot be keyed is no cache, not an error
        log.debug("sweep: no compose cache (%s)", exc)
        return None
    return None if key is None else where / f"{key}.pkl"


def _key(master: Any) -> str | None:
    import hydra
    import omegaconf
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from ptb import __version__

    h = hashlib.sha256()
    head = (VERSION, sys.version, hydra.__version__, omegaconf.__version__, __version__,
            master.hydra.job.config_name, list(master.hydra.overrides.hydra))  # fmt: skip
    h.update(repr(head).encode())
    texts: list[str] = []
    plugins = _PTB.parent / "hydra_plugins"
    for path in sorted(_py_files([_PTB / s for s in _SOURCES] + [plugins])):
        data = path.read_bytes()
        h.update(f"{path}\0{len(data)}\0".encode() + data)
        texts.append(data.decode("utf-8", "replace"))
    results = Path(str(master.results_dir)).expanduser().resolve()
    for source in master.hydra.runtime.config_sources:
        if source.schema == "file":
            for path, stat in _yaml_files(Path(source.path), results):
                h.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
        elif source.schema == "pkg" and source.path != "hydra.conf":
            return None  # another package's configs: not hashed
        else:
            h.update(f"{source.schema}://{source.path}".encode())
    _hash_store(h, ConfigStore.instance().repo, "", OmegaConf.to_yaml, texts)
    for name in sorted({n for text in texts for n in _ENV.findall(text)}):
        h.update(f"env {name}={os.environ.get(name)!r}\0".encode())
    return h.hexdigest()[:32]


def _py_files(roots: list[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files += [root] if root.is_file() else sorted(root.rglob("*.py"))
    return files


def _yaml_files(root: Path, skip: Path) -> list[tuple[Path, os.stat_result]]:
    found = []
    for top, dirs, names in os.walk(root):
        if "manifest.json" in names:  # a run directory (of another results folder)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and Path(top, d).resolve() != skip)  # fmt: skip
        for name in sorted(names):
            if name.endswith((".yaml", ".yml")):
                path = Path(top, name)
                found.append((path, path.stat()))
    return found


def _hash_store(h: Any, repo: dict[str, Any], prefix: str, to_yaml: Any, texts: list[str]) -> None:
    for name in sorted(repo):
        entry = repo[name]
        if isinstance(entry, dict):
            _hash_store(h, entry, f"{prefix}{name}/", to_yaml, texts)
        else:
            text = to_yaml(entry.node)
            h.update(f"{prefix}{name}\0{entry.package}\0{entry.provider}\0{text}".encode())
            texts.append(text)


def cacheable(plain: dict[str, Any]) -> bool:
    """No interpolation of the (unresolved) config uses a resolver that may change between
    runs with the same key (``now``, custom resolvers)."""
    return all(r in _SAFE_RESOLVERS for r in _RESOLVER.findall(repr(plain)))


def load(path: Path) -> dict[tuple[str, ...], Any]:
    try:
        data = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except Exception as exc:  # a damaged or outdated file: compose again
        log.warning("sweep: compose cache %s unreadable (%s); composing", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save(path: Path, templates: dict[tuple[str, ...], Any]) -> None:
    """Write the cache file (a temporary file renamed over it: readers see old or new)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(templates, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        for old in sorted(path.parent.glob("*.pkl"), key=lambda p: p.stat().st_mtime)[:-KEEP]:
            old.unlink(missing_ok=True)  # the keys of older config trees
    except OSError as exc:
        log.warning("sweep: compose cache not written (%s)", exc)
