"""A fake OpenAI-compatible server on 127.0.0.1 for the LLM client's tests, with faults on demand.

It "translates" with a fixed table (ja → en) and answers in the form the prompt asks: JSON
for chat, `[id] English` lines for the few-shot completions template, bare text for the
PLaMo template. It finds the window's sentences where ja2en's built-in templates put them
(the `[id] Japanese` lines after the last "Sentences:" or "Japanese:" line).

`faults` is a queue: each POST takes the next fault (None: answer well). A fault in
`always` applies to every multi-sentence window (a model that cannot keep a format);
`stubborn` maps a Japanese sentence to the fault it always gets, even alone.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TAGGED = re.compile(r"^\[([^\]\s]+)\] (.*)$")
_PLAMO = re.compile(r"<\|plamo:op\|>input lang=Japanese\n(.*)\n<\|plamo:op\|>output lang=English\n$", re.DOTALL)
REFUSAL = "I'm sorry, but I can't help with that request."


class FakeOpenAI:
    """Start with `with FakeOpenAI(table) as server:`; `server.url` is its base URL (…/v1)."""

    def __init__(
        self,
        table: dict[str, str],
        *,
        models: tuple[str, ...] = ("tiny-llm",),
        api_key: str | None = None,
        slow_seconds: float = 1.0,
    ) -> None:
        self.table, self.models, self.api_key, self.slow_seconds = table, models, api_key, slow_seconds
        self.faults: collections.deque[str | None] = collections.deque()
        self.always: str | None = None
        self.stubborn: dict[str, str] = {}
        self.schemas = {"json_schema", "json_object"}  # the response_format types it takes (it keeps any it takes)
        self.requests: list[dict[str, Any]] = []  # every POST body, in arrival order
        self.headers: list[dict[str, str]] = []
        self.answered = 0  # POSTs answered with a completion
        self.in_flight = self.max_in_flight = 0  # POSTs being answered at once, now and at most
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_fault(self, body: dict[str, Any]) -> str | None:
        with self._lock:
            self.requests.append(body)
            return self.faults.popleft() if self.faults else None

    # -- the "model" ---------------------------------------------------------------------

    def window(self, text: str) -> list[tuple[str, str]]:
        """The (id, Japanese) sentences a prompt asks for."""
        plamo = _PLAMO.search(text)
        if plamo:
            return [("", plamo.group(1))]
        marker = max(text.rfind("\nSentences:\n"), text.rfind("\nJapanese:\n"))
        lines = text[marker:].splitlines() if marker >= 0 else []
        return [(m.group(1), m.group(2)) for m in map(_TAGGED.match, lines) if m]

    def answer(self, path: str, body: dict[str, Any], fault: str | None) -> tuple[str, str]:
        """The reply text and its finish_reason."""
        prompt = body["messages"][-1]["content"] if path.endswith("/chat/completions") else body["prompt"]
        sentences = self.window(prompt)
        if fault is None and len(sentences) > 1 and self.always:
            fault = self.always
        for _, ja in sentences:
            if fault is None and ja in self.stubborn:
                fault = self.stubborn[ja]
        entries = [[i, self.table.get(ja, f"<no translation for {ja}>"), ja] for i, ja in sentences]
        finish = "stop"
        if fault == "missing":
            entries = entries[:-1]
        elif fault == "merged" and len(entries) > 1:
            entries[0][1] = f"{entries[0][1]} {entries[1][1]}"
            del entries[1]
        elif fault == "swapped" and len(entries) > 1:
            entries[0][0], entries[1][0] = entries[1][0], entries[0][0]
        elif fault == "untranslated":
            entries[0][1] = entries[0][2]
        if fault == "refusal":
            return REFUSAL, "stop"
        if not sentences or not sentences[0][0]:  # a one-sentence text prompt (PLaMo), or none found
            text = entries[0][1] if entries else ""
        elif path.endswith("/chat/completions"):
            text = json.dumps({"translations": [{"id": i, "en": en} for i, en, _ in entries]}, ensure_ascii=False)
        else:
            text = "".join(f"[{i}] {en}\n" for i, en, _ in entries)
        if fault == "torn":
            text = text[: len(text) // 2]
        elif fault == "length":
            text, finish = text[: len(text) * 2 // 3], "length"
        elif fault == "think":
            text = f"<think>The user wants English. 日本語の文を訳す。</think>\n{text}"
        elif fault == "fence":
            text = f"Here is the translation:\n```json\n{text}\n```"
        return text, finish


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (a timeout test)

        def _authorized(self) -> bool:
            if fake.api_key is None or self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                return True
            self._send(401, {"error": {"message": "Incorrect API key provided: sk-wr**********ey.", "type": "invalid_request_error"}})
            return False

        def do_GET(self) -> None:
            if not self._authorized():
                return
            if self.path != "/v1/models":
                self._send(404, {"error": "not found"})
                return
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in fake.models]})

        def do_POST(self) -> None:
            with fake._lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self._post()
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def _post(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with fake._lock:
                fake.headers.append(dict(self.headers))
            if not self._authorized():
                return
            if self.path not in ("/v1/chat/completions", "/v1/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            if body.get("model") not in fake.models:
                self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                return
            wanted = (body.get("response_format") or {}).get("type")
            if wanted and wanted not in fake.schemas:
                fake.next_fault(body)
                self._send(400, {"error": {"message": f"response_format type {wanted} is not supported"}})
                return
            fault = fake.next_fault(body)
            if self._fails(fault):
                return
            text, finish = fake.answer(self.path, body, fault)
            with fake._lock:
                fake.answered += 1
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if self.path.endswith("/chat/completions"):
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            prompt = json.dumps(body.get("messages") or body.get("prompt"), ensure_ascii=False)
            usage = {"prompt_tokens": len(prompt), "completion_tokens": len(text), "total_tokens": len(prompt) + len(text)}
            self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"], "choices": [choice], "usage": usage})

        def _fails(self, fault: str | None) -> bool:
            """Answer a transport- or HTTP-level fault; True when it was one."""
            if fault == "429":
                self._send(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0.05"})
            elif fault == "500":
                self._send(500, {"error": {"message": "internal error"}})
            elif fault == "503":
                self._send(503, b"upstream unavailable")
            elif fault == "drop":
                self.close_connection = True
            elif fault == "garbage":
                self._send(200, b'{"choices": [ {"mess')
            elif fault == "context":
                self._send(400, {"error": {"message": "This model's maximum context length is 64 tokens. However, you requested 900 tokens."}})
            elif fault == "slow":
                time.sleep(fake.slow_seconds)
                return False
            else:
                return False
            return True

    return Handler
