from collections.abc import Iterator
from pathlib import Path

import pytest

from ptb.config import RunConfig
from ptb.plan import to_run_config
from ptb.prefetch import data_for, repos_for
from ptb.preflight import check_task_data
from tests.support.repo import compose_node, compose_run


def _repos(model: str) -> list[tuple[str, str | None]]:
    return repos_for(compose_node(f"model={model}"))


def test_prefetch_lists_base_and_instruct() -> None:
    assert _repos("gemma3_4b") == [("google/gemma-3-4b-pt", None), ("google/gemma-3-4b-it", None)]


def test_local_model_needs_no_download() -> None:
    assert _repos("tiny") == []


def _run_config(*overrides: str) -> RunConfig:
    return compose_run(*overrides)


def test_prefetch_lists_the_tasks_downloads_and_the_paper_weights() -> None:
    gsm8k = data_for(_run_config("task=gsm8k"))
    assert gsm8k == [
        "hf://openai/gsm8k/main/test-00000-of-00001.parquet",
        "hf://openai/gsm8k/main/train-00000-of-00001.parquet",
        "upstream://factors.json",  # for the reports, whatever the task
    ]
    assert data_for(_run_config("task=bfcl")) == ["upstream://factors.json"]  # bfcl-eval's data
    assert data_for(_run_config("task=healthbench")) == [
        "upstream://healthbench/healthbench.jsonl",
        "upstream://healthbench/grader.py",
        "upstream://factors.json",
    ]
    # protocol=paper renders with the original's template files for the model's family
    gemma = data_for(_run_config("model=gemma3_4b", "task=bfcl"))
    assert gemma == [
        "upstream://factors.json",
        "upstream://templates/gemma3.jinja",
        "upstream://templates/gemma3_tool_calling.jinja",
    ]
    assert data_for(_run_config("model=gemma3_4b", "task=bfcl", "protocol=strict")) == [
        "upstream://factors.json"
    ]


def test_preflight_names_missing_task_data_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problems = check_task_data(_run_config("task=gpqa"))
    assert len(problems) == 1 and "ptb.prefetch task=gpqa" in problems[0].fix
    assert check_task_data(_run_config("task=bfcl")) == []


# --- pinned upstream files (ptb.tasks.upstream) against a file server on loopback -------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tasks"
ARENAHARD_FIXTURES = {
    "arenahard/question.jsonl": FIXTURES / "arenahard_questions.jsonl",
    "arenahard/Qwen3-1.7B.jsonl": FIXTURES / "arenahard_references.jsonl",
    "arenahard/judge_utils.py": FIXTURES / "upstream" / "judge_utils.py",
    "arenahard/arena-hard-v2.0.yaml": FIXTURES / "upstream" / "arena-hard-v2.0.yaml",
    "factors.json": FIXTURES / "upstream" / "factors.json",
}
"""Pinned keys → the project's fixture files in their formats, served in their place."""


class Mirror:
    """A static file server on 127.0.0.1 laid out as raw.githubusercontent.com (what
    ``PTB_UPSTREAM_MIRROR`` points at); ``requests`` lists the paths asked for."""

    def __init__(self, root: Path) -> None:
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        mirror = self
        self.requests: list[str] = []

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                mirror.requests.append(self.path)

        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Mirror, Path]]:
    """The fixture files pinned in place of the real ones and served by a loopback mirror;
    an empty PTB_CACHE. Yields the mirror and its root (to serve other bytes)."""
    from ptb.tasks import upstream

    root = tmp_path / "mirror"
    for key, fixture in ARENAHARD_FIXTURES.items():
        real = upstream.PINNED[key]
        data = fixture.read_bytes()
        pin = upstream.Pinned(key, real.url, upstream.sha256_of(data), real.about)
        monkeypatch.setitem(upstream.PINNED, key, pin)
        served = root / real.url.removeprefix(upstream.RAW + "/")
        served.parent.mkdir(parents=True, exist_ok=True)
        served.write_bytes(data)
    monkeypatch.setenv("PTB_CACHE", str(tmp_path / "cache"))
    server = Mirror(root)
    monkeypatch.setenv("PTB_UPSTREAM_MIRROR", server.url)
    try:
        yield server, root
    finally:
        server.close()


def test_a_pinned_file_is_fetched_checked_cached_and_then_read_offline(
    mirror: tuple[Mirror, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ptb.tasks import upstream

    server, _ = mirror
    with pytest.raises(upstream.UpstreamNotAvailable, match=r"python -m ptb\.prefetch"):
        upstream.upstream_path("arenahard/judge_utils.py")  # nothing cached yet
    path = upstream.fetch(upstream.pinned("arenahard/judge_utils.py"))
    assert path == upstream.cached_path(upstream.pinned("arenahard/judge_utils.py"))
    assert path.read_bytes() == ARENAHARD_FIXTURES["arenahard/judge_utils.py"].read_bytes()
    assert upstream.fetch(upstream.pinned("arenahard/judge_utils.py")) == path  # no second GET
    assert len(server.requests) == 1
    server.close()
    monkeypatch.setenv("PTB_UPSTREAM_MIRROR", "http://127.0.0.1:9")  # nothing listens
    assert upstream.upstream_path("arenahard/judge_utils.py") == path
    system = upstream.python_constant(
        upstream.upstream_text("arenahard/judge_utils.py"),
        "JUDGE_SETTINGS",
        "creative_writing",
        "system_prompt",
    )
    assert system.startswith("You judge two pieces of creative writing")


def test_a_sha256_mismatch_is_refused_and_nothing_is_cached(mirror: tuple[Mirror, Path]) -> None:
    from ptb.tasks import upstream

    _, root = mirror
    pin = upstream.pinned("arenahard/arena-hard-v2.0.yaml")
    (root / pin.url.removeprefix(upstream.RAW + "/")).write_text("prompt_template: changed\n")
    with pytest.raises(upstream.UpstreamMismatch, match="does not match the pinned") as err:
        upstream.fetch(pin)
    assert "arenahard/arena-hard-v2.0.yaml" in str(err.value)
    assert not upstream.cached_path(pin).parent.exists()  # not even a partial file


def test_a_missing_upstream_file_is_a_clear_error(mirror: tuple[Mirror, Path]) -> None:
    from ptb.tasks import upstream

    pin = upstream.pinned("healthbench/grader.py")  # the mirror does not serve it
    with pytest.raises(upstream.UpstreamUnreachable, match="HTTP 404") as err:
        upstream.fetch(pin)
    assert "healthbench/grader.py" in str(err.value) and "PTB_UPSTREAM_MIRROR" in str(err.value)
    assert not upstream.cached_path(pin).exists()


def test_prefetch_fetches_what_the_task_needs_and_the_task_then_loads_offline(
    mirror: tuple[Mirror, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ptb.prefetch

    node = compose_node("model=tiny", "task=arenahard_writing")
    wanted = data_for(to_run_config(node))
    assert wanted == [f"upstream://{key}" for key in ARENAHARD_FIXTURES]  # factors.json too
    assert check_task_data(to_run_config(node))  # not cached yet: the preflight says so
    ptb.prefetch._task(node)  # exits 1 if a step fails
    server, _ = mirror
    server.close()
    assert check_task_data(to_run_config(node)) == []
    from ptb.tasks import load_task

    task = load_task(to_run_config(node).task, "paper")
    assert len(task.test_items()) == 2
    assert task.grader_gate() is not None  # type: ignore[attr-defined]


def test_preflight_names_missing_upstream_files_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("PTB_HEALTHBENCH_EASY", raising=False)
    problems = check_task_data(_run_config("task=healthbench"))
    assert len(problems) == 2  # the items and the grader prompt
    assert all("python -m ptb.prefetch task=healthbench" in p.fix for p in problems)
    assert "upstream://healthbench/grader.py" in problems[1].what
