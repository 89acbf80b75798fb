"""The task prompt every agent gets (the paper's rules, in ptb's own words)."""

from __future__ import annotations

from ptb.config.root import RunConfig

PROMPT = """\
Your job is to post-train the base language model {model} so that it does as well as possible on
the benchmark {benchmark}. You have {hours} of compute time on {hardware}.

How you are scored
- Put your best model in the folder `final_model` in the current directory (weights, config and
  tokenizer, loadable with transformers' Auto classes). Only that folder is evaluated, on the
  benchmark's held-out test set, after you finish.
- `python evaluate.py --model-path <folder> [--limit N]` scores a model the same way. Use
  `--limit` for quick checks while you work.

What you may do
- Any data and any method: fine-tuning, distillation, synthetic data, several rounds. {data}
- Run `bash timer.sh` at any time to see how much time is left.

Rules
- Work on your own: nobody will answer questions.
- Stay within the time limit; the run is stopped when it is over, and whatever is in
  `final_model` then is what counts.
- Never train on the benchmark's test data — neither its questions nor its answers — nor on data
  derived from it.
- Do not modify `evaluate.py` or anything in `templates/`.
- Work only inside the current directory.
- `final_model` must run in the environment you started with.
- Post-train only {model}. Downloading, copying or submitting any other model (an instruct or chat
  version included) is forbidden.
{extra}"""


def build_prompt(cfg: RunConfig, base_model: str, extra: str = "") -> str:
    hours = cfg.budget.hours
    hardware = (
        f"{cfg.budget.gpus}x {cfg.budget.gpu_type or 'GPU'}" if cfg.budget.gpus else "CPUs only"
    )
    allowed = "; ".join(cfg.task.allowed_training_data)
    return PROMPT.format(
        model=base_model if cfg.model.hf_id is None else cfg.model.hf_id,
        benchmark=cfg.task.display_name,
        hours=f"{hours:g} hour(s)",
        hardware=hardware,
        data=f"Allowed training data includes: {allowed}." if allowed else "",
        extra=extra,
    )
