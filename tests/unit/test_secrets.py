from ptb.secrets import REDACTED, Redactor, is_secret_name, redact_mapping


def test_secret_names() -> None:
    assert is_secret_name("ANTHROPIC_API_KEY")
    assert is_secret_name("CLAUDE_CODE_OAUTH_TOKEN")
    assert not is_secret_name("api_key_env")  # holds a *name*
    assert not is_secret_name("credentials_file")  # holds a *path*
    assert not is_secret_name("TOKEN_DIR")
    assert not is_secret_name("PATH")
    for name in (
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "aws_secret_access_key",
        "db.password",
        "OPENAI_APIKEY",
    ):
        assert is_secret_name(name), name
    # Settings that merely mention tokens are not secrets (they must survive config.yaml).
    for name in ("max_new_tokens", "input_tokens", "cached_tokens", "tokenizer", "author"):
        assert not is_secret_name(name), name


def test_redactor_replaces_values_of_secret_vars() -> None:
    env = {"OPENAI_API_KEY": "sk-abcdefghijkl", "HOME": "/root", "SHORT_TOKEN": "abc"}
    red = Redactor(env=env)
    text = "key=sk-abcdefghijkl home=/root short=abc"
    assert red(text) == f"key={REDACTED} home=/root short=abc"


def test_redact_mapping_keeps_env_names() -> None:
    data = {"agent": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-x", "token": None}}
    assert redact_mapping(data) == {
        "agent": {"api_key_env": "OPENAI_API_KEY", "api_key": REDACTED, "token": None}
    }
