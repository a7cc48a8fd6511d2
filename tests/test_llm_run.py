"""Runs with an "openai:NAME" model, end to end, against the fake server of tests/fake_openai.py.

The fake translates with tests/data/corpus.tsv, so every sentence's English is exact by
construction: a shifted, dropped or merged sentence shows as a wrong pair.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ja2en
from typer.testing import CliRunner

from fake_openai import FakeOpenAI
from ja2en import translate_documents
from ja2en.cli import app
from ja2en.errors import InputError, ModelError

CORPUS = Path(__file__).parent / "data" / "corpus.tsv"
TABLE = dict(line.split("\t") for line in CORPUS.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#"))
JA = list(TABLE)
SECRET = "sk-test-DO-NOT-LEAK-4242"


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Three documents of two paragraphs each, every sentence one of the corpus's."""
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(3):
        first, second = JA[1 + 6 * n : 4 + 6 * n], JA[4 + 6 * n : 7 + 6 * n]
        (folder / f"doc{n}.txt").write_text("".join(first) + "\n\n" + "".join(second) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def server():
    with FakeOpenAI(TABLE) as fake:
        yield fake


def _run(inputs: Path, out: Path, server: FakeOpenAI, **settings):
    settings = {"api_base": server.url, "cache": out.parent / "cache.sqlite3", **settings}
    return translate_documents(inputs, output_dir=out, model="openai:tiny-llm", summary="none", **settings)


def _pairs(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]


def _posts(server: FakeOpenAI) -> int:
    return len(server.requests)


def test_run_gives_every_sentence_its_exact_english_with_document_context(inputs: Path, tmp_path: Path, server):
    result = _run(inputs, tmp_path / "out", server)
    pairs = _pairs(tmp_path / "out")
    assert len(pairs) == 18 and result.sentences == 18 and not result.errors
    assert [p["en"] for p in pairs] == [TABLE[p["ja"]] for p in pairs]
    assert sorted(p["ja"] for p in pairs) == sorted(JA[1:19])
    # one request per paragraph window (plus the probe of response_format), the second with the first's English as context
    windows = [r for r in server.requests if "p1" not in json.dumps(r, ensure_ascii=False)]
    assert len(windows) == 6
    second_of_doc0 = next(r for r in windows if JA[4] in r["messages"][-1]["content"])
    assert TABLE[JA[3]] in second_of_doc0["messages"][-1]["content"]
    usage = result.manifest["llm_usage"]
    assert usage["requests"] == 6 and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert sorted(usage["documents"]) == ["doc0", "doc1", "doc2"]
    assert all(d["requests"] == 2 for d in usage["documents"].values())
    assert sum(d["prompt_tokens"] for d in usage["documents"].values()) == usage["prompt_tokens"]
    fingerprint = result.manifest["fingerprint"]["translation"]
    assert fingerprint["served_model"] == "tiny-llm" and fingerprint["decoding"] == {"temperature": 0.0, "seed": 0}
    assert fingerprint["template"]["api"] == "chat" and fingerprint["windows"]["response_format"] == "json_schema"


def test_a_sentence_that_fails_alone_reports_its_document_and_the_others_are_written(inputs: Path, tmp_path: Path, server):
    server.stubborn = {JA[8]: "refusal"}  # the second sentence of doc1
    result = _run(inputs, tmp_path / "out", server)
    assert result.documents == 2 and result.error_count == 1
    assert "doc1.txt: translation failed (SentencesFailedError: 1 of 6 sentences got no usable reply" in result.errors[0]
    assert f"sentence 2 「{JA[8]}」 (llm_split llm_refusal)); the other documents were written" in result.errors[0]
    pairs = _pairs(tmp_path / "out")
    assert [p["en"] for p in pairs] == [TABLE[p["ja"]] for p in pairs] and len(pairs) == 12


def test_a_rerun_asks_again_only_the_document_that_failed(inputs: Path, tmp_path: Path, server):
    server.stubborn = {JA[8]: "refusal"}  # doc1's second sentence
    _run(inputs, tmp_path / "out", server)
    server.stubborn, server.requests[:] = {}, []
    result = _run(inputs, tmp_path / "out", server)  # the same command, the server now fixed
    assert result.documents == 3 and result.error_count == 0
    asked = [json.dumps(r, ensure_ascii=False) for r in server.requests]
    # only the sentence that failed alone, and doc1's second window (its context has that sentence's English now)
    assert len(asked) == 2 and JA[8] in asked[0] and JA[10] in asked[1]
    assert all(p["en"] == TABLE[p["ja"]] for p in _pairs(tmp_path / "out"))


def test_a_rerun_into_a_new_folder_sends_nothing(inputs: Path, tmp_path: Path, server):
    _run(inputs, tmp_path / "first", server)
    server.requests.clear()
    _run(inputs, tmp_path / "second", server)
    assert server.requests == []
    for name in ("sentences.jsonl", "documents.jsonl"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_kill_9_midway_then_rerun_sends_no_finished_window_again(inputs: Path, tmp_path: Path, server, monkeypatch):
    _run(inputs, tmp_path / "whole", server)  # the uninterrupted run, for the bytes to compare
    (tmp_path / "cache.sqlite3").rename(tmp_path / "whole.sqlite3")
    server.requests.clear()
    server.answered = 0
    server.slow_seconds, server.faults = 0.3, collections.deque(["slow"] * 100)
    command = [sys.executable, "-m", "ja2en", "translate", str(inputs), "-o", str(tmp_path / "out"), "--model",
               "openai:tiny-llm", "--api-base", server.url, "--summary", "none", "--concurrency", "1"]  # fmt: skip
    env = {**os.environ, "JA2EN_CACHE_DIR": str(tmp_path)}
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while server.answered < 4 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.kill()  # SIGKILL: no clean-up of any kind
    child.wait()
    assert 4 <= server.answered < 7, "the run was not killed midway"
    sent_before = [json.dumps(r, sort_keys=True) for r in server.requests]
    server.faults.clear()
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, command[3:])
    assert result.exit_code == 0, result.output
    sent_after = [json.dumps(r, sort_keys=True) for r in server.requests[len(sent_before):]]
    answered_before = sent_before[: len(sent_before) - 1]  # the last one was in flight when killed
    assert not set(answered_before) & set(sent_after)
    for name in ("sentences.jsonl", "documents.jsonl"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_the_key_is_sent_but_kept_nowhere(inputs: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", SECRET)
    with FakeOpenAI(TABLE, api_key=SECRET) as server:
        _run(inputs, tmp_path / "out", server, api_key_env="MY_LLM_KEY", report=True, parquet=True)
        assert server.headers and all(h.get("Authorization") == f"Bearer {SECRET}" for h in server.headers)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "in" not in p.relative_to(tmp_path).parts[:1]]
    assert any(p.name == "cache.sqlite3" for p in written) and any(p.name == "report.html" for p in written)
    assert [p for p in written if SECRET.encode() in p.read_bytes()] == []


def test_a_wrong_key_stops_before_any_document_in_one_line(inputs: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with FakeOpenAI(TABLE, api_key=SECRET) as server, pytest.raises(ModelError) as raised:
        _run(inputs, tmp_path / "out", server)
    assert "OPENAI_API_KEY" in str(raised.value) and "sk-wrong" not in str(raised.value)
    assert "\n" not in str(raised.value)


def test_openai_base_url_is_honoured(inputs: Path, tmp_path: Path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    result = translate_documents(inputs, output_dir=tmp_path / "out", model="openai:tiny-llm", summary="none", cache=False)
    assert result.sentences == 18 and server.answered > 0


def test_llm_options_without_an_openai_model_are_refused(tmp_path: Path):
    with pytest.raises(InputError, match=r"^--api-base, --concurrency need an openai:NAME model \(--model openai:NAME\)"):
        translate_documents(tmp_path, output_dir=tmp_path / "out", api_base="http://x/v1", concurrency=2)


def test_no_server_given_is_one_line(inputs: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(InputError, match="^an openai: model needs a server; pass --api-base URL"):
        translate_documents(inputs, output_dir=tmp_path / "out", model="openai:tiny-llm", summary="none", cache=False)


def test_cli_translates_and_shows_tokens(inputs: Path, tmp_path: Path, server, monkeypatch):
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "translate", str(inputs), "-o", str(out), "--model", "openai:tiny-llm", "--api-base", server.url,
        "--llm-api", "completions", "--concurrency", "2", "--summary", "none",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Translated 3 documents, 18 sentences" in result.output
    assert "6 requests" in result.output and "prompt tokens" in result.output
    assert all(p["en"] == TABLE[p["ja"]] for p in _pairs(out))
    assert all(r.get("prompt") for r in server.requests)  # the completions API


def test_token_budget_stops_the_run_and_the_same_command_finishes_it(inputs: Path, tmp_path: Path, server, monkeypatch):
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    command = ["translate", str(inputs), "-o", str(out), "--model", "openai:tiny-llm", "--api-base", server.url,
               "--summary", "none", "--concurrency", "1"]  # fmt: skip
    stopped = CliRunner().invoke(app, [*command, "--token-budget", "1500"])
    assert stopped.exit_code == 6, stopped.output
    assert "stopped: --token-budget 1500 is spent (" in stopped.output
    assert "re-run the same command with a larger --token-budget to go on" in stopped.output
    sent = len(server.requests)
    assert 2 <= sent < 7  # the probe and some windows, not all six
    finished = CliRunner().invoke(app, command)
    assert finished.exit_code == 0, finished.output
    assert len(server.requests) == 7  # both runs together: exactly the probe and the six windows: nothing twice
    assert all(p["en"] == TABLE[p["ja"]] for p in _pairs(out)) and len(_pairs(out)) == 18


def test_dry_run_counts_requests_and_sends_nothing(inputs: Path, tmp_path: Path, server):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "translate", str(inputs), "-o", str(out), "--model", "openai:tiny-llm", "--api-base", server.url, "--dry-run",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Dry run: 3 documents would take 6 requests, about " in result.output
    assert "completion tokens (estimates); nothing was sent" in result.output
    assert server.requests == [] and server.headers == [] and not out.exists()


def test_dry_run_needs_an_openai_model(inputs: Path, tmp_path: Path):
    result = CliRunner().invoke(app, ["translate", str(inputs), "-o", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 2
    assert "--dry-run estimates the requests to an LLM server; it needs --model openai:NAME" in result.output


def test_seq2seq_options_with_an_openai_model_are_refused(tmp_path: Path):
    with pytest.raises(InputError, match=r"^--beams, --device do not apply to openai:x, an LLM behind a server; drop them$"):
        translate_documents(tmp_path, output_dir=tmp_path / "out", model="openai:x", beams=2, device="cpu")


def test_requests_are_spread_over_several_servers(inputs: Path, tmp_path: Path, server):
    with FakeOpenAI(TABLE) as other:
        result = _run(inputs, tmp_path / "out", server, api_base=(server.url, other.url), concurrency=2)
        assert result.sentences == 18 and server.answered and other.answered
    assert result.manifest["models"]["translation"]["api_base"] == [server.url, other.url]
    assert all(p["en"] == TABLE[p["ja"]] for p in _pairs(tmp_path / "out"))


def test_translator_of_an_openai_name_in_the_library(server):
    from ja2en import Translator

    translator = Translator("openai:tiny-llm", api_base=server.url, concurrency=2)
    assert translator.translates_documents and translator.model_id == "openai:tiny-llm"
    assert translator.translate([JA[1], JA[2]]) == [TABLE[JA[1]], TABLE[JA[2]]]
    answered = server.answered
    translator.probe()  # FailureWatch's test: one request past every cache
    assert server.answered == answered + 1


def test_fallback_model_translates_the_sentence_the_llm_fails(inputs: Path, tmp_path: Path, server, tiny_marian: Path):
    server.stubborn = {JA[8]: "refusal"}
    result = _run(inputs, tmp_path / "out", server, fallback_model=str(tiny_marian), beams=1)
    assert result.error_count == 0 and result.documents == 3
    documents = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    pairs = {p["ja"]: p for d in documents for p in d["pairs"]}
    assert [p["en"] for p in pairs.values()] == [TABLE[ja] for ja in pairs]  # the tiny Marian knows the corpus
    assert "llm_fallback" in pairs[JA[8]]["flags"] and "llm_refusal" in pairs[JA[8]]["flags"]
    assert "llm_fallback" not in pairs[JA[7]]["flags"]
    assert result.manifest["fingerprint"]["translation"]["fallback"]["beams"] == 1


def test_eval_and_ray_refuse_an_openai_model_in_one_line(inputs: Path, tmp_path: Path):
    refs = tmp_path / "refs.tsv"
    refs.write_text(f"{JA[1]}\t{TABLE[JA[1]]}\n", encoding="utf-8")
    evaluated = CliRunner().invoke(app, ["eval", str(refs), "--model", "openai:x"])
    assert evaluated.exit_code == 2
    assert "error: ja2en eval does not take openai: models yet; give it a seq2seq model" in evaluated.output
    on_ray = CliRunner().invoke(app, ["translate", str(inputs), "--model", "openai:x", "--engine", "ray"])
    assert on_ray.exit_code == 2 and "--engine ray does not take openai: models yet" in on_ray.output


def test_progress_moves_document_by_document(inputs: Path, tmp_path: Path, server):
    seen: list[int] = []
    _run(inputs, tmp_path / "out", server, progress=lambda p: seen.append(p.sentences_done))
    assert [n for n in dict.fromkeys(seen) if n] == [6, 12, 18]  # three documents of six sentences


def test_one_option_of_the_other_kind_of_model_is_named_in_the_singular() -> None:
    with pytest.raises(InputError, match=r"^--beams does not apply to openai:x, an LLM behind a server; drop it$"):
        ja2en.RunOptions(model="openai:x", beams=2)
    with pytest.raises(InputError, match=r"^--concurrency needs an openai:NAME model \(--model openai:NAME\), not opus$"):
        ja2en.RunOptions(model="opus", concurrency=2)
