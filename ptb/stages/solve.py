"""solve: run the agent in its sandbox under the hard time limit, then keep its results.

Whatever ``final_model`` exists when the agent ends (or is stopped) is moved to the run
directory; the rest of HOME, minus large weight files, is kept as ``solve/workspace``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ptb.fsutil import read_json, write_json
from ptb.rundir import PROTECTED, RunDir
from ptb.sandbox import SANDBOXES, ExecResult, Sandbox, SandboxSpec
from ptb.sandbox.monitor import Monitor
from ptb.scaffolds import SCAFFOLDS, Scaffold, SolveContext
from ptb.scaffolds.transcript import Transcript
from ptb.secrets import Redactor
from ptb.stages import StageContext

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack"}
MAX_KEPT_FILE_BYTES = 50 * 1024 * 1024
DATA_SUFFIXES = {".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet", ".arrow", ".gz", ".md"}
MAX_KEPT_DATA_BYTES = 2 * 1024**3
"""Data files are kept up to this size: the contamination check must see the agent's data."""


def agent_env(ctx: StageContext, home: Path, deadline: float) -> dict[str, str]:
    """The agent's environment: cleared, then rebuilt from the allow-list and its own key only."""
    cfg = ctx.cfg
    env = {k: os.environ[k] for k in cfg.sandbox.env_allowlist if k in os.environ}
    env.update(
        HOME=str(home),
        PTB_DEADLINE=str(int(deadline)),
        PYTHONUNBUFFERED="1",
        TMPDIR=str(home / "tmp"),
    )
    env.update(cfg.agent.extra_env)
    key_name = cfg.agent.api_key_env
    if key_name:
        if key_name not in os.environ:
            raise RuntimeError(f"{key_name} is unset: export it before starting the run")
        env[key_name] = os.environ[key_name]
    return env


def runtime_paths(cache_dir: str, base_model: str) -> tuple[Path, ...]:
    """What the agent's programs need to see read-only wherever they live on the host: the
    interpreter and its environment, ptb's package (evaluate.py imports it), ptb's model cache
    and a local base model. Backends skip the ones that do not exist."""
    import ptb

    paths = [
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix),
        Path(ptb.__file__).resolve().parent,
        Path(cache_dir).expanduser(),
    ]
    if Path(base_model).is_absolute():  # a locally built model; hub ids live in the HF cache
        paths.append(Path(base_model))
    return tuple(dict.fromkeys(paths))


def _restore_job_dir(run: RunDir) -> None:
    """A re-run after a crash mid-finalisation continues in the same HOME."""
    if not run.job_dir.exists() and run.workspace.exists():
        run.workspace.rename(run.job_dir)


class VoidRun(RuntimeError):
    """The agent could not start on fair terms (e.g. the GPU check failed); not its result."""


class Interrupted(RuntimeError):
    """The scheduler stopped the job while the agent ran; re-submitting resumes the run."""


def run(ctx: StageContext) -> None:
    cfg, run_dir = ctx.cfg, ctx.run
    _restore_job_dir(run_dir)
    home, task_dir = run_dir.job_dir, run_dir.task_dir
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    prepared = read_json(run_dir.solve / "prepared.json")
    sandbox_cls = SANDBOXES.load(cfg.sandbox.impl)
    sctx = SolveContext(
        cfg=cfg,
        home=home,
        task_dir=task_dir,
        base_model=prepared["base_model"],
        prompt=run_dir.prompt.read_text(encoding="utf-8"),
        python=sandbox_cls.python,
    )
    scaffold: Scaffold = SCAFFOLDS.load(cfg.scaffold.impl)(sctx)
    deadline = time.time() + cfg.budget.hours * 3600
    env = {**agent_env(ctx, home, deadline), **scaffold.env()}
    spec = SandboxSpec(
        home=home,
        workdir=task_dir,
        env=env,
        readonly=tuple(task_dir / p for p in PROTECTED),
        gpus=cfg.budget.gpus,
        extra_ro_binds=runtime_paths(cfg.cache_dir, prepared["base_model"]),
    )
    sandbox: Sandbox = sandbox_cls(cfg.sandbox, spec)
    if sandbox.warning:
        log.warning(sandbox.warning)
    transcript = Transcript(run_dir.solve, Redactor())
    with sandbox:
        _stage_files(sandbox, scaffold)
        if cfg.budget.gpus > 0:
            _check_gpus(sandbox, ctx)
        argv = scaffold.argv()
        write_json(run_dir.solve / "command.json", {"argv": argv, "env_names": sorted(env)})
        log.info("agent started (limit %.0f s): %s", cfg.budget.limit_s, " ".join(argv))
        monitor = Monitor(run_dir.solve / "monitor.jsonl", home, cfg.sandbox.monitor_interval_s)
        with monitor:
            result = sandbox.exec(
                argv,
                limit_s=cfg.budget.limit_s,
                kill_after_s=cfg.budget.kill_after_s,
                on_line=lambda stream, line: _on_line(scaffold, transcript, stream, line),
            )
    _finish(run_dir, scaffold, transcript, result)


def _stage_files(sandbox: Sandbox, scaffold: Scaffold) -> None:
    for rel, text in scaffold.files().items():
        sandbox.write_file(rel, text, mode=0o755 if rel.endswith(".sh") else 0o644)
    for rel, data in scaffold.binary_files().items():
        sandbox.write_file(rel, data, mode=0o755)


def _check_gpus(sandbox: Sandbox, ctx: StageContext) -> None:
    """Run the GPU check inside the sandbox; a failure voids the run before the agent starts."""
    budget = ctx.cfg.budget
    argv = [sandbox.python, "-m", "ptb.sandbox.gpu_check", "--count", str(budget.gpus)]
    if budget.gpu_type:
        argv += ["--kind", budget.gpu_type]
    lines: list[str] = []
    result = sandbox.exec(
        argv,
        limit_s=ctx.cfg.sandbox.gpu_check_timeout_s,
        kill_after_s=5,
        on_line=lambda stream, line: lines.append(line),
    )
    report = _last_json(lines)
    write_json(ctx.run.solve / "gpu_check.json", {"result": report, "exit_code": result.exit_code})
    if result.reason == "finished" and result.exit_code == 0 and report and report.get("ok"):
        log.info("GPU check passed: %s", [g["name"] for g in report.get("gpus", [])])
        return
    why = (report or {}).get("reason") or f"GPU check {result.reason}: {' | '.join(lines[-5:])}"
    write_json(
        ctx.run.exit_file,
        {
            "exit_code": None,
            "reason": "void",
            "wall_s": 0.0,
            "detail": why,
            "final_model": False,
            "pruned_files": [],
        },
    )
    raise VoidRun(f"run void, the agent was not started: {why}")


def _last_json(lines: list[str]) -> dict[str, Any] | None:
    for line in reversed(lines):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


def _finish(
    run_dir: RunDir, scaffold: Scaffold, transcript: Transcript, result: ExecResult
) -> None:
    if result.reason == "interrupted":
        raise Interrupted(
            f"the scheduler stopped the job after {result.wall_s:.0f} s (scancel, preemption or "
            "node failure); re-submit to resume in the same run directory"
        )
    reason = scaffold.classify(result, transcript)
    transcript.write_markdown(f"{run_dir.run_id} — solve transcript")
    write_json(run_dir.solve / "usage.json", scaffold.usage(transcript, result))
    kept = keep_final_model(run_dir)
    pruned = prune_workspace(run_dir)
    write_json(
        run_dir.exit_file,
        {
            "exit_code": result.exit_code,
            "reason": reason,
            "wall_s": result.wall_s,
            "detail": result.detail,
            "final_model": kept,
            "pruned_files": pruned,
        },
    )
    log.info(
        "agent ended: %s after %.0f s (final_model %s)",
        reason,
        result.wall_s,
        "kept" if kept else "missing",
    )


def _on_line(scaffold: Scaffold, transcript: Transcript, stream: str, line: str) -> None:
    scaffold.on_line(stream, line, transcript)
    log.info("agent│ %s", transcript.redact(line)[:200])


def keep_final_model(run: RunDir) -> bool:
    src = run.task_dir / "final_model"
    if not src.is_dir():
        return run.final_model.is_dir()
    if run.final_model.exists():
        shutil.rmtree(run.final_model)
    shutil.move(str(src), run.final_model)
    return True


def prune_workspace(run: RunDir) -> list[dict[str, Any]]:
    """Drop weight files and very large files from HOME (data files only above 2 GiB), then
    keep it as ``solve/workspace``."""
    removed: list[dict[str, Any]] = []
    for path in sorted(run.job_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        limit = MAX_KEPT_DATA_BYTES if path.suffix.lower() in DATA_SUFFIXES else MAX_KEPT_FILE_BYTES
        if path.suffix in WEIGHT_SUFFIXES or size > limit:
            removed.append({"path": str(path.relative_to(run.job_dir)), "bytes": size})
            path.unlink()
    shutil.rmtree(run.job_dir / "tmp", ignore_errors=True)
    if run.workspace.exists():
        shutil.rmtree(run.workspace)
    run.job_dir.rename(run.workspace)
    return removed
