"""Files that define the paper's protocol but belong to others, fetched from their upstream.

ptb does not copy the original harness's data files, judge and grader prompts or chat templates
into its source. Each is pinned here — a URL at a fixed commit and the sha256 of its bytes — and
``python -m ptb.prefetch`` downloads it into ``<PTB_CACHE>/upstream/<sha256>/<name>``; everything
else reads the cached copy offline (``upstream://<key>`` as a ``task.data`` source, or
``upstream_text(key)``). A download whose bytes do not match the pin is refused and nothing is
cached. ``PTB_UPSTREAM_MIRROR`` replaces the URLs' ``https://raw.githubusercontent.com`` prefix
(a site mirror, or a test server on loopback).
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ORIGINAL = "aisa-group/PostTrainBench"
ORIGINAL_COMMIT = "9082063a62e10e040f1acacdec2ccfc1467e0c00"
"""The paper's harness, ``main@9082063``."""
RAW = "https://raw.githubusercontent.com"
MIRROR_ENV = "PTB_UPSTREAM_MIRROR"


class UpstreamNotAvailable(RuntimeError):
    """A pinned upstream file is not cached (or is corrupt); the message says how to fix it."""


class UpstreamMismatch(RuntimeError):
    """Downloaded bytes do not match the pinned sha256: nothing was cached."""


@dataclass(frozen=True)
class Pinned:
    key: str
    url: str
    sha256: str
    about: str

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def original(key: str, path: str, sha256: str, about: str) -> Pinned:
    """A file of the original harness at the paper's commit."""
    return Pinned(key, f"{RAW}/{ORIGINAL}/{ORIGINAL_COMMIT}/{path}", sha256, about)


_AH = "src/eval/tasks/arenahardwriting/evaluation_code"
PINNED: dict[str, Pinned] = {
    p.key: p
    for p in [
        original(
            "arenahard/question.jsonl",
            f"{_AH}/data/arena-hard-v2.0/question.jsonl",
            "f337df1022d723b2062bcc530e8e7fbc367548c31fbc87d0ae668f0b6c7609a5",
            "Arena-Hard v2.0 questions (the creative_writing rows are the 250 items)",
        ),
        original(
            "arenahard/Qwen3-1.7B.jsonl",
            f"{_AH}/data/arena-hard-v2.0/model_answer/Qwen3-1.7B.jsonl",
            "87a72bb89edfd05fc8dd32152750649e1bab60ba1b62ebcd055610a729023c30",
            "the fixed Qwen3-1.7B reference answers every ArenaHard game is played against",
        ),
        original(
            "healthbench/healthbench.jsonl",
            "src/eval/tasks/healthbench/evaluation_code/data/healthbench.jsonl",
            "0febc8f013eb5d91e3b7e31bbbb0284ae6aa5fbd8cab68b81d63fa252837c0b0",
            "HealthBench-Easy: the 245 conversations and rubrics the paper scores",
        ),
        original(
            "templates/gemma3.jinja",
            "src/eval/templates/gemma3.jinja",
            "7de1c58e208eda46e9c7f86397df37ec49883aeece39fb961e0a6b24088dd3c4",
            "Gemma 3 chat template as the original passes it to vLLM",
        ),
        original(
            "templates/gemma3_tool_calling.jinja",
            "src/eval/templates/gemma3_tool_calling.jinja",
            "ce729a8a0045b4efb594616f0490707a13a5ced4d10ab5b471adb556c994a297",
            "Gemma 3 template with a tool list in a system turn (BFCL)",
        ),
        original(
            "templates/qwen3.jinja",
            "src/eval/templates/qwen3.jinja",
            "ddd80c7700049450b953ae6acffa1731d696c5df5b1fbfb2de7e4ead17d708c6",
            "Qwen3 chat template as the original passes it to vLLM",
        ),
        original(
            "templates/smollm.jinja",
            "src/eval/templates/smollm.jinja",
            "b81bcca37cade6b21c04fec447f33e86bd07981b92d46718d078f56bf6026f82",
            "SmolLM3 chat template as shipped by the original",
        ),
        original(
            "factors.json",
            "scripts/factors.json",
            "602afb1d65ac1efef5dd1cafd60e3995cdc5dc91ffec86fa43224f1a5b7e8230",
            "the paper's fixed benchmark weights",
        ),
    ]
}


def pinned(key: str) -> Pinned:
    try:
        return PINNED[key]
    except KeyError:
        known = ", ".join(sorted(PINNED))
        raise KeyError(f"no pinned upstream file {key!r}; known: {known}") from None


def cache_root() -> Path:
    root = os.environ.get("PTB_CACHE") or str(Path.home() / ".cache" / "ptb")
    return Path(root) / "upstream"


def cached_path(p: Pinned) -> Path:
    return cache_root() / p.sha256 / p.name


def source_url(p: Pinned) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and p.url.startswith(RAW):
        return mirror.rstrip("/") + p.url[len(RAW) :]
    return p.url


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(p: Pinned, *, timeout_s: float = 120.0) -> Path:
    """Download ``p`` (unless cached), check its sha256, cache it atomically; return its path."""
    path = cached_path(p)
    if path.is_file():
        return path
    url = source_url(p)
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        data = resp.read()
    got = sha256_of(data)
    if got != p.sha256:
        raise UpstreamMismatch(
            f"{url}: sha256 {got} does not match the pinned {p.sha256} for {p.key!r}; nothing "
            f"was cached. The upstream file changed or the mirror serves another file: check "
            f"{MIRROR_ENV}, or update the pin in ptb/tasks/upstream.py after reviewing the change"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def upstream_path(key: str) -> Path:
    """The cached, verified copy of pinned file ``key``; never downloads."""
    p = pinned(key)
    path = cached_path(p)
    if not path.is_file():
        raise UpstreamNotAvailable(
            f"{p.about} ({p.key}) is not cached at {path}: run `python -m ptb.prefetch "
            f"task=<task>` on a machine with network (it fetches {p.url})"
        )
    return path


def upstream_text(key: str) -> str:
    return upstream_path(key).read_text(encoding="utf-8")
