"""Bad inputs are reported one line each and skipped; hard but valid inputs lose nothing.

Every bad input must show up, with the same one-line message, in `RunResult.errors`,
in errors.jsonl (with its exception class) and in the manifest's error count, while the
good documents beside it are still written with their exact English.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ja2en import InputError, Progress, RunResult, translate_documents
from ja2en.cli import app
from ja2en.readers import SUFFIXES

runner = CliRunner()

# Two good documents that every bad input is put beside. The bad ones are named so
# that they sort between these two ("bad.txt" lies between "a.txt" and "c.txt").
GOOD = {
    "a": ["株価は大幅に下落した。", "会議は延期された。", "本当におめでとうございます!"],
    "c": ["ありがとうございます。"],
}

UNDECODABLE = b"\xff\xfe\xfa\x80\x80\xff"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
# The shortest corpus sentence in tokens, so it is translated last when sorted by length.
FLAKY = "東京都は発表した。"


@dataclass
class Run:
    """A finished run and its output files, parsed."""

    result: RunResult
    documents: list[dict[str, Any]]
    sentences: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    manifest: dict[str, Any]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_outputs(result: RunResult) -> Run:
    return Run(
        result,
        read_jsonl(result.files["documents"]),
        read_jsonl(result.files["sentences"]),
        read_jsonl(result.files["errors"]),
        json.loads(result.files["manifest"].read_text(encoding="utf-8")),
    )


def run(inputs: Path | list[Path], tmp_path: Path, translator, **options: Any) -> Run:
    """Translate `inputs` into tmp_path/out without summaries, as a library user would."""
    result = translate_documents(
        inputs, output_dir=tmp_path / "out", translator=translator, summarizer_model=None, **options
    )
    return read_outputs(result)


def write_documents(folder: Path, documents: dict[str, list[str]]) -> None:
    for doc_id, sentences in documents.items():
        (folder / f"{doc_id}.txt").write_text("".join(sentences) + "\n", encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An input folder holding the GOOD documents."""
    root = tmp_path / "in"
    root.mkdir()
    write_documents(root, GOOD)
    return root


def assert_written(out: Run, want: dict[str, list[str]], expected: dict[str, str]) -> None:
    """Exactly the documents `want` (id → sentences) were written, in order, with their exact English."""
    assert [(d["id"], [(p["ja"], p["en"]) for p in d["pairs"]]) for d in out.documents] == [
        (doc_id, [(ja, expected[ja]) for ja in sentences]) for doc_id, sentences in want.items()
    ]
    assert [(row["doc_id"], row["ja"], row["en"]) for row in out.sentences] == [
        (doc_id, ja, expected[ja]) for doc_id, sentences in want.items() for ja in sentences
    ]


def assert_reported(out: Run, *failures: tuple[str, str]) -> None:
    """Exactly these (exception class, message) failures were reported, everywhere a user looks."""
    messages = [message for _, message in failures]
    assert list(out.result.errors) == messages
    assert out.errors == [{"error": error, "message": message} for error, message in failures]
    assert out.manifest["counts"]["errors"] == len(failures)
    assert out.manifest["errors"] == messages


def assert_no_text_lost(doc: dict[str, Any]) -> None:
    """Every pair points at its own text, and only whitespace lies outside the pairs."""
    text, position = doc["ja"], 0
    for pair in doc["pairs"]:
        assert text[pair["start"] : pair["end"]] == pair["ja"]
        assert pair["start"] >= position
        assert text[position : pair["start"]].strip() == ""
        position = pair["end"]
    assert text[position:].strip() == ""
    assert "".join("".join(p["ja"] for p in doc["pairs"]).split()) == "".join(text.split())
    assert all(p["en"].strip() for p in doc["pairs"])


# --- bad inputs: reported, and the other documents written -------------------------------


def test_undecodable_bytes_are_reported_with_the_encoding_fix(
    folder: Path, tmp_path: Path, translator, expected
) -> None:
    (folder / "bad.txt").write_bytes(UNDECODABLE)
    out = run(folder, tmp_path, translator)
    assert_reported(
        out,
        (
            "DecodeError",
            f"{folder / 'bad.txt'}: not valid UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP; "
            "re-run with --encoding NAME (for example --encoding cp932)",
        ),
    )
    assert_written(out, GOOD, expected)


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("inner.txt", "参加費は無料です。")


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        pytest.param(
            "image.png",
            lambda path: path.write_bytes(PNG),
            f"not a document ja2en reads (.png); convert it to one of {', '.join(SUFFIXES)}, or move it out of the input folder",
            id="png",
        ),
        pytest.param(
            "archive.zip",
            _zip,
            f"not a document ja2en reads (.zip); convert it to one of {', '.join(SUFFIXES)}, or move it out of the input folder",
            id="zip",
        ),
        pytest.param(
            "image.txt",
            lambda path: path.write_bytes(PNG),
            "looks like a binary file (it contains NUL bytes); remove it from the input, "
            "or re-save it as UTF-8 if it is UTF-16 text",
            id="binary-named-txt",
        ),
    ],
)
def test_binary_file_in_the_folder_is_reported(
    folder: Path, tmp_path: Path, translator, expected, name: str, make, message: str
) -> None:
    make(folder / name)
    out = run(folder, tmp_path, translator)
    assert_reported(out, ("InputError", f"{folder / name}: {message}"))
    assert_written(out, GOOD, expected)


@pytest.mark.parametrize(
    "content",
    [b"", "\u3000\u3000\n\n \t\n\u3000\r\n\n".encode()],
    ids=["empty", "full-width-spaces-and-blank-lines"],
)
def test_document_without_text_is_reported_as_empty(
    folder: Path, tmp_path: Path, translator, expected, content: bytes
) -> None:
    (folder / "blank.txt").write_bytes(content)
    out = run(folder, tmp_path, translator)
    assert_reported(out, ("InputError", f"{folder / 'blank.txt'}: empty document; remove it or add text"))
    assert_written(out, GOOD, expected)


def test_unreadable_file_is_reported_with_the_permission_fix(
    folder: Path, tmp_path: Path, translator, expected, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where chmod 000 does not stop reading: refuse the read instead.
    locked = folder / "locked.txt"
    locked.write_text("参加費は無料です。\n", encoding="utf-8")
    open_path = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return open_path(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    out = run(folder, tmp_path, translator)
    assert_reported(out, ("InputError", f"{locked}: cannot be read (Permission denied); check its permissions"))
    assert_written(out, GOOD, expected)


def test_missing_path_beside_a_good_folder_is_reported(folder: Path, tmp_path: Path, translator, expected) -> None:
    missing = tmp_path / "typo"
    out = run([folder, missing], tmp_path, translator)
    assert_reported(out, ("InputError", f"{missing}: no such file or folder; check the path"))
    assert_written(out, GOOD, expected)


def test_broken_symlink_in_the_folder_is_reported(folder: Path, tmp_path: Path, translator, expected) -> None:
    (folder / "link.txt").symlink_to(folder / "moved-away.txt")
    out = run(folder, tmp_path, translator)
    assert_reported(
        out,
        (
            "InputError",
            f"{folder / 'link.txt'}: broken symbolic link (to {folder / 'moved-away.txt'}); fix or remove it",
        ),
    )
    assert_written(out, GOOD, expected)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        pytest.param(
            '{"id": "press-x", "text": "会議は',
            "not valid JSON (Unterminated string starting at); fix or remove the line",
            id="not-json",
        ),
        pytest.param(
            '{"id": "press-x", "body": "会議は延期された。"}',
            'no "text" field (it has body, id; choose one with --text-field); '
            'each line must be an object like {"id": ..., "text": ...}',
            id="no-text",
        ),
        pytest.param('{"id": "press-x", "text": 42}', '"text" must be a string, not a number', id="text-not-a-string"),
    ],
)
def test_bad_jsonl_line_is_named_by_file_and_line_and_the_rest_of_the_file_is_read(
    folder: Path, tmp_path: Path, translator, expected, line: str, problem: str
) -> None:
    records = folder / "b.jsonl"
    records.write_text(
        '{"id": "press-1", "text": "参加費は無料です。"}\n' + line + '\n{"id": "press-3", "text": "会議は延期された。"}\n',
        encoding="utf-8",
    )
    out = run(folder, tmp_path, translator)
    assert_reported(out, ("InputError", f"{records.as_posix()}:2: {problem}"))
    want = {"a": GOOD["a"], "press-1": ["参加費は無料です。"], "press-3": ["会議は延期された。"], "c": GOOD["c"]}
    assert_written(out, want, expected)


def test_a_second_document_with_a_used_id_is_reported_and_the_first_kept(
    folder: Path, tmp_path: Path, translator, expected
) -> None:
    records = folder / "b.jsonl"
    records.write_text(
        '{"id": "press", "text": "参加費は無料です。"}\n{"id": "press", "text": "会議は延期された。"}\n', encoding="utf-8"
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("詳細は後日お知らせします。\n", encoding="utf-8")  # id "a" again
    out = run([folder, other], tmp_path, translator)
    assert_reported(
        out,
        (
            "InputError",
            f"{records.as_posix()}:2: document id 'press' is already used by {records.as_posix()}:1; "
            "give each document a unique id",
        ),
        (
            "InputError",
            f"{(other / 'a.txt').as_posix()}: document id 'a' is already used by {(folder / 'a.txt').as_posix()}; "
            "give each document a unique id",
        ),
    )
    assert_written(out, {"a": GOOD["a"], "press": ["参加費は無料です。"], "c": GOOD["c"]}, expected)


def test_jsonl_file_without_records_is_reported(folder: Path, tmp_path: Path, translator, expected) -> None:
    (folder / "b.jsonl").write_text("\n  \n\n", encoding="utf-8")
    out = run(folder, tmp_path, translator)
    assert [e["message"] for e in out.errors] == [
        f'{folder / "b.jsonl"}: no records; each line must be an object like {{"id": ..., "text": ...}}'
    ]
    assert_written(out, GOOD, expected)


def test_jsonl_text_with_a_lone_surrogate_is_an_input_error(folder: Path, tmp_path: Path, translator, expected) -> None:
    records = folder / "b.jsonl"
    records.write_text('{"id": "press", "text": "参加費は無料です。\\ud83d"}\n', encoding="utf-8")
    out = run(folder, tmp_path, translator)
    assert out.errors == [
        {
            "error": "InputError",
            "message": f'{records}:1: "text" holds a lone surrogate escape (half an emoji?); fix the escape',
        }
    ]
    assert_written(out, GOOD, expected)


def test_jsonl_id_with_a_lone_surrogate_is_an_input_error(folder: Path, tmp_path: Path, translator, expected) -> None:
    records = folder / "b.jsonl"
    records.write_text('{"id": "press\\ud83d", "text": "参加費は無料です。"}\n', encoding="utf-8")
    out = run(folder, tmp_path, translator)
    assert out.errors == [
        {
            "error": "InputError",
            "message": f'{records}:1: "id" holds a lone surrogate escape (half an emoji?); fix the escape',
        }
    ]
    assert_written(out, GOOD, expected)


# --- translation failures and resume ------------------------------------------------------


def test_failed_translation_is_reported_and_a_rerun_adds_it_in_input_order(
    folder: Path, tmp_path: Path, translator, expected, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "b.txt").write_text(FLAKY + "\n", encoding="utf-8")
    generate = translator.backend.generate

    def flaky(texts, decoding):  # the model fails whenever it is given b's sentence
        if FLAKY in texts:
            raise RuntimeError("CUDA error: device-side assert triggered\nmore detail")
        return generate(texts, decoding)

    with monkeypatch.context() as patch:
        patch.setattr(translator.backend, "generate", flaky)
        first = run(folder, tmp_path, translator)
    assert_reported(
        first,
        (
            "DocumentError",
            f"{(folder / 'b.txt').as_posix()}: translation failed (RuntimeError: CUDA error: device-side assert "
            "triggered); the other documents were written, re-run the same command to retry this one",
        ),
    )
    assert_written(first, GOOD, expected)  # a and c shared b's group, and were still written

    again = run(folder, tmp_path, translator)
    assert_reported(again)
    assert_written(again, {"a": GOOD["a"], "b": [FLAKY], "c": GOOD["c"]}, expected)
    this_run = again.manifest["this_run"]
    assert (this_run["documents_resumed"], this_run["documents_translated"]) == (2, 1)  # only b was redone


def test_progress_does_not_pass_the_total_when_a_translation_fails(
    folder: Path, tmp_path: Path, translator, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "b.txt").write_text(FLAKY + "\n", encoding="utf-8")
    generate = translator.backend.generate

    def flaky(texts, decoding):
        if FLAKY in texts:
            raise RuntimeError("CUDA out of memory")
        return generate(texts, decoding)

    monkeypatch.setattr(translator.backend, "generate", flaky)
    monkeypatch.setattr(translator, "batch_size", 1)  # FLAKY is shortest, so its batch comes last
    events: list[Progress] = []
    out = run(folder, tmp_path, translator, progress=events.append)
    assert len(out.errors) == 1
    assert events, "no progress was reported"
    assert all(e.sentences_done <= e.sentences_total for e in events), events[-1]


# --- the CLI: exit codes and stderr -------------------------------------------------------


def translate_cli(tiny_marian: Path, out: Path, *args: str):
    # torch, not ct2 when installed: these tests are about errors, not engines
    options = ["-m", str(tiny_marian), "--no-summary", "--beams", "1", "--backend", "torch", "--device", "cpu"]
    return runner.invoke(app, ["translate", *args, *options, "-o", str(out)])


def test_cli_names_every_failed_input_on_stderr_and_exits_2(
    folder: Path, tmp_path: Path, tiny_marian: Path, expected
) -> None:
    (folder / "bad.txt").write_bytes(UNDECODABLE)
    out = tmp_path / "out"
    result = translate_cli(tiny_marian, out, str(folder), str(tmp_path / "typo"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {folder / 'bad.txt'}: not valid UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP; "
        "re-run with --encoding NAME (for example --encoding cp932)\n"
        f"error: {tmp_path / 'typo'}: no such file or folder; check the path\n"
    )
    assert result.stdout.startswith("Translated 2 documents, 4 sentences in ")
    assert ", 2 failed (see above) → " in result.stdout
    assert [e["error"] for e in read_jsonl(out / "errors.jsonl")] == ["DecodeError", "InputError"]
    assert [(r["doc_id"], r["en"]) for r in read_jsonl(out / "sentences.jsonl")] == [
        (doc_id, expected[ja]) for doc_id, sentences in GOOD.items() for ja in sentences
    ]


def test_cli_fail_fast_stops_at_the_first_bad_document(folder: Path, tmp_path: Path, tiny_marian: Path) -> None:
    (folder / "bad.txt").write_bytes(UNDECODABLE)
    (folder / "blank.txt").write_text("\n", encoding="utf-8")  # the second bad one: never reached
    out = tmp_path / "out"
    result = translate_cli(tiny_marian, out, str(folder), "--fail-fast")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {folder / 'bad.txt'}: not valid UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP; "
        "re-run with --encoding NAME (for example --encoding cp932)\n"
    )
    assert result.stdout == ""
    assert not (out / "sentences.jsonl").exists()  # no run was completed


def test_cli_exits_0_with_an_empty_errors_file_when_nothing_failed(
    folder: Path, tmp_path: Path, tiny_marian: Path, expected
) -> None:
    out = tmp_path / "out"
    result = translate_cli(tiny_marian, out, str(folder))
    assert (result.exit_code, result.stderr) == (0, "")
    assert (out / "errors.jsonl").read_bytes() == b""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["counts"]["errors"], manifest["errors"]) == (0, [])
    assert [(r["doc_id"], r["en"]) for r in read_jsonl(out / "sentences.jsonl")] == [
        (doc_id, expected[ja]) for doc_id, sentences in GOOD.items() for ja in sentences
    ]


# --- hard but valid content: no crash, no text lost --------------------------------------


def test_one_megabyte_single_line_document_keeps_every_sentence(tmp_path: Path, translator, corpus) -> None:
    line = "".join(ja for ja, _ in corpus)
    repeats = -(-1_000_000 // len(line.encode("utf-8")))
    (tmp_path / "big.txt").write_text(line * repeats, encoding="utf-8")
    assert (tmp_path / "big.txt").stat().st_size >= 1_000_000
    out = run(tmp_path / "big.txt", tmp_path, translator)
    assert_reported(out)
    [doc] = out.documents
    assert_no_text_lost(doc)
    assert [(p["ja"], p["en"]) for p in doc["pairs"]] == corpus * repeats
    assert doc["num_paragraphs"] == 1


def test_two_thousand_characters_without_punctuation_come_back_as_one_translated_pair(
    tmp_path: Path, translator
) -> None:
    text = "東京都" * 500 + "あいうえお" * 100  # longer than the model's 512-token input limit
    assert len(text) == 2000
    (tmp_path / "run-on.txt").write_text(text, encoding="utf-8")
    out = run(tmp_path / "run-on.txt", tmp_path, translator)
    assert_reported(out)
    [doc] = out.documents
    [pair] = doc["pairs"]
    assert (pair["start"], pair["end"], pair["ja"]) == (0, 2000, text)
    assert pair["en"].strip()
    assert_no_text_lost(doc)


HARD = [
    # (file name, what is written, text the normalized document must contain)
    ("emoji.txt", "😀絵文字と𠮷野家と🇯🇵の旗。東京都は発表した。\n", "😀絵文字と𠮷野家と🇯🇵の旗。"),
    (
        "escaped.jsonl",
        json.dumps({"text": "😀絵文字と𠮷野家と🇯🇵の旗。東京都は発表した。"}) + "\n",  # \ud83d\ude00 escapes
        "😀絵文字と𠮷野家と🇯🇵の旗。",
    ),
    ("control.txt", "警告音\x07と\x1b[0mとゼロ幅\u200bの文。会議は延期された。\n", "警告音\x07と\x1b[0mとゼロ幅\u200bの文。"),
    ("mixed.txt", "東京ではiPhone 15が発売された。Apple said so. 株価は大幅に下落した。\n", "された。Apple said so. 株価"),
    ("fullwidth.txt", "ＡＢＣ１２３の売上は１，２３４億円。株価は大幅に下落した。\n", "ABC123の売上は1,234億円。"),
    ("markup.md", "<p>東京都は発表した。</p><br/>\n<ul><li>会議は延期された。</li></ul>\n", "</p><br/>"),
    ("punctuation.txt", "。。。！？\n", "。。。!?"),
]
# The corpus sentences each hard input holds, found back whole; markup and punctuation hold none.
KNOWN_SENTENCES = {
    "emoji.txt": ["東京都は発表した。"],
    "escaped.jsonl": ["東京都は発表した。"],
    "control.txt": ["会議は延期された。"],
    "mixed.txt": ["株価は大幅に下落した。"],
    "fullwidth.txt": ["株価は大幅に下落した。"],
}


@pytest.mark.parametrize(("name", "content", "kept"), HARD, ids=[name.split(".")[0] for name, _, _ in HARD])
def test_hard_but_valid_text_goes_through_without_losing_anything(
    tmp_path: Path, translator, expected, name: str, content: str, kept: str
) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    out = run(tmp_path / name, tmp_path, translator)
    assert_reported(out)
    [doc] = out.documents
    assert kept in doc["ja"]
    assert_no_text_lost(doc)
    # Corpus sentences among the hard ones still get exactly their own English.
    known = [p for p in doc["pairs"] if p["ja"] in expected]
    assert [p["ja"] for p in known] == KNOWN_SENTENCES.get(name, [])
    assert [p["en"] for p in known] == [expected[p["ja"]] for p in known]
    # Written as itself (UTF-8, no \ud83d escapes), apart from the escapes JSON requires.
    assert json.dumps(kept, ensure_ascii=False)[1:-1] in out.result.files["documents"].read_text(encoding="utf-8")


# --- names and arguments that used to crash a run ----------------------------------------


def test_a_file_name_that_is_not_utf8_is_read_with_a_stable_escaped_id(
    folder: Path, tmp_path: Path, translator, expected
) -> None:
    # 'café' in Latin-1: valid on Linux, not UTF-8, so Python sees a lone surrogate.
    raw = os.path.join(os.fsencode(folder), b"caf\xe9.txt")
    with open(raw, "w", encoding="utf-8") as handle:
        handle.write("会議は延期された。\n")
    out = run(folder, tmp_path, translator)
    assert [d["id"] for d in out.documents] == ["a", "c", "caf\\xe9"]
    assert out.documents[2]["source"] == f"{folder}/caf\\xe9.txt"
    assert [(r["doc_id"], r["en"]) for r in out.sentences][-1] == ("caf\\xe9", expected["会議は延期された。"])
    # The files are valid UTF-8 and a re-run resumes the same document under the same id.
    for name in ("documents.jsonl", "sentences.jsonl", "manifest.json"):
        (tmp_path / "out" / name).read_bytes().decode("utf-8")
    again = translate_documents(folder, output_dir=tmp_path / "out", translator=translator, summarizer_model=None)
    assert again.manifest["this_run"]["documents_resumed"] == 3


def test_an_undecodable_file_with_a_non_utf8_name_is_reported_not_a_traceback(
    folder: Path, tmp_path: Path, translator, tiny_marian: Path
) -> None:
    with open(os.path.join(os.fsencode(folder), b"b\xff.txt"), "wb") as handle:
        handle.write(UNDECODABLE)
    result = translate_cli(tiny_marian, tmp_path / "out", str(folder))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {folder}/b\\xff.txt: not valid UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP; "
        "re-run with --encoding NAME (for example --encoding cp932)\n"
    )
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert errors[0]["message"].startswith(f"{folder}/b\\xff.txt: not valid UTF-8")


def test_no_input_paths_at_all_is_an_input_error(tmp_path: Path, translator) -> None:
    with pytest.raises(InputError, match=r"^no input paths given; pass at least one file or folder$"):
        translate_documents([], output_dir=tmp_path / "out", translator=translator, summarizer_model=None)
    assert not (tmp_path / "out").exists()
