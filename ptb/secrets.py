"""Keeping secret values out of everything ptb writes.

Configs hold only the *names* of key variables. This module is the second line of defence: it
collects the values of secret-looking environment variables and replaces them wherever text is
written into a run directory (config, logs, transcripts).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

REDACTED = "***REDACTED***"
_SECRET_WORDS = {
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "credentials",
    "auth",
    "apikey",
    "passphrase",
}
_SECRET_PAIRS = re.compile(r"(api|access|private|secret)[_-]?key", re.I)
"""Whole words of a name, so ``max_new_tokens`` or ``input_tokens`` are not secrets."""
_MIN_SECRET_LEN = 8


_REFERENCE_SUFFIXES = ("_env", "_file", "_path", "_dir")
"""Names that point at a secret (a variable's name, a file's path) rather than hold one."""


def is_secret_name(name: str) -> bool:
    """True for variable or config-key names that hold secret values; names that only point at
    one (``api_key_env``, ``credentials_file``) are not."""
    if name.lower().endswith(_REFERENCE_SUFFIXES):
        return False
    words = {w.lower() for w in re.split(r"[^A-Za-z0-9]+", name) if w}
    return bool(words & _SECRET_WORDS) or bool(_SECRET_PAIRS.search(name))


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Replaces known secret values (and values of secret-named keys) in text."""

    def __init__(self, extra_values: list[str] | None = None, env: Mapping[str, str] | None = None):
        self.values = secret_values(env) + [v for v in extra_values or [] if v]

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


def redact_mapping(data: object) -> object:
    """Recursively replace the values of secret-named keys in a config-like structure."""
    if isinstance(data, dict):
        return {
            k: (REDACTED if is_secret_name(str(k)) and v not in (None, "") else redact_mapping(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [redact_mapping(v) for v in data]
    return data


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secret values from every record."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True
