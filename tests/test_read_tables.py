"""CSV, TSV, Parquet and saved Hugging Face datasets: one document per row, translated
exactly, with the other columns in `meta` and "row N" as the locator; a table without
its text column is one error, an empty row one error, and the other rows go on.
"""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

import ja2en
from ja2en import InputError
from ja2en.readers import ReadOptions, read_file
from ja2en.readers.dataset import is_saved_dataset, read_saved_dataset


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_csv(path: Path, rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)


def write_parquet(path: Path, columns: dict[str, list[Any]], **options: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path, **options)


def pairs(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(pair["ja"], pair["en"], pair["locator"]) for pair in doc["pairs"]]


def test_csv_tsv_and_parquet_rows_are_documents_with_their_columns_in_meta(
    tmp_path: Path, translator, expected
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    write_csv(
        root / "news.csv",
        [
            ["id", "title", "body", "url"],
            ["n-1", "株価", "株価は大幅に下落した。会議は延期された。", "https://example.com/1"],
            # A quoted cell over two lines: two paragraphs of one document.
            ["", "告知", "参加費は無料です。\n詳細は後日お知らせします。", "https://example.com/2"],
        ],
    )
    # A TSV from an old system: Shift_JIS, no id column.
    write_csv(root / "old.tsv", [["body", "page"], ["東京都は発表した。", "3"]], delimiter="\t", encoding="cp932")
    write_parquet(
        root / "wire.parquet",
        {
            "id": [101, 102],
            "body": ["大会は予定通り開催される。", "新しい図書館は来月開館する。"],
            "published": [datetime.date(2024, 5, 1), datetime.date(2024, 5, 2)],
            "score": [0.5, float("nan")],
        },
        row_group_size=1,  # read batch by batch across row groups
    )
    result = ja2en.translate_documents(
        root, output_dir=tmp_path / "out", translator=translator, summary="none", text_field="body"
    )
    assert result.errors == ()
    docs = read_jsonl(result.files["documents"])
    assert [(d["id"], d["source"], d["format"], d["meta"]) for d in docs] == [
        ("n-1", f"{root / 'news.csv'}:1", "csv", {"title": "株価", "url": "https://example.com/1"}),
        ("news:2", f"{root / 'news.csv'}:2", "csv", {"title": "告知", "url": "https://example.com/2"}),
        ("old:1", f"{root / 'old.tsv'}:1", "tsv", {"page": "3"}),
        ("101", f"{root / 'wire.parquet'}:1", "parquet", {"published": "2024-05-01", "score": 0.5}),
        ("102", f"{root / 'wire.parquet'}:2", "parquet", {"published": "2024-05-02", "score": None}),
    ]
    assert docs[2]["encoding"] == "cp932"
    ja = [
        [("株価は大幅に下落した。", "row 1"), ("会議は延期された。", "row 1")],
        [("参加費は無料です。", "row 2"), ("詳細は後日お知らせします。", "row 2")],
        [("東京都は発表した。", "row 1")],
        [("大会は予定通り開催される。", "row 1")],
        [("新しい図書館は来月開館する。", "row 2")],
    ]
    assert [pairs(d) for d in docs] == [[(s, expected[s], where) for s, where in doc] for doc in ja]
    assert docs[1]["num_paragraphs"] == 2


def test_bad_tables_are_one_error_each_and_the_other_rows_written(tmp_path: Path, translator, expected) -> None:
    root = tmp_path / "in"
    root.mkdir()
    write_csv(root / "a.csv", [["text", "url"], ["会議は延期された。", "u1"], ["", "u2"], ["ありがとうございます。", "u3"]])
    write_csv(root / "b.csv", [["title", "body", "url"], ["株価", "株価は大幅に下落した。", "u"]])
    write_parquet(root / "c.parquet", {"text": ["参加費は無料です。"] * 50})
    (root / "c.parquet").write_bytes((root / "c.parquet").read_bytes()[:-40])  # a download cut short
    write_parquet(root / "d.parquet", {"text": ["東京都は発表した。"]})
    result = ja2en.translate_documents(root, output_dir=tmp_path / "out", translator=translator, summary="none")
    errors = read_jsonl(result.files["errors"])
    assert [e["message"].split(" (")[0] for e in errors] == [
        f"{root / 'a.csv'}: row 2: empty 'text'; fill it in or remove the row",
        f"{root / 'b.csv'}: no column 'text'",
        f"{root / 'c.parquet'}: not a readable Parquet file",
    ]
    assert errors[1]["message"] == f"{root / 'b.csv'}: no column 'text' (it has: title, body, url); choose one with --text-field"
    assert errors[2]["message"].endswith("; export it again")
    docs = read_jsonl(result.files["documents"])
    assert [(d["id"], pairs(d)) for d in docs] == [
        ("a:1", [("会議は延期された。", expected["会議は延期された。"], "row 1")]),
        ("a:3", [("ありがとうございます。", expected["ありがとうございます。"], "row 3")]),
        ("d:1", [("東京都は発表した。", expected["東京都は発表した。"], "row 1")]),
    ]


def test_a_row_edited_changes_only_its_own_hash(tmp_path: Path) -> None:
    rows = [["id", "text"], ["1", "会議は延期された。"], ["2", "参加費は無料です。"]]
    write_csv(tmp_path / "t.csv", rows)
    before = [doc.sha256 for doc in read_file(tmp_path / "t.csv", tmp_path)]
    rows[2][1] = "株価は大幅に下落した。"
    write_csv(tmp_path / "t.csv", rows)
    after = [doc.sha256 for doc in read_file(tmp_path / "t.csv", tmp_path)]
    assert before[0] == after[0] and before[1] != after[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no header row; the first line must name the columns, one of them 'text'"),
        ("text,url\n", "a header but no rows; add one row per document"),
        ("text,url\n会議は延期された。,u,extra\n", ("row 1 has 3 cells but the header has 2; put cells that hold a comma, "
         "a quote or a line break in double quotes")),
        ("text,text\nあ,い\n", "the header names column 'text' twice; rename one of them"),
    ],
)  # fmt: skip
def test_malformed_csv_says_what_to_fix(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "t.csv").write_text(content, encoding="utf-8")
    assert [str(item) for item in read_file(tmp_path / "t.csv", tmp_path)] == [f"{tmp_path / 't.csv'}: {message}"]


def test_a_parquet_text_column_of_numbers_is_one_error(tmp_path: Path) -> None:
    write_parquet(tmp_path / "t.parquet", {"text": [1, 2]})
    [error] = read_file(tmp_path / "t.parquet", tmp_path)
    assert isinstance(error, InputError)
    assert str(error) == f"{tmp_path / 't.parquet'}: column 'text' holds int64, not text; choose the text column with --text-field"


def test_saved_datasets_read_as_tables_do(tmp_path: Path) -> None:
    import datasets

    rows = {"text": ["会議は延期された。\n参加費は無料です。", "", "ありがとうございます。"], "url": ["u1", "u2", "u3"]}
    datasets.Dataset.from_dict(rows).save_to_disk(tmp_path / "news.v2")
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(rows), "test": datasets.Dataset.from_dict({"text": ["東京都は発表した。"], "url": ["u9"]})}
    ).save_to_disk(tmp_path / "splits")
    assert is_saved_dataset(tmp_path / "news.v2") and is_saved_dataset(tmp_path / "splits")
    assert not is_saved_dataset(tmp_path) and not is_saved_dataset(tmp_path / "splits" / "missing")

    one = list(read_saved_dataset(tmp_path / "news.v2", tmp_path, ReadOptions()))
    assert [str(item) for item in one if isinstance(item, InputError)] == [
        f"{tmp_path / 'news.v2'}: row 2: empty 'text'; fill it in or remove the row"
    ]
    docs = [item for item in one if not isinstance(item, InputError)]
    assert [(d.id, d.source, d.format, d.text, d.locators, d.meta) for d in docs] == [
        ("news.v2:1", f"{tmp_path / 'news.v2'}:1", "dataset", "会議は延期された。\n参加費は無料です。\n", ("row 1", "row 1"), {"url": "u1"}),
        ("news.v2:3", f"{tmp_path / 'news.v2'}:3", "dataset", "ありがとうございます。\n", ("row 3",), {"url": "u3"}),
    ]
    # The same row as a CSV row hashes the same: one row → Document step for both.
    (tmp_path / "same.csv").write_text('text,url\n"会議は延期された。\n参加費は無料です。",u1\n', encoding="utf-8")
    [row] = read_file(tmp_path / "same.csv", tmp_path)
    assert row.sha256 == docs[0].sha256

    split = [item for item in read_saved_dataset(tmp_path / "splits", tmp_path / "splits", ReadOptions()) if not isinstance(item, InputError)]
    assert [(d.id, d.source, d.locators) for d in split] == [
        ("splits/train:1", f"{tmp_path / 'splits' / 'train'}:1", ("split train, row 1", "split train, row 1")),
        ("splits/train:3", f"{tmp_path / 'splits' / 'train'}:3", ("split train, row 3",)),
        ("splits/test:1", f"{tmp_path / 'splits' / 'test'}:1", ("split test, row 1",)),
    ]
    [error] = read_saved_dataset(tmp_path / "news.v2", tmp_path, ReadOptions(text_field="body"))
    assert str(error) == f"{tmp_path / 'news.v2'}: no column 'body' (it has: text, url); choose one with --text-field"


def _id_field_errors(path: Path, root: Path, id_field: str) -> list[str]:
    if path.is_dir():
        items = list(read_saved_dataset(path, root, ReadOptions(id_field=id_field)))
    else:
        items = list(read_file(path, root, options=ReadOptions(id_field=id_field)))
    return [str(item) for item in items if isinstance(item, InputError)]


def test_an_id_field_naming_a_missing_column_is_one_error_not_row_numbers(tmp_path: Path) -> None:
    import datasets

    write_csv(tmp_path / "t.csv", [["text", "url"], ["会議は延期された。", "u1"]])
    write_csv(tmp_path / "t.tsv", [["text", "url"], ["会議は延期された。", "u1"]], delimiter="\t")
    write_parquet(tmp_path / "t.parquet", {"text": ["会議は延期された。"], "url": ["u1"]})
    datasets.Dataset.from_dict({"text": ["会議は延期された。"], "url": ["u1"]}).save_to_disk(tmp_path / "ds")
    for name in ("t.csv", "t.tsv", "t.parquet", "ds"):
        assert _id_field_errors(tmp_path / name, tmp_path, "article_id") == [
            f"{tmp_path / name}: no column 'article_id' (it has: text, url); choose one with --id-field"
        ]
    # The default id column stays optional: without it, rows are numbered.
    assert _id_field_errors(tmp_path / "t.csv", tmp_path, "id") == []
    [doc] = read_file(tmp_path / "t.csv", tmp_path)
    assert doc.id == "t:1"


def test_a_jsonl_record_without_the_id_key_named_by_id_field_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text(
        '{"article_id": "a-1", "text": "一つ目。"}\n{"text": "二つ目。", "url": "u2"}\n{"text": "三つ目。"}\n',
        encoding="utf-8",
    )
    items = list(read_file(path, tmp_path, options=ReadOptions(id_field="article_id")))
    assert [str(item) for item in items if isinstance(item, InputError)] == [
        f'{path}:2: no "article_id" field (it has text, url); choose one with --id-field, or give every line one',
        f'{path}:3: no "article_id" field (it has text); choose one with --id-field, or give every line one',
    ]
    assert [doc.id for doc in items if not isinstance(doc, InputError)] == ["a-1"]
    # The default "id" key stays optional.
    assert [doc.id for doc in read_file(path, tmp_path)] == ["batch:1", "batch:2", "batch:3"]
