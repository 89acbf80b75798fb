"""The CLI adapters as data: argv, HOME files, environment, key placement, error kinds."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.errors import ConfigCompositionException

from ptb.scaffolds import SCAFFOLDS, SolveContext, prompt_note
from ptb.scaffolds.base import Scaffold
from ptb.scaffolds.endpoint import Endpoint, endpoint_for
from ptb.scaffolds.errors import api_error_in_text, api_error_kind
from ptb.stages.session import (
    copy_secrets,
    forwards_for,
    interpreter_first,
    place_key,
    return_secrets,
    scrub_value,
)
from tests.support.repo import compose_run

SECRET = "sk-unit-0123456789abcdefSECRET"
CLIS = ("claude_code", "codex_cli", "gemini_cli", "opencode", "qwen_code")
AGENT = {
    "claude_code": "opus46",
    "codex_cli": "gpt52",
    "gemini_cli": "gemini31pro",
    "opencode": "qwen3coder_vllm",
    "qwen_code": "qwen3coderplus",
}


def make(
    scaffold: str, tmp_path: Path, *overrides: str, endpoint: Endpoint | None = None
) -> Scaffold:
    cfg = compose_run(f"agent={AGENT[scaffold]}", f"scaffold={scaffold}", "model=tiny", *overrides)
    ctx = SolveContext(cfg, tmp_path, tmp_path / "task", "base", "PROMPT", "python3", endpoint)
    made: Scaffold = SCAFFOLDS.load(scaffold)(ctx)
    return made


@pytest.mark.parametrize("scaffold", CLIS)
def test_runs_non_interactively_with_the_prompt_and_model(scaffold: str, tmp_path: Path) -> None:
    made = make(scaffold, tmp_path, "agent.base_url=http://127.0.0.1:9/v1")
    argv = made.argv()
    assert argv[-1] == "PROMPT"
    assert made.ctx.api.model and any(made.ctx.api.model in a for a in argv)
    joined = " ".join(argv)
    assert any(flag in joined for flag in ("--yolo", "dangerously", "--format json"))
    resumed = made.resume_argv("GO ON")
    assert resumed is not None and resumed[-1] == "GO ON"
    assert set(resumed) - set(argv) - {"GO ON"}  # a resume flag, not the same command


@pytest.mark.parametrize("scaffold", CLIS)
def test_base_url_and_key_name_come_from_the_endpoint(scaffold: str, tmp_path: Path) -> None:
    """A gateway swaps the endpoint; no adapter reads agent.base_url itself."""
    gateway = Endpoint("http://127.0.0.1:4321/gw", "PTB_GATEWAY_TOKEN", "the-model")
    made = make(scaffold, tmp_path, "agent.base_url=http://vendor.invalid/v1", endpoint=gateway)
    text = json.dumps([made.argv(), made.env(), made.files()])
    assert "vendor.invalid" not in text
    assert "127.0.0.1:4321/gw" in text
    target = made.key_target()
    assert target is not None
    if made.key_var is None:  # the CLI is told which variable to read
        assert target == "PTB_GATEWAY_TOKEN" and "PTB_GATEWAY_TOKEN" in text


@pytest.mark.parametrize("scaffold", CLIS)
def test_key_value_is_placed_only_in_the_environment(
    scaffold: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    made = make(scaffold, tmp_path, "agent.api_key_env=MY_KEY")
    env: dict[str, str] = {}
    place_key(env, made.ctx.api, made)
    assert list(env.values()) == [SECRET]
    expected = {
        "claude_code": "ANTHROPIC_API_KEY",
        "gemini_cli": "GEMINI_API_KEY",
        "qwen_code": "OPENAI_API_KEY",
    }.get(scaffold, "MY_KEY")
    assert list(env) == [expected]
    assert SECRET not in json.dumps([made.argv(), made.env(), made.files()])


def test_missing_key_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_KEY", raising=False)
    made = make("claude_code", tmp_path, "agent.api_key_env=MY_KEY")
    with pytest.raises(RuntimeError, match="MY_KEY is unset: export it"):
        place_key({}, made.ctx.api, made)


def test_claude_subscription_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", SECRET)
    made = make(
        "claude_code",
        tmp_path,
        "agent.login=subscription",
        "agent.api_key_env=CLAUDE_CODE_OAUTH_TOKEN",
    )
    env: dict[str, str] = {}
    place_key(env, made.ctx.api, made)
    assert env == {"CLAUDE_CODE_OAUTH_TOKEN": SECRET}  # and no ANTHROPIC_API_KEY


def test_codex_config_is_quiet_and_names_the_key(tmp_path: Path) -> None:
    made = make(
        "codex_cli",
        tmp_path,
        "agent.base_url=http://127.0.0.1:9/v1",
        "agent.api_key_env=MY_KEY",
        "scaffold.max_retries=2",
    )
    config = tomllib.loads(made.files()[".codex/config.toml"])
    assert config["model_provider"] == "ptb"
    assert config["model_reasoning_effort"] == "high"
    provider = config["model_providers"]["ptb"]
    assert provider == {
        "name": "ptb",
        "base_url": "http://127.0.0.1:9/v1",
        "wire_api": "responses",
        "env_key": "MY_KEY",
        "request_max_retries": 2,
        "stream_max_retries": 2,
    }
    assert config["check_for_update_on_startup"] is False
    assert config["analytics"] == {"enabled": False}
    assert config["features"]["shell_snapshot"] is False
    assert made.env()["CODEX_HOME"] == str(tmp_path / ".codex")


def test_codex_subscription_copies_auth_json_and_returns_a_refresh(
    tmp_path: Path,
) -> None:
    login = tmp_path / "auth.json"
    login.write_text('{"tokens": "old"}')
    home = tmp_path / "home"
    made = make("codex_cli", home, "agent.login=subscription", f"agent.credentials_file={login}")
    assert "forced_login_method" in made.files()[".codex/config.toml"]
    assert made.key_target() is None
    secrets = made.secret_files()
    copied = copy_secrets(home, secrets)
    placed = home / ".codex" / "auth.json"
    assert placed.read_text() == '{"tokens": "old"}' and placed.stat().st_mode & 0o077 == 0
    placed.write_text('{"tokens": "refreshed"}')  # the CLI used its single-use refresh token
    return_secrets(home, secrets, copied)
    assert login.read_text() == '{"tokens": "refreshed"}'
    assert not placed.exists()  # never kept in the workspace


def test_subscription_without_login_file_says_what_to_set(tmp_path: Path) -> None:
    made = make("codex_cli", tmp_path, "agent.login=subscription")
    with pytest.raises(ValueError, match=r"agent\.credentials_file"):
        made.secret_files()


def test_unknown_auth_mode(tmp_path: Path) -> None:
    # agent.login is a typed choice: a wrong one fails at compose time, naming the valid ones
    with pytest.raises(ConfigCompositionException, match=r"agent\.login=oauth") as err:
        make("codex_cli", tmp_path, "agent.login=oauth")
    assert "[api_key, subscription]" in str(err.value.__cause__)
    made = make("codex_cli", tmp_path)
    made.ctx.cfg.agent.login = "oauth"  # type: ignore[assignment]  # built in code, unchecked
    with pytest.raises(ValueError, match="api_key, subscription"):
        endpoint_for(made.ctx.cfg.agent)


def test_gemini_and_qwen_settings(tmp_path: Path) -> None:
    gemini = json.loads(
        make("gemini_cli", tmp_path, "scaffold.max_retries=0").files()[".gemini/settings.json"]
    )
    assert gemini["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert gemini["privacy"]["usageStatisticsEnabled"] is False
    assert gemini["general"]["maxAttempts"] == 1
    qwen = json.loads(
        make("qwen_code", tmp_path, "scaffold.max_retries=0").files()[".qwen/settings.json"]
    )
    assert qwen["model"]["generationConfig"]["maxRetries"] == 0
    assert qwen["telemetry"]["enabled"] is False


def test_opencode_uses_the_built_in_provider_without_base_url(tmp_path: Path) -> None:
    made = make("opencode", tmp_path, "agent=gpt54", "agent.base_url=null")
    config = json.loads(made.files()[".config/opencode/opencode.json"])
    assert config["model"] == "openai/gpt-5.4"
    assert config["provider"]["openai"]["options"]["apiKey"] == "{env:OPENAI_API_KEY}"
    assert "--variant" in made.argv()


def test_claude_prompt_asks_to_wait_for_background_processes() -> None:
    assert "wait for every process you started" in prompt_note("claude_code")
    assert prompt_note("codex_cli") == "" and prompt_note("none") == ""


@pytest.mark.parametrize(
    ("message", "status", "kind"),
    [
        ("invalid x-api-key", 401, "auth"),
        ("unexpected status 401 Unauthorized: Incorrect API key provided.", None, "auth"),
        ("API Error: Request rejected (429) · rate limited", 429, "rate_limit"),
        ("exceeded retry limit, last status: 429 Too Many Requests", None, "rate_limit"),
        (
            "[API Error: Resource has been exhausted (e.g. check quota).] request a quota increase",
            None,
            "rate_limit",
        ),
        ("Overloaded", 529, "overloaded"),
        ("The server is overloaded.", 503, "overloaded"),
        ("Quota exceeded. Check your plan and billing details.", None, "quota"),
        ("Your credit balance is too low to access the Anthropic API.", 400, "quota"),
        ("You exceeded your current quota", 429, "quota"),
        ("something odd", None, "other"),
    ],
)
def test_api_error_kinds(message: str, status: int | None, kind: str) -> None:
    assert api_error_kind(message, status) == kind


def test_api_error_text_as_qwen_prints_it() -> None:
    assert api_error_in_text("[API Error: 401 Incorrect API key provided.]") == (
        401,
        "[API Error: 401 Incorrect API key provided.]",
    )
    assert api_error_in_text("All done.") is None


def test_loopback_endpoints_are_forwarded() -> None:
    assert forwards_for(Endpoint("http://127.0.0.1:8123/v1", None, None))[0].port == 8123
    assert forwards_for(Endpoint("http://localhost/v1", None, None))[0].port == 80
    assert forwards_for(Endpoint("https://api.openai.com/v1", None, None)) == ()
    assert forwards_for(Endpoint(None, None, None)) == ()
    # a judge-only gateway (no agent route) is relayed too, once
    gateway = SimpleNamespace(port=8123)
    assert [f.port for f in forwards_for(Endpoint(None, None, None), gateway)] == [8123]  # type: ignore[arg-type]
    both = forwards_for(Endpoint("http://127.0.0.1:8123/v1", None, None), gateway)  # type: ignore[arg-type]
    assert [f.port for f in both] == [8123]


def test_the_interpreters_folder_comes_first_on_the_agents_path() -> None:
    env = {"PATH": "/usr/bin:/venv/bin:/bin"}
    interpreter_first(env, "/venv/bin/python")
    assert env["PATH"] == "/venv/bin:/usr/bin:/bin"
    image = {"PATH": "/usr/bin"}
    interpreter_first(image, "python3")  # an image's own interpreter
    assert image == {"PATH": "/usr/bin"}
    no_path: dict[str, str] = {}
    interpreter_first(no_path, "python3")  # Apptainer: no PATH is passed, the image's applies
    assert no_path == {}


def test_scrub_value_redacts_the_key_in_home(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "snap.sh").write_text(f"export K={SECRET}\n")
    (tmp_path / "clean.txt").write_text("nothing")
    assert scrub_value(tmp_path, SECRET) == ["a/snap.sh"]
    assert SECRET not in (tmp_path / "a" / "snap.sh").read_text()
