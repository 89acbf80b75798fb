"""``solve/provenance.json``: what the agent fetched, installed and left.

Two steps, because the HF cache overlay's upper layer is deleted when the sandbox stops:

1. ``harvest_overlay`` (called by the sandbox's ``stop`` before the layer is discarded) lists
   every model and dataset the agent downloaded into the cache (the hub layout
   ``hub/models--org--name/snapshots/<rev>/<file>``, ``hub/datasets--...``, and the ``datasets``
   library's own ``datasets/`` cache), and copies the *dataset* files (not models) into
   ``solve/hf_datasets/`` up to ``MAX_DATASET_BYTES`` in all, so that the contamination check
   reads them. The listing goes to ``solve/hf_overlay.json``. The sandbox takes both paths
   from its spec (``SandboxSpec.cache_listing``, ``cache_datasets``), set from ``RunDir``.
2. ``write_provenance`` (at the end of solve, after the workspace is kept) joins that listing
   with the hosts of ``solve/egress.jsonl``, the packages the agent installed (pip/uv/conda
   commands in the transcript and in its shell scripts, distributions it wrote under HOME) and
   the data files it left in the workspace.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from ptb.fsutil import read_json, write_json
from ptb.rundir import RunDir

MAX_DATASET_BYTES = 2 * 1024**3
"""Dataset files copied out of the overlay in all; larger ones are listed, not copied."""
DATA_SUFFIXES = {".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet", ".arrow", ".gz", ".md"}
"""Data files: solve keeps them in the workspace (up to its size cap) and provenance lists them."""
INSTALL = re.compile(
    r"\b(?:pip3?|uv\s+pip|python[\d.]*\s+-m\s+pip)\s+install\s+(?P<pip>[^;&|\n]+)|"
    r"\b(?:conda|mamba|micromamba)\s+install\s+(?P<conda>[^;&|\n]+)|"
    r"\buv\s+add\s+(?P<uv>[^;&|\n]+)"
)


def _repo(folder: str) -> tuple[str, str] | None:
    """``models--org--name`` → (``model``, ``org/name``)."""
    kind, sep, rest = folder.partition("--")
    if not sep or kind not in ("models", "datasets", "spaces"):
        return None
    return kind.rstrip("s"), rest.replace("--", "/")


def _whiteout(path: Path) -> bool:
    """overlayfs bookkeeping in the upper layer (``.wh.<name>``, ``.wh..wh..opq``)."""
    return path.name.startswith(".wh.")


def hub_listing(upper: Path) -> list[dict[str, Any]]:
    """Repos the agent added to the hub cache: id, kind, revisions, files with sizes."""
    hub = upper / "hub"
    out: list[dict[str, Any]] = []
    for folder in sorted(hub.iterdir()) if hub.is_dir() else []:
        repo = _repo(folder.name)
        if repo is None or _whiteout(folder):
            continue
        files: list[dict[str, Any]] = []
        revisions = []
        snaps = folder / "snapshots"
        for rev in sorted(snaps.iterdir()) if snaps.is_dir() else []:
            if _whiteout(rev):
                continue
            revisions.append(rev.name)
            for path in sorted(rev.rglob("*")):
                real = path.resolve()
                if real.is_file() and not _whiteout(path):
                    rel = str(path.relative_to(rev))
                    files.append({"revision": rev.name, "path": rel, "bytes": real.stat().st_size})
        out.append({
            "kind": repo[0], "repo_id": repo[1], "revisions": revisions, "files": files,
            "bytes": sum(f["bytes"] for f in files),
        })  # fmt: skip
    return out


def harvest_overlay(upper: Path, listing: Path, kept_dir: Path, mode: str) -> dict[str, Any]:
    """List what the agent wrote into the cache overlay into ``listing`` and keep its dataset
    files in ``kept_dir`` (within ``MAX_DATASET_BYTES``); the solve stage passes
    ``RunDir.hf_overlay`` and ``RunDir.hf_datasets``."""
    repos = hub_listing(upper) if upper.is_dir() else []
    shutil.rmtree(kept_dir, ignore_errors=True)
    budget, kept, skipped = MAX_DATASET_BYTES, [], []
    sources: list[tuple[str, Path]] = []
    for repo in repos:
        if repo["kind"] == "dataset":
            for f in repo["files"]:
                snap = upper / "hub" / f"datasets--{repo['repo_id'].replace('/', '--')}"
                sources.append(
                    (
                        f"{repo['repo_id']}/{f['path']}",
                        snap / "snapshots" / f["revision"] / f["path"],
                    )
                )
    lib = upper / "datasets"  # the datasets library's prepared Arrow files
    for path in sorted(lib.rglob("*")) if lib.is_dir() else []:
        if (
            path.is_file()
            and not path.is_symlink()
            and path.suffix.lower() in DATA_SUFFIXES
            and not _whiteout(path)
        ):
            sources.append((f"datasets-cache/{path.relative_to(lib)}", path))
    for name, path in sources:
        real = path.resolve()
        if not real.is_file():
            continue
        size = real.stat().st_size
        if size > budget:
            skipped.append({"file": name, "bytes": size, "why": "over the copy cap"})
            continue
        target = kept_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, target)
        budget -= size
        kept.append({"file": name, "bytes": size})
    other = [
        p for p in upper.rglob("*") if p.is_file() and not p.is_symlink() and not _whiteout(p)
    ] if upper.is_dir() else []  # fmt: skip
    record = {
        "mode": mode,
        "repos": repos,
        "dataset_files_kept": kept,
        "dataset_files_skipped": skipped,
        "files_in_layer": len(other),
        "bytes_in_layer": sum(p.stat().st_size for p in other),
    }
    write_json(listing, record)
    return record


def installed_packages(commands: list[tuple[str, str]]) -> list[dict[str, str]]:
    out = []
    for where, text in commands:
        for m in INSTALL.finditer(text):
            tool = next(k for k in ("pip", "conda", "uv") if m.group(k))
            specs = [w for w in m.group(tool).split() if not w.startswith("-")]
            out += [{"tool": tool, "spec": s.strip("'\""), "where": where} for s in specs]
    return out


def _commands(transcript: Path, workspace: Path) -> list[tuple[str, str]]:
    from ptb.judge.api_misuse import tool_calls

    out = [
        (f"transcript tool_call #{n}", json.dumps(ev.get("input")))
        for n, ev in enumerate(tool_calls(transcript))
    ]
    for path in sorted(workspace.rglob("*.sh")) if workspace.is_dir() else []:
        if path.is_file() and path.stat().st_size < 1024**2:
            rel = str(path.relative_to(workspace))
            out.append((rel, path.read_text(encoding="utf-8", errors="replace")))
    return out


def home_distributions(workspace: Path) -> list[str]:
    """Distributions installed under HOME (``pip install --user``, a venv): ``name-version``."""
    if not workspace.is_dir():
        return []
    return sorted({p.name.removesuffix(".dist-info") for p in workspace.rglob("*.dist-info")})


def egress_hosts(log: Path) -> dict[str, Any] | None:
    if not log.exists():
        return None
    from ptb.sandbox.egress import read_log

    allowed: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for rec in read_log(log):
        (allowed if rec.get("allowed", True) else refused)[str(rec.get("host"))] += 1
    return {"allowed": dict(allowed), "refused": dict(refused)}


def write_provenance(run: RunDir) -> dict[str, Any]:
    workspace, overlay = run.workspace, run.hf_overlay
    record = read_json(overlay) if overlay.exists() else None
    data = [
        {"path": str(p.relative_to(workspace)), "bytes": p.stat().st_size}
        for p in sorted(workspace.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.suffix.lower() in DATA_SUFFIXES
    ] if workspace.is_dir() else []  # fmt: skip
    prov = {
        "hf_cache": record,
        "models": [r for r in (record or {}).get("repos", []) if r["kind"] == "model"],
        "datasets": [r for r in (record or {}).get("repos", []) if r["kind"] == "dataset"],
        "egress": egress_hosts(run.egress_log),
        "packages": installed_packages(_commands(run.transcript, workspace))[:200],
        "home_distributions": home_distributions(workspace)[:200],
        "data_files": data[:500],
        "data_files_total": len(data),
    }
    write_json(run.provenance, prov)
    return prov


def fetched_models(run: RunDir) -> list[str]:
    """Repo ids of the models the agent downloaded (empty without a provenance record)."""
    path = run.provenance
    if not path.exists():
        return []
    return [m["repo_id"] for m in read_json(path).get("models", [])]
