"""Usage readers, cost, limits and the API table of the gateway (no network)."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict

from ptb.gateway.apis import (
    UsageChunkFilter,
    ask_for_usage,
    classify,
    error_body,
    find_token,
    json_object,
)
from ptb.gateway.ledger import Ledger, cost_usd
from ptb.gateway.server import upstream_headers
from ptb.gateway.usage import Usage, UsageReader

ANTHROPIC_STREAM = (
    b"event: message_start\r\n"
    b'data: {"type":"message_start","message":{"usage":{"input_tokens":750,'
    b'"cache_read_input_tokens":200,"cache_creation_input_tokens":50,"output_tokens":1}}}\r\n\r\n'
    b'event: content_block_delta\r\ndata: {"type":"content_block_delta","delta":{"text":"hi"}}'
    b"\r\n\r\n"
    b'data: {"type":"message_delta","usage":{"output_tokens":30}}\n\n'
    b'data: {"type":"message_stop"}\n\n'
)


def read(api: str, ctype: str, data: bytes, step: int) -> Usage:
    reader = UsageReader(api, ctype)
    for i in range(0, len(data), step):
        reader.feed(data[i : i + step])
    return reader.close()


@pytest.mark.parametrize("step", [1, 7, 64, 10_000])
def test_anthropic_stream_split_anywhere(step: int) -> None:
    usage = read("anthropic", "text/event-stream; charset=utf-8", ANTHROPIC_STREAM, step)
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens) == (1000, 200, 50)
    assert usage.output_tokens == 30
    assert usage.reported


def test_openai_chat_stream_without_usage_is_marked_unreported() -> None:
    data = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n'
    usage = read("openai_chat", "text/event-stream", data, 5)
    assert not usage.reported and usage.input_tokens == 0


def test_openai_chat_stream_usage_chunk() -> None:
    final = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}
    final["usage"]["prompt_tokens_details"] = {"cached_tokens": 3}  # type: ignore[index]
    data = b'data: {"choices":[{"delta":{}}]}\n\ndata: ' + json.dumps(final).encode() + b"\n\n"
    usage = read("openai_chat", "text/event-stream", data + b"data: [DONE]\n\n", 3)
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (9, 4, 3)


def test_a_chat_stream_is_made_to_ask_for_usage_once() -> None:
    sent = json_object(b'{"model": "m", "stream": true, "stream_options": {"x": 1}}')
    asked = ask_for_usage(sent)
    assert asked is not None
    assert json.loads(asked)["stream_options"] == {"x": 1, "include_usage": True}
    assert sent == {"model": "m", "stream": True, "stream_options": {"x": 1}}  # not changed
    assert ask_for_usage(json_object(asked)) is None  # already asks
    assert ask_for_usage(json_object(b'{"model": "m"}')) is None  # not a stream: usage in body
    malformed = json_object(b'{"stream": true, "stream_options": 3}')
    assert ask_for_usage(malformed) is None  # as sent: the provider says what is wrong
    assert ask_for_usage(json_object(b"not json")) is None


CHAT_STREAM = (
    b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"b"}}],"usage":null}\r\n\r\n'
    b": keep-alive comment\n\n"
    b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("step", [1, 2, 5, 13, 10_000])
def test_the_usage_chunk_is_taken_out_wherever_the_stream_is_split(step: int) -> None:
    keep = UsageChunkFilter()
    out = b"".join(keep.feed(CHAT_STREAM[i : i + step]) for i in range(0, len(CHAT_STREAM), step))
    out += keep.flush()
    usage_event = b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}\n\n'
    assert out == CHAT_STREAM.replace(usage_event, b"")


def test_an_event_is_passed_on_as_soon_as_it_is_complete() -> None:
    keep = UsageChunkFilter()
    assert keep.feed(b'data: {"choices":[{"delta":{}}]}\n') == b""
    assert keep.feed(b"\ndata: [DO") == b'data: {"choices":[{"delta":{}}]}\n\n'
    assert keep.flush() == b"data: [DO"  # a cut-off stream still reaches the client


def test_responses_completed_event_and_plain_body() -> None:
    usage = {"input_tokens": 11, "output_tokens": 5, "input_tokens_details": {"cached_tokens": 2}}
    event = {"type": "response.completed", "response": {"usage": usage}}
    data = b"event: response.completed\ndata: " + json.dumps(event).encode() + b"\n\n"
    got = read("openai_responses", "text/event-stream", data, 4)
    assert (got.input_tokens, got.output_tokens, got.cached_tokens) == (11, 5, 2)
    body = json.dumps({"output": [], "usage": usage}).encode()
    assert read("openai_responses", "application/json", body, 3).output_tokens == 5


def test_gemini_json_array_stream_counts_thoughts_as_output() -> None:
    meta = {"promptTokenCount": 40, "candidatesTokenCount": 7, "thoughtsTokenCount": 3}
    meta["cachedContentTokenCount"] = 10
    body = json.dumps([{"usageMetadata": {"promptTokenCount": 40}}, {"usageMetadata": meta}])
    got = read("gemini", "application/json", body.encode(), 9)
    assert (got.input_tokens, got.output_tokens, got.cached_tokens) == (40, 10, 10)


def test_garbage_is_not_usage() -> None:
    assert not read("anthropic", "application/json", b"<html>502</html>", 4).reported
    assert not read("anthropic", "text/event-stream", b"data: {not json\n\n", 4).reported


def test_cost_splits_cached_and_written_tokens() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=400_000)
    usage.cache_write_tokens = 100_000
    price = {"input": 5.0, "output": 25.0, "cached_input": 0.5, "cache_write": 6.25}
    # 500k plain x $5 + 400k x $0.5 + 100k x $6.25 + 100k x $25, per million
    assert cost_usd(usage, price) == pytest.approx(2.5 + 0.2 + 0.625 + 2.5)
    assert cost_usd(usage, {"input": 1.0, "output": 2.0}) == pytest.approx(1.0 + 0.2)
    assert cost_usd(usage, None) is None


def test_ledger_limits() -> None:
    ledger = Ledger({"m": {"input": 1e6, "output": 0.0}}, max_cost_usd=2.0)
    ledger.charge("m", Usage(input_tokens=1, reported=True))
    assert ledger.limit_reached() is None
    ledger.charge("m", Usage(input_tokens=1, reported=True))
    assert "cost limit" in (ledger.limit_reached() or "")
    tokens = Ledger({}, max_tokens=10)
    assert tokens.charge("other", Usage(input_tokens=6, output_tokens=4, reported=True)) is None
    assert "token limit" in (tokens.limit_reached() or "")
    assert tokens.totals()["unpriced_responses"] == 1


@pytest.mark.parametrize(
    ("method", "path", "api", "model"),
    [
        ("POST", "/v1/messages", "anthropic", None),
        ("POST", "/api/anthropic/v1/messages", "anthropic", None),
        ("POST", "/v1/messages/count_tokens", "anthropic", None),
        ("POST", "/v1/responses", "openai_responses", None),
        ("POST", "/v1/chat/completions", "openai_chat", None),
        ("POST", "/v1beta/models/gemini-3-pro:streamGenerateContent", "gemini", "gemini-3-pro"),
        ("GET", "/v1/models", "meta", None),
    ],
)
def test_classify(method: str, path: str, api: str, model: str | None) -> None:
    endpoint = classify(method, path)
    assert endpoint is not None and endpoint.api == api and endpoint.model_in_path == model


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/embeddings"), ("POST", "/v1/files"), ("POST", "/v1beta/models/x:deleteAll")],
)
def test_other_endpoints_are_not_passed(method: str, path: str) -> None:
    assert classify(method, path) is None


def test_token_locations_and_replacement() -> None:
    for header, value in [("x-api-key", "tok"), ("Authorization", "Bearer tok")]:
        where, token = find_token(CIMultiDict({header: value}), {})
        assert token == "tok"
        out = upstream_headers(CIMultiDict({header: value, "Accept-Encoding": "gzip"}), where, "K")
        assert "tok" not in json.dumps(list(out.items()))
        assert out["Accept-Encoding"] == "identity"
    assert find_token(CIMultiDict(), {"key": "tok"}) == ("query:key", "tok")
    assert find_token(CIMultiDict(), {}) == ("", None)


def test_error_bodies_follow_each_api() -> None:
    assert error_body("anthropic", 403, "no")["error"] == {
        "type": "permission_error",
        "message": "no",
    }
    assert error_body("gemini", 403, "no")["error"]["status"] == "PERMISSION_DENIED"  # type: ignore[index]
    assert error_body("openai_chat", 403, "no")["error"]["message"] == "no"  # type: ignore[index]
