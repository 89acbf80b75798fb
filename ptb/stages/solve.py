"""solve: run the agent in its sandbox under the hard time limit, then keep its results.

Whatever ``final_model`` exists when the agent ends (or is stopped) is moved to the run
directory; the rest of HOME, minus large weight files, is kept as ``solve/workspace``
(``ptb.stages.workspace``). The session's environment, key, credential files and binds are set
up by ``ptb.stages.session``, which the LLM judge shares.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ptb.fsutil import read_json, write_json
from ptb.gateway.ledger import summarize
from ptb.gateway.process import GatewayError
from ptb.gateway.run import RunGateway, open_gateway, stop_on_limit
from ptb.judge.live import LiveWatch
from ptb.records import ExitRecord
from ptb.rundir import PROTECTED, RunDir
from ptb.sandbox import SANDBOXES, ExecResult, Sandbox, SandboxSpec
from ptb.sandbox.monitor import Monitor
from ptb.scaffolds import SCAFFOLDS, Scaffold, SolveContext
from ptb.scaffolds.base import Ending
from ptb.scaffolds.endpoint import Endpoint, endpoint_for, key_value
from ptb.scaffolds.transcript import Transcript
from ptb.secrets import Redactor
from ptb.stages import StageContext
from ptb.stages.agent_clock import AgentClock
from ptb.stages.provenance import write_provenance
from ptb.stages.session import (
    agent_env,
    copy_secrets,
    forwards_for,
    interpreter_first,
    place_key,
    return_secrets,
    runtime_paths,
    scrub_value,
    stage_files,
)
from ptb.stages.workspace import keep_final_model, prune_workspace, restore_job_dir

log = logging.getLogger(__name__)


class VoidRun(RuntimeError):
    """The agent could not start on fair terms (e.g. the GPU check failed); not its result."""


class Interrupted(RuntimeError):
    """The scheduler stopped the job while the agent ran; re-submitting resumes the run."""


def run(ctx: StageContext, endpoint: Endpoint | None = None) -> None:
    """``endpoint``: where the agent's model API is (default: from ``cfg.agent``). With the
    gateway on (``gateway.enabled``), the agent gets the gateway's URL and a dummy token
    instead, and the gateway runs as long as the agent."""
    restore_job_dir(ctx.run)
    endpoint = endpoint or endpoint_for(ctx.cfg.agent)
    with open_gateway(ctx.cfg, ctx.run) as gateway:
        if gateway is not None:
            routes = {"agent": gateway.base_url, "grader": gateway.grader_base_url}
            on = ", ".join(f"{name} at {url}" for name, url in routes.items() if url)
            log.info("model-API gateway: %s (log: solve/gateway.jsonl)", on)
        if gateway is not None and gateway.base_url:
            endpoint = endpoint.replace(base_url=gateway.base_url)
        scaffold, transcript, result, ending = _solve(ctx, endpoint, gateway)
        if gateway is not None and gateway.process.limit_reason:
            ending = Ending("usage_limit", message=gateway.process.limit_reason)
        if gateway is not None and not gateway.process.running:
            raise GatewayError(
                "the model-API gateway stopped while the agent ran (see solve/gateway.log); "
                "re-run to retry the solve stage"
            )
    _finish(ctx.run, scaffold, transcript, result, ending, gateway is not None)


def _solve(
    ctx: StageContext, endpoint: Endpoint, gateway: RunGateway | None
) -> tuple[Scaffold, Transcript, ExecResult, Ending]:
    cfg, run_dir = ctx.cfg, ctx.run
    home, task_dir = run_dir.job_dir, run_dir.task_dir
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    prepared = read_json(run_dir.prepared)
    sandbox_cls = SANDBOXES.load(cfg.sandbox.impl)
    sctx = SolveContext(
        cfg=cfg,
        home=home,
        task_dir=task_dir,
        base_model=prepared["base_model"],
        prompt=run_dir.prompt.read_text(encoding="utf-8"),
        python=sandbox_cls.python,
        endpoint=endpoint,
    )
    scaffold: Scaffold = SCAFFOLDS.load(cfg.scaffold.impl)(sctx)
    clock = AgentClock(run_dir.clock)  # a resumed stage continues the budget, not a new one
    if clock.resumes:
        log.info(
            "resuming the solve stage (%d): %.0f s of the agent's %.0f s already used",
            clock.resumes,
            clock.used_before,
            cfg.budget.limit_s,
        )
    t0 = clock.start
    deadline = t0 + cfg.budget.hours * 3600
    env = {**agent_env(cfg, home, deadline), **scaffold.env()}
    interpreter_first(env, sandbox_cls.python)
    place_key(env, endpoint, scaffold, gateway)
    key = key_value(endpoint, os.environ)  # the real one: scrubbed from HOME should it be there
    files = run_dir.sandbox_files
    spec = SandboxSpec(
        home=home,
        workdir=task_dir,
        env=env,
        readonly=tuple(task_dir / p for p in PROTECTED),
        gpus=cfg.budget.gpus,
        extra_ro_binds=runtime_paths(cfg.cache_dir, prepared["base_model"], cfg.task.data.values())
        + scaffold.runtime_paths(),
        forwards=forwards_for(endpoint, gateway),
        # other runs' results and evaluations, and this run's own files beside HOME
        hide=(Path(cfg.results_dir).expanduser().resolve(), run_dir.path),
        egress_log=files.egress_log,
        cache_layers=files.cache_layers,
        cache_listing=files.cache_listing,
        cache_datasets=files.cache_datasets,
    )
    sandbox: Sandbox = sandbox_cls(cfg.sandbox, spec)
    if sandbox.warning:
        log.warning(sandbox.warning)
    transcript = Transcript(run_dir.transcripts, Redactor([key] if key else None))
    secrets = scaffold.secret_files()
    with sandbox:
        stage_files(sandbox, scaffold)
        copied = copy_secrets(home, secrets)
        try:
            if cfg.budget.gpus > 0:
                _check_gpus(sandbox, ctx)
            argv = scaffold.argv()
            write_json(run_dir.command, {"argv": argv, "env_names": sorted(env)})
            log.info("agent started (limit %.0f s): %s", cfg.budget.limit_s, " ".join(argv))
            monitor = Monitor(run_dir.monitor, home, cfg.sandbox.monitor_interval_s)
            grace = cfg.gateway.limit_grace_s
            with (
                monitor,
                clock.running(),
                stop_on_limit(gateway, grace) as stop,
                LiveWatch(run_dir, cfg, stop, gateway is not None) as live,  # judge.live
            ):
                result, ending = _run_agent(
                    sandbox, scaffold, transcript, argv, ctx, t0, deadline, stop
                )
            if live.reason and result.reason == "stopped":
                log.warning("%s: the agent was stopped (solve/live.json)", live.reason)
                ending = Ending("stopped", message=live.reason)
        finally:
            return_secrets(home, secrets, copied)
            if key:
                scrub_value(home, key)
    return scaffold, transcript, result, ending


def _run_agent(
    sandbox: Sandbox,
    scaffold: Scaffold,
    transcript: Transcript,
    argv: list[str],
    ctx: StageContext,
    t0: float,
    deadline: float,
    stop: threading.Event | None = None,
) -> tuple[ExecResult, Ending]:
    """Run the agent; in reprompt mode resume it while enough time remains after it stops.
    ``stop`` (the gateway's usage limit) ends it like the time limit, and for good."""
    cfg = ctx.cfg
    hard_end = t0 + cfg.budget.limit_s
    attempts = 0
    if hard_end - time.time() <= 0:  # resumed with the budget already used up
        used = round(time.time() - t0, 2)
        detail = "the time limit had passed when the interrupted stage resumed"
        return ExecResult(None, "timeout", used, detail), Ending("timeout", message=detail)
    while True:
        attempts += 1
        result = sandbox.exec(
            argv,
            limit_s=max(1.0, hard_end - time.time()),
            kill_after_s=cfg.budget.kill_after_s,
            on_line=lambda stream, line: _on_line(scaffold, transcript, stream, line),
            stop=stop,
        )
        if result.reason == "interrupted":
            return result, Ending("interrupted")
        ending = scaffold.classify(result, transcript)
        minutes_left = (deadline - time.time()) / 60
        wanted = cfg.scaffold.reprompt_min_minutes
        stopped = stop is not None and stop.is_set()
        if ending.reason != "finished" or wanted is None or minutes_left < wanted or stopped:
            break
        resume = scaffold.resume_argv(scaffold.continue_prompt(minutes_left))
        if resume is None:
            log.warning("scaffold=%s cannot resume; reprompt mode ignored", cfg.scaffold.name)
            break
        note = f"reprompt {attempts}: {minutes_left:.0f} min left"
        transcript.event("system", "message", text=note)
        log.info("agent stopped with %.0f min left: reprompting (%d)", minutes_left, attempts)
        argv = resume
    total = round(time.time() - t0, 2)
    return ExecResult(result.exit_code, result.reason, total, result.detail), ending


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
    write_json(ctx.run.gpu_check, {"result": report, "exit_code": result.exit_code})
    if result.reason == "finished" and result.exit_code == 0 and report and report.get("ok"):
        log.info("GPU check passed: %s", [g["name"] for g in report.get("gpus", [])])
        return
    why = (report or {}).get("reason") or f"GPU check {result.reason}: {' | '.join(lines[-5:])}"
    write_json(ctx.run.exit_file, ExitRecord.void(why).to_json())
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
    run_dir: RunDir,
    scaffold: Scaffold,
    transcript: Transcript,
    result: ExecResult,
    ending: Ending,
    gateway: bool = False,
) -> None:
    if result.reason == "interrupted":
        raise Interrupted(
            f"the scheduler stopped the job after {result.wall_s:.0f} s (scancel, preemption or "
            "node failure); re-submit to resume in the same run directory"
        )
    transcript.write_markdown(f"{run_dir.run_id} — solve transcript")
    usage = scaffold.usage(transcript, result)
    if gateway:  # what the provider itself reported, request by request
        usage["gateway"] = summarize(run_dir.gateway_log)
    write_json(run_dir.usage, usage)
    kept = keep_final_model(run_dir)
    pruned = prune_workspace(run_dir)
    write_provenance(run_dir)
    record = ExitRecord(
        exit_code=result.exit_code,
        reason=ending.reason,
        api_error=ending.api_error,
        error_message=transcript.redact(ending.message) if ending.message else None,
        wall_s=result.wall_s,
        detail=result.detail,
        final_model=kept,
        pruned_files=pruned,
    )
    write_json(run_dir.exit_file, record.to_json())
    log.info(
        "agent ended: %s%s after %.0f s (final_model %s)",
        ending.reason,
        f" ({ending.api_error})" if ending.api_error else "",
        result.wall_s,
        "kept" if kept else "missing",
    )


def _on_line(scaffold: Scaffold, transcript: Transcript, stream: str, line: str) -> None:
    scaffold.on_line(stream, line, transcript)
    log.info("agent│ %s", transcript.redact(line)[:200])
