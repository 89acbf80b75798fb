"""Files that define the paper's protocol but belong to others, fetched from their upstream.

ptb does not copy the original harness's data files, grader and LLM-judge prompts or chat templates
into its source. Each is pinned here — a URL at a fixed commit and the sha256 of its bytes — and
``python -m ptb.prefetch`` downloads it into ``<PTB_CACHE>/upstream/<sha256>/<name>``; everything
else reads the cached copy offline (``upstream://<key>`` as a ``task.data`` source, or
``upstream_text(key)``). A download whose bytes do not match the pin is refused and nothing is
cached. ``PTB_UPSTREAM_MIRROR`` replaces the URLs' ``https://raw.githubusercontent.com`` prefix
(a site mirror, or a test server on loopback).
"""

from __future__ import annotations

import ast
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.failures import DataUnavailable

ORIGINAL = "aisa-group/PostTrainBench"
ORIGINAL_COMMIT = "9082063a62e10e040f1acacdec2ccfc1467e0c00"
"""The paper's harness, ``main@9082063``."""
JUDGE_COMMIT = "d27a95e9ffd831ba6cd29f006a3a969660650f19"
"""The original's v1.1 judges, branch ``new_judge_v2@d27a95e``."""
RAW = "https://raw.githubusercontent.com"
MIRROR_ENV = "PTB_UPSTREAM_MIRROR"


class UpstreamNotAvailable(DataUnavailable):
    """A pinned upstream file is not cached (or is corrupt); the message says how to fix it."""


class UpstreamMismatch(RuntimeError):
    """Downloaded bytes do not match the pinned sha256: nothing was cached."""


class UpstreamUnreachable(RuntimeError):
    """A pinned file could not be downloaded (HTTP error, no network): nothing was cached."""


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


def original_judge(key: str, path: str, sha256: str, about: str) -> Pinned:
    """A file of the original's v1.1 judges (branch ``new_judge_v2``)."""
    return Pinned(key, f"{RAW}/{ORIGINAL}/{JUDGE_COMMIT}/{path}", sha256, about)


_JUDGE = "src/disallowed_usage_judge"
_AH = "src/eval/tasks/arenahardwriting/evaluation_code"
_HB = "src/eval/tasks/healthbench/evaluation_code"
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
            "arenahard/judge_utils.py",
            f"{_AH}/utils/judge_utils.py",
            "a8e95101cd42522f6e0bf04066fad872dedea1427d7b3240debd80cb5edc7db2",
            "ArenaHard's judge system prompts (JUDGE_SETTINGS, per category)",
        ),
        original(
            "arenahard/arena-hard-v2.0.yaml",
            f"{_AH}/config/arena-hard-v2.0.yaml",
            "67bb539cb5b0c4a26c9c3b47ef89bc4e3d2fa22105741f3cd97a12ab5fe833e4",
            "ArenaHard's grader user template (prompt_template) and verdict regexes",
        ),
        original(
            "healthbench/healthbench.jsonl",
            f"{_HB}/data/healthbench.jsonl",
            "0febc8f013eb5d91e3b7e31bbbb0284ae6aa5fbd8cab68b81d63fa252837c0b0",
            "HealthBench-Easy: the 245 conversations and rubrics the paper scores",
        ),
        original(
            "healthbench/grader.py",
            f"{_HB}/grader.py",
            "36dee9ae21f9988cfb7be262e0558eeac9b098a6fc3ca783a1b0d615cd3f1add",
            "HealthBench's grader prompt (GRADER_TEMPLATE, OpenAI's healthbench_eval.py verbatim)",
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
        original_judge(
            "judge/prompt.txt",
            f"{_JUDGE}/prompt.txt",
            "3b9f5041b97c2344e3cec67fbaa4d71d0449343980efa7616068dde43addac83",
            "the v1.1 contamination and model-use judge prompt (trace first, <=3-sample tolerance)",
        ),
        original_judge(
            "judge/prompt_api_judge.md",
            f"{_JUDGE}/prompt_api_judge.md",
            "4143d33d16055507d7471ef8f78783badf4787be82ec8b0005a2bef13d33795d",
            "the v1.1 third-party API-use judge prompt",
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
    """``<PTB_CACHE>/upstream``, beside the data cache (``<PTB_CACHE>/data``)."""
    from ptb.tasks.data import data_cache

    return data_cache().parent / "upstream"


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
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        raise UpstreamUnreachable(
            f"{url}: HTTP {exc.code} ({exc.reason}) fetching {p.about} ({p.key}); nothing was "
            f"cached. Check the URL and {MIRROR_ENV}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpstreamUnreachable(
            f"{url}: {reason} fetching {p.about} ({p.key}); nothing was cached (no network? "
            f"run the prefetch where there is, or set {MIRROR_ENV})"
        ) from exc
    got = sha256_of(data)
    if got != p.sha256:
        raise UpstreamMismatch(
            f"{url}: sha256 {got} does not match the pinned {p.sha256} for {p.key!r}; nothing "
            f"was cached. The upstream file changed or the mirror serves another file: check "
            f"{MIRROR_ENV}, or update the pin in ptb/tasks/upstream.py after reviewing the change"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def upstream_path(key: str) -> Path:
    """The cached copy of pinned file ``key`` (verified when it was fetched); never downloads."""
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


def python_constant(source: str, name: str, *keys: str) -> Any:
    """The value of the module-level constant ``name`` in Python ``source``, indexed by ``keys``
    into dict literals, read from the syntax tree alone (the file is never executed).

    Understood: literals (strings, numbers, lists, dicts), names of earlier module-level
    constants, ``+`` of strings and ``"...".strip()``: what the pinned prompt files use
    (``JUDGE_SETTINGS["creative_writing"]["system_prompt"]``, ``GRADER_TEMPLATE``).
    """
    env: dict[str, ast.expr] = {}
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                env[target.id] = statement.value
    if name not in env:
        raise ValueError(f"no module-level constant {name} in the pinned file")
    node = env[name]
    for key in keys:
        node = _dict_entry(_deref(node, env), key, name)
    return _value(node, env)


def _deref(node: ast.expr, env: dict[str, ast.expr]) -> ast.expr:
    while isinstance(node, ast.Name) and node.id in env:
        node = env[node.id]
    return node


def _dict_entry(node: ast.expr, key: str, name: str) -> ast.expr:
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if isinstance(k, ast.Constant) and k.value == key:
                return v
    raise ValueError(f"{name}: no entry {key!r} in the pinned file")


def _value(node: ast.expr, env: dict[str, ast.expr]) -> Any:
    node = _deref(node, env)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _value(node.left, env) + _value(node.right, env)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "strip"
        and not node.args
        and not node.keywords
    ):
        value = _value(node.func.value, env)
        if isinstance(value, str):
            return value.strip()
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(e, env) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {
            _value(k, env): _value(v, env)
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        }
    raise ValueError(f"cannot read {ast.dump(node)[:80]} without running the file")
