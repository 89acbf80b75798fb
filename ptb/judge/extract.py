"""Text out of whatever the agent left: the byte streams the contamination scan reads.

Text-like files (jsonl, json, csv, txt, scripts, notebooks, YAML, …) are read raw: the byte-wise
normalisation in ``ngrams`` makes JSON keys, quotes and escapes word separators, so field names,
key order and a test question embedded as a string literal in a script do not matter. gzip files
are decompressed; parquet files and Arrow files (including the ``data-*.arrow`` files of a
Hugging Face ``save_to_disk`` dataset) give the values of their string columns, nested lists and
structs included. Anything else is listed as skipped, with the reason.
"""

from __future__ import annotations

import fnmatch
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.judge.ngrams import CHUNK_BYTES

TABULAR = {".parquet", ".arrow", ".feather"}
BINARY_SNIFF = 8192


@dataclass(frozen=True)
class Source:
    path: Path
    rel: str
    kind: str
    """text | gzip | parquet | arrow"""
    bytes: int


def find_sources(
    root: Path, exclude: list[str], max_file_bytes: int
) -> tuple[list[Source], list[dict[str, Any]]]:
    """Every scannable file under ``root`` and the files skipped (with why)."""
    sources: list[Source] = []
    skipped: list[dict[str, Any]] = []
    if not root.is_dir():
        return sources, skipped
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = str(path.relative_to(root))
        if any(fnmatch.fnmatch(rel, pat) for pat in exclude):
            continue
        size = path.stat().st_size
        if size > max_file_bytes:
            skipped.append({"path": rel, "bytes": size, "why": "larger than max_file_bytes"})
            continue
        kind = _kind(path)
        if kind is None:
            skipped.append({"path": rel, "bytes": size, "why": "binary"})
            continue
        sources.append(Source(path, rel, kind, size))
    return sources, skipped


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in TABULAR:
        return "parquet" if suffix == ".parquet" else "arrow"
    if suffix == ".gz":
        return "gzip"
    with path.open("rb") as fh:
        head = fh.read(BINARY_SNIFF)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"ARROW1", b"\xff\xff\xff\xff")):  # Arrow file / stream framing
        return "arrow"
    return None if b"\x00" in head else "text"


def chunks(source: Source) -> Iterator[bytes]:
    """The source's text in chunks of about ``CHUNK_BYTES``, cut between words."""
    if source.kind == "text":
        with source.path.open("rb") as fh:
            yield from _cut(iter(lambda: fh.read(CHUNK_BYTES), b""))
    elif source.kind == "gzip":
        with gzip.open(source.path, "rb") as gz:
            yield from _cut(iter(lambda: gz.read(CHUNK_BYTES), b""))
    else:
        yield from _cut(_table_text(source))


def _cut(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut blocks at a newline or space so no word is split across two chunks."""
    carry = b""
    for block in blocks:
        data = carry + block
        cut = max(data.rfind(b"\n"), data.rfind(b" "))
        if cut <= 0:
            carry = data
            if len(carry) < 4 * CHUNK_BYTES:
                continue
            cut = len(data) - 1
        yield data[: cut + 1]
        carry = data[cut + 1 :]
    if carry:
        yield carry


def _table_text(source: Source) -> Iterator[bytes]:
    """The string values of every column, one value a line, in blocks."""
    import pyarrow as pa

    batches: Iterator[Any]
    if source.kind == "parquet":
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(source.path).iter_batches()
    else:
        batches = _arrow_batches(source.path)
    buf: list[str] = []
    size = 0
    for batch in batches:
        for column in batch.columns:
            for value in _strings(column, pa):
                buf.append(value)
                size += len(value)
                if size >= CHUNK_BYTES:
                    yield "\n".join(buf).encode("utf-8", "replace") + b"\n"
                    buf, size = [], 0
    if buf:
        yield "\n".join(buf).encode("utf-8", "replace") + b"\n"


def _arrow_batches(path: Path) -> Iterator[Any]:
    """Arrow IPC in either framing: the stream format (``save_to_disk``) or the file format."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as mm:
        try:
            reader: Any = pa.ipc.open_stream(mm)
        except pa.ArrowInvalid:
            mm.seek(0)
            reader = pa.ipc.open_file(mm)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
            return
        yield from reader


def _strings(array: Any, pa: Any) -> Iterator[str]:
    """String values inside ``array``, descending into lists, structs and dictionaries."""
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        yield from (v for v in array.to_pylist() if v)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _strings(array.flatten(), pa)
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            yield from _strings(array.field(i), pa)
    elif pa.types.is_dictionary(t):
        yield from _strings(array.dictionary_decode(), pa)
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        # numbers are words too (answers of math tasks)
        yield " ".join(str(v) for v in array.to_pylist() if v is not None)
