"""Name → import-path registries with "did you mean" errors.

Registries hold import paths, not objects, so that listing the valid names never imports heavy
modules (torch, transformers) and a backend that cannot import here fails only when it is used.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Any


class UnknownNameError(KeyError):
    """Raised for a name that is not in a registry; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry:
    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def path(self, name: str) -> str:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'.{hint} Valid: {', '.join(self.names())}"
            )
        return self._entries[name]

    def load(self, name: str) -> Any:
        """Import and return the object registered as ``name`` (``module:attr``)."""
        module_name, _, attr = self.path(name).partition(":")
        return getattr(importlib.import_module(module_name), attr)
