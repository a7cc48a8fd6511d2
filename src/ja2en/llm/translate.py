"""A document's sentences → their English from an LLM: windows, prompts, requests, checks, splits.

`LLMTranslator.translate_document` is the one call a run makes per document: it goes through
the document's windows in order (each window's context holds the finished English of the
ones before), sends each, checks the reply, and splits a window whose reply fails. Every
sentence comes back once, in order, translated or failed (see split.SentenceResult).
Documents can be translated from several threads at once: the client bounds the requests.

Replies can be kept in a `ReplyCache` under `request_key`, the hash of the whole request
(model, template text, decoding, context, window): a rerun sends no request whose reply it
already has, and replays the same splits, so its output is the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .client import BadRequestError, Completion, ContextWindowError, Decoding, OpenAIClient, Usage
from .prompts import Template, render_prompt, response_format
from .replies import CheckedReply, check_reply, parse_json_reply
from .split import SentenceResult, SplitPolicy, translate_window
from .windows import SourceSentence, Window, attach_context, cut_windows, estimate_tokens

# The test window of `probe_response_format`: two sentences, so ids and order are tested too.
_PROBE = Window((
    SourceSentence("p1", 0, "今日は晴れています。"),
    SourceSentence("p2", 0, "明日は雨が降るでしょう。"),
))  # fmt: skip


class ReplyCache(Protocol):
    """Where accepted replies are kept between runs (ja2en's cache, a dict in tests)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class WindowSettings:
    """How a document is cut into requests, and how much room each reply gets."""

    max_tokens: int = 600  # source tokens per window (estimated, see windows.estimate_tokens)
    context_sentences: int = 3  # previous sentences, with their English, sent as context
    reply_tokens_per_source_token: float = 3.0  # room for the English and the JSON around it
    reply_token_floor: int = 64
    response_format: str | None = None  # "json_schema", "json_object" or None; see prompts.response_format


@dataclass(frozen=True, slots=True)
class DocumentResult:
    """Every sentence of a document, in order, and what its requests cost (for the manifest)."""

    sentences: tuple[SentenceResult, ...]
    usage: Usage  # requests sent for it; replies taken from the cache cost nothing


def request_key(path: str, body: dict[str, Any]) -> str:
    """The cache key of a request: a hash of everything that decides its reply."""
    return hashlib.sha256(json.dumps([path, body], sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class LLMTranslator:
    """Translates documents with `client`'s model and one prompt template."""

    def __init__(
        self,
        client: OpenAIClient,
        template: Template,
        *,
        windows: WindowSettings = WindowSettings(),
        decoding: Decoding = Decoding(),
        policy: SplitPolicy | None = None,
        cache: ReplyCache | None = None,
    ) -> None:
        self.client, self.template, self.windows, self.decoding = client, template, windows, decoding
        self.policy = policy or SplitPolicy()
        self.cache = cache
        # Called before each request is sent (not for a cached reply): a run's token budget raises there.
        self.before_request: Callable[[], None] | None = None

    def translate_document(self, sentences: Sequence[SourceSentence], title: str | None = None) -> DocumentResult:
        """Every sentence of one document, in order, translated or failed; never shifted."""
        finished: dict[str, str] = {}
        results: list[SentenceResult] = []
        spent: list[Completion] = []
        for window in self._windows(sentences, title, finished):
            for result in translate_window(window, lambda w: self.ask(w, spent), self.policy):
                results.append(result)
                if result.en is not None:
                    finished[result.id] = result.en
        usage = Usage(
            sum(c.prompt_tokens for c in spent), sum(c.completion_tokens for c in spent), len(spent),
            sum(c.attempts - 1 for c in spent),
        )  # fmt: skip
        return DocumentResult(tuple(results), usage)

    def estimate_document(self, sentences: Sequence[SourceSentence], title: str | None = None) -> Usage:
        """The requests and (estimated) tokens of a document if every reply is accepted: for --dry-run."""
        prompt_tokens = reply_tokens = requests = 0
        for window in self._windows(sentences, title, {}):
            _, body = self.request(window)
            sent = body.get("prompt") or "".join(m["content"] for m in body["messages"])
            prompt_tokens += estimate_tokens(sent)
            reply_tokens += body["max_tokens"]
            requests += 1
        return Usage(prompt_tokens, reply_tokens, requests)

    def _windows(self, sentences: Sequence[SourceSentence], title: str | None, finished: dict[str, str]):
        """The document's windows in order, each with its context as `finished` stands when it is reached."""
        done = 0
        for sources in cut_windows(sentences, max_tokens=self.windows.max_tokens, max_sentences=self.template.max_sentences):
            yield attach_context(sources, sentences[:done], finished, title=title, context_sentences=self.windows.context_sentences)
            done += len(sources)

    def request(self, window: Window, response_style: str | None = None) -> tuple[str, dict[str, Any]]:
        """The path and body of one window's request (`response_style` overrides the settings' one)."""
        prompt = render_prompt(self.template, window)
        source_tokens = sum(estimate_tokens(s.ja) for s in window.sentences)
        reply_room = int(source_tokens * self.windows.reply_tokens_per_source_token) + 16 * len(window.ids)
        options: dict[str, Any] = {
            "max_tokens": max(self.windows.reply_token_floor, reply_room), "decoding": self.decoding, "stop": prompt.stop,
        }  # fmt: skip
        if prompt.api == "completions":
            assert prompt.prompt is not None
            return self.client.completion_request(prompt.prompt, **options)
        style = response_style or self.windows.response_format
        schema = response_format(style, prompt.ids) if prompt.reply == "json" else None
        return self.client.chat_request(prompt.messages, response_format=schema, **options)

    def ask(self, window: Window, spent: list[Completion] | None = None) -> CheckedReply:
        """Send one window (unless its reply is cached) and check the reply; what it cost goes into `spent`."""
        path, body = self.request(window)
        key = request_key(path, body) if self.cache is not None else ""
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            completion = Completion(**json.loads(cached), base_url="", attempts=0, prompt_tokens=0, completion_tokens=0)
        else:
            if self.before_request is not None:
                self.before_request()
            try:
                completion = self.client.post(path, body)
            except ContextWindowError:
                if len(window.sentences) == 1:
                    raise  # one sentence and its prompt do not fit: no split can help
                return CheckedReply({}, ("llm_context",))
            if spent is not None:
                spent.append(completion)
        reply = check_reply(
            completion.text, window.sentences, reply=self.template.reply, finish_reason=completion.finish_reason,
            refusal=completion.refusal,
        )  # fmt: skip
        # A rejected multi-sentence reply is kept too, so that a rerun replays the same split and
        # sends nothing; a sentence that failed alone is asked again (the server may be fixed).
        if self.cache is not None and cached is None and (reply.ok or len(window.sentences) > 1):
            kept = {"text": completion.text, "finish_reason": completion.finish_reason, "refusal": completion.refusal}
            self.cache.put(key, json.dumps(kept, ensure_ascii=False))
        return dataclasses.replace(reply, retried=completion.attempts > 1)

    def probe_response_format(self, styles: Sequence[str] = ("json_schema", "json_object")) -> str | None:
        """The first style of `response_format` the server takes and keeps (a pure JSON reply, the ids sent), or None.

        Run once per run, before the documents: a server that rejects or ignores a style costs one request each.
        """
        if self.template.api != "chat" or self.template.reply != "json":
            return None
        for style in styles:
            try:
                completion = self.client.post(*self.request(_PROBE, style))
            except BadRequestError:
                continue
            try:
                json.loads(completion.text or "")
            except ValueError:
                continue  # accepted but not enforced: the reply is not JSON from its first character
            entries = parse_json_reply(completion.text or "")
            if entries is not None and [i for i, _ in entries] == list(_PROBE.ids):
                return style
        return None
