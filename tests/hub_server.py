"""A stand-in Hugging Face Hub on 127.0.0.1 that accepts connections and then never answers.

`answers` maps a request-path prefix to a JSON body it does answer (model_info, say), so a
test can let a download get as far as the file requests before the Hub goes silent. Every
request line is recorded in `requests`, so a test can wait until the client is stuck.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class SilentHub:
    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers = answers or {}
        self.requests: list[str] = []
        self.release = threading.Event()  # set at teardown: the held connections close
        hub = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                hub.requests.append(line)
                path = line.split(" ")[1].split("?")[0] if " " in line else ""
                for prefix, answer in hub.answers.items():
                    if path.startswith(prefix):
                        body = json.dumps(answer).encode()
                        self.request.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            + f"Content-Length: {len(body)}\r\n\r\n".encode()
                            + body
                        )
                        return
                hub.release.wait()  # connected, request read, and never a byte back

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, fragment: str, within: float = 60.0) -> None:
        """Wait until a request whose line holds `fragment` has arrived (the client is then stuck on it)."""
        deadline = time.monotonic() + within
        while not any(fragment in line for line in self.requests):
            if time.monotonic() > deadline:
                raise AssertionError(f"no request for {fragment!r} within {within} s; got {self.requests}")
            time.sleep(0.05)
        time.sleep(0.3)  # the client is now blocked reading the answer


@contextmanager
def silent_hub(answers: dict[str, Any] | None = None) -> Iterator[SilentHub]:
    hub = SilentHub(answers)
    thread = threading.Thread(target=hub.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        hub.release.set()
        hub.server.shutdown()
        hub.server.server_close()


def online_env(hub: SilentHub, tmp: Any, **extra: str) -> dict[str, str]:
    """The environment of a ja2en subprocess that talks to `hub`: not offline, a private HF home."""
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1", **extra)
    return env
