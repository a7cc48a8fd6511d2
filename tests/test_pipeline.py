from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ja2en import InputError, ModelError, Progress, Translator, translate_documents

# Paragraphs of fixture sentences with very different lengths, so a batch size of 3
# mixes documents and paragraphs in every batch.
A_PARAGRAPHS = [
    [
        "政府は2023年2月10日に新たな経済対策を閣議決定した。",
        "株価は大幅に下落した。",
        "市長は「市民の声に耳を傾ける。」と強調した。",
    ],
    ["新型ロケットの打ち上げは成功した!", "ありがとうございます。"],
]
B_PARAGRAPHS = [["なぜ物価は上がり続けるのか?", "会議は延期された。"], ["本日の説明会はオンラインで開催します。"]]
JSONL_DOCS = {
    "press-1": [["当社は本日、新製品の販売を開始しました。", "詳細は後日お知らせします。"]],
    "press-2": [["会議は延期された。"]],  # the same sentence as in b: cached, same English
}


def _text(paragraphs: list[list[str]]) -> str:
    return "\n\n".join("".join(p) for p in paragraphs) + "\n"


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "news").mkdir(parents=True)
    # Full-width digits and punctuation: NFKC must turn them into the corpus's ASCII.
    a = _text(A_PARAGRAPHS).replace("2023年2月10日", "２０２３年２月１０日").replace("成功した!", "成功した！")
    (root / "news" / "a.txt").write_text(a, encoding="utf-8")
    (root / "news" / "b.txt").write_bytes(_text(B_PARAGRAPHS).replace("\n", "\r\n").encode("cp932"))
    lines = [
        json.dumps({"id": doc_id, "text": _text(paragraphs)}, ensure_ascii=False)
        for doc_id, paragraphs in JSONL_DOCS.items()
    ]
    (root / "press.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


EXPECTED_DOCS = {"news/a": A_PARAGRAPHS, "news/b": B_PARAGRAPHS, **JSONL_DOCS}


def test_every_sentence_is_aligned_with_its_exact_translation(
    inputs: Path, tmp_path: Path, tiny_marian: Path, summarizer, expected
) -> None:
    translator = Translator(str(tiny_marian), beams=1, batch_size=3, device="cpu")
    result = translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summarizer=summarizer)

    documents = _read_jsonl(result.files["documents"])
    assert [d["id"] for d in documents] == ["news/a", "news/b", "press-1", "press-2"]
    for doc in documents:
        paragraphs = EXPECTED_DOCS[doc["id"]]
        got = [(p["paragraph"], p["sentence"], p["ja"], p["en"]) for p in doc["pairs"]]
        want = [(i, j, ja, expected[ja]) for i, para in enumerate(paragraphs) for j, ja in enumerate(para)]
        assert got == want
        # Offsets point into the normalized Japanese text kept in the record.
        assert all(doc["ja"][p["start"] : p["end"]] == p["ja"] for p in doc["pairs"])
        assert doc["en"] == "\n".join(" ".join(expected[ja] for ja in para) for para in paragraphs)
        assert doc["num_sentences"] == len(want)
        assert doc["num_paragraphs"] == len(paragraphs)
        assert doc["summary_en"]
        assert doc["models"]["translation"] == str(tiny_marian)

    sentences = _read_jsonl(result.files["sentences"])
    assert sentences == [
        {
            "doc_id": d["id"], "paragraph": p["paragraph"], "sentence": p["sentence"], "ja": p["ja"], "en": p["en"],
            "locator": None,  # plain text has no pages or elements to point at
        }  # fmt: skip
        for d in documents
        for p in d["pairs"]
    ]
    assert (result.documents, result.sentences, result.errors) == (4, 11, ())


def test_document_records_have_the_documented_schema(inputs: Path, tmp_path: Path, translator, summarizer) -> None:
    result = translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summarizer=summarizer)
    [a, b, *_] = _read_jsonl(result.files["documents"])
    assert list(a) == [
        "id",
        "source",
        "format",
        "sha256",
        "encoding",
        "title",
        "meta",
        "num_paragraphs",
        "num_sentences",
        "pairs",
        "ja",
        "en",
        "summary_en",
        "summary_ja",
        "summary_ja_en",
        "summary",
        "summary_ja_info",
        "models",
    ]
    assert list(a["pairs"][0]) == ["paragraph", "sentence", "start", "end", "ja", "en", "score", "flags", "locator"]
    assert (a["format"], a["title"], a["meta"], a["pairs"][0]["locator"]) == ("txt", None, None, None)
    assert all(p["score"] <= 0 and p["flags"] == [] for p in a["pairs"])
    assert list(a["summary"]) == ["model", "language", "input_tokens", "max_input_tokens", "chunks", "rounds"]
    assert (a["summary"]["language"], a["summary_ja"], a["summary_ja_en"], a["summary_ja_info"]) == ("en", None, None, None)
    assert (a["encoding"], b["encoding"]) == ("utf-8", "cp932")
    assert a["source"] == (inputs / "news" / "a.txt").as_posix()
    assert len(a["sha256"]) == 64
    # UTF-8 text, not \u escapes
    assert "株価" in result.files["documents"].read_text(encoding="utf-8")


def test_manifest_records_settings_models_versions_counts_and_timings(
    inputs: Path, tmp_path: Path, translator, summarizer, tiny_marian: Path, tiny_bart: Path
) -> None:
    result = translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summarizer=summarizer)
    manifest = json.loads(result.files["manifest"].read_text(encoding="utf-8"))
    assert manifest == result.manifest
    assert manifest["counts"] == {"input_files": 3, "documents": 4, "paragraphs": 6, "sentences": 11, "errors": 0}
    assert manifest["models"]["translation"]["name"] == str(tiny_marian)
    assert manifest["models"]["translation"]["revision"].startswith("local-")  # a digest of the folder
    assert manifest["models"]["summarization"]["name"] == str(tiny_bart)
    assert {"python", "torch", "transformers", "ja2en"} <= set(manifest["versions"])
    assert {"read_s", "load_s", "write_s", "total_s"} <= set(manifest["this_run"]["timings"])
    assert manifest["status"] == "complete"
    assert manifest["fingerprint"]["translation"]["model"] == str(tiny_marian)


def test_long_document_summary_says_it_was_made_by_map_reduce(tmp_path: Path, translator, summarizer, corpus) -> None:
    (tmp_path / "long.txt").write_text("\n".join(ja for ja, _ in corpus), encoding="utf-8")
    result = translate_documents(tmp_path / "long.txt", output_dir=tmp_path / "out", translator=translator, summarizer=summarizer)
    [doc] = _read_jsonl(result.files["documents"])
    assert doc["summary"]["chunks"] > 1
    assert doc["summary"]["rounds"] >= 2
    assert doc["summary"]["input_tokens"] > doc["summary"]["max_input_tokens"]


def test_without_summarizer_there_is_no_summary(inputs: Path, tmp_path: Path, translator) -> None:
    result = translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summarizer_model=None)
    documents = _read_jsonl(result.files["documents"])
    assert all(d["summary_en"] is None and d["summary"] is None for d in documents)
    assert result.manifest["models"]["summarization"] is None


def test_bad_documents_are_reported_and_the_others_written(inputs: Path, tmp_path: Path, translator) -> None:
    (inputs / "empty.txt").write_text("\n", encoding="utf-8")
    # sorted after news/a.txt, so the earlier document keeps the id
    (inputs / "zz.jsonl").write_text('{"id": "news/a", "text": "株価は大幅に下落した。"}\n', encoding="utf-8")
    result = translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summarizer_model=None)
    assert result.errors == (
        f"{inputs / 'empty.txt'}: empty document; remove it or add text",
        f"{(inputs / 'zz.jsonl').as_posix()}:1: document id 'news/a' is already used by "
        f"{(inputs / 'news' / 'a.txt').as_posix()}; give each document a unique id",
    )
    assert [d["id"] for d in _read_jsonl(result.files["documents"])] == ["news/a", "news/b", "press-1", "press-2"]
    assert result.manifest["counts"]["errors"] == 2
    assert result.manifest["errors"] == list(result.errors)


def test_fail_fast_stops_at_the_first_bad_document(inputs: Path, tmp_path: Path, translator) -> None:
    (inputs / "empty.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty.txt: empty document"):
        translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, fail_fast=True)


def test_progress_reports_every_sentence_and_document(inputs: Path, tmp_path: Path, translator) -> None:
    events: list[Progress] = []
    translate_documents(
        inputs, output_dir=tmp_path / "out", translator=translator, summarizer_model=None, progress=events.append
    )
    assert events[0].stage == "loading"
    assert events[-1] == Progress("done", 4, 4, 11, 11)
    done = [e.sentences_done for e in events]
    assert done == sorted(done)


def test_a_failed_run_leaves_the_previous_outputs_intact(inputs: Path, tmp_path: Path, translator) -> None:
    out = tmp_path / "out"
    first = translate_documents(inputs, output_dir=out, translator=translator, summarizer_model=None)
    before = first.files["documents"].read_bytes()
    with pytest.raises(ModelError):
        translate_documents(inputs, output_dir=out, translator=translator, summarizer_model=str(tmp_path / "missing"))
    assert first.files["documents"].read_bytes() == before


def test_the_library_prints_nothing(tmp_path: Path, tiny_marian: Path, tiny_bart: Path, corpus) -> None:
    # A long one-paragraph document: model loading, counting long inputs and map-reduce
    # all stay quiet. In a subprocess, because transformers binds its log handler to the
    # stderr of the moment it was imported, which pytest's capture cannot see.
    (tmp_path / "long.txt").write_text("".join(ja for ja, _ in corpus), encoding="utf-8")
    code = (
        "import ja2en; ja2en.translate_documents("
        f"{str(tmp_path / 'long.txt')!r}, output_dir={str(tmp_path / 'out')!r}, "
        f"model={str(tiny_marian)!r}, summarizer_model={str(tiny_bart)!r}, device='cpu')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_settings_a_ready_translator_would_ignore_are_refused(inputs: Path, tmp_path: Path, translator) -> None:
    with pytest.raises(InputError) as error:
        translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summary="none", beams=1, cache=False)
    assert str(error.value) == (
        "beams, cache cannot be used with ready models, which have their own; "
        "set them on Translator(...)/Summarizer(...) instead"
    )
    assert not (tmp_path / "out").exists()


def test_one_options_object_carries_a_run(inputs: Path, tmp_path: Path, translator, expected) -> None:
    from ja2en import RunOptions

    options = RunOptions(summary="none", parquet=True)
    result = translate_documents(inputs, output_dir=tmp_path / "out", options=options, translator=translator)
    import pyarrow.parquet as pq

    assert pq.read_table(result.files["sentences_parquet"]).num_rows == result.sentences == 11
    assert result.manifest["settings"]["summary"] is None
    assert all(d["summary_en"] is None for d in _read_jsonl(result.files["documents"]))
    with pytest.raises(TypeError, match="^unknown run option\\(s\\): beam$"):
        translate_documents(inputs, output_dir=tmp_path / "other", options=options, translator=translator, beam=2)
