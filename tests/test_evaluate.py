"""evaluate / read_references / rouge_scores and `ja2en eval`: the tiny model that reproduces
its corpus scores 100, anything else scores less, every input layout lines up, and bad
references fail with a message that says what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ja2en
from ja2en.cli import app
from ja2en.errors import InputError
from ja2en.evaluate import RougeScores, evaluate, rouge_scores, rouge_tokens
from ja2en.records import Translation
from ja2en.references import read_references
from ja2en.segment import split_sentences

CORPUS_TSV = Path(__file__).parent / "data" / "corpus.tsv"
BLEU_SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:"
CHRF_SIGNATURE = "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:"

runner = CliRunner()


def write_tsv(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{ja}\t{en}\n" for ja, en in pairs), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def document(corpus: list[tuple[str, str]], indices: list[int]) -> tuple[str, str, list[str]]:
    """Japanese of several corpus sentences run together, their English joined by spaces, and the English list."""
    ja_sentences = [corpus[i][0] for i in indices]
    ja = "".join(ja_sentences)
    assert split_sentences(ja) == ja_sentences  # the segmenter must find the same sentences back
    english = [corpus[i][1] for i in indices]
    return ja, " ".join(english), english


@pytest.fixture(scope="module")
def own_summary(summarizer, corpus) -> tuple[list[int], str]:
    """Sentences of a document and the tiny summarizer's summary of their exact English."""
    indices = [1, 2, 3, 4]
    text = summarizer.summarize([corpus[i][1] for i in indices]).text
    assert len(rouge_tokens(text)) >= 2  # else ROUGE-2 would be 0 even for a perfect match
    return indices, text


# --- BLEU and chrF -------------------------------------------------------------------


def test_tiny_model_scores_100_on_its_own_corpus(translator, corpus) -> None:
    report = evaluate(CORPUS_TSV, translator=translator)
    assert report.bleu == pytest.approx(100.0)
    assert report.chrf == pytest.approx(100.0)
    assert (report.format, report.documents, report.segments, report.sentences) == ("tsv", 51, 51, 51)
    assert report.sentences == len(corpus)
    assert report.bleu_signature.startswith(BLEU_SIGNATURE)
    assert report.chrf_signature.startswith(CHRF_SIGNATURE)
    assert (report.flagged, report.flagged_share, report.flags) == (0, 0.0, {})
    assert (report.summaries, report.rouge) == (0, None)
    assert report.models["translation"]["model"] == translator.model_id


def test_shuffled_references_score_far_lower_and_one_changed_word_a_little(translator, corpus, tmp_path) -> None:
    pairs = corpus[:12]
    english = [en for _, en in pairs]
    rotated = write_tsv(tmp_path / "rotated.tsv", [(ja, en) for (ja, _), en in zip(pairs, english[1:] + english[:1])])
    changed = list(pairs)
    changed[1] = (changed[1][0], changed[1][1].replace("announcement", "statement"))
    assert changed[1] != corpus[1]
    altered = write_tsv(tmp_path / "altered.tsv", changed)

    shuffled_report = evaluate(rotated, translator=translator)
    altered_report = evaluate(altered, translator=translator)
    assert shuffled_report.bleu < 10
    assert shuffled_report.chrf < 40
    assert 90 < altered_report.bleu < 100
    assert 95 < altered_report.chrf < 100


def test_jsonl_rows_may_be_whole_documents_split_into_sentences_as_translate_does(translator, corpus, tmp_path) -> None:
    ja, en, _ = document(corpus, [5, 6, 7])
    rows = [
        {"ja": corpus[0][0], "en": corpus[0][1]},
        {"id": "doc", "ja": ja[: len(corpus[5][0])] + "\n" + ja[len(corpus[5][0]) :], "en": en},
    ]
    report = evaluate(write_jsonl(tmp_path / "refs.jsonl", rows), translator=translator)
    assert (report.format, report.documents, report.segments, report.sentences) == ("jsonl", 2, 2, 4)
    assert report.bleu == pytest.approx(100.0)
    assert report.chrf == pytest.approx(100.0)


def test_flag_share_counts_sentences_with_any_flag() -> None:
    class FlaggingTranslator:
        """Stands in for Translator: echoes the Japanese with preset flags."""

        flags = iter([(), ("repetition",), (), ("length_ratio", "split")])

        def translate_detailed(self, sentences, *, progress=None):
            return [Translation(ja, -0.1, next(self.flags)) for ja in sentences]

        def fingerprint(self):
            return {"model": "stub", "revision": "none"}

    refs = ja2en.ReferenceSet("refs", "tsv", (ja2en.Reference("a", "refs:1", (("一。二。", "x y"), ("三。四。", "z"))),))
    report = evaluate(refs, translator=FlaggingTranslator())  # type: ignore[arg-type]
    assert (report.segments, report.sentences, report.flagged) == (2, 4, 2)
    assert report.flagged_share == 0.5
    assert report.flags == {"length_ratio": 1, "repetition": 1, "split": 1}
    assert "sentences   4 translated, 2 flagged (50.0%)" in report.to_table()
    assert "flags       length_ratio 1, repetition 1, split 1" in report.to_table()


# --- folders and summaries -----------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path, corpus, own_summary) -> Path:
    """a: two paragraphs of two sentences each, and a summary; b: one line; sub/c: one line, CP932 and CRLF."""
    indices, summary = own_summary
    root = tmp_path / "refs"
    (root / "sub").mkdir(parents=True)
    (ja1, en1, _), (ja2, en2, _) = document(corpus, indices[:2]), document(corpus, indices[2:])
    (root / "a.txt").write_text(f"{ja1}\n\n{ja2}\n", encoding="utf-8")
    (root / "a.en.txt").write_text(f"{en1}\n\n{en2}\n", encoding="utf-8")
    (root / "a.summary.txt").write_text(summary + "\n", encoding="utf-8")
    (root / "b.txt").write_text(corpus[10][0], encoding="utf-8")
    (root / "b.en.txt").write_text(corpus[10][1], encoding="utf-8")
    (root / "sub" / "c.txt").write_text(corpus[11][0] + "\r\n", encoding="cp932")
    (root / "sub" / "c.en.txt").write_text(corpus[11][1] + "\r\n", encoding="utf-8")
    return root


def test_folder_documents_are_aligned_by_line_and_summaries_scored(translator, summarizer, folder) -> None:
    refs = read_references(folder)
    assert [(d.id, len(d.pairs), d.summary is not None) for d in refs.documents] == [
        ("a", 2, True), ("b", 1, False), ("sub/c", 1, False)
    ]  # fmt: skip
    events = []
    report = evaluate(refs, translator=translator, summarizer=summarizer, progress=events.append)
    assert (report.format, report.documents, report.segments, report.sentences) == ("folder", 3, 4, 6)
    assert report.bleu == pytest.approx(100.0)
    assert report.summaries == 1
    assert report.rouge == RougeScores(1.0, 1.0, 1.0)
    assert report.models["summarization"]["model"] == summarizer.model_id
    assert [e.stage for e in events][-2:] == ["summarizing", "done"]
    assert (events[-1].sentences_done, events[-1].sentences_total, events[-1].documents_done) == (6, 6, 3)


def test_rouge_is_the_mean_over_documents_and_skipped_without_a_summarizer(
    translator, summarizer, corpus, own_summary, tmp_path
) -> None:
    indices, summary = own_summary
    ja, en, _ = document(corpus, indices)
    rows = [
        {"ja": ja, "en": en, "summary": summary},
        {"ja": ja, "en": en, "summary": "Zebras qqq xylophone."},  # shares no token with any summary
        {"ja": corpus[0][0], "en": corpus[0][1], "summary": None},
    ]
    path = write_jsonl(tmp_path / "docs.jsonl", rows)
    report = evaluate(path, translator=translator, summarizer=summarizer)
    assert report.summaries == 2
    assert report.rouge == RougeScores(0.5, 0.5, 0.5)
    assert evaluate(path, translator=translator).rouge is None


# --- ROUGE ---------------------------------------------------------------------------


def test_rouge_tokens_match_rouge_score_default_tokenizer_without_stemming() -> None:
    assert rouge_tokens("The U.S. economy, up 3.5%!") == ["the", "u", "s", "economy", "up", "3", "5"]
    assert rouge_tokens("Café naïve running 東京 Tokyo") == ["caf", "na", "ve", "running", "tokyo"]
    assert rouge_tokens("…!?") == []


@pytest.mark.parametrize(
    ("hypothesis", "reference", "expected"),
    [
        ("the cat sat on the mat", "The cat sat on the mat.", (1.0, 1.0, 1.0)),
        # 5 of 6 words shared, 3 of 5 bigrams, LCS "the cat on the mat" = 5
        ("the cat sat on the mat", "the cat lay on the mat", (5 / 6, 3 / 5, 5 / 6)),
        # precision 1, recall 2/6 → F 1/2; bigrams 1/1 and 1/5 → F 1/3
        ("the cat", "the cat sat on the mat", (1 / 2, 1 / 3, 1 / 2)),
        # clipped: "the" counts once; P 1/4, R 1/2 → F 1/3
        ("the the the the", "the cat", (1 / 3, 0.0, 1 / 3)),
        # same words reversed: every unigram, no bigram, LCS "the cat the" = 3 of 6
        ("mat the on sat cat the", "the cat sat on the mat", (1.0, 0.0, 1 / 2)),
        ("", "the cat", (0.0, 0.0, 0.0)),
        ("", "", (0.0, 0.0, 0.0)),  # as rouge-score: no tokens, no score
    ],
)
def test_rouge_scores_hand_computed(hypothesis: str, reference: str, expected: tuple[float, float, float]) -> None:
    scores = rouge_scores(hypothesis, reference)
    assert (scores.rouge_1, scores.rouge_2, scores.rouge_l) == pytest.approx(expected)


# --- the CLI -------------------------------------------------------------------------


def test_cli_json_is_one_object_with_every_field(folder: Path, tiny_marian: Path, tiny_bart: Path) -> None:
    result = runner.invoke(
        app,
        ["eval", str(folder), "--model", str(tiny_marian), "--summarizer", str(tiny_bart)]
        + ["--device", "cpu", "--backend", "torch", "--beams", "1", "--batch-size", "2", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == [
        "references", "format", "documents", "segments", "sentences", "flagged", "flagged_share", "flags",
        "bleu", "bleu_signature", "chrf", "chrf_signature", "summaries", "rouge", "models",
    ]  # fmt: skip
    assert (data["format"], data["documents"], data["segments"], data["sentences"]) == ("folder", 3, 4, 6)
    assert data["bleu"] == 100.0 and data["chrf"] == 100.0
    assert data["bleu_signature"].startswith(BLEU_SIGNATURE)
    assert data["chrf_signature"].startswith(CHRF_SIGNATURE)
    assert (data["flagged"], data["flagged_share"], data["flags"]) == (0, 0.0, {})
    assert data["summaries"] == 1
    assert data["rouge"] == {"rouge_1": 1.0, "rouge_2": 1.0, "rouge_l": 1.0}
    assert data["models"]["translation"]["model"] == str(tiny_marian)
    assert data["models"]["summarization"]["model"] == str(tiny_bart)


def test_cli_prints_a_table_by_default(tiny_marian: Path, corpus, tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "refs.tsv", corpus[:5])
    result = runner.invoke(app, ["eval", str(path), "--model", str(tiny_marian), "--device", "cpu", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"references  {path.as_posix()} (tsv: 5 documents, 5 segments)"
    assert lines[1].startswith(f"model       {tiny_marian} (revision local-")
    assert lines[2] == "sentences   5 translated, 0 flagged (0.0%)"
    assert lines[3].startswith(f"BLEU        100.00  {BLEU_SIGNATURE}")
    assert lines[4].startswith(f"chrF        100.00  {CHRF_SIGNATURE}")
    assert len(lines) == 5  # no ROUGE rows without reference summaries


def test_cli_bad_references_fail_in_one_line_before_loading_a_model(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tsv"
    result = runner.invoke(app, ["eval", str(missing), "--model", str(tmp_path / "no-model")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: no such file or folder; check the path\n"


# --- bad references ------------------------------------------------------------------

JSONL_SHAPE = '{"ja": ..., "en": ...}'


def _bad_inputs(tmp: Path) -> list[tuple[Path, str]]:
    """(references path, expected InputError message) for each kind of bad input."""
    cases: list[tuple[Path, str]] = []

    def file(name: str, text: str, message: str) -> None:
        path = tmp / name
        path.write_text(text, encoding="utf-8")
        cases.append((path, message.replace("{path}", str(path))))

    cases.append((tmp / "missing.jsonl", f"{tmp / 'missing.jsonl'}: no such file or folder; check the path"))
    file("refs.csv", "a,b\n", '{path}: not a reference set ja2en reads (.csv); use a .jsonl with "ja" and "en" '
         "fields, a .tsv of ja<TAB>en lines, or a folder of NAME.txt + NAME.en.txt")  # fmt: skip
    file("empty.jsonl", "\n  \n", "{path}: no references; each line must be an object like " + JSONL_SHAPE)
    file("empty.tsv", "# only a comment\tyes\n", "{path}: no references; each line must be ja<TAB>en")
    file("broken.jsonl", '{"ja": "一。", "en": "One."}\n{"ja": \n', "{path}:2: not valid JSON (Expecting value); fix or remove the line")
    file("list.jsonl", "[1, 2]\n", "{path}:1: not an object; each line must be an object like " + JSONL_SHAPE)
    file("no-en.jsonl", '{"ja": "一。"}\n', '{path}:1: no "en" field; each line must be an object like ' + JSONL_SHAPE)
    file("number.jsonl", '{"ja": "一。", "en": 1}\n', '{path}:1: "en" must be a string, not a number')
    file("blank-ja.jsonl", '{"ja": " ", "en": "One."}\n', '{path}:1: empty "ja"; remove the line or add text')
    file("summary.jsonl", '{"ja": "一。", "en": "One.", "summary": ["x"]}\n', '{path}:1: "summary" must be a string, not an array')
    file("surrogate.jsonl", '{"ja": "一\\ud83d。", "en": "One."}\n',
         '{path}:1: "ja" holds a lone surrogate escape (half an emoji?); fix the escape')  # fmt: skip
    file("three.tsv", "一。\tOne.\textra\n", "{path}:1: expected ja<TAB>en, found 3 tab-separated fields; fix or remove the line")
    file("notab.tsv", "# header\n\n一。 One.\n", "{path}:3: expected ja<TAB>en, found 1 tab-separated fields; fix or remove the line")
    file("no-english.tsv", "一。\t \n", "{path}:1: empty English; remove the line or add text")

    def folder(name: str, files: dict[str, str], message: str) -> None:
        root = tmp / name
        root.mkdir()
        for relative, text in files.items():
            (root / relative).write_text(text, encoding="utf-8")
        cases.append((root, message.replace("{root}", str(root))))

    folder("empty-folder", {".hidden.txt": "一。"}, "{root}: no references; put NAME.txt (Japanese) beside NAME.en.txt (its English reference)")
    folder("no-en", {"a.txt": "一。"}, "{root}/a.txt: no reference translation; add {root}/a.en.txt or move it out")
    folder("orphan", {"a.txt": "一。", "a.en.txt": "One.", "b.summary.txt": "S."},
           "{root}/b.summary.txt: no Japanese source beside it; add {root}/b.txt or remove it")  # fmt: skip
    folder("stray", {"a.txt": "一。", "a.en.txt": "One.", "notes.md": "x"},
           "{root}/notes.md: not part of a reference folder; name files NAME.txt, NAME.en.txt or NAME.summary.txt, or move it out")  # fmt: skip
    folder("lines", {"a.txt": "一。\n二。\n", "a.en.txt": "One. Two.\n"},
           "{root}/a.txt: 2 paragraphs but 1 in {root}/a.en.txt; put one paragraph per line in both files, "
           "line N of one translating line N of the other")  # fmt: skip
    folder("blank", {"a.txt": " \n", "a.en.txt": ""}, "{root}/a.txt: empty document; remove it or add text")
    folder("no-summary", {"a.txt": "一。", "a.en.txt": "One.", "a.summary.txt": "\n"},
           "{root}/a.summary.txt: empty summary; remove it or add text")  # fmt: skip
    return cases


def test_every_bad_reference_input_raises_input_error_with_its_fix(tmp_path: Path) -> None:
    for path, message in _bad_inputs(tmp_path):
        with pytest.raises(InputError) as caught:
            read_references(path)
        assert str(caught.value) == message


def test_undecodable_references_name_the_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "refs.tsv"
    path.write_bytes(b"\xff\xfe\xfa\tOne.\n")
    with pytest.raises(InputError, match="re-run with --encoding NAME"):
        read_references(path)
    assert read_references(path, encoding="latin-1").documents[0].pairs[0][1] == "One."
