"""Where the pinned agent CLIs live: ``scripts/install-clis.sh`` puts each into its own npm
prefix, ``<tools>/<scaffold>/`` (``<tools>`` is ``$PTB_TOOLS_DIR`` or the repo's git-ignored
``.tools/``); otherwise the CLI is looked up on PATH (e.g. inside the agent image)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ptb.config.scaffold import ScaffoldConfig

REPO = Path(__file__).resolve().parents[2]
INSTALL_COMMAND = "bash scripts/install-clis.sh"


def tools_dir() -> Path:
    return Path(os.environ.get("PTB_TOOLS_DIR") or REPO / ".tools").expanduser().resolve()


def prefix(sc: ScaffoldConfig) -> Path:
    return tools_dir() / sc.name


def find_cli(sc: ScaffoldConfig) -> Path | None:
    """The CLI's executable: the pinned install first, then PATH."""
    if not sc.cli:
        return None
    pinned = prefix(sc) / "bin" / sc.cli
    if pinned.is_file():
        return pinned
    found = shutil.which(sc.cli)
    return Path(found) if found else None


def installed_version(sc: ScaffoldConfig) -> str | None:
    """``package@version`` recorded by the install script, None if not installed there."""
    stamp = prefix(sc) / ".installed"
    return stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None


def install_hint(sc: ScaffoldConfig) -> str:
    return (
        f"{INSTALL_COMMAND} {sc.name}   (installs {sc.npm_package}@{sc.version} into "
        f"{prefix(sc)}; or put '{sc.cli}' on PATH)"
    )
