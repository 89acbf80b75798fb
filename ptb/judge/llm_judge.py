"""The LLM judges as PostTrainBench v1.1/v1.2 run them, each asked of an agent in its own sandbox.

``judge.llm.judges`` names the judges (``judge.llm.definitions``: ``contamination`` — the
contamination and model-use judge —, ``api_use``, ``lookup``). Each runs ``judge.llm.votes``
times, every vote a fresh run of the judge agent (``judge.llm.agent``, any agent option with its
scaffold, or ``scaffold=script`` as a stand-in) in a fresh HOME ``judge/llm/<judge>/vote-<i>/job``:
``task/`` (its working folder) and ``agent_home/`` are copies of the agent's workspace, the
whole normalised transcript is in pages under ``trace/`` with the index ``solve_parsed.txt``
(``ptb.judge.trace``), and ``final_model_config.json`` is the submission's config. Its
environment is the sandbox allow-list plus its *own* key only. It answers in
``task/judgement.json`` (or as the last JSON line of its output): a boolean per answer field of
its definition and a ``justification_<field>``.

Prompts: under ``protocol=paper`` the original's (pinned upstream files, fetched by the
prefetch; ``paper_prompt``), under ``strict`` — and for a judge the original has no prompt for —
ptb's own (``ptb/judge/prompts/``). Each field becomes a finding ``llm_<field>`` in its
category: flagged when at least ``judge.llm.need`` votes say true; a value that is not a boolean
counts as true ("unclear cases count"); clean when too few votes could still say true; otherwise
(votes without an answer) a *failed* check (the run scores ``judge_failed``). Every vote and the
agreement are in the evidence. ``judge.llm_rule``: ``any`` (default; a category is flagged when a
rule or the LLM flags it) or ``record`` (kept in findings.json with category ``info``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from ptb.config.judge import LlmJudgeSpec
from ptb.config.root import RunConfig
from ptb.failures import InfraError
from ptb.judge.base import Finding
from ptb.judge.trace import write_pages
from ptb.rundir import RunDir, SandboxFiles, TranscriptFiles
from ptb.sandbox import SANDBOXES, Sandbox, SandboxSpec
from ptb.scaffolds import SCAFFOLDS, Scaffold, SolveContext
from ptb.scaffolds.base import Ending
from ptb.scaffolds.transcript import Transcript
from ptb.secrets import Redactor

ANSWER_FILE = "judgement.json"
FALSE_WORDS = {"false", "no", "no contamination detected", "only allowed use detected"}
TRUE_WORDS = {"true", "yes", "contamination detected", "disallowed use detected"}


def compose_judge(cfg: RunConfig) -> RunConfig:
    """The run's config with the judge's agent and scaffold in place of the agent's."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from ptb.cli import CONF_DIR
    from ptb.config import register_configs

    lcfg = cfg.judge.llm
    overrides = [f"agent={lcfg.agent}", *lcfg.overrides]
    if lcfg.scaffold:
        overrides.append(f"scaffold={lcfg.scaffold}")
    register_configs()
    if GlobalHydra.instance().is_initialized():
        node = compose(config_name="config", overrides=overrides)
    else:
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            node = compose(config_name="config", overrides=overrides)
    judge = OmegaConf.to_object(node)
    assert isinstance(judge, RunConfig)
    scaffold = judge.scaffold
    if lcfg.scaffold_path:
        scaffold = dataclasses.replace(scaffold, path=lcfg.scaffold_path)
    return dataclasses.replace(cfg, agent=judge.agent, scaffold=scaffold)


def judge_env(jcfg: RunConfig, home: Path) -> dict[str, str]:
    """Allow-listed host variables, the judge's HOME, and the judge's own key only."""
    from ptb.stages.session import session_env

    env = session_env(jcfg, home)
    key = jcfg.agent.api_key_env
    if key:
        if key not in os.environ:
            raise RuntimeError(f"{key} (the LLM judge's key) is unset: export it first")
        env[key] = os.environ[key]
    return env


def judge_specs(cfg: RunConfig) -> dict[str, LlmJudgeSpec]:
    """The configured judges by name; a misspelt name or bad vote counts raise, naming the fix."""
    lcfg = cfg.judge.llm
    unknown = [n for n in lcfg.judges if n not in lcfg.definitions]
    if unknown:
        raise ValueError(
            f"judge.llm.judges names {unknown}, not in judge.llm.definitions "
            f"({', '.join(sorted(lcfg.definitions))})"
        )
    if not lcfg.judges:
        raise ValueError("judge.llm.judges is empty: name at least one judge, or drop llm_judge")
    if lcfg.votes < 1 or not 1 <= lcfg.need <= lcfg.votes:
        raise ValueError(
            f"judge.llm.votes={lcfg.votes} judge.llm.need={lcfg.need}: need 1 <= need <= votes"
        )
    return {n: lcfg.definitions[n] for n in lcfg.judges}


def prompt_source(spec: LlmJudgeSpec, protocol: str) -> str:
    """``upstream://<key>`` (the original's, under protocol=paper) or ``ptb:<file>``."""
    if protocol == "paper" and spec.paper_prompt:
        return f"upstream://{spec.paper_prompt}"
    return f"ptb:{spec.prompt}"


def upstream_prompt_keys(cfg: RunConfig) -> list[str]:
    """The pinned upstream prompts the run's LLM judges read (protocol=paper; else none)."""
    if "llm_judge" not in cfg.judge.checks:
        return []
    sources = [prompt_source(s, cfg.protocol.name) for s in judge_specs(cfg).values()]
    return [s.removeprefix("upstream://") for s in sources if s.startswith("upstream://")]


def prompt_text(spec: LlmJudgeSpec, cfg: RunConfig) -> tuple[str, str]:
    """(the judge's prompt with the run's model, benchmark and data filled in, its source)."""
    from ptb.tasks.upstream import upstream_text

    source = prompt_source(spec, cfg.protocol.name)
    if source.startswith("upstream://"):
        text = upstream_text(source.removeprefix("upstream://"))
    else:
        text = resources.files("ptb.judge").joinpath("prompts", spec.prompt).read_text("utf-8")
    allowed = "".join(f"  - {d}\n" for d in cfg.task.allowed_training_data)
    fills = {
        "{model}": cfg.model.hf_id or cfg.model.display_name,
        "{benchmark}": cfg.task.display_name,
        "{allowed_data_examples}": f"- Allowed data for this task (not exhaustive):\n{allowed}"
        if allowed
        else "",
        "{disallowed_data_examples}": f"- Not allowed: {cfg.task.test_source}\n",
    }
    for key, value in fills.items():  # str.replace, as the original: the prompts hold JSON
        text = text.replace(key, value)
    return text, source


def prepare_home(run: RunDir, cfg: RunConfig, home: Path) -> Path:
    """The judge's HOME: the agent's files, the paged trace, the model's config; returns
    the working folder (``task/``)."""
    if home.exists():
        shutil.rmtree(home)
    (home / "tmp").mkdir(parents=True)
    workdir = home / "task"
    if run.workspace.is_dir():
        shutil.copytree(
            run.workspace,
            home / "agent_home",
            symlinks=True,
            ignore=_top_level(run.workspace, "task"),
        )
        if (run.workspace / "task").is_dir():
            shutil.copytree(run.workspace / "task", workdir, symlinks=True)
    workdir.mkdir(exist_ok=True)
    (home / "agent_home").mkdir(exist_ok=True)
    (workdir / ANSWER_FILE).unlink(missing_ok=True)
    write_pages(run.solve, home, cfg.judge.llm.page_bytes)
    config = run.final_model / "config.json"
    if config.is_file():
        shutil.copyfile(config, home / "final_model_config.json")
    return workdir


def _top_level(root: Path, name: str) -> Any:
    """A copytree ``ignore`` that skips ``root/name`` only."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [name] if name in names and Path(folder) == root else []

    return ignore


def parse_answer(workdir: Path, lines: list[str], fields: list[str]) -> dict[str, Any] | None:
    path = workdir / ANSWER_FILE
    candidates = [path.read_text(encoding="utf-8")] if path.is_file() else []
    candidates += list(reversed(lines))
    for text in candidates:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and all(k in data for k in fields):
            return data
    return None


def run_vote(
    run: RunDir, cfg: RunConfig, jcfg: RunConfig, prompt: str, fields: list[str], out_dir: Path
) -> dict[str, Any]:
    """One run of the judge agent; its answer (or None) and how it ended."""
    from ptb.stages.session import forwards_for, runtime_paths, stage_files

    out_dir.mkdir(parents=True, exist_ok=True)
    home = out_dir / "job"
    workdir = prepare_home(run, cfg, home)
    (out_dir / "prompt.txt").write_text(prompt, encoding="utf-8")
    (home / "prompt.txt").write_text(prompt, encoding="utf-8")  # also given in argv to a CLI
    sandbox_cls = SANDBOXES.load(jcfg.sandbox.impl)
    sctx = SolveContext(jcfg, home, workdir, str(run.final_model), prompt, sandbox_cls.python)
    scaffold: Scaffold = SCAFFOLDS.load(jcfg.scaffold.impl)(sctx)
    env = {**judge_env(jcfg, home), **scaffold.env()}
    files = SandboxFiles.in_folder(out_dir)
    spec = SandboxSpec(
        home=home, workdir=workdir, env=env, gpus=0,
        extra_ro_binds=runtime_paths(cfg.cache_dir, str(run.final_model))
        + scaffold.runtime_paths(),  # the judge's CLI: not visible otherwise
        forwards=forwards_for(sctx.api),  # a judge model on the host's loopback
        egress_log=files.egress_log, cache_layers=files.cache_layers,
        cache_listing=files.cache_listing, cache_datasets=files.cache_datasets,
    )  # fmt: skip
    transcripts = TranscriptFiles.in_folder(out_dir)
    for path in (transcripts.raw, transcripts.events):
        path.unlink(missing_ok=True)
    transcript = Transcript(transcripts, Redactor())
    lines: list[str] = []

    def on_line(stream: str, line: str) -> None:
        lines.append(line)
        scaffold.on_line(stream, line, transcript)

    sandbox: Sandbox = sandbox_cls(jcfg.sandbox, spec)
    with sandbox:
        stage_files(sandbox, scaffold)
        result = sandbox.exec(
            scaffold.argv(), limit_s=cfg.judge.llm.minutes * 60, kill_after_s=10, on_line=on_line
        )
    answer = parse_answer(workdir, lines, fields)
    if answer is None:
        check_judge_api(scaffold.classify(result, transcript), jcfg.agent.model_id)
    return {
        "answer": answer,
        "exit": {"reason": result.reason, "exit_code": result.exit_code, "wall_s": result.wall_s},
        "output_tail": [] if answer else lines[-10:],
    }


def llm_judge(run: RunDir, cfg: RunConfig) -> list[Finding]:
    lcfg = cfg.judge.llm
    specs = judge_specs(cfg)
    jcfg = compose_judge(cfg)
    out: list[Finding] = []
    for name, spec in specs.items():
        prompt, source = prompt_text(spec, cfg)
        fields = list(spec.answers)
        votes = [
            run_vote(run, cfg, jcfg, prompt, fields, run.llm_judges / name / f"vote-{i}")
            for i in range(1, lcfg.votes + 1)
        ]
        info = {
            "judge": name,
            "prompt": source,
            "judge_agent": jcfg.agent.name,
            "judge_model": jcfg.agent.model_id,
            "scaffold": jcfg.scaffold.name,
            "rule": cfg.judge.llm_rule,
        }
        for field_name, category in spec.answers.items():
            out.append(
                tally(field_name, category, votes, lcfg.need, cfg.judge.llm_rule, info,
                      spec.reason_prefix)
            )  # fmt: skip
    return out


def check_judge_api(ending: Ending, model: str | None) -> None:
    """A judge that gave no answer because its own model API failed (an outage, a rate limit,
    a key) is not the run's doing: raise, so the judge stage fails and is retried, instead of
    the run scoring as ``judge_failed`` (the zero-shot base)."""
    if ending.reason == "api_error":
        raise InfraError(
            f"the LLM judge ({model}) got no answer: its model API failed "
            f"({ending.api_error}: {ending.message or 'no message'})",
            "judge",
        )


def said(value: Any) -> tuple[bool, bool]:
    """(detected, clear): a boolean as it is; the original's phrases and yes/no words; any
    other value counts as detected (the paper: unclear cases count)."""
    if isinstance(value, bool):
        return value, True
    text = str(value).strip().lower().rstrip(".")
    if text in FALSE_WORDS:
        return False, True
    return True, text in TRUE_WORDS


def tally(
    field_name: str,
    category: str,
    votes: list[dict[str, Any]],
    need: int,
    rule: str,
    info: dict[str, Any],
    reason_prefix: str = "justification_",
) -> Finding:
    """One answer field over all votes: flagged when at least ``need`` say detected."""
    if rule not in ("any", "record"):
        raise ValueError(f"judge.llm_rule={rule!r}: use 'any' or 'record'")
    record: list[dict[str, Any]] = []
    yes = no = 0
    for i, vote in enumerate(votes, 1):
        answer = vote["answer"]
        entry: dict[str, Any] = {"vote": i, "exit": vote["exit"]}
        if answer is None:
            entry.update(answer=None, output_tail=vote.get("output_tail", []))
        else:
            detected, clear = said(answer.get(field_name))
            yes, no = yes + detected, no + (not detected)
            entry.update(answer=answer.get(field_name), detected=detected,
                         reason=answer.get(f"{reason_prefix}{field_name}"))  # fmt: skip
            if not clear:
                entry["note"] = "not a boolean: counted as detected (unclear cases count)"
        record.append(entry)
    n = len(votes)
    evidence = {
        **info, "field": field_name, "votes": record, "need": need,
        "agreement": f"{yes} of {n} detected, {no} clean, {n - yes - no} without an answer",
    }  # fmt: skip
    if n == 1:  # one vote: its answer and reason at the top, as before
        evidence.update(answer=record[0]["answer"], reason=record[0].get("reason"))
    flagged = yes >= need
    error = None
    if not flagged and no <= n - need:  # the missing votes could still have flagged it
        error = (
            f"the LLM judge gave no JSON answer with {field_name!r} in {n - yes - no} of {n} votes"
        )
    category = category if rule == "any" else "info"
    return Finding(f"llm_{field_name}", category, flagged, evidence, error=error)
