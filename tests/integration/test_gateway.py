"""The gateway process on loopback against a fake provider: pass-through, refusals, limits."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ptb.gateway.process import GatewayProcess
from tests.support.fake_upstream import CACHE_WRITE, CACHED, OUTPUT, PROMPT, FakeUpstream

pytestmark = pytest.mark.integration

TOKEN = "ptb-gw-test-dummy-token-0123456789"
PRICE = {"input": 5.0, "output": 25.0, "cached_input": 0.5, "cache_write": 6.25}


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


def start(up: FakeUpstream, tmp: Path, path: str = "", **extra: Any) -> GatewayProcess:
    settings: dict[str, Any] = {
        "routes": [
            {
                "name": "agent",
                "token": TOKEN,
                "upstream": up.url + path,
                "key": up.key,
                "allow_models": ["good-model"],
            }
        ],
        "log_path": str(tmp / "solve" / "gateway.jsonl"),
        "prices": {"good-model": PRICE},
        **extra,
    }
    gateway = GatewayProcess(settings, tmp / "solve" / "gateway.log")
    gateway.start()
    return gateway


def post(
    port: int, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, bytes, list[float]]:
    """(status, body, arrival time of each chunk read)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
    resp = conn.getresponse()
    data, times = b"", []
    while chunk := resp.read1(65536):
        data += chunk
        times.append(time.monotonic())
    conn.close()
    return resp.status, data, times


def log_lines(tmp: Path) -> list[dict[str, Any]]:
    text = (tmp / "solve" / "gateway.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


CASES = {
    "anthropic": ("/v1/messages", {"model": "good-model", "stream": True}, "x-api-key", TOKEN),
    "anthropic_json": ("/v1/messages", {"model": "good-model"}, "x-api-key", TOKEN),
    "openai_chat": (
        "/v1/chat/completions",
        {"model": "good-model", "stream": True, "stream_options": {"include_usage": True}},
        "Authorization",
        f"Bearer {TOKEN}",
    ),
    "openai_responses": (
        "/v1/responses",
        {"model": "good-model", "stream": True},
        "Authorization",
        f"Bearer {TOKEN}",
    ),
    "gemini": (
        "/v1beta/models/good-model:streamGenerateContent?alt=sse",
        {},
        "x-goog-api-key",
        TOKEN,
    ),
    "gemini_query_key": (f"/v1beta/models/good-model:generateContent?key={TOKEN}", {}, "", ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_passes_each_api_unchanged_with_the_real_key(
    case: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    path, body, header, value = CASES[case]
    headers = {header: value} if header else {}
    gateway = start(upstream, tmp_path)
    try:
        assert gateway.port
        status, via_gateway, _ = post(gateway.port, path, body, headers)
    finally:
        gateway.stop()
    assert status == 200
    seen = upstream.seen[-1]
    assert seen["key"] == upstream.key  # the real key went upstream …
    assert TOKEN not in json.dumps(seen)  # … and the dummy token did not
    real = {header: value.replace(TOKEN, upstream.key)} if header else {}
    direct_path = path.replace(TOKEN, upstream.key)
    port = int(upstream.url.rsplit(":", 1)[1])
    assert post(port, direct_path, body, real)[1] == via_gateway  # byte for byte
    (rec,) = log_lines(tmp_path)
    assert rec["allowed"] is True and rec["status"] == 200 and rec["model"] == "good-model"
    expected_cached = CACHED
    assert (rec["input_tokens"], rec["output_tokens"]) == (PROMPT, OUTPUT)
    assert rec["cached_tokens"] == expected_cached
    write = CACHE_WRITE if case.startswith("anthropic") else 0
    assert rec["cache_write_tokens"] == write
    plain = PROMPT - CACHED - write
    cost = (plain * 5.0 + CACHED * 0.5 + write * 6.25 + OUTPUT * 25.0) / 1e6
    assert rec["cost_usd"] == pytest.approx(cost)
    assert rec["latency_ms"] > 0 and rec["ts"]
    assert upstream.key not in (tmp_path / "solve" / "gateway.jsonl").read_text()


def test_a_chat_stream_that_asks_no_usage_is_still_accounted(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Without ``stream_options.include_usage`` the provider reports no tokens; the gateway asks
    for them and takes the extra usage chunk out, so the client sees the stream it asked for."""
    body = {"model": "good-model", "stream": True}
    gateway = start(upstream, tmp_path)
    try:
        assert gateway.port
        status, via_gateway, _ = post(gateway.port, "/v1/chat/completions", body,
                                      {"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    finally:
        gateway.stop()
    assert status == 200
    assert upstream.seen[-1]["body"]["stream_options"] == {"include_usage": True}
    port = int(upstream.url.rsplit(":", 1)[1])
    direct = post(port, "/v1/chat/completions", body, {"Authorization": f"Bearer {upstream.key}"})
    assert direct[1] == via_gateway and b'"usage"' not in via_gateway  # byte for byte
    (rec,) = log_lines(tmp_path)
    assert rec["usage_reported"] is True
    assert (rec["input_tokens"], rec["output_tokens"]) == (PROMPT, OUTPUT)


def test_streams_chunk_by_chunk(upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.chunks, upstream.delay_s = 4, 0.4
    gateway = start(upstream, tmp_path)
    try:
        assert gateway.port
        t0 = time.monotonic()
        status, data, times = post(
            gateway.port, "/v1/messages", CASES["anthropic"][1], {"x-api-key": TOKEN}
        )
    finally:
        gateway.stop()
    assert status == 200 and data.count(b"content_block_delta") == 4
    # the first event arrives while the upstream is still sending (≥1.6 s in all)
    assert times[0] - t0 < 0.8 < times[-1] - t0
    assert len(times) >= 3


def test_refusals_are_in_the_api_format_and_logged(upstream: FakeUpstream, tmp_path: Path) -> None:
    gateway = start(upstream, tmp_path)
    try:
        assert gateway.port
        port = gateway.port
        other = post(port, "/v1/messages", {"model": "other-model"}, {"x-api-key": TOKEN})
        gem = post(
            port, "/v1beta/models/other-model:generateContent", {}, {"x-goog-api-key": TOKEN}
        )
        bad_key = post(port, "/v1/chat/completions", {"model": "good-model"}, {})
        unknown = post(port, "/v1/embeddings", {"model": "good-model"}, {"api-key": TOKEN})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("HEAD", "/")  # Claude Code's connectivity probe, sent without a key
        probe = conn.getresponse().status
        conn.close()
    finally:
        gateway.stop()
    assert upstream.seen == []  # nothing reached the provider
    assert other[0] == 403
    err = json.loads(other[1])
    assert err["type"] == "error" and err["error"]["type"] == "permission_error"
    assert "'other-model' is not allowed" in err["error"]["message"]
    assert gem[0] == 403 and json.loads(gem[1])["error"]["status"] == "PERMISSION_DENIED"
    assert bad_key[0] == 401 and json.loads(bad_key[1])["error"]["code"] == "invalid_api_key"
    assert unknown[0] == 404 and probe == 200
    *recs, probe_rec = log_lines(tmp_path)
    assert (probe_rec["api"], probe_rec["method"], probe_rec["status"]) == ("probe", "HEAD", 200)
    assert [(r["model"], r["allowed"], r["status"]) for r in recs] == [
        ("other-model", False, 403),
        ("other-model", False, 403),
        (None, False, 401),
        (None, False, 404),
    ]
    assert all(r["reason"] for r in recs)


def test_token_limit_stops_further_requests(upstream: FakeUpstream, tmp_path: Path) -> None:
    gateway = start(upstream, tmp_path, max_tokens=int(1.5 * (PROMPT + OUTPUT)))
    body, headers = {"model": "good-model"}, {"x-api-key": TOKEN}
    try:
        assert gateway.port
        assert post(gateway.port, "/v1/messages", body, headers)[0] == 200
        assert not gateway.limit.is_set()
        assert post(gateway.port, "/v1/messages", body, headers)[0] == 200
        assert gateway.limit.wait(5)
        status, data, _ = post(gateway.port, "/v1/messages", body, headers)
    finally:
        gateway.stop()
    assert status == 403 and "token limit is reached" in json.loads(data)["error"]["message"]
    assert "token limit" in (gateway.limit_reason or "")
    assert len(upstream.seen) == 2
    assert gateway.totals and gateway.totals["refused"] == 1
    assert gateway.totals["input_tokens"] == 2 * PROMPT


def test_survives_a_client_that_drops_mid_stream(upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.chunks, upstream.delay_s = 6, 0.2
    gateway = start(upstream, tmp_path)
    try:
        assert gateway.port
        sock = socket.create_connection(("127.0.0.1", gateway.port))
        body = json.dumps({"model": "good-model", "stream": True})
        sock.sendall(
            f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        assert b"200" in sock.recv(4096)
        sock.close()  # the agent's CLI gives up and reconnects
        upstream.delay_s = 0
        status, data, _ = post(
            gateway.port, "/v1/messages", {"model": "good-model"}, {"x-api-key": TOKEN}
        )
        time.sleep(1.5)  # let the dropped request's upstream read end
    finally:
        gateway.stop()
    assert status == 200 and b"usage" in data
    assert len(log_lines(tmp_path)) == 2


def test_key_is_in_neither_argv_nor_environment(upstream: FakeUpstream, tmp_path: Path) -> None:
    gateway = start(upstream, tmp_path)
    try:
        proc = Path(f"/proc/{gateway.pid}")
        assert upstream.key.encode() not in (proc / "cmdline").read_bytes()
        assert upstream.key.encode() not in (proc / "environ").read_bytes()
    finally:
        gateway.stop()
    assert not gateway.running
    assert upstream.key not in (tmp_path / "solve" / "gateway.log").read_text()


def test_bodies_listings_and_an_unreachable_provider(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    gateway = start(upstream, tmp_path, log_bodies=True)
    try:
        assert gateway.port
        body = {"model": "good-model", "messages": [{"role": "user", "content": "hello there"}]}
        assert post(gateway.port, "/v1/messages", body, {"x-api-key": TOKEN})[0] == 200
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
        conn.request("GET", "/v1/models", headers={"x-api-key": TOKEN})
        listing = conn.getresponse()
        assert listing.status == 200 and b"data" in listing.read()
        conn.close()
    finally:
        gateway.stop()
    bodies = (tmp_path / "solve" / "gateway.bodies.jsonl").read_text().splitlines()
    assert json.loads(json.loads(bodies[0])["request"]) == body  # as sent, for audits
    assert upstream.seen[-1]["key"] == upstream.key
    assert [r["api"] for r in log_lines(tmp_path)] == ["anthropic", "meta"]

    dead = tmp_path / "dead"
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = SimpleNamespace(url=f"http://127.0.0.1:{port}", key=upstream.key)
    gateway = start(nowhere, dead)  # type: ignore[arg-type]
    try:
        assert gateway.port
        status, data, _ = post(
            gateway.port, "/v1/messages", {"model": "good-model"}, {"x-api-key": TOKEN}
        )
    finally:
        gateway.stop()
    assert status == 502 and "upstream unreachable" in json.loads(data)["error"]["message"]
    (rec,) = log_lines(dead)
    assert rec["allowed"] is True and rec["status"] == 502
    assert not (dead / "solve" / "gateway.bodies.jsonl").exists()
