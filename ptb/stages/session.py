"""An agent session's setup, shared by the solve stage and the LLM judge: its environment and
key (cleared and rebuilt from the allow-list; the key under the name its CLI reads, or the
gateway's dummy token), credential files placed for the run and returned afterwards, the
scaffold's own files, what the sandbox binds read-only and forwards, and the key scrubbed from
HOME afterwards.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ptb.sandbox import Sandbox
from ptb.sandbox.forward import Forward
from ptb.scaffolds import Scaffold
from ptb.scaffolds.endpoint import Endpoint, key_value
from ptb.secrets import REDACTED
from ptb.stages.workspace import MAX_KEPT_FILE_BYTES

if TYPE_CHECKING:
    from ptb.config.root import RunConfig
    from ptb.gateway.run import RunGateway

log = logging.getLogger(__name__)


def session_env(cfg: RunConfig, home: Path, **extra: str) -> dict[str, str]:
    """An agent session's environment (the solve stage's agent, an LLM judge): cleared, then
    rebuilt from the allow-list (``sandbox.env_allowlist``), its HOME, ``extra`` and the
    agent's ``extra_env``. No key: the caller places the one the session may hold."""
    env = {k: os.environ[k] for k in cfg.sandbox.env_allowlist if k in os.environ}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", TMPDIR=str(home / "tmp"), **extra)
    env.update(cfg.agent.extra_env)
    return env


def agent_env(cfg: RunConfig, home: Path, deadline: float) -> dict[str, str]:
    """The agent's environment: cleared, then rebuilt from the allow-list (its key is added by
    ``place_key``, under the name its CLI reads)."""
    return session_env(
        cfg,
        home,
        PTB_CACHE=str(Path(cfg.cache_dir).expanduser()),  # evaluate.py's upstream:// files
        PTB_DEADLINE=str(int(deadline)),
    )


def interpreter_first(env: dict[str, str], python: str) -> None:
    """Put the folder of ptb's interpreter first on the agent's ``PATH`` when the sandbox runs
    it from the host: ``python evaluate.py``, ``pip`` and the training tools the agent calls are
    those of the environment ptb set up. An image's own interpreter (Apptainer's ``python3``)
    leaves ``PATH`` alone: the image's applies."""
    if not os.path.isabs(python):
        return
    folder = str(Path(python).parent)
    path = env.get("PATH", os.defpath)
    env["PATH"] = os.pathsep.join(
        [folder, *(p for p in path.split(os.pathsep) if p and p != folder)]
    )


def place_key(
    env: dict[str, str], endpoint: Endpoint, scaffold: Scaffold, gateway: RunGateway | None = None
) -> None:
    """Copy the key's value from the host environment into the agent's, under the variable the
    scaffold's CLI reads; the only place a key value is handled. With the gateway on, the
    agent gets the gateway's per-run dummy token there instead (the real key stays in the
    gateway process), and ``PTB_GATEWAY_URL``; with a grader route, evaluate.py's grader URL and
    token (``RunGateway.sandbox_env``)."""
    if gateway is not None:
        env.update(gateway.sandbox_env())
    target = scaffold.key_target()
    if not target:  # e.g. a subscription login that lives in a file
        return
    value = gateway.token if gateway and gateway.token else key_value(endpoint, os.environ)
    if value is not None:
        env[target] = value


def forwards_for(endpoint: Endpoint, gateway: RunGateway | None = None) -> tuple[Forward, ...]:
    """A model API on the host's loopback (the agent's, the gateway) stays reachable when the
    sandbox's network is off."""
    ports = [endpoint.loopback_port(), gateway.port if gateway is not None else None]
    return tuple(Forward("127.0.0.1", p) for p in dict.fromkeys(ports) if p)


def runtime_paths(cache_dir: str, base_model: str, data: Iterable[str] = ()) -> tuple[Path, ...]:
    """What the agent's programs need to see read-only wherever they live on the host: the
    interpreter and its environment, ptb's package (evaluate.py imports it), ptb's model cache,
    a local base model and the task's local data files (``task.data`` values without a scheme;
    hub and package data live in the HF cache and the environment). Backends skip the ones
    that do not exist."""
    import ptb

    paths = [
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix),
        Path(ptb.__file__).resolve().parent,
        Path(cache_dir).expanduser(),
    ]
    if Path(base_model).is_absolute():  # a locally built model; hub ids live in the HF cache
        paths.append(Path(base_model))
    paths += [Path(uri).expanduser().resolve() for uri in data if "://" not in uri]
    return tuple(dict.fromkeys(paths))


def scrub_value(home: Path, value: str) -> list[str]:
    """Second line of defence: replace the key's value in every file the agent's run left in
    HOME (some CLIs save their environment, e.g. shell snapshots). Returns the files changed."""
    needle, changed = value.encode(), []
    for path in home.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_KEPT_FILE_BYTES:
            continue
        data = path.read_bytes()
        if needle in data:
            path.write_bytes(data.replace(needle, REDACTED.encode()))
            changed.append(str(path.relative_to(home)))
    if changed:
        log.warning(
            "the agent's key was found in %d file(s) of HOME, redacted: %s",
            len(changed),
            ", ".join(changed[:5]),
        )
    return changed


def copy_secrets(home: Path, secrets: dict[str, Path]) -> dict[str, bytes]:
    """Place subscription login files (e.g. Codex auth.json) for this run only, owner-only."""
    copied = {}
    for rel, source in secrets.items():
        if not source.is_file():
            raise FileNotFoundError(f"credentials file {source} does not exist")
        data = source.read_bytes()
        target = home / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o600)
        copied[rel] = data
    return copied


def return_secrets(home: Path, secrets: dict[str, Path], copied: dict[str, bytes]) -> None:
    """Copy a login the CLI refreshed back to its source (refresh tokens are single-use) and
    remove it from HOME, so the kept workspace holds no credentials."""
    for rel, source in secrets.items():
        target = home / rel
        if not target.is_file():
            continue
        data = target.read_bytes()
        if rel in copied and data != copied[rel] and data.strip():
            tmp = source.with_name(source.name + ".ptb-tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o600)
            tmp.replace(source)
            log.info("the CLI refreshed %s: copied back to %s", rel, source)
        target.unlink()


def stage_files(sandbox: Sandbox, scaffold: Scaffold) -> None:
    """Write the scaffold's own files (settings, wrappers, logins it generates) into HOME."""
    for rel, text in scaffold.files().items():
        sandbox.write_file(rel, text, mode=0o755 if rel.endswith(".sh") else 0o644)
    for rel, data in scaffold.binary_files().items():
        sandbox.write_file(rel, data, mode=0o755)
