import sys
import time
from pathlib import Path

from ptb.sandbox.process import run_limited


def _run(code: str, limit: float, kill_after: float = 1.0):  # type: ignore[no-untyped-def]
    lines: list[tuple[str, str]] = []
    result = run_limited(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin"},
        cwd=Path.cwd(),
        limit_s=limit,
        kill_after_s=kill_after,
        on_line=lambda stream, line: lines.append((stream, line)),
    )
    return result, lines


def test_finished_with_output_and_exit_code() -> None:
    result, lines = _run("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", 30)
    assert (result.reason, result.exit_code) == ("finished", 3)
    assert ("stdout", "out") in lines and ("stderr", "err") in lines


def test_stdin_is_closed() -> None:
    _, lines = _run("import sys; print(repr(sys.stdin.read()))", 30)
    assert lines == [("stdout", "''")]


def test_timeout_terms_then_kills_the_whole_group() -> None:
    # The child ignores TERM and leaves a grandchild behind: both must die at the limit.
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: print('got TERM', flush=True))\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    t0 = time.monotonic()
    result, lines = _run(code, limit=1.5, kill_after=1.0)
    assert result.reason == "timeout"
    assert time.monotonic() - t0 < 10
    assert ("stdout", "got TERM") in lines


def test_missing_executable_is_a_crash_not_an_exception() -> None:
    result = run_limited(
        ["/nonexistent/agent"],
        env={},
        cwd=Path.cwd(),
        limit_s=5,
        kill_after_s=1,
        on_line=lambda stream, line: None,
    )
    assert result.reason == "crashed"
    assert "could not start" in (result.detail or "")


def test_stop_event_ends_the_command_like_the_limit() -> None:
    import threading

    stop = threading.Event()
    code = "import time; print('up', flush=True); time.sleep(60)"
    lines: list[tuple[str, str]] = []

    def on_line(stream: str, line: str) -> None:
        lines.append((stream, line))
        stop.set()  # as the gateway does when a usage limit is reached

    t0 = time.monotonic()
    result = run_limited(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin"},
        cwd=Path.cwd(),
        limit_s=60,
        kill_after_s=1,
        on_line=on_line,
        stop=stop,
    )
    assert result.reason == "stopped" and time.monotonic() - t0 < 10
    assert lines == [("stdout", "up")]
