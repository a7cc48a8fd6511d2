"""The Translator of "openai:NAME" models: an LLM behind an OpenAI-compatible server (issue 23).

A run asks it what it asks any Translator (model id, fingerprint, settings, `translate`),
but hands it whole documents (`translate_documents`) instead of a bag of sentences: the
LLM needs each document's windows, ids and context (ja2en.llm does the requests). Its
replies live in the run's TranslationCache file under their request's hash, so a rerun
(after a kill, a failure or an interrupt) sends no request it already has an answer for.
The API key is read from its environment variable at each request and kept nowhere.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache import TranslationCache
from ..errors import BudgetError, InputError
from ..llm import ClientSettings, Decoding, LLMTranslator, OpenAIClient, Usage, WindowSettings, builtin_template
from ..llm import LLM_FALLBACK, SentenceResult, SourceSentence, Template, Window, load_template, source_sentences
from ..llm.client import shown_url
from ..llm.translate import request_key
from ..records import Sentence, Translation
from ..translate import Translator

if TYPE_CHECKING:
    from ..run import RunOptions

OPENAI_PREFIX = "openai:"
LLM_APIS = ("chat", "completions")
_REPLY_NAMESPACE = "llm-reply/1"  # the cache's rows of replies, apart from seq2seq translations


class SentencesFailedError(RuntimeError):
    """Sentences of a document that no reply translated, even alone: the document is reported, the run goes on.

    A RuntimeError, so process.py reports it as one document's failure (DOCUMENT_FAILURES).
    """


class ReplyStore:
    """The ReplyCache of ja2en.llm in the TranslationCache file: one cache file and format for every backend."""

    def __init__(self, cache: TranslationCache) -> None:
        self.cache = cache

    def get(self, key: str) -> str | None:
        found = self.cache.get_many(_REPLY_NAMESPACE, [key])
        return found[key].en if key in found else None

    def put(self, key: str, value: str) -> None:
        self.cache.put_many(_REPLY_NAMESPACE, {key: Translation(value)})


def api_bases(api_base: str | Sequence[str] | None) -> tuple[str, ...]:
    """The servers of a run: `api_base` (one URL or several), else $OPENAI_BASE_URL; InputError when none."""
    urls = (api_base,) if isinstance(api_base, str) else tuple(api_base or ())
    urls = urls or tuple(filter(None, [os.environ.get("OPENAI_BASE_URL")]))
    if not urls:
        raise InputError(
            "an openai: model needs a server; pass --api-base URL (e.g. http://localhost:8000/v1) or set OPENAI_BASE_URL"
        )
    return urls


def pick_template(llm_api: str | None, prompt_template: Path | str | None) -> Template:
    """The prompt template: the user's file, else the built-in one of the API; InputError when they disagree."""
    if llm_api is not None and llm_api not in LLM_APIS:
        raise InputError(f"unknown --llm-api '{llm_api}'; use chat or completions")
    template = load_template(prompt_template) if prompt_template else builtin_template(llm_api or "chat")
    if llm_api is not None and template.api != llm_api:
        raise InputError(
            f"the prompt template {prompt_template} is for the {template.api} API, not {llm_api}; "
            f"drop --llm-api or give a template with \"api\": \"{llm_api}\""
        )
    return template


class OpenAITranslator(Translator):
    """Translates documents with the model NAME of `Translator("openai:NAME", api_base=URL)`.

    Args:
        api_base: the server's base URL, or several (requests are spread over them);
            default $OPENAI_BASE_URL.
        api_key_env: the environment variable holding the key (default OPENAI_API_KEY).
        llm_api: "chat" (default) or "completions"; prompt_template: a template file.
        concurrency: requests in flight at once (documents are translated in parallel).
        rpm, tpm: optional request and token limits per minute.
        token_budget: no request is sent once this many tokens (prompt + completion) were
            spent; the run stops with BudgetError (requests in flight may finish past it).
        fallback: a seq2seq Translator for the sentences no reply translated, even alone
            (flagged llm_fallback); without one, such a sentence fails its document.
        cache: the run's TranslationCache: replies are kept there.
    """

    translates_documents = True

    def __init__(
        self,
        model: str,
        *,
        api_base: str | Sequence[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        llm_api: str | None = None,
        prompt_template: Path | str | None = None,
        concurrency: int = 8,
        rpm: float | None = None,
        tpm: float | None = None,
        cache: TranslationCache | None = None,
        token_budget: int | None = None,
        fallback: Translator | None = None,
    ) -> None:
        name = model.removeprefix(OPENAI_PREFIX)
        if not name:
            raise InputError("--model openai: needs the server's model name, e.g. openai:Qwen/Qwen3-8B")
        if concurrency < 1:
            raise InputError(f"--concurrency must be at least 1, not {concurrency}")
        if token_budget is not None and token_budget < 1:
            raise InputError(f"--token-budget must be at least 1, not {token_budget}")
        template = pick_template(llm_api, prompt_template)
        settings = ClientSettings(base_urls=api_bases(api_base), model=name, api_key_env=api_key_env,
                                  concurrency=concurrency, rpm=rpm, tpm=tpm)  # fmt: skip
        self.client = OpenAIClient(settings)
        self.client.check()  # a wrong URL, key or model fails now, in one line, before any document
        self.cache = cache
        self.name, self.concurrency = name, concurrency
        replies = ReplyStore(cache) if cache is not None else None
        self.llm = LLMTranslator(self.client, template, decoding=Decoding(), cache=replies)
        self.llm.windows = WindowSettings(response_format=self._response_format(replies))
        self.fallback = fallback
        self._fallback_lock = threading.Lock()  # one document's sentences at a time through the local model
        self._spent: list[tuple[str | None, Usage]] = []  # each document's cost, in the order they finished
        if token_budget is not None:
            self.llm.before_request = lambda: self._check_budget(token_budget)
        self._lock = threading.Lock()

    def _response_format(self, replies: ReplyStore | None) -> str | None:
        # Probed once per servers, model and template, then remembered: a rerun sends no probe.
        servers = sorted(shown_url(url) for url in self.client.settings.base_urls)
        key = request_key("probe", {"servers": servers, "model": self.name, "template": self.llm.template.identity()})
        known = replies.get(key) if replies is not None else None
        if known is not None:
            return known or None
        style = self.llm.probe_response_format()
        if replies is not None:
            replies.put(key, style or "")
        return style

    @property
    def model_id(self) -> str:
        return OPENAI_PREFIX + self.name

    @property
    def revision(self) -> str:
        return "server"  # a server does not say which weights it serves; the fingerprint holds what it can

    @property
    def usage(self) -> Usage:
        """The tokens and requests of this translator's documents so far (cached replies cost nothing)."""
        with self._lock:
            return _total(usage for _, usage in self._spent)

    def _check_budget(self, budget: int) -> None:
        # The client's own count: it includes the documents still in flight (and the probe).
        used = self.client.usage.prompt_tokens + self.client.usage.completion_tokens
        if used >= budget:
            raise BudgetError(
                f"stopped: --token-budget {budget} is spent ({used} tokens sent and received by this run); "
                "finished documents are saved: re-run the same command with a larger --token-budget to go on"
            )

    def usage_mark(self) -> int:
        """Where the accounts stand now, for `usage_since`."""
        with self._lock:
            return len(self._spent)

    def usage_since(self, mark: int) -> dict[str, Any]:
        """The tokens and requests spent since `mark`, in all and per document id, as the manifest keeps them."""
        with self._lock:
            spent = self._spent[mark:]
        documents = {doc_id: _as_dict(usage) for doc_id, usage in spent if doc_id is not None and usage.requests}
        return {**_as_dict(_total(usage for _, usage in spent)), "documents": documents}

    def decoding(self) -> dict[str, Any]:
        return {
            "template": self.llm.template.identity(),
            "decoding": self.llm.decoding.body(),
            "windows": {"max_tokens": self.llm.windows.max_tokens, "context_sentences": self.llm.windows.context_sentences,
                        "response_format": self.llm.windows.response_format},
        }  # fmt: skip

    def fingerprint(self) -> dict[str, Any]:
        """The server's model id, the template, the decoding and the windows; never the URL or the key."""
        fallback = {"fallback": self.fallback.fingerprint()} if self.fallback else {}
        return {"model": self.model_id, "served_model": self.name, **self.decoding(), **fallback}

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model_id, "api_base": [shown_url(url) for url in self.client.settings.base_urls],
            "api_key_env": self.client.settings.api_key_env, "concurrency": self.concurrency,
            "rpm": self.client.settings.rpm, "tpm": self.client.settings.tpm, **self.decoding(),
            **({"fallback": self.fallback.settings()} if self.fallback else {}),
        }  # fmt: skip

    def probe(self) -> None:
        """One request past every cache (FailureWatch): raises what a dead server raises."""
        self.client.post(*self.llm.request(Window((SourceSentence("s1", 0, "これはテストです。"),))))

    def translate_document(
        self, sentences: Sequence[Sentence], title: str | None = None, doc_id: str | None = None
    ) -> list[Translation]:
        """One document's Translations, in order; SentencesFailedError when a sentence got no usable reply."""
        sources = source_sentences(sentences)
        done = self.llm.translate_document(sources, title)
        with self._lock:
            self._spent.append((doc_id, done.usage))
        results = self._with_fallback(done.sentences, sources)
        failed = [r for r in results if r.failed]
        if failed:
            ja = {s.id: s.ja for s in sources}
            shown = ", ".join(
                f"sentence {r.id[1:]} 「{_shortened(ja[r.id])}」 ({' '.join(r.flags) or 'no reply'})" for r in failed[:3]
            )
            raise SentencesFailedError(
                f"{len(failed)} of {len(done.sentences)} sentences got no usable reply from {self.name}: {shown}"
            )
        return [Translation(r.en or "", None, r.flags) for r in results]

    def _with_fallback(self, results: Sequence[SentenceResult], sources: Sequence[SourceSentence]) -> list[SentenceResult]:
        """The sentences no reply translated, translated by the fallback model (flagged llm_fallback), if there is one."""
        failed = [n for n, r in enumerate(results) if r.failed]
        if not failed or self.fallback is None:
            return list(results)
        with self._fallback_lock:
            english = self.fallback.translate_detailed([sources[n].ja for n in failed])
        done = list(results)
        for n, translation in zip(failed, english, strict=True):
            flags = tuple(dict.fromkeys((*results[n].flags, LLM_FALLBACK, *translation.flags)))
            done[n] = SentenceResult(results[n].id, translation.en, flags)
        return done

    def translate_documents(
        self,
        documents: Sequence[tuple[Sequence[Sentence], str | None, str | None]],
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Translation] | SentencesFailedError]:
        """Each (sentences, title, id) document's Translations, or its failure, in order; several at once.

        `progress(n)` hears each document's sentence count as it is done, in order, from this thread.
        """

        def one(document: tuple[Sequence[Sentence], str | None, str | None]) -> list[Translation] | SentencesFailedError:
            try:
                return self.translate_document(*document)
            except SentencesFailedError as exc:
                return exc

        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(documents))))
        try:
            results = []
            for document, result in zip(documents, pool.map(one, documents)):
                results.append(result)
                if progress:
                    progress(len(document[0]))
            return results
        finally:  # on Ctrl-C, a spent budget or a dead server: start no other document
            pool.shutdown(wait=False, cancel_futures=True)

    def translate_detailed(self, sentences: Sequence[str], *, progress=None) -> list[Translation]:
        """`sentences` as one document of one paragraph (a summary, a list of lines)."""
        records = [Sentence(0, n, 0, 0, text) for n, text in enumerate(sentences)]
        translations = self.translate_document(records) if records else []
        if progress:
            progress(len(translations))
        return translations

    def translate(self, sentences: Sequence[str], *, progress=None) -> list[str]:
        return [t.en for t in self.translate_detailed(sentences, progress=progress)]

    def close(self) -> None:
        self.client.close()


def _total(usages: Iterable[Usage]) -> Usage:
    total = Usage()
    for u in usages:
        total = Usage(total.prompt_tokens + u.prompt_tokens, total.completion_tokens + u.completion_tokens,
                      total.requests + u.requests, total.retries + u.retries)  # fmt: skip
    return total


def _as_dict(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "requests": usage.requests, "retries": usage.retries}  # fmt: skip



def _shortened(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def estimate_run(inputs: Sequence[Path | str], options: RunOptions, output_dir: Path | str = "outputs") -> tuple[int, Usage]:
    """What a run of `options` (a RunOptions, openai: model) over `inputs` would send, nothing sent: for --dry-run.

    Returns (documents, Usage) with the requests, the estimated prompt tokens and the most
    completion tokens the replies may take, if every reply is accepted. The server is not
    contacted; the estimate counts every document, finished or cached ones too.
    """
    from ..readers import read_file
    from ..records import Document
    from ..run import list_inputs
    from ..segment import segment_document

    settings = options.llm_settings()
    name = options.model.removeprefix(OPENAI_PREFIX)
    client = OpenAIClient(ClientSettings(base_urls=api_bases(settings["api_base"]), model=name))
    llm = LLMTranslator(client, pick_template(settings["llm_api"], settings["prompt_template"]))
    documents, usages = 0, []
    for found in list_inputs(inputs, Path(output_dir), warn=False):
        if isinstance(found, InputError):
            continue
        for item in read_file(*found, options=options.reading()):
            if isinstance(item, Document):
                documents += 1
                usages.append(llm.estimate_document(source_sentences(segment_document(item)), item.title))
    return documents, _total(usages)
