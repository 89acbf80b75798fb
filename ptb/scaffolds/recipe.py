"""The ``recipe`` scaffold: a scripted agent that runs a fixed training recipe, no LLM.

It writes the recipe (``recipes/<name>.py``) into the task folder as ``train_<name>.py`` plus an
``agent.sh`` that trains and then checks the result with ``evaluate.py --limit``, exactly as an
agent would, and runs ``bash agent.sh`` in the sandbox.
"""

from __future__ import annotations

import json
import shlex
from importlib import resources
from typing import Any

from ptb.sandbox.process import ExecResult
from ptb.scaffolds.base import Scaffold
from ptb.scaffolds.transcript import Transcript


class RecipeScaffold(Scaffold):
    def _recipe(self) -> Any:
        recipe = self.ctx.cfg.agent.recipe
        if recipe is None:
            raise ValueError(
                f"agent '{self.ctx.cfg.agent.name}' has no `recipe:` section; scaffold=recipe "
                "runs scripted agents only (e.g. agent=recipe_sft)"
            )
        return recipe

    def files(self) -> dict[str, str]:
        recipe = self._recipe()
        source = resources.files("ptb.scaffolds.recipes") / f"{recipe.script}.py"
        script = f"train_{recipe.script}.py"
        py = shlex.quote(self.ctx.python)
        train = [
            py,
            script,
            "--base-model",
            shlex.quote(self.ctx.base_model),
            "--train",
            "data/train.jsonl",
            "--chat-template",
            shlex.quote(f"templates/{self.ctx.cfg.model.chat_template}.jinja"),
            "--out",
            "final_model",
            "--lr",
            str(recipe.learning_rate),
            "--batch-size",
            str(recipe.batch_size),
            "--max-steps",
            str(recipe.max_steps),
            "--max-minutes",
            str(recipe.max_minutes),
            "--warmup-steps",
            str(recipe.warmup_steps),
            "--max-examples",
            str(recipe.max_train_examples),
            "--seed",
            str(recipe.seed + self.ctx.cfg.seed),
        ]
        limit = self.ctx.cfg.task.eval.dev_limit
        agent_sh = "\n".join(
            [
                "#!/usr/bin/env bash",
                f"# scripted agent '{self.ctx.cfg.agent.name}': train, then check with evaluate.py",
                "set -euo pipefail",
                "bash timer.sh",
                " ".join(train),
                f"{py} evaluate.py --model-path final_model --limit {limit}",
                "bash timer.sh",
                "",
            ]
        )
        return {
            f"task/{script}": source.read_text(encoding="utf-8"),
            "task/agent.sh": agent_sh,
        }

    def argv(self) -> list[str]:
        return ["bash", "agent.sh"]

    def env(self) -> dict[str, str]:
        return {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "PTB_BASE_MODEL": self.ctx.base_model}

    def on_line(self, stream: str, line: str, transcript: Transcript) -> None:
        transcript.raw(stream, line)
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if isinstance(event, dict) and "event" in event:
            transcript.event("assistant", "message", text=line, data=event)
        else:
            transcript.event("tool", "tool_result", output=line, stream=stream)

    def usage(self, transcript: Transcript, result: ExecResult) -> dict[str, Any]:
        steps = [
            e["data"].get("steps")
            for e in transcript.events
            if e.get("data", {}).get("event") == "saved"
        ]
        return {**super().usage(transcript, result), "train_steps": steps[-1] if steps else None}
