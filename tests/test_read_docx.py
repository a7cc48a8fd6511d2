"""Word .docx files: every paragraph, heading, table cell, header, footer and footnote is
translated exactly and points back to its place; broken files are one error each.

The .docx files are written here as the few XML parts Word itself writes, so the test
needs no library to build them.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any


import ja2en
from ja2en.readers import ReadOptions, read_file

NS = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)


def p(*runs: str, style: str | None = None, extra: str = "") -> str:
    """A paragraph of runs (each run one <w:t>), with an optional paragraph style."""
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    text = "".join(f'<w:r><w:t xml:space="preserve">{run}</w:t></w:r>' for run in runs)
    return f"<w:p>{props}{text}{extra}</w:p>"


def table(rows: list[list[str]]) -> str:
    cells = "".join("<w:tr>" + "".join(f"<w:tc>{p(cell)}</w:tc>" for cell in row) + "</w:tr>" for row in rows)
    return f"<w:tbl><w:tblPr/>{cells}</w:tbl>"


def section(header: str, footer: str) -> str:
    return (
        f'<w:sectPr><w:headerReference w:type="default" r:id="{header}"/>'
        f'<w:footerReference w:type="default" r:id="{footer}"/></w:sectPr>'
    )


def write_docx(path: Path, body: str, *, parts: dict[str, str], title: str | None = None) -> None:
    """A .docx holding `body` (the children of <w:body>) and other parts (name → children of their root)."""
    roots = {"header": "w:hdr", "footer": "w:ftr", "footnotes": "w:footnotes"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/></Types>',
        )
        archive.writestr("word/document.xml", f'<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body>{body}</w:body></w:document>')
        for name, children in parts.items():
            root = roots[name.rstrip("0123456789")]
            archive.writestr(f"word/{name}.xml", f"<{root} {NS}>{children}</{root}>")
        if title:
            archive.writestr(
                "docProps/core.xml",
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
                f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></cp:coreProperties>',
            )


def footnote_ref(number: int) -> str:
    return f'<w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="{number}"/></w:r>'


def text_box(text: str) -> str:
    """A text box as Word writes it: once for new readers (Choice), once for old ones (Fallback)."""
    content = f"<w:txbxContent>{p(text)}</w:txbxContent>"
    return (
        f'<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing>{content}</w:drawing></mc:Choice>'
        f"<mc:Fallback><w:pict>{content}</w:pict></mc:Fallback></mc:AlternateContent></w:r>"
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_docx_is_translated_exactly_with_a_locator_for_every_paragraph(
    tmp_path: Path, translator, expected
) -> None:
    body = (
        p("東京都は発表した。", style="Heading1")
        + p("")  # spacing, as Word users make it: no paragraph of its own
        + p("会議は", "延期された。", extra=footnote_ref(2))  # one sentence over two runs
        + p("参加費は無料です。", extra=text_box("詳細は後日お知らせします。"))
        + table([["株価は大幅に下落した。", "ありがとうございます。"], ["", "新しい図書館は来月開館する。"]])
        + p("大会は予定通り開催される。", extra=footnote_ref(3))
        + f"<w:p><w:pPr>{section('rId1', 'rId2')}</w:pPr></w:p>"
        + p("警察は事故の原因を調べている。")
        + section("rId3", "rId4")
    )
    notes = (
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:footnote>'
        f'<w:footnote w:id="2">{p("事故による死傷者はいなかった。")}</w:footnote>'
        f'<w:footnote w:id="3">{p("募集期間は2023年5月31日までです。")}</w:footnote>'
    )
    header = p("本日の説明会はオンラインで開催します。")
    root = tmp_path / "in"
    root.mkdir()
    write_docx(
        root / "report.docx",
        body,
        # Both sections repeat the same header: it is read once.
        parts={"header1": header, "header2": header, "footer1": p("皆様のご来場を心よりお待ちしております。"), "footnotes": notes},
        title="報告書",
    )
    result = ja2en.translate_documents(root, output_dir=tmp_path / "out", translator=translator, summary="none")
    assert result.errors == ()
    [doc] = read_jsonl(result.files["documents"])
    assert (doc["id"], doc["format"], doc["title"]) == ("report", "docx", "報告書")
    assert [(pair["ja"], pair["locator"]) for pair in doc["pairs"]] == [
        ("本日の説明会はオンラインで開催します。", "header"),
        ("東京都は発表した。", "paragraph 1"),
        ("会議は延期された。", "paragraph 2"),
        ("参加費は無料です。", "paragraph 3"),
        ("詳細は後日お知らせします。", "paragraph 3, text box"),  # once, though Word stores it twice
        ("株価は大幅に下落した。", "table 1, row 1, cell 1"),
        ("ありがとうございます。", "table 1, row 1, cell 2"),
        ("新しい図書館は来月開館する。", "table 1, row 2, cell 2"),
        ("大会は予定通り開催される。", "paragraph 4"),
        ("警察は事故の原因を調べている。", "paragraph 5"),
        ("事故による死傷者はいなかった。", "footnote 1"),
        ("募集期間は2023年5月31日までです。", "footnote 2"),
        ("皆様のご来場を心よりお待ちしております。", "footer"),
    ]
    assert [pair["en"] for pair in doc["pairs"]] == [expected[pair["ja"]] for pair in doc["pairs"]]


def test_footnotes_are_numbered_in_the_order_the_body_cites_them(tmp_path: Path) -> None:
    notes = f'<w:footnote w:id="5">{p("後の注。")}</w:footnote><w:footnote w:id="4">{p("先の注。")}</w:footnote>'
    write_docx(tmp_path / "a.docx", p("本文。", extra=footnote_ref(4) + footnote_ref(5)), parts={"footnotes": notes})
    [doc] = read_file(tmp_path / "a.docx", tmp_path, options=ReadOptions())
    assert doc.text == "本文。\n先の注。\n後の注。\n"
    assert doc.locators == ("paragraph 1", "footnote 1", "footnote 2")


def test_deleted_text_field_codes_and_furigana_are_not_read(tmp_path: Path) -> None:
    body = (
        '<w:p><w:r><w:t>残す。</w:t></w:r><w:del w:id="1"><w:r><w:delText>消した。</w:delText></w:r></w:del>'
        '<w:r><w:ruby><w:rubyPr/><w:rt><w:r><w:t>かんじ</w:t></w:r></w:rt><w:rubyBase><w:r><w:t>漢字</w:t></w:r></w:rubyBase></w:ruby></w:r>'
        '<w:ins w:id="2"><w:r><w:t>加えた。</w:t></w:r></w:ins>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>3</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    write_docx(tmp_path / "a.docx", body, parts={})
    [doc] = read_file(tmp_path / "a.docx", tmp_path, options=ReadOptions())
    assert doc.text == "残す。漢字加えた。3\n"


def test_broken_docx_files_are_one_error_each_and_the_others_written(
    tmp_path: Path, translator, expected
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    write_docx(root / "a.docx", p("会議は延期された。"), parts={})
    with zipfile.ZipFile(root / "b.docx", "w") as archive:
        archive.writestr("inner.txt", "参加費は無料です。")
    (root / "c.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))  # an old .doc, renamed
    write_docx(root / "d.docx", p("ありがとうございます。"), parts={})
    result = ja2en.translate_documents(root, output_dir=tmp_path / "out", translator=translator, summary="none")
    assert read_jsonl(result.files["errors"]) == [
        {
            "error": "InputError",
            "message": f"{root / 'b.docx'}: a zip archive but not a Word document (no word/document.xml); "
            "save it as .docx from Word",
        },
        {
            "error": "InputError",
            "message": f"{root / 'c.docx'}: not a .docx file (not a zip archive; an old .doc or a password-protected file?); "
            "save it as .docx without a password",
        },
    ]
    docs = read_jsonl(result.files["documents"])
    assert [(d["id"], [(pair["ja"], pair["en"]) for pair in d["pairs"]]) for d in docs] == [
        ("a", [("会議は延期された。", expected["会議は延期された。"])]),
        ("d", [("ありがとうございます。", expected["ありがとうございます。"])]),
    ]
