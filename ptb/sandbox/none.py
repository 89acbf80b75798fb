"""``sandbox=none``: no isolation at all. For debugging only."""

from __future__ import annotations

from ptb.sandbox.base import Sandbox


class NoSandbox(Sandbox):
    warning = (
        "sandbox=none: the agent runs WITHOUT isolation — it can read and write anything this "
        "user can, including other runs, their results and ptb itself (nothing the sandbox spec "
        "asks to hide is hidden). Use it for debugging only."
    )

    def wrap(self, argv: list[str]) -> list[str]:
        return list(argv)
