"""A tiny OpenAI-compatible chat-completions server that plays the grader of the model-graded tasks.

It answers ``POST /v1/chat/completions`` on loopback with deterministic verdicts:

- pairwise prompts (ArenaHard): the answer with more words wins; twice as many or more is a
  "significantly better" verdict; equal answers tie;
- rubric prompts (HealthBench): a criterion is met when the assistant's last reply contains the
  criterion's text (case-insensitive).

It records every request (with the Authorization header) and can fail the first ``fail_first``
requests with HTTP 429 to exercise the client's retries, be ``down`` (every request answered
with HTTP 503) until switched back on, or refuse ``reasoning_effort`` with HTTP 400 as a grader
model without reasoning does (``reject_reasoning_effort``).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = re.compile(
    r"\[Assistant ([AB])'s Answer\]\n(.*?)\n\[End of Assistant \1's Answer\]", re.DOTALL
)
"""The answers in the fixture grader template (tests/fixtures/tasks/upstream/)."""


def pairwise_verdict(prompt: str) -> str:
    answers = dict(ANSWER.findall(prompt))
    a, b = len(answers.get("A", "").split()), len(answers.get("B", "").split())
    if a == b:
        return "[[A=B]]"
    win, lose, strong = ("A", "B", a >= 2 * max(b, 1)) if a > b else ("B", "A", b >= 2 * max(a, 1))
    return f"[[{win}{'>>' if strong else '>'}{lose}]]"


def rubric_verdict(prompt: str) -> dict[str, Any]:
    conversation = prompt.split("# Conversation\n", 1)[1].split("\n\n# Rubric item\n", 1)[0]
    reply = conversation.rsplit("assistant: ", 1)[-1].lower()
    rubric = prompt.split("# Rubric item\n", 1)[1].split("\n\n# Instructions", 1)[0]
    criterion = re.sub(r"^\[-?\d+\] ", "", rubric).strip().lower()
    met = criterion in reply
    return {"explanation": "fake grader", "criteria_met": met}


class FakeGrader:
    def __init__(
        self, fail_first: int = 0, down: bool = False, reject_reasoning_effort: bool = False
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.down = down
        self.reject_reasoning_effort = reject_reasoning_effort
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeGrader:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, body: dict[str, Any]) -> str:
        prompt = "\n".join(m["content"] for m in body["messages"])
        if "Assistant A's Answer" in prompt:
            return f"Both are fine. My final verdict is {pairwise_verdict(prompt)}"
        if "# Rubric item" in prompt:
            return "```json\n" + json.dumps(rubric_verdict(prompt)) + "\n```"
        return "I am a grader."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        grader = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with grader._lock:
                    grader.requests.append(
                        {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                    )
                    fail = grader.fail_first > 0
                    grader.fail_first -= 1 if fail else 0
                if grader.down:
                    self._send(503, {"error": {"message": "service unavailable"}})
                elif fail:
                    self._send(429, {"error": {"message": "rate limited"}})
                elif grader.reject_reasoning_effort and "reasoning_effort" in body:
                    message = "Unsupported parameter: 'reasoning_effort' is not supported."
                    self._send(400, {"error": {"message": message}})
                elif self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                else:
                    content = grader.reply(body)
                    self._send(
                        200,
                        {
                            "id": "fake",
                            "object": "chat.completion",
                            "model": body.get("model"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop",
                                }
                            ],
                        },
                    )

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
