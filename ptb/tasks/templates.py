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
