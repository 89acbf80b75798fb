"""A minimal client for any OpenAI-compatible chat-completions endpoint: the grader of the graded
tasks (the vendor's API, or a local ``vllm serve``). Standard library only.

The key is read from the environment variable the task config names (``grader_api_key_env``),
never from the config or a command line, and never logged. Each request carries the protocol's
completion budget (``max_completion_tokens``, which OpenAI's reasoning models require and vLLM
accepts) and, where set, its ``reasoning_effort`` (``grader_settings``). A grader that still fails
after the retries (429, 5xx, timeouts, dropped connections; exponential back-off, honouring
``Retry-After``) raises ``GraderError``, an infrastructure failure (``ptb.failures``): the
evaluation fails and is retried, never scored.
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
"""Defaults of ``task.eval.grader_retries`` / ``grader_backoff_s``: retries of a refused or failed
request, waiting ``backoff * 2**attempt`` seconds before each (or the server's Retry-After, at
most MAX_WAIT_S)."""
MAX_WAIT_S = 120.0
TRANSIENT = (TimeoutError, ConnectionError, http.client.HTTPException)
T = TypeVar("T")


class GraderError(GraderUnavailable):
    """The grader endpoint could not be used (no key, refused, still failing after the retries,
    replies that are not chat completions): the evaluation fails and is retried later."""


def grader_settings(spec: EvalSpec, protocol: str) -> tuple[int, str | None]:
    """(max completion tokens, reasoning effort or None) of the grader under ``protocol``:
    ``task.eval.grader_protocols[protocol]`` where set, else the task's defaults."""
    over = spec.grader_protocols.get(protocol)
    max_tokens = spec.grader_max_tokens
    effort = spec.grader_reasoning_effort
    if over is not None:
        max_tokens = over.max_tokens if over.max_tokens is not None else max_tokens
        effort = over.reasoning_effort if over.reasoning_effort is not None else effort
    return max_tokens, effort


def request_body(model: str, messages: Any, max_tokens: int, effort: str | None) -> dict[str, Any]:
    """The grader request: what the task's scoring and the gateway's grader route both send."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    body["max_completion_tokens"] = max_tokens
    if effort:
        body["reasoning_effort"] = effort
    return body


class GraderClient:
    def __init__(self, spec: EvalSpec, protocol: str = "paper") -> None:
        if not spec.grader_model:
            raise GraderError("this task needs task.eval.grader_model (the grader's model id)")
        self.model = spec.grader_model
        self.url = spec.grader_base_url.rstrip("/") + "/chat/completions"
        self.max_tokens, self.reasoning_effort = grader_settings(spec, protocol)
        self.concurrency = max(1, spec.grader_concurrency)
        self.retries = spec.grader_retries if spec.grader_retries is not None else RETRIES
        self.backoff_s = spec.grader_backoff_s if spec.grader_backoff_s is not None else BACKOFF_S
        self._key: str | None = None
        if spec.grader_api_key_env:
            self._key = os.environ.get(spec.grader_api_key_env)
            if not self._key:
                raise GraderError(
                    f"the grader's key variable {spec.grader_api_key_env} is not set: export it "
                    f"in the submitting environment (or set task.eval.grader_api_key_env=null for "
                    f"a local endpoint without a key)"
                )

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The grader's reply to one chat; retried on rate limits, server errors and network
        failures. A grader that rejects ``reasoning_effort`` (HTTP 400 naming it) is asked again
        without it, as the original harness does."""
        effort = self.reasoning_effort
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        attempt = 0
        while True:
            body = json.dumps(request_body(self.model, messages, self.max_tokens, effort))
            request = urllib.request.Request(
                self.url, data=body.encode(), headers=headers, method="POST"
            )
            wait = self.backoff_s * 2**attempt
            try:
                with urllib.request.urlopen(request, timeout=600) as resp:
                    data: dict[str, Any] = json.loads(resp.read())
                return str(data["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as exc:
                if exc.code == 400 and effort and "reasoning" in _error_text(exc).lower():
                    effort = None  # this grader takes no reasoning_effort: once more without
                    continue
                if exc.code not in RETRY_STATUS or attempt == self.retries:
                    raise GraderError(
                        f"grader endpoint {self.url}: HTTP {exc.code} after {attempt + 1} "
                        f"attempt(s); the evaluation fails (an infrastructure failure, not a "
                        f"score) and can be rescored later"
                    ) from exc
                wait = max(wait, min(_retry_after(exc), MAX_WAIT_S))
            except urllib.error.URLError as exc:
                if attempt == self.retries:
                    raise GraderError(
                        f"grader endpoint {self.url}: {exc.reason} after {attempt + 1} "
                        f"attempt(s); the evaluation fails (an infrastructure failure, not a score)"
                    ) from exc
            except TRANSIENT as exc:
                if attempt == self.retries:
                    raise GraderError(
                        f"grader endpoint {self.url}: {exc!r} after {attempt + 1} attempt(s); the "
                        f"evaluation fails (an infrastructure failure, not a score)"
                    ) from exc
            except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
                raise GraderError(f"grader endpoint {self.url}: malformed reply ({exc})") from exc
            time.sleep(wait)
            attempt += 1

    def map(self, fn: Callable[[Any], T], jobs: list[Any]) -> list[T]:
        """``fn`` over ``jobs`` with at most ``concurrency`` grader calls in flight, in order."""
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(fn, jobs))


def _retry_after(exc: urllib.error.HTTPError) -> float:
    try:
        return float(exc.headers.get("Retry-After") or 0)
    except ValueError:  # an HTTP date: fall back to the back-off
        return 0.0


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read().decode("utf-8", "replace")
    except Exception:  # a body that cannot be read says nothing
        return ""
