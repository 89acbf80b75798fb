"""``python -m tests.support.faults <ptb overrides>``: the real ``python -m ptb`` CLI with one
infrastructure fault injected, chosen by ``PTB_TEST_FAULT``:

- ``cuda``: every generation attempt raises a CUDA error (not an out-of-memory) — every rung of
  the retry ladder fails for the GPU's reason, not the model's;
- ``code_sandbox``: the sandbox that runs generated code cannot start (bubblewrap refused).

Without the variable it is ``python -m ptb`` unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CUDA_ERROR = "CUDA error: an illegal memory access was encountered"


class _FaultyGPU:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def render(self, *args: Any, **kwargs: Any) -> str:
        return str(self.inner.render(*args, **kwargs))

    def generate(self, *args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError(CUDA_ERROR)


def install(fault: str) -> None:
    if fault == "cuda":
        from ptb.eval import backends

        real = backends.load_generator

        def load(*args: Any, **kwargs: Any) -> _FaultyGPU:
            return _FaultyGPU(real(*args, **kwargs))

        backends.load_generator = load  # type: ignore[assignment]
    elif fault == "code_sandbox":
        from ptb.sandbox import run_code

        def refuse(home: Path, *args: Any) -> Any:
            raise RuntimeError("bwrap: setting up uid map: Permission denied")

        run_code._run = refuse  # type: ignore[assignment]
    elif fault:
        raise SystemExit(f"unknown PTB_TEST_FAULT={fault!r}")


def main() -> None:
    install(os.environ.get("PTB_TEST_FAULT", ""))
    from ptb.__main__ import main as ptb_main

    ptb_main()


if __name__ == "__main__":
    main()
