"""A minimal client for any OpenAI-compatible chat-completions endpoint: the judge of the judged
tasks (the vendor's API, or a local ``vllm serve``). Standard library only.

The key is read from the environment variable the task config names (``judge_api_key_env``),
never from the config or a command line, and never logged. A judge that still fails after the
retries (429, 5xx, timeouts, dropped connections; exponential back-off) raises ``JudgeError``, an
infrastructure failure (``ptb.failures``): the evaluation fails and is retried, never scored.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ptb.config.task import EvalSpec
from ptb.failures import GraderUnavailable

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
RETRIES = 4
BACKOFF_S = 2.0
"""Defaults of ``task.eval.judge_retries`` / ``judge_backoff_s``: retries of a refused or failed
request, waiting ``backoff * 2**attempt`` seconds before each (or the server's Retry-After, at
most MAX_WAIT_S)."""
MAX_WAIT_S = 120.0
TRANSIENT = (TimeoutError, ConnectionError, http.client.HTTPException)
T = TypeVar("T")


class JudgeError(GraderUnavailable):
    """The judge endpoint could not be used (no key, refused, malformed replies)."""


class JudgeClient:
    def __init__(self, spec: EvalSpec) -> None:
        if not spec.judge_model:
            raise JudgeError("this task needs task.eval.judge_model (the judge's model id)")
        self.model = spec.judge_model
        self.url = spec.judge_base_url.rstrip("/") + "/chat/completions"
        self.max_tokens = spec.judge_max_tokens
        self.concurrency = max(1, spec.judge_concurrency)
        self.retries = spec.judge_retries if spec.judge_retries is not None else RETRIES
        self.backoff_s = spec.judge_backoff_s if spec.judge_backoff_s is not None else BACKOFF_S
        self._key: str | None = None
        if spec.judge_api_key_env:
            self._key = os.environ.get(spec.judge_api_key_env)
            if not self._key:
                raise JudgeError(
                    f"the judge's key variable {spec.judge_api_key_env} is not set: export it "
                    f"in the submitting environment (or set task.eval.judge_api_key_env=null for "
                    f"a local endpoint without a key)"
                )

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The judge's reply to one chat; retried on rate limits and server errors."""
        body = json.dumps(
            {"model": self.model, "messages": messages, "max_completion_tokens": self.max_tokens}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            wait = self.backoff_s * 2**attempt
            try:
                with urllib.request.urlopen(request, timeout=600) as resp:
                    data: dict[str, Any] = json.loads(resp.read())
                return str(data["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS or attempt == self.retries:
                    raise JudgeError(
                        f"judge endpoint {self.url}: HTTP {exc.code} after {attempt + 1} tries"
                    ) from exc
                wait = max(wait, min(_retry_after(exc), MAX_WAIT_S))
            except urllib.error.URLError as exc:
                if attempt == self.retries:
                    raise JudgeError(f"judge endpoint {self.url}: {exc.reason}") from exc
            except TRANSIENT as exc:
                if attempt == self.retries:
                    raise JudgeError(f"judge endpoint {self.url}: {exc!r}") from exc
            except (KeyError, IndexError, json.JSONDecodeError) as exc:
                raise JudgeError(f"judge endpoint {self.url}: malformed reply ({exc})") from exc
            time.sleep(wait)
        raise JudgeError("unreachable")

    def map(self, fn: Callable[[Any], T], jobs: list[Any]) -> list[T]:
        """``fn`` over ``jobs`` with at most ``concurrency`` judge calls in flight, in order."""
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(fn, jobs))


def _retry_after(exc: urllib.error.HTTPError) -> float:
    try:
        return float(exc.headers.get("Retry-After") or 0)
    except ValueError:  # an HTTP date: fall back to the back-off
        return 0.0
