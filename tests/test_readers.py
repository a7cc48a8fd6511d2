from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ja2en import DecodeError, Document, InputError, read_documents
from ja2en.readers import decode_bytes, normalize_text
from ja2en.readers import SUFFIXES, list_input_files

TEXT = "東京都は９日、ＤＸ推進の協定を結んだ。\n「デジタル化」を進めるという。\n"


def read_all(*paths, **kwargs) -> list[Document | InputError]:
    return list(read_documents(list(paths), **kwargs))


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("cp932", "cp932"),
        ("shift_jis", "cp932"),
        ("euc-jp", "euc-jp"),
        ("iso-2022-jp", "iso-2022-jp"),
    ],
)
def test_japanese_encodings_are_detected_and_recorded(tmp_path: Path, encoding: str, expected: str) -> None:
    data = TEXT.encode(encoding)
    (tmp_path / "a.txt").write_bytes(data)
    [doc] = read_all(tmp_path)
    assert doc.encoding == expected
    assert doc.text == normalize_text(TEXT)
    assert doc.sha256 == hashlib.sha256(data).hexdigest()


def test_short_legacy_texts_are_not_mistaken_for_each_other() -> None:
    # Short strings are where CP932 and EUC-JP readings are most easily confused.
    for text in ["都は発表した。", "ありがとう", "東京", "データ連携基盤"]:
        for encoding in ("cp932", "euc-jp"):
            decoded, used = decode_bytes(text.encode(encoding), path="x.txt")
            assert (decoded, used) == (text, encoding)


def test_forced_encoding_is_used_and_a_wrong_one_says_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(TEXT.encode("cp932"))
    [doc] = read_all(path, encoding="cp932")
    assert doc.encoding == "cp932"
    [error] = read_all(path, encoding="utf-8")
    assert isinstance(error, DecodeError)
    assert str(error) == f"{path}: not valid utf-8 (byte 0); re-run without --encoding to detect it automatically"


def test_unknown_forced_encoding_names_the_valid_ones(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("テスト", encoding="utf-8")
    [error] = read_all(tmp_path, encoding="klingon")
    assert str(error) == "unknown encoding 'klingon'; use one of utf-8, cp932, shift_jis, euc-jp, iso-2022-jp"


def test_undecodable_bytes_name_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\xfe\xfa\x80\x80\xff")
    [error] = read_all(path)
    assert str(error) == (
        f"{path}: not valid UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP; "
        "re-run with --encoding NAME (for example --encoding cp932)"
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_all_newline_styles_give_the_same_text(tmp_path: Path, newline: str) -> None:
    (tmp_path / "a.txt").write_bytes("一行目。\n二行目。\n".replace("\n", newline).encode())
    [doc] = read_all(tmp_path)
    assert doc.text == "一行目。\n二行目。\n"


def test_nfkc_turns_full_width_letters_and_digits_into_ascii() -> None:
    assert normalize_text("２０２３年、ＡＩとＤＸ！？ｶﾀｶﾅ（注）") == "2023年、AIとDX!?カタカナ(注)"


def test_folder_is_read_recursively_in_stable_order_with_readable_ids(tmp_path: Path) -> None:
    for name in ["b.txt", "a/z.md", "a/c.txt", ".hidden/x.txt", "notes.png", "a/.DS_Store"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("本文です。", encoding="utf-8")
    items = read_all(tmp_path)
    assert [doc.id for doc in items if isinstance(doc, Document)] == ["a/c", "a/z", "b"]
    # Nothing is skipped without a word: the image is named (hidden files are not).
    assert [str(e) for e in items if isinstance(e, InputError)] == [
        f"{tmp_path / 'notes.png'}: not a document ja2en reads (.png); "
        f"convert it to one of {', '.join(SUFFIXES)}, or move it out of the input folder"
    ]


def test_single_file_id_is_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "news" / "article.txt"
    path.parent.mkdir()
    path.write_text("本文です。", encoding="utf-8")
    [doc] = read_all(path)
    assert (doc.id, doc.source) == ("article", path.as_posix())


def test_jsonl_records_use_their_id_or_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    lines = [
        json.dumps({"id": "press-1", "text": "一つ目。"}, ensure_ascii=False),
        "",
        json.dumps({"text": "二つ目。"}, ensure_ascii=False),
        json.dumps({"id": 7, "text": "三つ目。"}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs = read_all(tmp_path)
    assert [(d.id, d.source, d.text) for d in docs] == [
        ("press-1", f"{path.as_posix()}:1", "一つ目。"),
        ("batch:3", f"{path.as_posix()}:3", "二つ目。"),
        ("7", f"{path.as_posix()}:4", "三つ目。"),
    ]
    assert docs[0].sha256 == hashlib.sha256(lines[0].encode()).hexdigest()


def test_bad_jsonl_lines_are_reported_and_the_good_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text(
        "\n".join(['{"text": "良い。"}', "{not json", '{"title": "x"}', '{"text": 3}', '{"text": "  "}']),
        encoding="utf-8",
    )
    items = read_all(path)
    assert [i.text for i in items if isinstance(i, Document)] == ["良い。"]
    assert [str(i) for i in items if isinstance(i, InputError)] == [
        f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes); fix or remove the line",
        f'{path}:3: no "text" field (it has title; choose one with --text-field); '
        'each line must be an object like {"id": ..., "text": ...}',
        f'{path}:4: "text" must be a string, not a number',
        f'{path}:5: empty "text"; remove the line or add text',
    ]


def test_binary_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    [error] = read_all(path)
    assert str(error) == (
        f"{path}: looks like a binary file (it contains NUL bytes); remove it from the input, "
        "or re-save it as UTF-8 if it is UTF-16 text"
    )


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(" \n\u3000\n", encoding="utf-8")
    [error] = read_all(path)
    assert str(error) == f"{path}: empty document; remove it or add text"


def test_missing_path_and_broken_link_are_errors_in_their_place(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.txt").write_text("本文。", encoding="utf-8")
    (tmp_path / "in" / "gone.txt").symlink_to(tmp_path / "deleted.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "elsewhere.txt")
    items = list_input_files([tmp_path / "nope", tmp_path / "in", tmp_path / "dangling.txt"])
    assert [str(i) if isinstance(i, InputError) else i for i in items] == [
        f"{tmp_path / 'nope'}: no such file or folder; check the path",
        f"{tmp_path / 'in' / 'gone.txt'}: broken symbolic link (to {tmp_path / 'deleted.txt'}); fix or remove it",
        (tmp_path / "in" / "good.txt", tmp_path / "in"),
        f"{tmp_path / 'dangling.txt'}: broken symbolic link (to {tmp_path / 'elsewhere.txt'}); fix or remove it",
    ]


@given(st.text())
def test_normalized_text_never_contains_carriage_returns(text: str) -> None:
    assert "\r" not in normalize_text(text)


def _in_both_legacy_encodings(ch: str) -> bool:
    try:
        ch.encode("cp932"), ch.encode("euc-jp")
    except UnicodeEncodeError:
        return False
    return not 0xFF61 <= ord(ch) <= 0xFF9F  # half-width katakana: NFKC widens them anyway


# Japanese prose: kana, kanji, digits, punctuation, spaces; as found in news text.
JAPANESE = st.characters(categories=("Lo", "Nd", "Po", "Ps", "Pe", "Zs"), max_codepoint=0xFFFF).filter(
    _in_both_legacy_encodings
)


@given(st.text(alphabet=JAPANESE), st.sampled_from(["cp932", "euc-jp"]))
def test_japanese_prose_in_legacy_encodings_is_detected_exactly(text: str, encoding: str) -> None:
    text = "これは" + text  # real documents have kana; without any, 2-byte codes are ambiguous
    assert decode_bytes(text.encode(encoding), path="x") == (text, encoding)


def test_jsonl_text_and_id_fields_are_chosen_and_the_other_keys_kept_as_meta(tmp_path: Path, translator, expected) -> None:
    from ja2en import translate_documents

    records = tmp_path / "in" / "press.jsonl"
    records.parent.mkdir()
    lines = [
        {"url": "https://example.jp/1", "body": "会議は延期された。", "no": 7, "tags": ["都政"]},
        {"url": "https://example.jp/2", "body": "東京都は発表した。", "no": 8, "tags": []},
    ]
    records.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    result = translate_documents(
        records.parent, output_dir=tmp_path / "out", translator=translator, summary="none", text_field="body", id_field="no"
    )
    documents = [json.loads(line) for line in result.files["documents"].read_text(encoding="utf-8").splitlines()]
    assert [(d["id"], d["format"], d["meta"]) for d in documents] == [
        ("7", "jsonl", {"url": "https://example.jp/1", "tags": ["都政"]}),
        ("8", "jsonl", {"url": "https://example.jp/2", "tags": []}),
    ]
    assert [p["en"] for d in documents for p in d["pairs"]] == [expected["会議は延期された。"], expected["東京都は発表した。"]]
    assert result.manifest["fingerprint"]["text_field"] == "body"
    # Forgetting --text-field on the re-run is caught before anything is written.
    with pytest.raises(InputError, match=r'no "text" field \(it has body, no, tags, url; choose one with --text-field\)'):
        translate_documents(records.parent, output_dir=tmp_path / "out", translator=translator, summary="none", id_field="no")


def test_a_dataset_saved_on_disk_inside_the_input_folder_is_read_as_one_input(tmp_path: Path, translator, expected) -> None:
    import datasets

    from ja2en import translate_documents

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text("株価は大幅に下落した。\n", encoding="utf-8")
    rows = {"id": ["r1", "r2"], "text": ["会議は延期された。", "東京都は発表した。"], "url": ["u1", "u2"]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(inputs / "saved"))
    result = translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summary="none")
    assert result.errors == ()
    documents = [json.loads(line) for line in result.files["documents"].read_text(encoding="utf-8").splitlines()]
    assert [(d["id"], d["format"], d["meta"]) for d in documents] == [
        ("a", "txt", None), ("r1", "dataset", {"url": "u1"}), ("r2", "dataset", {"url": "u2"})
    ]  # fmt: skip
    assert [p["en"] for d in documents for p in d["pairs"]] == [
        expected[ja] for ja in ("株価は大幅に下落した。", "会議は延期された。", "東京都は発表した。")
    ]
    assert documents[1]["pairs"][0]["locator"] == "row 1"
    # The dataset folder itself can be the input too.
    alone = translate_documents(inputs / "saved", output_dir=tmp_path / "alone", translator=translator, summary="none")
    assert (alone.documents, alone.errors) == (2, ())


@pytest.mark.parametrize("newline", ["", "\n"])
@pytest.mark.parametrize("encoding", ["cp932", "euc-jp"])
@pytest.mark.parametrize(
    "text",
    [
        "これは‥‥‥‥",  # Hypothesis' failing example with --hypothesis-seed=26 (issue 27)
        "これは§§§§",  # refused as a whole file with no newline, read with one (issue 27)
        "※注意――“重要”…",  # U+2010-U+203B: punctuation Japanese prose borrows
        "気温は±3°、差は5×4。",  # JIS X 0208 row 1 symbols outside the Japanese blocks
        "★☆○●◎◇→←↑↓¶",
        "αβγΩ、ДЖЯ",  # Greek and Cyrillic are JIS X 0208 rows 6 and 7
        "┌─┐│└┘",  # box drawing, row 8
    ],
)
def test_japanese_symbols_count_as_japanese_with_or_without_a_final_newline(
    text: str, encoding: str, newline: str
) -> None:
    text += newline
    assert decode_bytes(text.encode(encoding), path="x") == (text, encoding)


@pytest.mark.parametrize("newline", ["", "\n"])
def test_nec_special_characters_count_as_japanese_in_cp932(newline: str) -> None:
    text = "手順①②③、㈱日本、№5、㎡" + newline  # CP932's row 13, common in Windows documents
    assert decode_bytes(text.encode("cp932"), path="x") == (text, "cp932")
