"""solve/provenance.json from an HF-cache overlay's upper layer, the egress log, the transcript
and the workspace (``ptb.stages.provenance``)."""

from __future__ import annotations

import json
from pathlib import Path

from ptb.rundir import RunDir
from ptb.stages.provenance import fetched_models, harvest_overlay, write_provenance


def _hub_file(upper: Path, repo: str, rev: str, rel: str, data: bytes) -> None:
    """The hub cache layout: the snapshot's file is a symlink to its blob."""
    root = upper / "hub" / repo
    blob = root / "blobs" / f"sha-{rel.replace('/', '-')}"
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = root / "snapshots" / rev / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path("../" * (rel.count("/") + 2)) / "blobs" / blob.name)


def test_overlay_listing_keeps_dataset_files_not_models(tmp_path: Path) -> None:
    upper, solve = tmp_path / "upper", tmp_path / "solve"
    solve.mkdir()
    _hub_file(upper, "models--Qwen--Qwen3-1.7B", "r1", "model.safetensors", b"w" * 5000)
    _hub_file(upper, "models--Qwen--Qwen3-1.7B", "r1", "config.json", b"{}")
    _hub_file(
        upper, "datasets--openai--gsm8k", "r2", "main/test-00000-of-00001.parquet", b"p" * 300
    )
    (upper / "hub" / ".wh..wh..opq").write_bytes(b"")  # overlayfs bookkeeping: ignored
    (upper / "datasets" / "gsm8k" / "main").mkdir(parents=True)
    (upper / "datasets" / "gsm8k" / "main" / "gsm8k-test.arrow").write_bytes(b"a" * 100)
    record = harvest_overlay(upper, solve / "hf_overlay.json", solve / "hf_datasets", "fuse")
    assert [(r["kind"], r["repo_id"]) for r in record["repos"]] == [
        ("dataset", "openai/gsm8k"), ("model", "Qwen/Qwen3-1.7B")
    ]  # fmt: skip
    by_id = {r["repo_id"]: r for r in record["repos"]}
    assert by_id["Qwen/Qwen3-1.7B"]["revisions"] == ["r1"]
    assert by_id["Qwen/Qwen3-1.7B"]["bytes"] == 5002
    assert by_id["openai/gsm8k"]["files"] == [
        {"revision": "r2", "path": "main/test-00000-of-00001.parquet", "bytes": 300}
    ]
    kept = sorted(f["file"] for f in record["dataset_files_kept"])
    assert kept == ["datasets-cache/gsm8k/main/gsm8k-test.arrow",
                    "openai/gsm8k/main/test-00000-of-00001.parquet"]  # fmt: skip
    assert (
        solve / "hf_datasets/openai/gsm8k/main/test-00000-of-00001.parquet"
    ).read_bytes() == b"p" * 300
    assert not list((solve / "hf_datasets").rglob("*.safetensors"))
    assert json.loads((solve / "hf_overlay.json").read_text())["mode"] == "fuse"


def test_provenance_joins_egress_packages_and_data_files(tmp_path: Path) -> None:
    solve, ws = tmp_path / "solve", tmp_path / "solve" / "workspace"
    (ws / "task").mkdir(parents=True)
    harvest_overlay(tmp_path / "none", solve / "hf_overlay.json", solve / "hf_datasets", "ro")
    (ws / "task" / "mix.jsonl").write_text('{"a": 1}\n')
    (ws / "setup.sh").write_text("pip install -q trl==0.12.0 peft\n")
    dist = ws / ".local/lib/python3.11/site-packages/trl-0.12.0.dist-info"
    dist.mkdir(parents=True)
    events = [
        {
            "kind": "tool_call",
            "tool": "shell",
            "input": "uv pip install 'datasets>=3' && python x.py",
        },
        {"kind": "message", "text": "pip install nothing (not a command)"},
    ]
    (solve / "transcript.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (solve / "egress.jsonl").write_text(
        '{"host": "huggingface.co", "allowed": true}\n{"host": "evil.example", "allowed": false}\n'
    )
    prov = write_provenance(RunDir(tmp_path))
    specs = {(p["tool"], p["spec"], p["where"]) for p in prov["packages"]}
    assert specs == {
        ("pip", "datasets>=3", "transcript tool_call #0"),
        ("pip", "trl==0.12.0", "setup.sh"),
        ("pip", "peft", "setup.sh"),
    }
    assert prov["home_distributions"] == ["trl-0.12.0"]
    assert prov["egress"] == {"allowed": {"huggingface.co": 1}, "refused": {"evil.example": 1}}
    assert prov["data_files"] == [{"path": "task/mix.jsonl", "bytes": 9}]
    assert prov["models"] == [] and fetched_models(RunDir(tmp_path)) == []
