"""``scaffold=script scaffold.path=<file>``: any executable as the agent.

The file is copied into HOME/bin and run from the task folder inside the same sandbox, with the
same files, environment rules and time limit as any agent: for custom agents and for testing the
sandbox itself. Its output lines become the transcript.
"""

from __future__ import annotations

from pathlib import Path

from ptb.scaffolds.base import Scaffold
from ptb.scaffolds.transcript import Transcript


class ScriptScaffold(Scaffold):
    def _source(self) -> Path:
        path = self.ctx.cfg.scaffold.path
        if not path:
            raise ValueError("scaffold=script needs scaffold.path=<executable file>")
        source = Path(path).expanduser().resolve()
        if not source.is_file():
            raise FileNotFoundError(f"scaffold.path={path}: no such file")
        return source

    def _target(self) -> str:
        return f"bin/{self._source().name}"

    def binary_files(self) -> dict[str, bytes]:
        return {self._target(): self._source().read_bytes()}

    def argv(self) -> list[str]:
        return [str(self.ctx.home / self._target())]

    def env(self) -> dict[str, str]:
        return {"PTB_BASE_MODEL": self.ctx.base_model, "PTB_PYTHON": self.ctx.python}

    def on_line(self, stream: str, line: str, transcript: Transcript) -> None:
        transcript.raw(stream, line)
        role = "assistant" if stream == "stdout" else "tool"
        transcript.event(role, "message", text=line, stream=stream)
