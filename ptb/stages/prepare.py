"""prepare: build the agent's job directory and prompt.

HOME (``solve/job``) gets ``task/`` with ``evaluate.py`` and ``templates/`` (read-only to the
agent), ``timer.sh``, the task's context files and allowed training data. The hashes of the
read-only files are recorded for the tampering check.
"""

from __future__ import annotations

import shutil

from ptb.eval.agent_entry import render_script
from ptb.fsutil import atomic_write_text, file_hashes, write_json
from ptb.models.resolve import base_model_path
from ptb.rundir import PROTECTED
from ptb.scaffolds import prompt_note
from ptb.scaffolds.prompt import build_prompt
from ptb.stages import StageContext
from ptb.tasks import load_task
from ptb.tasks.templates import protocol_templates

TIMER_SH = """#!/usr/bin/env bash
# Prints the time left for this run. ptb sets PTB_DEADLINE (Unix time) when the agent starts.
left=$(( ${PTB_DEADLINE:?PTB_DEADLINE is not set} - $(date +%s) ))
if (( left <= 0 )); then
  echo "Time is up: stop now and make sure final_model is saved."
else
  printf 'Remaining time: %dh %02dm %02ds\\n' $((left / 3600)) $((left % 3600 / 60)) $((left % 60))
fi
"""


def base_model_ref(ctx: StageContext) -> str:
    """How the agent names the base model: a local folder for built models, else the hub id."""
    cfg = ctx.cfg
    if cfg.model.builder:
        return str(base_model_path(cfg.model, cfg.cache_dir))
    return str(cfg.model.hf_id)


def run(ctx: StageContext) -> None:
    cfg, run_dir = ctx.cfg, ctx.run
    task_dir = run_dir.task_dir
    if task_dir.exists():  # a half-made folder from a failed attempt
        shutil.rmtree(run_dir.job_dir)
    task_dir.mkdir(parents=True)
    templates = task_dir / "templates"
    templates.mkdir()
    family = cfg.model.chat_template
    for name, text in protocol_templates(family, cfg.protocol.name).items():
        (templates / name).write_text(text, encoding="utf-8")
    (task_dir / "evaluate.py").write_text(
        render_script(cfg.task, cfg.model, cfg.protocol), encoding="utf-8"
    )
    timer = task_dir / "timer.sh"
    timer.write_text(TIMER_SH, encoding="utf-8")
    timer.chmod(0o755)
    context = load_task(cfg.task, cfg.protocol.name).context_files(task_dir)
    base = base_model_ref(ctx)
    write_json(
        run_dir.prepared,
        {
            "base_model": base,
            "protected": file_hashes(task_dir, PROTECTED),
            "context_files": [str(p.relative_to(task_dir)) for p in context],
        },
    )
    atomic_write_text(run_dir.prompt, build_prompt(cfg, base, prompt_note(cfg.scaffold.impl)))
