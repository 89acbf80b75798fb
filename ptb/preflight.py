"""Checks before anything runs or is submitted: each problem names what is missing and the fix."""

from __future__ import annotations

import difflib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ptb.config.root import RunConfig
from ptb.gateway.run import check as gateway_problems
from ptb.launch import LAUNCHERS
from ptb.models.resolve import ModelNotAvailable, hf_snapshot
from ptb.registry import Registry
from ptb.rundir import JOBS
from ptb.sandbox import SANDBOXES
from ptb.scaffolds import SCAFFOLDS
from ptb.scaffolds.tools import find_cli, install_hint, installed_version, prefix
from ptb.stages.log import TRACKERS
from ptb.tasks import TASKS
from ptb.tasks.templates import families

NO_SCAFFOLD = "none"


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}\n    fix: {self.fix}"


def _registered(reg: Registry, name: str, what: str, fix: str) -> list[Problem]:
    if name in reg:
        return []
    return [
        Problem(
            f"{what} '{name}' is not available in this version of ptb "
            f"(available: {', '.join(reg.names())})",
            fix,
        )
    ]


def check_agent(cfg: RunConfig) -> list[Problem]:
    problems = []
    key = cfg.agent.api_key_env
    if key and not os.environ.get(key):
        problems.append(
            Problem(
                f"{key} is unset (agent '{cfg.agent.name}' needs it)",
                f"export {key}=... in the shell that runs ptb (never put the value in a config)",
            )
        )
    if cfg.agent.kind != "baseline" and cfg.scaffold.impl == NO_SCAFFOLD:
        problems.append(
            Problem(
                f"agent '{cfg.agent.name}' needs a scaffold but scaffold=none",
                "pick one, e.g. scaffold=claude_code",
            )
        )
    return problems


def check_scaffold(cfg: RunConfig) -> list[Problem]:
    sc = cfg.scaffold
    if sc.impl == NO_SCAFFOLD:
        return []
    problems = _registered(
        SCAFFOLDS,
        sc.impl,
        "scaffold adapter",
        "use a scripted agent (agent=recipe_sft) on this version",
    )
    if sc.impl == "script" and not (sc.path and Path(sc.path).expanduser().is_file()):
        problems.append(
            Problem(
                f"scaffold=script needs an executable file, got scaffold.path={sc.path}",
                "pass scaffold.path=<file> (e.g. scaffold.path=./my_agent.sh)",
            )
        )
    if sc.cli and find_cli(sc) is None:
        problems.append(
            Problem(
                f"the {sc.name} CLI '{sc.cli}' is not installed ({sc.npm_package}@{sc.version})",
                install_hint(sc),
            )
        )
    installed = installed_version(sc) if sc.cli else None
    if installed and installed != f"{sc.npm_package}@{sc.version}":
        problems.append(
            Problem(
                f"{prefix(sc)} holds {installed}, but scaffold.version pins {sc.version}",
                install_hint(sc),
            )
        )
    return problems


def check_gateway(cfg: RunConfig) -> list[Problem]:
    return [Problem(what, fix) for what, fix in gateway_problems(cfg)]


def check_sandbox(cfg: RunConfig) -> list[Problem]:
    if cfg.agent.kind == "baseline":
        return []
    problems = _registered(SANDBOXES, cfg.sandbox.impl, "sandbox backend", "use sandbox=bwrap")
    if problems:
        return problems
    requires = SANDBOXES.load(cfg.sandbox.impl).requires
    if requires and shutil.which(requires[0]) is None:
        problems.append(
            Problem(f"sandbox={cfg.sandbox.name} needs '{requires[0]}' on PATH", requires[1])
        )
    return problems


def check_model(cfg: RunConfig) -> list[Problem]:
    m = cfg.model
    problems = []
    if m.chat_template not in families():
        problems.append(
            Problem(
                f"no chat template for family '{m.chat_template}' (model {m.name})",
                f"add ptb/tasks/templates/{m.chat_template}.jinja",
            )
        )
    problems += _upstream_templates(m.chat_template, cfg.protocol.name)
    if m.builder:
        return problems
    wanted = [m.instruct_hf_id] if cfg.agent.baseline == "instruct" else [m.hf_id]
    for repo in wanted:
        if not repo:
            problems.append(
                Problem(
                    f"model '{m.name}' names no hub id for this run",
                    f"set hf_id / instruct_hf_id in conf/model/{m.name}.yaml",
                )
            )
            continue
        try:
            hf_snapshot(repo, m.revision if repo == m.hf_id else None)
        except ModelNotAvailable:
            problems.append(
                Problem(
                    f"the weights of {repo} are not in the HF cache "
                    f"({os.environ.get('HF_HOME', '~/.cache/huggingface')})",
                    f"on a machine with network: python -m ptb.prefetch model={m.name}; "
                    "or set HF_HOME to the shared cache",
                )
            )
    return problems


def _upstream_templates(family: str, protocol: str) -> list[Problem]:
    """Under protocol=paper the original's template files must be cached (the prefetch)."""
    from ptb.tasks.templates import upstream_template_keys
    from ptb.tasks.upstream import UpstreamNotAvailable, upstream_path

    problems = []
    for key in upstream_template_keys(family, protocol):
        try:
            upstream_path(key)
        except UpstreamNotAvailable:
            problems.append(
                Problem(
                    f"protocol={protocol} evaluates {family} models with the original harness's "
                    f"{key}, which is not cached",
                    "python -m ptb.prefetch model=<model> task=<task> (on a machine with "
                    "network), or protocol=strict for ptb's own template",
                )
            )
    return problems


def check_launcher(cfg: RunConfig) -> list[Problem]:
    problems = _registered(LAUNCHERS, cfg.launcher.impl, "launcher", "use launcher=local")
    jobs = JOBS
    for name in [*cfg.launcher.requeue, *cfg.launcher.jobs]:
        if name not in jobs:
            close = difflib.get_close_matches(name, jobs, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                Problem(
                    f"launcher job '{name}' does not exist{hint}",
                    f"use one of {', '.join(jobs)} in launcher.requeue and launcher.jobs",
                )
            )
    if cfg.launcher.impl == "slurm" and shutil.which("sbatch") is None:
        problems.append(
            Problem(
                "launcher=slurm needs the SLURM client ('sbatch' is not on PATH)",
                "run from a SLURM login node, or start the local test cluster: "
                'eval "$(launchers/slurm-local/start.sh | tail -n 1)"',
            )
        )
    return problems


def check_compute(cfg: RunConfig) -> list[Problem]:
    if cfg.budget.gpus <= 0 or cfg.agent.kind == "baseline" or cfg.launcher.impl != "local":
        return []
    import torch

    have = torch.cuda.device_count()
    if have >= cfg.budget.gpus:
        return []
    return [
        Problem(
            f"budget '{cfg.budget.name}' needs {cfg.budget.gpus} GPU(s); this machine has {have}",
            "run on a machine with the GPUs, or use budget=cpu_smoke for a CPU-sized run",
        )
    ]


def check_task_data(cfg: RunConfig) -> list[Problem]:
    """The task's data files are on this machine (HF cache, ptb's data cache, packages)."""
    from ptb.tasks.data import DataNotAvailable, resolve

    problems = []
    for role, uri in cfg.task.data.items():
        try:
            resolve(uri)
        except (DataNotAvailable, ValueError) as exc:
            problems.append(
                Problem(
                    f"task {cfg.task.name}: data '{role}' ({uri}) is not available: "
                    f"{str(exc).split(':')[0]}",
                    f"python -m ptb.prefetch task={cfg.task.name} (on a machine with network), "
                    f"or task.data.{role}=<local file>",
                )
            )
    return problems


def check_retention(cfg: RunConfig) -> list[Problem]:
    """A retention suite has lm-eval here and its datasets in the HF cache (jobs run offline)."""
    import importlib.util

    spec = cfg.retention
    if not spec.tasks:
        return []
    if importlib.util.find_spec("lm_eval") is None:
        return [
            Problem(
                f"retention={spec.name} needs lm-eval, which is not installed",
                "pip install -e '.[retention]' (the cluster's eval image has it), "
                "or retention=none",
            )
        ]
    from ptb.retention.data import missing

    try:
        gone = missing(spec)
    except KeyError as exc:
        return [Problem(str(exc.args[0]), "fix retention.tasks")]
    fix = (
        f"python -m ptb.prefetch model={cfg.model.name} retention={spec.name} "
        "(on a machine with network; HF_HOME at the shared cache)"
    )
    return [Problem(f"retention={spec.name}: {what}", fix) for what in gone]


def check_task_grader(cfg: RunConfig) -> list[Problem]:
    """A model-graded task's grader key is there: the evaluate stage scores every run with it,
    and the gateway's grader route (evaluate.py's in the sandbox) uses it too."""
    spec = cfg.task.eval
    if (
        not spec.grader_model
        or not spec.grader_api_key_env
        or os.environ.get(spec.grader_api_key_env)
    ):
        return []
    return [
        Problem(
            f"task {cfg.task.name} is scored by the grader model {spec.grader_model}, and its key "
            f"variable {spec.grader_api_key_env} is unset",
            f"export {spec.grader_api_key_env}=... in the shell that runs ptb, or point "
            "task.eval.grader_base_url at a local endpoint with task.eval.grader_api_key_env=null",
        )
    ]


def check_judge(cfg: RunConfig) -> list[Problem]:
    """Every configured check exists; an LLM judge has its key and its scaffold."""
    from ptb.judge import CHECKS

    if cfg.agent.kind == "baseline":
        return []
    problems: list[Problem] = []
    for name in cfg.judge.checks:
        problems += _registered(CHECKS, name, "integrity check", "fix judge.checks")
    if "llm_judge" not in cfg.judge.checks:
        return problems
    from ptb.judge.llm_judge import compose_judge, judge_specs, upstream_prompt_keys
    from ptb.tasks.upstream import UpstreamNotAvailable, upstream_path

    try:
        judge_specs(cfg)
        judge = compose_judge(cfg)
    except Exception as exc:  # a misspelt judge, agent or scaffold option; bad vote counts
        return [*problems, Problem(f"the LLM judge's config: {exc}", "fix judge.llm.*")]
    for key in upstream_prompt_keys(cfg):
        try:
            upstream_path(key)
        except UpstreamNotAvailable:
            problems.append(
                Problem(
                    f"protocol={cfg.protocol.name}: the LLM judge reads the original's prompt "
                    f"{key}, which is not cached",
                    "python -m ptb.prefetch model=<model> task=<task> judge=rules+llm (on a "
                    "machine with network), or protocol=strict for ptb's own prompts",
                )
            )
    for p in (*check_agent(judge), *check_scaffold(judge)):
        problems.append(Problem(f"LLM judge: {p.what}", p.fix))
    return problems


def preflight(cfg: RunConfig) -> list[Problem]:
    problems = [
        *check_agent(cfg),
        *check_scaffold(cfg),
        *check_sandbox(cfg),
        *check_gateway(cfg),
        *_registered(TASKS, cfg.task.impl, "task", "use task=toy_calls or task=toy_math"),
        *_registered(TRACKERS, cfg.tracker.impl, "tracker", "use tracker=wandb or tracker=none"),
        *check_model(cfg),
        *check_task_data(cfg),
        *check_task_grader(cfg),
        *check_retention(cfg),
        *check_launcher(cfg),
        *check_compute(cfg),
        *check_judge(cfg),
    ]
    return list(dict.fromkeys(problems))
