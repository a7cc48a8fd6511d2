"""--summary ja|both: the Japanese summarized directly (mT5), then translated.

The tiny mT5 fixture is a "lead summarizer": its summary of a document made of corpus
sentences is exactly the first one, which the tiny Marian then translates exactly, with
either engine, float32 or int8. So records are asserted word for word. (The random-weight
mT5 only checks map-reduce bookkeeping: its output is nonsense, and nonsense differs
between engines, precisions and CPUs.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en import Summarizer, translate_documents
from ja2en.backends import Decoding
from ja2en.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def ja_summarizer(tiny_mt5: Path) -> Summarizer:
    return Summarizer(str(tiny_mt5), language="ja", device="cpu", backend="torch", quantize=False)


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


def test_japanese_summaries_are_made_then_translated(tmp_path, corpus, expected, translator, ja_summarizer) -> None:
    docs = _documents(corpus, tmp_path / "in")
    translate_documents(
        tmp_path / "in", output_dir=tmp_path / "out", translator=translator, ja_summarizer=ja_summarizer,
        summary="ja",
    )  # fmt: skip
    records = _records(tmp_path / "out")
    for doc_id, sentences in docs.items():
        record = records[doc_id]
        lead = sentences[0]
        assert record["summary_ja"] == lead  # the summary of this document, not of another
        assert record["summary_ja_en"] == expected[lead]
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
        ja_summarizer=ja_summarizer, summary="both",
    )  # fmt: skip
    record = _records(tmp_path / "out")["doc0"]
    english = [expected[ja] for ja in docs["doc0"]]
    # The same float32 summarizer on the same single document: like with like.
    assert record["summary_en"] == summarizer.summarize(english).text
    assert record["summary_ja"] == docs["doc0"][0]
    assert record["summary_ja_en"] == expected[docs["doc0"][0]]
    assert record["summary"]["language"] == "en" and record["summary_ja_info"]["language"] == "ja"


def test_a_long_japanese_document_is_summarized_by_map_reduce(corpus, random_mt5) -> None:
    ja_summarizer = Summarizer(str(random_mt5), language="ja", device="cpu", backend="torch", quantize=False)
    sentences = [ja for ja, _ in corpus]
    summary = ja_summarizer.summarize(sentences)
    assert summary.input_tokens > ja_summarizer.max_input_tokens  # too long for one call
    assert summary.rounds >= 2 and summary.chunks >= 3
    assert summary.text
    chunks = ja_summarizer.pack(sentences)
    assert "".join(chunks) == "".join(sentences)  # Japanese is joined without spaces
    assert all(ja_summarizer.count_tokens(c) <= ja_summarizer.max_input_tokens for c in chunks)


def _lead_documents(corpus) -> list[list[str]]:
    """Runs of 1-4 consecutive corpus sentences from many positions, as documents are cut."""
    ja = [j for j, _ in corpus]
    return [ja[i : i + size] for size in (1, 2, 3, 4) for i in range(size, len(ja) - size, 7)]


def test_ct2_summarizes_with_beams_as_torch_does(tiny_mt5, corpus, ja_summarizer) -> None:
    # transformers 5 says tie_word_embeddings=True for every mT5 yet never scales its decoder
    # output; converted as the flag says, CT2 scaled the logits by d_model**-0.5 and its beam
    # search (mT5-XLSum's default, 4 beams) picked other, worse-scored summaries.
    ct2 = Summarizer(str(tiny_mt5), language="ja", device="cpu", backend="ct2", compute_type="float32")
    assert ct2.beams == ja_summarizer.beams == 4  # the model's own setting, as mT5-XLSum's preset
    documents = _lead_documents(corpus)
    leads = [sentences[0] for sentences in documents]
    assert [s.text for s in ja_summarizer.summarize_many(documents)] == leads
    assert [s.text for s in ct2.summarize_many(documents)] == leads
    # And with the same probabilities: mean log-probabilities of the 4-beam outputs agree.
    texts = ["".join(sentences) for sentences in documents[::4]]
    decoding = Decoding(beams=4, max_new_tokens=ct2.max_new_tokens)
    ours, theirs = ct2.backend.generate(texts, decoding), ja_summarizer.backend.generate(texts, decoding)
    assert [g.text for g in ours] == [g.text for g in theirs]
    assert max(abs(a.score - b.score) for a, b in zip(ours, theirs, strict=True)) < 1e-3


def test_cli_summary_ja(tmp_path, corpus, expected, tiny_marian, tiny_mt5) -> None:
    docs = _documents(corpus, tmp_path / "in", sizes=(2, 3))
    out = tmp_path / "out"
    # The default engine (ct2, int8 on CPU): exact all the same, as both tiny models are
    # trained with wide margins on these very sentences.
    result = runner.invoke(
        app,
        ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--summary", "ja", "--beams", "1",
         "--ja-summarizer", str(tiny_mt5), "-o", str(out), "--no-cache"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = _records(out)
    for doc_id, sentences in docs.items():
        assert records[doc_id]["summary_ja"] == sentences[0]
        assert records[doc_id]["summary_en"] == expected[sentences[0]]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    engine = manifest["models"]["ja_summarization"]
    assert (engine["backend"], engine["compute_type"]) == ("ct2", "int8")


def test_unknown_summary_mode_and_non_commercial_warning(tmp_path, corpus, tiny_marian) -> None:
    _documents(corpus, tmp_path / "in", sizes=(1,))
    result = runner.invoke(app, ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--summary", "fr"])
    assert result.exit_code == 2
    assert result.stderr == "error: unknown summary mode 'fr'; use one of en, ja, both, none\n"
    # The default Japanese summarizer is non-commercial: said before anything runs.
    result = runner.invoke(app, ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--summary", "ja"])
    assert result.stderr.splitlines()[0] == (
        "warning: csebuetnlp/mT5_multilingual_XLSum is licensed CC-BY-NC-SA-4.0: its translations and summaries "
        "may not be used commercially"
    )
    assert result.exit_code == 3  # and then: not available offline
