"""An OpenAI-compatible HTTP client: chat and completions calls, bounded, rate-limited, retried.

Built on the standard library's http.client (no new dependency), for threads: a run's
documents go through a ThreadPoolExecutor and this client bounds what reaches the servers.

- At most `concurrency` requests in flight, and optional `rpm`/`tpm` limits (token buckets).
- Several base URLs: requests rotate over them; one that fails `server_failures` times in a
  row is taken out with one warning while the others carry on.
- 429, 5xx, timeouts and dropped connections are retried with exponential backoff and jitter,
  honouring Retry-After, up to `max_retries` times; then the run stops with one ModelError
  line naming the server.
- A wrong URL, a model the server lacks, a refused key or a context window too small is one
  ModelError line that says what to do.
- The API key is read from an environment variable and goes only into the Authorization
  header: never into a message, a warning or a record.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import Ja2enWarning, ModelError, first_line
from .windows import estimate_tokens

_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk|key|hf)[-_][\w*.-]{6,}")
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# How servers word "the prompt does not fit": vLLM, SGLang and OpenAI ("maximum context
# length", "context_length_exceeded"), llama.cpp ("exceeds the available context size").
_CONTEXT_TOO_SMALL = re.compile(
    r"context[ _](?:length|size|window)|maximum context|too many tokens|exceeds? the (?:available )?context", re.IGNORECASE
)


class ContextWindowError(ModelError):
    """The prompt and the reply asked for do not fit the model's context window."""


class BadRequestError(ModelError):
    """The server rejected a request as malformed (HTTP 400 or 422), for a reason other than its length."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How to reach the servers and how hard to try; see the module docstring."""

    base_urls: tuple[str, ...]
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    rpm: float | None = None  # requests per minute, all servers together
    tpm: float | None = None  # tokens per minute (prompt estimate + max_tokens)
    timeout: float = 300.0  # seconds to connect, and to wait for each read of the reply
    max_retries: int = 6  # retried attempts per request, after the first
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 60.0  # the cap on any wait, Retry-After included
    server_failures: int = 5  # failed attempts in a row that take a server out of the rotation


@dataclass(frozen=True, slots=True)
class Decoding:
    """Sampling settings sent with every request: deterministic unless asked otherwise."""

    temperature: float = 0.0
    seed: int | None = 0
    top_p: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more body fields, as the server names them

    def body(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"temperature": self.temperature}
        if self.seed is not None:
            fields["seed"] = self.seed
        if self.top_p is not None:
            fields["top_p"] = self.top_p
        return {**fields, **self.extra}


@dataclass(frozen=True, slots=True)
class Completion:
    """One reply: its text and how it ended, its token usage, and where it came from."""

    text: str | None
    finish_reason: str | None
    refusal: str | None
    prompt_tokens: int
    completion_tokens: int
    base_url: str
    attempts: int  # 1 when the first request was answered


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and requests of a client so far (the servers' own counts, from `usage`)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0  # answered requests
    retries: int = 0  # attempts that failed and were tried again


def shown_url(url: str) -> str:
    """A URL as messages show it: without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def normalize_base_url(url: str) -> str:
    """`http://host:8000` → `http://host:8000/v1` (a URL with a path is kept as given)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(f"--api-base {shown_url(url) or url!r} is not an http(s) URL; give one like http://localhost:8000/v1")
    return url if parts.path else f"{url}/v1"


class RateLimit:
    """A token bucket of `per_minute`, shared by threads: taking more than is left waits for it."""

    def __init__(self, per_minute: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.capacity, self.rate = float(per_minute), per_minute / 60.0
        self.level, self.clock, self.sleep = self.capacity, clock, sleep
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self, amount: float) -> None:
        with self._lock:
            now = self.clock()
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now
            # Going into debt reserves a place in line: later takers wait for this one too.
            self.level -= min(amount, self.capacity)
            wait = -self.level / self.rate if self.level < 0 else 0.0
        if wait > 0:
            self.sleep(wait)


class _Server:
    """One base URL and its health."""

    def __init__(self, url: str) -> None:
        self.url, self.shown = url, shown_url(url)
        self.failures = 0  # failed attempts in a row
        self.out = False
        self.last_problem = ""


class _Retryable(Exception):
    """An attempt that may succeed when tried again; `wait` is the server's Retry-After, if any."""

    def __init__(self, problem: str, wait: float | None = None, server_fault: bool = True) -> None:
        super().__init__(problem)
        self.problem, self.wait, self.server_fault = problem, wait, server_fault


class OpenAIClient:
    """Calls `/chat/completions` and `/completions` of one or more OpenAI-compatible servers.

    Thread-safe. `sleep`, `clock` and `jitter` are for tests (no real waiting).
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not settings.base_urls:
            raise ModelError("no server to send requests to; pass --api-base URL or set OPENAI_BASE_URL")
        self.settings = settings
        self.servers = [_Server(normalize_base_url(url)) for url in settings.base_urls]
        self.sleep, self.jitter = sleep, jitter
        self._slots = threading.BoundedSemaphore(max(1, settings.concurrency))
        self._rpm = RateLimit(settings.rpm, clock, sleep) if settings.rpm else None
        self._tpm = RateLimit(settings.tpm, clock, sleep) if settings.tpm else None
        self._lock = threading.Lock()
        self._next = 0
        self._usage = Usage()
        self._local = threading.local()  # this thread's open connection to each server
        self._opened: list[http.client.HTTPConnection] = []  # every thread's, for close()

    @property
    def usage(self) -> Usage:
        return self._usage

    def close(self) -> None:
        """Close the connections kept open to the servers (of every thread)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> str:
        return self.settings.model

    def _api_key(self) -> str | None:
        return os.environ.get(self.settings.api_key_env) or None

    # -- checks before a run ------------------------------------------------------------

    def served_models(self, base_url: str) -> list[str]:
        """The model ids `base_url` serves (its `/models`), or a ModelError saying why not."""
        server = next((s for s in self.servers if s.url == base_url), None) or _Server(normalize_base_url(base_url))
        try:
            status, _, data = self._exchange(server, "GET", "/models", None)
        except (OSError, http.client.HTTPException) as exc:
            raise ModelError(
                f"cannot reach {server.shown} ({_transport_problem(exc, self.settings.timeout)}); "
                "check --api-base and that the server is running"
            ) from None
        self._raise_for_refusal(server, status, data)
        if status != 200:
            raise ModelError(
                f"{server.shown}/models answered HTTP {status}, not an OpenAI-compatible model list; "
                "--api-base usually ends in /v1 (for example http://localhost:8000/v1)"
            )
        try:
            return sorted(str(item["id"]) for item in json.loads(data)["data"])
        except (ValueError, KeyError, TypeError):
            raise ModelError(
                f"{server.shown}/models did not answer an OpenAI-compatible model list; "
                "--api-base usually ends in /v1 (for example http://localhost:8000/v1)"
            ) from None

    def check(self) -> None:
        """Every server is reachable, accepts the key and serves the model; else one ModelError line."""
        for server in self.servers:
            if self.settings.model not in self.served_models(server.url):
                raise self._missing_model(server)

    # -- requests -------------------------------------------------------------------------

    def chat_request(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        decoding: Decoding = Decoding(),
        stop: Sequence[str] = (),
        response_format: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """The path and body of a `/chat/completions` request: everything that decides its reply."""
        body: dict[str, Any] = {"model": self.settings.model, "messages": list(messages), "max_tokens": max_tokens}
        body.update(decoding.body())
        if stop:
            body["stop"] = list(stop)
        if response_format is not None:
            body["response_format"] = response_format
        return "/chat/completions", body

    def completion_request(
        self, prompt: str, *, max_tokens: int, decoding: Decoding = Decoding(), stop: Sequence[str] = ()
    ) -> tuple[str, dict[str, Any]]:
        """The path and body of a `/completions` request: everything that decides its reply."""
        body: dict[str, Any] = {"model": self.settings.model, "prompt": prompt, "max_tokens": max_tokens}
        body.update(decoding.body())
        if stop:
            body["stop"] = list(stop)
        return "/completions", body

    def chat(self, messages: Sequence[dict[str, str]], **options: Any) -> Completion:
        """One `/chat/completions` request (options as `chat_request`), retried as the settings say."""
        return self.post(*self.chat_request(messages, **options))

    def complete(self, prompt: str, **options: Any) -> Completion:
        """One `/completions` request (options as `completion_request`), retried as the settings say."""
        return self.post(*self.completion_request(prompt, **options))

    def post(self, path: str, body: dict[str, Any]) -> Completion:
        """POST `body` to `path` on the next server in rotation, retrying; a Completion or a ModelError."""
        sent = body.get("prompt") or "".join(m.get("content", "") for m in body.get("messages", ()))
        estimated_tokens = estimate_tokens(sent) + int(body.get("max_tokens") or 0)
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempt = 0
        while True:
            attempt += 1
            server = self._pick()
            if self._rpm:
                self._rpm.take(1)
            if self._tpm:
                self._tpm.take(estimated_tokens)
            try:
                completion = self._attempt(server, path, payload, attempt)
            except _Retryable as failure:
                self._failed(server, failure, attempt)
                continue
            with self._lock:
                server.failures = 0
                u = self._usage
                self._usage = Usage(
                    u.prompt_tokens + completion.prompt_tokens, u.completion_tokens + completion.completion_tokens,
                    u.requests + 1, u.retries,
                )  # fmt: skip
            return completion

    def _pick(self) -> _Server:
        with self._lock:
            live = [s for s in self.servers if not s.out]
            if not live:
                # Only reachable when the last live server was taken out by another thread.
                last = self.servers[-1]
                raise ModelError(_keeps_failing(last, self.settings.server_failures))
            self._next += 1
            return live[self._next % len(live)]

    def _attempt(self, server: _Server, path: str, payload: bytes, attempt: int) -> Completion:
        with self._slots:
            try:
                status, headers, data = self._exchange(server, "POST", path, payload)
            except (OSError, http.client.HTTPException) as exc:
                raise _Retryable(_transport_problem(exc, self.settings.timeout)) from None
        said = _detail(data, self._api_key())
        if status in _RETRY_STATUS:
            # A 429 says "slow down", not "broken": it does not count against the server.
            raise _Retryable(f"HTTP {status}{said}", _retry_after(headers), server_fault=status != 429)
        self._raise_for_refusal(server, status, data)
        if status == 400 and _CONTEXT_TOO_SMALL.search(data.decode("utf-8", "replace")):
            raise ContextWindowError(
                f"{server.shown}: the prompt and its reply do not fit the model's context window{said}; "
                "use smaller windows, or serve the model with a longer context"
            )
        if status in (400, 422):
            raise BadRequestError(f"{server.shown}{path} rejected the request (HTTP {status}{said}); check --model and the template")
        if status != 200:
            raise ModelError(f"{server.shown}{path} answered HTTP {status}{said}; check --api-base and --model")
        try:
            return _completion(json.loads(data), server.url, attempt)
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable("a reply that is not an OpenAI-compatible completion") from None

    def _raise_for_refusal(self, server: _Server, status: int, data: bytes) -> None:
        if status in (401, 403):
            named = self.settings.api_key_env
            held = "the key in" if self._api_key() else "no key: set"
            raise ModelError(
                f"{server.shown} refused the request (HTTP {status}{_detail(data, self._api_key())}); the client sent {held} "
                f"{named}, set it to a key this server accepts (or name another variable with --api-key-env)"
            )
        if status == 404 and b"model" in data.lower():
            raise self._missing_model(server)

    def _missing_model(self, server: _Server) -> ModelError:
        """The error for a model the server lacks, listing those it has where it says."""
        try:
            served = self.served_models(server.url)
        except ModelError:
            served = []
        listed = ", ".join(served[:20]) + (f" and {len(served) - 20} more" if len(served) > 20 else "")
        return ModelError(
            f"{server.shown} does not serve model '{self.settings.model}'; it serves {listed or 'no model it lists'}: "
            "pass one of them with --model openai:NAME"
        )

    def _failed(self, server: _Server, failure: _Retryable, attempt: int) -> None:
        """Count a failed attempt; take out a server that keeps failing; stop after the last retry."""
        limit = self.settings.server_failures
        with self._lock:
            u = self._usage
            self._usage = Usage(u.prompt_tokens, u.completion_tokens, u.requests, u.retries + 1)
            server.last_problem = failure.problem
            if failure.server_fault:
                server.failures += 1
            taken_out = server.failures >= limit and not server.out
            live = [s for s in self.servers if not s.out and s is not server]
            if taken_out and live:
                server.out = True
        if taken_out and live:
            warnings.warn(
                f"{server.shown} failed {limit} times in a row ({failure.problem}); it is taken out of the rotation, "
                f"the run goes on with {', '.join(s.shown for s in live)}",
                Ja2enWarning,
                stacklevel=2,
            )
        elif taken_out or attempt > self.settings.max_retries:
            raise ModelError(_keeps_failing(server, attempt if not taken_out else limit))
        wait = failure.wait
        if wait is None:  # exponential, with jitter so that threads that failed together do not retry together
            wait = self.settings.backoff * 2 ** (attempt - 1) * (0.5 + self.jitter() / 2)
        self.sleep(min(wait, self.settings.max_backoff))

    # -- one HTTP exchange ------------------------------------------------------------------

    def _connection(self, server: _Server) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to `server`, and whether it was open already (kept alive)."""
        pool = self._local.__dict__.setdefault("connections", {})
        connection = pool.get(server.url)
        if connection is not None:
            return connection, True
        parts = urlsplit(server.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname, parts.port, timeout=self.settings.timeout)
        pool[server.url] = connection
        with self._lock:
            self._opened.append(connection)
        return connection, False

    def _drop(self, server: _Server) -> None:
        connection = self._local.__dict__.get("connections", {}).pop(server.url, None)
        if connection is not None:
            connection.close()

    def _exchange(self, server: _Server, method: str, path: str, payload: bytes | None) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request and its whole reply; a kept-alive connection the server closed meanwhile is reopened once."""
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "ja2en"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        target = urlsplit(server.url).path + path
        for fresh_try in (False, True):
            connection, reused = self._connection(server)
            try:
                connection.request(method, target, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop(server)
                if reused and not fresh_try:
                    continue  # the server closed an idle connection; that is no failure of this request
                raise
            except BaseException:
                self._drop(server)
                raise
            if response.will_close:
                self._drop(server)
            return response.status, response.headers, data
        raise AssertionError("unreachable")


def _completion(reply: dict[str, Any], base_url: str, attempt: int) -> Completion:
    """A Completion from a chat or completions reply body (KeyError and such when it is neither)."""
    choice = reply["choices"][0]
    message = choice.get("message")
    text = message.get("content") if isinstance(message, dict) else choice["text"]
    refusal = message.get("refusal") if isinstance(message, dict) else None
    usage = reply.get("usage") or {}
    return Completion(
        text if isinstance(text, str) else None, choice.get("finish_reason"), refusal or None,
        int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), base_url, attempt,
    )  # fmt: skip


def _transport_problem(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no reply within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.IncompleteRead)):
        return "the connection dropped"
    return f"{type(exc).__name__}: {first_line(exc, empty='')}".rstrip(": ")


def _detail(data: bytes, secret: str | None = None) -> str:
    """The server's own error message, shortened, as `: message` (empty when it gives none).

    Some servers quote the key they refused (OpenAI masks its middle); any key-like word is cut out.
    """
    try:
        error = json.loads(data).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = data.decode("utf-8", "replace")
    message = _KEY_LIKE.sub("[key]", " ".join(str(message or "").split()))
    if secret:
        message = message.replace(secret, "[key]")
    return f": {message[:200]}" if message else ""


def _retry_after(headers: http.client.HTTPMessage) -> float | None:
    """The Retry-After header in seconds (a number, or an HTTP date), or None."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _keeps_failing(server: _Server, attempts: int) -> str:
    return (
        f"{server.shown} keeps failing ({attempts} attempts in a row, the last: {server.last_problem}); "
        "check the server, then re-run the same command: finished work is kept"
    )
