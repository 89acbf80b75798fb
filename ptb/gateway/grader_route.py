"""The gateway's grader route: on a model-graded task, the agent's own ``evaluate.py`` reaches the
task's grader model only through this route (``ptb.gateway.run.grader_route``). Only the task's
own grader requests pass (``ptb.tasks.grader_gate``), rebuilt from their messages and sent with
the real key; back comes the verdict alone.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from ptb.gateway.apis import Endpoint, error_body
from ptb.gateway.usage import UsageReader
from ptb.tasks.grader_api import request_body
from ptb.tasks.grader_gate import REFUSAL, GraderGate

if TYPE_CHECKING:
    from ptb.gateway.server import Gateway, Route


async def grade(
    gw: Gateway,
    request: web.Request,
    endpoint: Endpoint,
    route: Route,
    headers: CIMultiDict[str],
    data: dict[str, Any] | None,
    rec: dict[str, Any],
) -> web.StreamResponse:
    """The grader route: the task's own grader requests only, rebuilt from their messages; back
    goes the verdict alone (``ptb.tasks.grader_gate``)."""
    assert route.grader is not None and gw.session is not None
    if endpoint.api != "openai_chat":
        return gw.refuse(rec, 404, "ptb gateway: the grader takes chat completions only")
    if data is None:
        return gw.refuse(rec, 400, "ptb gateway: the request body is not a JSON object")
    model = rec["model"]
    if model not in route.allow_models:
        allowed = ", ".join(route.allow_models)
        return gw.refuse(
            rec, 403, f"ptb gateway: the grader route allows only {allowed}; this attempt has "
            "been recorded"
        )  # fmt: skip
    if data.get("stream"):
        return gw.refuse(rec, 400, "ptb gateway: the grader route does not stream")
    why = gw.gates[route.name].check(data.get("messages"))
    if why:
        rec["gate"] = why  # not a grader request: what api_misuse counts
        return gw.refuse(
            rec, 403, f"ptb gateway: {REFUSAL.format(why=why)}; this attempt has been recorded"
        )
    if reason := gw.ledger.limit_reached():
        return gw.refuse(rec, 403, f"ptb gateway: {reason}; no further requests pass")
    # the route's own settings; reasoning_effort only if the caller asked for one (the
    # client asks again without it when a grader refuses the field)
    effort = route.grader.get("reasoning_effort") if "reasoning_effort" in data else None
    upstream_body = json.dumps(
        request_body(model, data["messages"], int(route.grader["max_tokens"]), effort)
    ).encode()
    gw.log.write_body(rec["ts"], model, upstream_body)
    headers["Content-Type"] = "application/json"
    rec["allowed"] = True
    reader = UsageReader(endpoint.api, "application/json")
    try:
        async with gw.session.post(
            route.origin + request.path, data=upstream_body, headers=headers
        ) as upstream:
            raw = await upstream.read()
            rec["status"] = upstream.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return gw.refuse_upstream(rec, exc)
    reader.feed(raw)
    gw._account(rec, reader.close())
    if upstream.status != 200:  # the grader's own error (rate limit, overload): retried
        return web.Response(status=upstream.status, body=raw, content_type="application/json")
    try:
        reply = json.loads(raw)
        content = str(reply["choices"][0]["message"]["content"] or "")
    except (ValueError, KeyError, IndexError, TypeError):
        rec["reason"] = "the grader's reply was not a chat completion"
        return web.json_response(error_body("openai_chat", 502, rec["reason"]), status=502)
    verdict = gw.gates[route.name].reduce(content)
    return web.json_response(
        {
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": verdict},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def load_gate(task: dict[str, Any], protocol: str = "paper") -> GraderGate:
    """The grader gate of a task given as its config (read here, outside the sandbox)."""
    from omegaconf import OmegaConf

    from ptb.config.task import TaskConfig
    from ptb.tasks import load_task
    from ptb.tasks.base import ModelGradedTask

    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TaskConfig), task))
    assert isinstance(cfg, TaskConfig)
    graded = load_task(cfg, protocol)
    if not isinstance(graded, ModelGradedTask):
        raise ValueError(f"task {cfg.name} has no grader: it needs no grader route")
    return graded.grader_gate()
