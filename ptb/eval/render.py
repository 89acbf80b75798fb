"""Turning a chat into the model's prompt text with ptb's chat template for the model family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOOLS_FALLBACK = (
    "You may call one of these functions. Reply with one call as JSON inside "
    '<tool_call></tool_call> tags: <tool_call>{{"name": ..., "arguments": {{...}}}}</tool_call>'
    "\n{tools}"
)
"""Tool list for templates that do not render ``tools`` themselves (the tiny model's ChatML),
and for prompts without a template (the few-shot base baseline)."""


def tools_text(tools: list[dict[str, Any]]) -> str:
    return TOOLS_FALLBACK.format(tools="\n".join(json.dumps(t) for t in tools))


def render_chat(
    tokenizer: Any,
    template: str,
    messages: list[dict[str, str]],
    apply_chat_template: bool,
    tools: list[dict[str, Any]] | None = None,
) -> str:
    """The prompt for ``messages``: through the family's template (``tools`` passed on when it
    renders them, else listed in a system turn), or plain text joined by blank lines."""
    if tools and not (apply_chat_template and "tools" in template):
        messages = _with_system(messages, tools_text(tools))
        tools = None
    if not apply_chat_template:
        return "\n\n".join(m["content"] for m in messages) + "\n\n"
    kwargs: dict[str, Any] = {"tools": tools} if tools else {}
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, chat_template=template, **kwargs
    )
    return str(text)


def _with_system(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": messages[0]["content"] + "\n\n" + text}
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


class ChatRenderer:
    """``render`` for the generation backends: each holds the model's ``tokenizer`` and the
    chat ``template`` it evaluates with."""

    tokenizer: Any
    template: str

    def load_tokenizer(self, model_path: str | Path, chat_template: str | None) -> None:
        """The model folder's tokenizer, and the template to evaluate with: ptb's for the model
        family when given, else the folder's own."""
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.template = chat_template or str(self.tokenizer.chat_template or "")

    def encode(self, prompts: list[str]) -> list[list[int]]:
        """Token ids of rendered prompts; the template already placed any BOS."""
        return [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]

    def render(
        self,
        messages: list[dict[str, str]],
        apply_chat_template: bool,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        return render_chat(self.tokenizer, self.template, messages, apply_chat_template, tools)
