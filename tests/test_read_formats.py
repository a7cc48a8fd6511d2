"""One folder of every format ja2en reads, translated in one run: each document whole,
exactly aligned, in the walk's order, and every pair traceable to where it was."""

from __future__ import annotations

import json
from pathlib import Path

from test_read_docx import p, write_docx
from test_read_html import write_epub
from test_read_pdf import FONT, write_pdf
from test_read_tables import write_csv, write_parquet

from ja2en import translate_documents
from ja2en.readers import SUFFIXES


def test_a_folder_of_every_format_is_translated_whole_with_locators(tmp_path: Path, translator, expected) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    s = list(expected)  # the fixture corpus's Japanese sentences, each translated exactly
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text(s[0] + "\n", encoding="utf-8")
    (inputs / "b.jsonl").write_text(json.dumps({"id": "b1", "text": s[1]}, ensure_ascii=False) + "\n", encoding="utf-8")
    write_csv(inputs / "c.csv", [["id", "text"], ["c1", s[2]]])
    write_parquet(inputs / "d.parquet", {"id": ["d1"], "text": [s[3]], "url": ["https://example.jp/d1"]})
    (inputs / "e.html").write_text(
        f"<html lang=ja><head><title>お知らせ</title></head><body><nav><a href=/>トップ</a> <a href=/a>一覧</a></nav>"
        f"<main><article><p>{s[4]}</p><p>{s[5]}</p></article></main><footer>© 東京都</footer></body></html>",
        encoding="utf-8",
    )
    write_epub(inputs / "f.epub", {"one.xhtml": f"<p>{s[6]}</p>"}, ["one.xhtml"])
    write_docx(inputs / "g.docx", p(s[7]), parts={})
    write_pdf(inputs / "h.pdf", [[(0.0, s[8])]], header=None)  # a running header needs 2 pages to be found
    (inputs / "i.png").write_bytes(b"\x89PNG\r\n")  # not a format: one error, the rest written

    result = translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summary="none")

    documents = [json.loads(line) for line in result.files["documents"].read_text(encoding="utf-8").splitlines()]
    assert [d["format"] for d in documents] == ["txt", "jsonl", "csv", "parquet", "html", "epub", "docx", "pdf"]
    assert [pair["ja"] for d in documents for pair in d["pairs"]] == s[:9]
    assert all(pair["en"] == expected[pair["ja"]] for d in documents for pair in d["pairs"])
    locators = [pair["locator"] for d in documents for pair in d["pairs"]]
    assert locators[:2] == [None, None]  # plain text and JSONL have no places finer than the document
    assert locators[2:4] == ["row 1", "row 1"] and locators[-1] == "page 1"
    assert all(locators[4:]) and locators[5] != locators[4]
    assert documents[3]["meta"] == {"url": "https://example.jp/d1"}
    assert [e for e in result.errors] == [
        f"{(inputs / 'i.png').as_posix()}: not a document ja2en reads (.png); "
        f"convert it to one of {', '.join(SUFFIXES)}, or move it out of the input folder"
    ]
    assert not {"トップ", "一覧", "© 東京都"} & {pair["ja"] for d in documents for pair in d["pairs"]}
