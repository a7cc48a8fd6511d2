"""--summary ja|both: the Japanese summarized directly (mT5), then translated.

The mT5 fixture has random weights, so its summaries are nonsense; what is asserted is
where each text comes from: the record's Japanese summary is the summarizer's output for
that document, its English is that output translated sentence by sentence, and the
English-side summary is untouched by any of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en import Summarizer, translate_documents
from ja2en.cli import app
from ja2en.segment import split_sentences

runner = CliRunner()


@pytest.fixture(scope="module")
def ja_summarizer(random_mt5: Path) -> Summarizer:
    return Summarizer(str(random_mt5), language="ja", device="cpu", backend="torch", quantize=False)


def _documents(corpus, folder: Path, sizes=(3, 2, 4)) -> dict[str, list[str]]:
    """Write documents of consecutive corpus sentences; return id → Japanese sentences."""
    folder.mkdir(parents=True, exist_ok=True)
    docs, start = {}, 5
    for number, size in enumerate(sizes):
        sentences = [ja for ja, _ in corpus[start : start + size]]
        start += size
        (folder / f"doc{number}.txt").write_text("".join(sentences) + "\n", encoding="utf-8")
        docs[f"doc{number}"] = sentences
    return docs


def _records(out: Path) -> dict[str, dict]:
    lines = (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    return {record["id"]: record for record in map(json.loads, lines)}


def test_japanese_summaries_are_made_then_translated(tmp_path, corpus, translator, ja_summarizer) -> None:
    docs = _documents(corpus, tmp_path / "in")
    translate_documents(
        tmp_path / "in", output_dir=tmp_path / "out", translator=translator, ja_summarizer=ja_summarizer,
        summary="ja", cache=False,
    )  # fmt: skip
    records = _records(tmp_path / "out")
    for doc_id, sentences in docs.items():
        record = records[doc_id]
        assert record["summary_ja"] == ja_summarizer.summarize(sentences).text != ""
        assert record["summary_ja_en"] == " ".join(translator.translate(split_sentences(record["summary_ja"])))
        assert record["summary_en"] == record["summary_ja_en"]  # the English summary is the translation
        assert record["summary"] is None  # no English-side summarizer ran
        assert record["summary_ja_info"]["language"] == "ja"
        assert record["summary_ja_info"]["model"] == ja_summarizer.model_id
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["summary"] == "ja"
    assert manifest["models"]["summarization"] is None
    assert manifest["models"]["ja_summarization"]["language"] == "ja"


def test_both_keeps_the_english_summary_and_adds_the_japanese_one(
    tmp_path, corpus, expected, translator, summarizer, ja_summarizer
) -> None:  # noqa: PLR0913
    docs = _documents(corpus, tmp_path / "in", sizes=(3,))
    translate_documents(
        tmp_path / "in", output_dir=tmp_path / "out", translator=translator, summarizer=summarizer,
        ja_summarizer=ja_summarizer, summary="both", cache=False,
    )  # fmt: skip
    record = _records(tmp_path / "out")["doc0"]
    english = [expected[ja] for ja in docs["doc0"]]
    assert record["summary_en"] == summarizer.summarize(english).text
    assert record["summary_ja"] == ja_summarizer.summarize(docs["doc0"]).text
    assert record["summary_ja_en"] == " ".join(translator.translate(split_sentences(record["summary_ja"])))
    assert record["summary"]["language"] == "en" and record["summary_ja_info"]["language"] == "ja"


def test_a_long_japanese_document_is_summarized_by_map_reduce(corpus, ja_summarizer) -> None:
    sentences = [ja for ja, _ in corpus]
    summary = ja_summarizer.summarize(sentences)
    assert summary.input_tokens > ja_summarizer.max_input_tokens  # too long for one call
    assert summary.rounds >= 2 and summary.chunks >= 3
    assert summary.text
    chunks = ja_summarizer.pack(sentences)
    assert "".join(chunks) == "".join(sentences)  # Japanese is joined without spaces
    assert all(ja_summarizer.count_tokens(c) <= ja_summarizer.max_input_tokens for c in chunks)


def test_ct2_runs_the_mt5_summarizer_as_torch_does(random_mt5, corpus, tmp_path, monkeypatch, ja_summarizer) -> None:
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))
    ct2 = Summarizer(str(random_mt5), language="ja", device="cpu", backend="ct2", compute_type="float32")
    documents = [[ja for ja, _ in corpus[i : i + 3]] for i in (0, 10, 20)]
    assert [s.text for s in ct2.summarize_many(documents)] == [s.text for s in ja_summarizer.summarize_many(documents)]


def test_cli_summary_ja(tmp_path, corpus, tiny_marian, random_mt5, translator, ja_summarizer) -> None:
    docs = _documents(corpus, tmp_path / "in", sizes=(2,))
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--summary", "ja", "--beams", "1",
         "--ja-summarizer", str(random_mt5), "--backend", "torch", "-o", str(out), "--no-cache"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = _records(out)["doc0"]
    assert record["summary_ja"] == ja_summarizer.summarize(docs["doc0"]).text
    assert record["summary_en"] == " ".join(translator.translate(split_sentences(record["summary_ja"])))


def test_unknown_summary_mode_and_non_commercial_warning(tmp_path, corpus, tiny_marian) -> None:
    _documents(corpus, tmp_path / "in", sizes=(1,))
    result = runner.invoke(app, ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--summary", "fr"])
    assert result.exit_code == 2
    assert result.stderr == "error: unknown summary mode 'fr'; use one of en, ja, both\n"
    # The default Japanese summarizer is non-commercial: said before anything runs.
    result = runner.invoke(app, ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--summary", "ja"])
    assert result.stderr.splitlines()[0] == (
        "warning: csebuetnlp/mT5_multilingual_XLSum is licensed CC-BY-NC-SA-4.0: its translations and summaries "
        "may not be used commercially"
    )
    assert result.exit_code == 3  # and then: not available offline
