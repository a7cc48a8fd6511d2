"""PDF files: the text layer comes back as whole sentences, paragraph by paragraph, each
located by its page, without running headers and page numbers; scans, cut-off,
encrypted and fake PDFs are one error each.

The PDFs are typeset here with reportlab and its built-in Japanese CID font (HeiseiMin-W3,
not embedded: its CMap maps the glyphs back to Unicode), wrapped as a typesetter wraps
Japanese: anywhere between Japanese characters, never inside a Latin word or a number.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

import ja2en
from ja2en.readers import ReadOptions, read_file
from ja2en.readers.pdf import is_page_number

# The test extra and the formats extra bring these; a missing one must fail, not skip.
from reportlab.pdfbase import pdfmetrics  # noqa: E402
from reportlab.pdfgen import canvas  # noqa: E402

FONT = "HeiseiMin-W3"
SIZE = 10.5
PITCH = 1.7 * SIZE  # baseline to baseline
LEFT = 72.0
WIDTH = 20 * SIZE  # 20 Japanese characters a line
TOP = 760.0
LINES_PER_PAGE = 12
HEADER = "社内報 2024年春号"

# Paragraphs: (sentences, how the paragraph is set off from the one before).
# "indent": its first line starts one character in, with no gap; "gap": a blank line before it.
PARAGRAPHS = [
    (["当社は本日、新製品の販売を開始しました。", "新製品(型番ABC-100)は10月から出荷される。", "本製品は全国の家電量販店で購入できます。"], "indent"),
    (["当社はDXの推進に向けて、Microsoft Teamsを全社に導入しました。", "会議は延期された。"], "indent"),
    (["気象庁によると、明日は関東地方で大雨が予想される。", "市は住民に対し、不要不急の外出を控えるよう呼びかけている。"], "gap"),
    (["選挙の投票率は52.05%だった。", "円相場は一時1ドル=150円台まで下落した。", "日本銀行は政策金利を0.1%引き上げることを決めた。",
      "来年度の予算案は総額114兆3,812億円に上る。"], "indent"),
    (["市長は「市民の声に耳を傾ける。」と強調した。", "東京都は発表した。"], "gap"),
    (["本件に関するお問い合わせは、広報部までご連絡ください。"], "indent"),
]
# Breakable between two characters unless both are Latin letters, digits or their punctuation.
_HANGING = set("。、」』)")
_UNIT = re.compile(r"[A-Za-z0-9.,%=()\-]+ ?|.")


@pytest.fixture(scope="module", autouse=True)
def japanese_font() -> None:
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def wrap(text: str, first_indent: float) -> list[str]:
    """`text` broken into lines no wider than WIDTH, the first one `first_indent` points narrower."""
    lines, line = [], ""
    for unit in _UNIT.findall(text):
        room = WIDTH - (first_indent if not lines else 0)
        # Closing punctuation never starts a line: it hangs past the margin (ぶら下げ).
        if line and unit not in _HANGING and pdfmetrics.stringWidth((line + unit).rstrip(), FONT, SIZE) > room:
            lines.append(line.rstrip())
            line = ""
        line += unit
    return lines + [line.rstrip()]


def layout(paragraphs: list[tuple[list[str], str]]) -> tuple[list[list[tuple[float, str]]], list[int]]:
    """Pages of (indent, line) slots (None for a blank line) and, per paragraph, the page it starts on."""
    slots: list[tuple[float, str] | None] = []
    starts = []
    for index, (sentences, style) in enumerate(paragraphs):
        indent = SIZE if style == "indent" else 0.0
        if style == "gap" and index:
            slots.append(None)
        starts.append(len(slots) // LINES_PER_PAGE + 1)
        lines = wrap("".join(sentences), indent)
        slots += [(indent if n == 0 else 0.0, line) for n, line in enumerate(lines)]
    pages = [slots[i : i + LINES_PER_PAGE] for i in range(0, len(slots), LINES_PER_PAGE)]
    return pages, starts


def write_pdf(
    path: Path, pages: list[list[Any]], *, title: str | None = None, header: str | None = HEADER, **options: Any
) -> None:
    """A PDF of `pages` under a running header and over a "- N -" page number."""
    pdf = canvas.Canvas(str(path), pagesize=(595.0, 842.0), **options)
    if title:
        pdf.setTitle(title)
    for number, slots in enumerate(pages, start=1):
        pdf.setFont(FONT, 9)
        if header:
            pdf.drawString(LEFT, 800, header)
        pdf.drawCentredString(297.5, 50, f"- {number} -")
        pdf.setFont(FONT, SIZE)
        for row, slot in enumerate(slots):
            if slot:
                pdf.drawString(LEFT + slot[0], TOP - row * PITCH, slot[1])
        pdf.showPage()
    pdf.save()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_pdf_is_translated_exactly_sentence_by_sentence_with_its_page(tmp_path: Path, translator, expected) -> None:
    pages, starts = layout(PARAGRAPHS)
    lines = [slot[1] for page in pages for slot in page if slot]
    # What the test is about: sentences wrapped inside (one between "Microsoft" and "Teams"),
    # and a paragraph that goes on over the page break.
    assert any(line.endswith("Microsoft") and after.startswith("Teams") for line, after in itertools.pairwise(lines))
    assert len(pages) == 2 and pages[1][0] and not pages[0][-1][1].endswith("。")
    root = tmp_path / "in"
    root.mkdir()
    write_pdf(root / "report.pdf", pages, title="社内報")
    result = ja2en.translate_documents(root, output_dir=tmp_path / "out", translator=translator, summary="none")
    assert result.errors == ()
    [doc] = read_jsonl(result.files["documents"])
    assert (doc["id"], doc["format"], doc["title"]) == ("report", "pdf", "社内報")
    assert [(pair["ja"], pair["locator"]) for pair in doc["pairs"]] == [
        (sentence, f"page {start}") for (sentences, _), start in zip(PARAGRAPHS, starts) for sentence in sentences
    ]
    assert [pair["en"] for pair in doc["pairs"]] == [expected[pair["ja"]] for pair in doc["pairs"]]
    assert not any("社内報" in pair["ja"] or "-" in pair["ja"][:2] for pair in doc["pairs"])


def test_paragraphs_follow_indents_gaps_and_pages(tmp_path: Path) -> None:
    pages, starts = layout(PARAGRAPHS)
    write_pdf(tmp_path / "a.pdf", pages)
    [doc] = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert doc.text == "".join("".join(sentences) + "\n" for sentences, _ in PARAGRAPHS)
    assert doc.locators == tuple(f"page {start}" for start in starts)
    assert doc.title is None and doc.meta == {"pages": 2}  # reportlab's "untitled" is no title


def test_a_heading_and_short_lines_are_paragraphs_of_their_own(tmp_path: Path) -> None:
    pdf = canvas.Canvas(str(tmp_path / "a.pdf"))
    pdf.setFont(FONT, 16)
    pdf.drawString(LEFT, 760, "お知らせ")  # a heading: larger, no full stop, no gap after it
    pdf.setFont(FONT, SIZE)
    # The first line fills the width; a line ending a sentence short of it ends its paragraph,
    # one ending short without a full stop does not.
    for row, line in enumerate(["当社は本日、新製品の販売を開始しました。", "会議は延期された。", "詳細は後日", "お知らせします。"]):
        pdf.drawString(LEFT, 740 - row * PITCH, line)
    pdf.save()
    [doc] = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert doc.text == "お知らせ\n当社は本日、新製品の販売を開始しました。会議は延期された。\n詳細は後日お知らせします。\n"
    assert doc.locators == ("page 1",) * 3


@pytest.mark.parametrize("line", ["1", "- 2 -", "— 12 —", "3 / 10", "3/10", "p. 4", "Page 5", "第3頁", "12ページ", "iv", "－３－"])
def test_page_numbers_are_recognized(line: str) -> None:
    from ja2en.readers.text import normalize_text

    assert is_page_number(normalize_text(line))


@pytest.mark.parametrize("line", ["2023年", "第3章", "II", "1.5倍", "東京都は発表した。"])
def test_other_short_lines_are_not_page_numbers(line: str) -> None:
    assert not is_page_number(line)


def test_a_scanned_pdf_is_reported_not_translated_as_empty(tmp_path: Path) -> None:
    pdf = canvas.Canvas(str(tmp_path / "scan.pdf"))
    pdf.rect(50, 50, 500, 700, fill=1)  # the page image of a scan, as far as text goes
    pdf.showPage()
    pdf.save()
    assert [str(item) for item in read_file(tmp_path / "scan.pdf", tmp_path, options=ReadOptions())] == [
        f"{tmp_path / 'scan.pdf'}: no text layer (a scanned PDF?); OCR it first, e.g. with ocrmypdf, then translate the result"
    ]


def test_broken_pdf_files_are_one_error_each_and_the_others_written(tmp_path: Path, translator, expected) -> None:
    from reportlab.lib.pdfencrypt import StandardEncryption

    def one_page(path: Path, sentence: str, **options: Any) -> None:
        # A header on one page is no running header: it is text like any other.
        write_pdf(path, [[(0.0, sentence)]], header=None, **options)

    root = tmp_path / "in"
    root.mkdir()
    one_page(root / "a.pdf", "会議は延期された。")
    one_page(tmp_path / "whole.pdf", "参加費は無料です。")
    data = (tmp_path / "whole.pdf").read_bytes()
    (root / "b.pdf").write_bytes(data[: len(data) // 2])  # a download cut off halfway
    one_page(root / "c.pdf", "東京都は発表した。", encrypt=StandardEncryption("secret"))
    (root / "d.pdf").write_bytes("株価は大幅に下落した。\n".encode())  # text, named .pdf
    one_page(root / "e.pdf", "ありがとうございます。")
    result = ja2en.translate_documents(root, output_dir=tmp_path / "out", translator=translator, summary="none")
    assert read_jsonl(result.files["errors"]) == [
        {"error": "InputError", "message": f"{root / 'b.pdf'}: truncated (it does not end with %%EOF); copy or download it again"},
        {"error": "InputError", "message": f"{root / 'c.pdf'}: encrypted; decrypt it first, e.g. with qpdf --decrypt"},
        {
            "error": "InputError",
            "message": f"{root / 'd.pdf'}: not a PDF (no %PDF- header); check what the file is and give it its real suffix",
        },
    ]
    docs = read_jsonl(result.files["documents"])
    assert [(d["id"], [(pair["ja"], pair["en"]) for pair in d["pairs"]]) for d in docs] == [
        ("a", [("会議は延期された。", expected["会議は延期された。"])]),
        ("e", [("ありがとうございます。", expected["ありがとうございます。"])]),
    ]
