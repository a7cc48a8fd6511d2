"""The LLM client against a fake OpenAI-compatible server (tests/fake_openai.py) on 127.0.0.1.

Every fault of issue 23's list is injected; each test asserts that every sentence ends with
its exact English or reported failed, in order, never shifted.
"""

from __future__ import annotations

import json
import socket
import threading
import warnings
from pathlib import Path

import pytest

from fake_openai import REFUSAL, FakeOpenAI
from ja2en.errors import Ja2enWarning, ModelError
from ja2en.llm import (
    ClientSettings,
    ContextWindowError,
    LLMTranslator,
    OpenAIClient,
    SourceSentence,
    SplitPolicy,
    Usage,
    WindowSettings,
    builtin_template,
    estimate_tokens,
)
from ja2en.llm.client import RateLimit

CORPUS = Path(__file__).parent / "data" / "corpus.tsv"
TABLE = dict(line.split("\t") for line in CORPUS.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#"))
JA = list(TABLE)
# Two paragraphs: sentences 1-3 and 4-6 of the corpus.
DOC = [SourceSentence(f"s{n}", 0 if n <= 3 else 1, JA[n]) for n in range(1, 7)]
EXPECTED = [(s.id, TABLE[s.ja]) for s in DOC]


def _client(*urls: str, **settings) -> OpenAIClient:
    fields = {"model": "tiny-llm", "backoff": 0.001, "max_backoff": 0.01, "timeout": 5.0, **settings}
    return OpenAIClient(ClientSettings(base_urls=urls, **fields))


def _translator(client: OpenAIClient, template: str = "chat", cache: dict[str, str] | None = None, **windows) -> LLMTranslator:
    return LLMTranslator(client, builtin_template(template), windows=WindowSettings(**windows), policy=SplitPolicy(), cache=cache)


class DictCache(dict):
    """A ReplyCache in memory."""

    def put(self, key: str, value: str) -> None:
        self[key] = value


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    with FakeOpenAI(TABLE) as fake:
        yield fake


def test_a_document_goes_out_by_paragraph_with_its_context(server: FakeOpenAI) -> None:
    client = _client(server.url)
    client.check()
    done = _translator(client).translate_document(DOC, title="お知らせ")
    results = done.sentences
    assert [(r.id, r.en, r.flags) for r in results] == [(i, en, ()) for i, en in EXPECTED]
    assert len(server.requests) == 2
    second = server.requests[1]["messages"][1]["content"]
    # The second paragraph's request carries the title and the first paragraph with its English.
    assert f"Document title: お知らせ\n" in second
    assert f"{JA[3]}\n  -> {TABLE[JA[3]]}\n" in second and f"{JA[1]}\n" in second
    assert second.endswith(f"Sentences:\n[s4] {JA[4]}\n[s5] {JA[5]}\n[s6] {JA[6]}")
    body = server.requests[0]
    assert (body["model"], body["temperature"], body["seed"]) == ("tiny-llm", 0.0, 0)
    assert "response_format" not in body
    # The servers' own token counts (the fake counts characters), per document and per client.
    prompt_chars = sum(len(json.dumps(body["messages"], ensure_ascii=False)) for body in server.requests)
    replies = [
        json.dumps({"translations": [{"id": i, "en": en} for i, en in part]}, ensure_ascii=False)
        for part in (EXPECTED[:3], EXPECTED[3:])
    ]
    assert done.usage == client.usage == Usage(prompt_chars, sum(map(len, replies)), 2, 0)


def test_a_dry_run_estimate_sends_nothing(server: FakeOpenAI) -> None:
    translator = _translator(_client(server.url))
    estimate = translator.estimate_document(DOC, title="お知らせ")
    assert server.requests == []
    translator.translate_document(DOC, title="お知らせ")
    # The same windows and reply room as the run; prompt tokens estimated without the English of the context.
    assert (estimate.requests, estimate.completion_tokens) == (2, sum(body["max_tokens"] for body in server.requests))
    first = "".join(m["content"] for m in server.requests[0]["messages"])
    assert estimate_tokens(first) < estimate.prompt_tokens < 3 * estimate_tokens(first)


def test_the_completions_api_few_shot_and_plamo(server: FakeOpenAI) -> None:
    results = _translator(_client(server.url), "completions").translate_document(DOC).sentences
    assert [(r.id, r.en) for r in results] == EXPECTED and len(server.requests) == 2
    assert server.requests[0]["stop"] == ["\nJapanese:", "\n\n"]
    server.requests.clear()
    results = _translator(_client(server.url), "plamo").translate_document(DOC).sentences
    assert [(r.id, r.en) for r in results] == EXPECTED and len(server.requests) == 6
    assert server.requests[0]["stop"] == ["<|plamo:op|>"]


def test_a_server_that_enforces_a_schema_is_asked_to(server: FakeOpenAI) -> None:
    _translator(_client(server.url), response_format="json_schema").translate_document(DOC[:1])
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["translations"]["items"]["properties"]["id"]["enum"] == ["s1"]


def test_the_response_format_probe_finds_what_the_server_keeps(server: FakeOpenAI) -> None:
    translator = _translator(_client(server.url))
    assert translator.probe_response_format() == "json_schema" and len(server.requests) == 1
    server.schemas = {"json_object"}
    assert translator.probe_response_format() == "json_object" and len(server.requests) == 3
    server.schemas = {"json_schema", "json_object"}
    server.faults.append("fence")  # takes json_schema but answers prose around the JSON: not kept
    assert translator.probe_response_format() == "json_object" and len(server.requests) == 5
    server.schemas = set()
    assert translator.probe_response_format() is None and len(server.requests) == 7
    assert _translator(_client(server.url), "completions").probe_response_format() is None and len(server.requests) == 7


def test_a_rerun_with_the_cache_sends_nothing_and_gives_the_same_output(server: FakeOpenAI) -> None:
    cache = DictCache()
    server.faults.append("missing")  # the first window is split: its halves are cached too
    server.stubborn = {JA[5]: "untranslated"}
    first = _translator(_client(server.url), cache=cache).translate_document(DOC, title="T")
    assert len(server.requests) == 3 + 5  # s1-s3, s1, s2-s3; s4-s6, s4, s5-s6, s5, s6
    second = _translator(_client(server.url), cache=cache).translate_document(DOC, title="T")
    assert second.sentences == first.sentences
    # Only the sentence that failed alone is asked again.
    assert len(server.requests) == 8 + 1 and second.usage.requests == 1
    assert [(r.id, r.en is None) for r in second.sentences if r.failed] == [("s5", True)]


TRANSPORT_FAULTS = ["429", "500", "503", "drop", "slow", "garbage"]
REPLY_FAULTS = ["torn", "missing", "merged", "swapped", "refusal", "length", "untranslated"]


@pytest.mark.parametrize("fault", TRANSPORT_FAULTS + REPLY_FAULTS + ["think", "fence"])
def test_every_fault_ends_with_every_sentence_exact_and_in_place(server: FakeOpenAI, fault: str) -> None:
    server.faults.append(fault)  # the first request (the first paragraph) meets it
    client = _client(server.url, timeout=0.3)
    results = _translator(client).translate_document(DOC).sentences
    assert [(r.id, r.en) for r in results] == EXPECTED
    first = {r.flags for r in results[:3]}
    if fault in TRANSPORT_FAULTS:
        assert first == {("llm_retry",)} and client.usage.retries == 1 and len(server.requests) == 3
    elif fault in REPLY_FAULTS:
        # The first paragraph was split: s1 alone, then s2 and s3 together.
        assert first == {("llm_split",)} and len(server.requests) == 4
    else:  # reasoning and code fences are read through
        assert first == {()} and len(server.requests) == 2
    assert {r.flags for r in results[3:]} == {()}


def test_documents_in_parallel_through_faults_each_keep_their_own_sentences(server: FakeOpenAI) -> None:
    from concurrent.futures import ThreadPoolExecutor

    docs = [[SourceSentence(f"s{n}", n // 4, JA[d * 12 + n]) for n in range(1, 13)] for d in range(4)]
    server.faults.extend(["429", "missing", "500", "swapped", "drop", "merged", "torn", "think", "length", "refusal"])
    translator = _translator(_client(server.url, concurrency=3), max_tokens=10_000)
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(translator.translate_document, docs))
    failed = 0
    for doc, result in zip(docs, done):
        assert [r.id for r in result.sentences] == [s.id for s in doc]
        for r, s in zip(result.sentences, doc):
            # Its own English, or failed with the problem named: a reply fault that meets a
            # one-sentence request fails that sentence (the caller's fallback takes it).
            assert r.en == TABLE[s.ja] or (r.en is None and set(r.flags) & {"llm_missing", "llm_extra", "llm_order", "llm_format", "truncated", "llm_refusal"})
            failed += r.en is None
    assert failed <= 7 and not server.faults and server.max_in_flight <= 3


def test_a_sentence_that_always_fails_is_reported_and_its_neighbours_are_not_moved(server: FakeOpenAI) -> None:
    server.stubborn = {JA[2]: "untranslated"}
    results = _translator(_client(server.url)).translate_document(DOC).sentences
    assert [(r.id, r.en, r.flags) for r in results] == [
        ("s1", TABLE[JA[1]], ("llm_split",)), ("s2", None, ("llm_split", "untranslated")), ("s3", TABLE[JA[3]], ("llm_split",)),
        *[(i, en, ()) for i, en in EXPECTED[3:]],
    ]  # fmt: skip


def test_a_refusing_server_is_recognised(server: FakeOpenAI) -> None:
    server.stubborn = {JA[1]: "refusal"}
    results = _translator(_client(server.url), "plamo").translate_document(DOC[:1]).sentences
    assert [(r.id, r.en, r.flags) for r in results] == [("s1", None, ("llm_refusal",))]
    assert REFUSAL not in {r.en for r in results}


def test_a_model_that_cannot_keep_the_format_wastes_a_bounded_number_of_requests(server: FakeOpenAI) -> None:
    server.always = "missing"
    doc = [SourceSentence(f"s{n}", 0, JA[n]) for n in range(1, 25)]
    policy = SplitPolicy(give_up_after=3)
    translator = LLMTranslator(_client(server.url), builtin_template("chat"), windows=WindowSettings(max_tokens=10_000), policy=policy)
    results = translator.translate_document(doc).sentences
    assert [(r.id, r.en) for r in results] == [(s.id, TABLE[s.ja]) for s in doc]
    # 24 → 12 → 6 fail, then one sentence per request: 3 wasted requests, not 23.
    assert len(server.requests) == 3 + 24 and policy.single


def test_too_small_a_context_splits_the_window_and_stops_at_one_sentence(server: FakeOpenAI) -> None:
    server.faults.append("context")
    results = _translator(_client(server.url)).translate_document(DOC[:3]).sentences
    assert [(r.id, r.en, r.flags) for r in results] == [(i, en, ("llm_split",)) for i, en in EXPECTED[:3]]
    server.faults.extend(["context"])
    with pytest.raises(ContextWindowError) as caught:
        _translator(_client(server.url)).translate_document(DOC[:1])
    assert str(caught.value) == (
        f"{server.url}: the prompt and its reply do not fit the model's context window: This model's maximum context "
        "length is 64 tokens. However, you requested 900 tokens.; use smaller windows, or serve the model with a longer context"
    )
    assert caught.value.exit_code == 3


def test_retry_after_is_honoured_and_backoff_doubles_with_jitter_under_a_cap(server: FakeOpenAI) -> None:
    waits: list[float] = []
    client = OpenAIClient(
        ClientSettings((server.url,), "tiny-llm", backoff=1.0, max_backoff=5.0),
        sleep=waits.append, jitter=lambda: 1.0,
    )  # fmt: skip
    server.faults.extend(["429", "500", "500", "500"])
    _translator(client).translate_document(DOC[:1])
    # Retry-After for the 429, then the 2nd, 3rd and 4th failures: 2, 4 and 8 capped at 5.
    assert waits == [0.05, 2.0, 4.0, 5.0]
    assert client.usage.retries == 4 and client.usage.requests == 1


def test_a_server_that_keeps_failing_stops_the_run_with_one_line(server: FakeOpenAI) -> None:
    server.faults.extend(["500"] * 10)
    client = _client(server.url, server_failures=3)
    with pytest.raises(ModelError) as caught:
        _translator(client).translate_document(DOC[:1])
    assert str(caught.value) == (
        f"{server.url} keeps failing (3 attempts in a row, the last: HTTP 500: internal error); "
        "check the server, then re-run the same command: finished work is kept"
    )
    assert caught.value.exit_code == 3 and len(server.requests) == 3


def test_a_dead_server_is_taken_out_with_one_warning_and_the_other_carries_on(server: FakeOpenAI) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    client = _client(dead, server.url, server_failures=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = _translator(client, max_tokens=1).translate_document(DOC).sentences
    assert [(r.id, r.en) for r in results] == EXPECTED
    messages = [str(w.message) for w in caught if issubclass(w.category, Ja2enWarning)]
    assert messages == [
        f"{dead} failed 2 times in a row (connection refused); it is taken out of the rotation, the run goes on with {server.url}"
    ]


def test_requests_in_flight_are_bounded_by_concurrency() -> None:
    with FakeOpenAI(TABLE, slow_seconds=0.2) as fake:
        fake.faults.extend(["slow"] * 6)
        client = _client(fake.url, concurrency=2)
        threads = [threading.Thread(target=client.complete, args=(f"\nJapanese:\n[s1] {JA[1]}\nEnglish:\n",), kwargs={"max_tokens": 8}) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert fake.max_in_flight == 2 and client.usage.requests == 6


def test_the_token_bucket_waits_for_what_is_left() -> None:
    now, waits = [0.0], []
    bucket = RateLimit(60, clock=lambda: now[0], sleep=waits.append)
    bucket.take(60)
    assert waits == []
    bucket.take(1)
    bucket.take(2)
    assert waits == [1.0, 3.0]  # a place in line: the second taker waits for the first one too
    now[0] = 100.0
    bucket.take(30)
    assert waits == [1.0, 3.0]


def test_the_key_is_sent_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdef"
    with FakeOpenAI(TABLE, api_key=secret) as fake:
        monkeypatch.setenv("MY_LLM_KEY", secret)
        _client(fake.url, api_key_env="MY_LLM_KEY").check()
        _translator(_client(fake.url, api_key_env="MY_LLM_KEY")).translate_document(DOC[:1])
        assert fake.headers[-1]["Authorization"] == f"Bearer {secret}"
        monkeypatch.setenv("MY_LLM_KEY", "sk-wrong-key-000000")
        with pytest.raises(ModelError) as caught:
            _client(fake.url, api_key_env="MY_LLM_KEY").check()
        assert str(caught.value) == (
            f"{fake.url} refused the request (HTTP 401: Incorrect API key provided: [key]); the client sent the key in "
            "MY_LLM_KEY, set it to a key this server accepts (or name another variable with --api-key-env)"
        )
        monkeypatch.delenv("MY_LLM_KEY")
        with pytest.raises(ModelError, match=r"the client sent no key: set MY_LLM_KEY, set it"):
            _translator(_client(fake.url, api_key_env="MY_LLM_KEY")).translate_document(DOC[:1])


def test_a_wrong_url_and_a_missing_model_are_one_line_each(server: FakeOpenAI) -> None:
    port = _closed_port()
    with pytest.raises(ModelError) as caught:
        _client(f"http://127.0.0.1:{port}/v1").check()
    assert str(caught.value) == (
        f"cannot reach http://127.0.0.1:{port}/v1 (connection refused); check --api-base and that the server is running"
    )
    with pytest.raises(ModelError) as caught:
        OpenAIClient(ClientSettings((server.url,), "llama-70b")).check()
    assert str(caught.value) == f"{server.url} does not serve model 'llama-70b'; it serves tiny-llm: pass one of them with --model openai:NAME"
    # The same when the run skipped the check: the server's 404 leads to the same line.
    with pytest.raises(ModelError) as caught:
        _translator(OpenAIClient(ClientSettings((server.url,), "llama-70b"))).translate_document(DOC[:1])
    assert str(caught.value).startswith(f"{server.url} does not serve model 'llama-70b'; it serves tiny-llm")
    with pytest.raises(ModelError, match=r"/models answered HTTP 404, not an OpenAI-compatible model list; --api-base usually ends in /v1"):
        _client(server.url + "/v2").check()
    with pytest.raises(ModelError, match=r"^--api-base 'localhost:8000' is not an http\(s\) URL; give one like http://localhost:8000/v1$"):
        _client("localhost:8000")


def test_a_base_url_without_a_path_gets_v1_and_credentials_are_never_shown(server: FakeOpenAI) -> None:
    bare = server.url.removesuffix("/v1")
    _client(bare).check()
    port = _closed_port()
    with pytest.raises(ModelError) as caught:
        _client(f"http://user:hunter2@127.0.0.1:{port}/v1").check()
    assert "hunter2" not in str(caught.value) and f"http://127.0.0.1:{port}/v1" in str(caught.value)
