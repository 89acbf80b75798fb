"""Chat templates by family (``ModelConfig.chat_template``), never guessed from a model path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ptb.registry import UnknownNameError


def template_dir() -> Path:
    return Path(str(resources.files("ptb.tasks") / "templates"))


def families() -> list[str]:
    return sorted(p.stem for p in template_dir().glob("*.jinja"))


def template_path(family: str) -> Path:
    path = template_dir() / f"{family}.jinja"
    if not path.exists():
        raise UnknownNameError(
            f"no chat template for family '{family}'. Known families: {', '.join(families())}"
        )
    return path


def load_template(family: str) -> str:
    return template_path(family).read_text(encoding="utf-8")


UPSTREAM_TEMPLATES = {
    "qwen3": "templates/qwen3.jinja",
    "gemma3": "templates/gemma3.jinja",
    "smollm3": "templates/smollm.jinja",
}
"""Under ``protocol=paper`` a family evaluates with the original harness's own template file
(``ptb.tasks.upstream``); families it never had (the tiny model's) keep ptb's."""
UPSTREAM_TOOL_TEMPLATES = {"gemma3": "templates/gemma3_tool_calling.jinja"}
"""...and a tool-calling task (BFCL) with its tool-calling variant where it has one."""


def upstream_template_key(family: str, tools: bool) -> str | None:
    """The pinned upstream template the ``paper`` protocol uses for ``family``, if any."""
    if tools and family in UPSTREAM_TOOL_TEMPLATES:
        return UPSTREAM_TOOL_TEMPLATES[family]
    return UPSTREAM_TEMPLATES.get(family)


def protocol_template(family: str, protocol: str, *, tools: bool = False) -> str:
    """The template an evaluation under ``protocol`` renders with: the original's file under
    ``paper`` (cached by the prefetch; a clear error names it if not), ptb's under ``strict``."""
    key = upstream_template_key(family, tools) if protocol == "paper" else None
    if key is None:
        return load_template(family)
    from ptb.tasks.upstream import upstream_text

    return upstream_text(key)


def protocol_templates(family: str, protocol: str) -> dict[str, str]:
    """The templates a run's task folder shows the agent (``templates/``), by file name: the
    ones its final evaluation renders with under ``protocol``."""
    files = {f"{family}.jinja": protocol_template(family, protocol)}
    tool_key = upstream_template_key(family, tools=True) if protocol == "paper" else None
    if tool_key and tool_key != upstream_template_key(family, tools=False):
        files[tool_key.rsplit("/", 1)[-1]] = protocol_template(family, protocol, tools=True)
    return files


def upstream_template_keys(family: str, protocol: str) -> list[str]:
    """The pinned upstream templates a run of ``family`` under ``protocol`` reads (for the
    prefetch and the preflight)."""
    if protocol != "paper":
        return []
    keys = {upstream_template_key(family, tools) for tools in (False, True)}
    return sorted(k for k in keys if k)
