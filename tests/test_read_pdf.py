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


# ---------- columns (issue 25) ----------

# Column 1 ends inside a sentence that column 2 finishes: the splice the issue saw.
COLUMN_TEXT = [
    "政府は昨年度、紙の使用量を大幅に削減する方針を決めた。その結果、使用量が減った。会議の資料は電子化され、印刷は原則として行わない。",
    "約四万人の職員がトレーニングを受ける予定である。講師は外部から招く。研修は十月に始まり、全ての部署で行われる。受講した職員には修了証が交付される。",
    "本件に関するお問い合わせは、広報部までご連絡ください。",
]


def column_lines(paragraphs: list[str]) -> list[tuple[float, str]]:
    """The (indent, line) slots of paragraphs set in one column, each first line indented."""
    return [(SIZE if n == 0 else 0.0, line) for text in paragraphs for n, line in enumerate(wrap(text, SIZE))]


def two_column_pdf(
    path: Path, columns: list[list[tuple[float, str]]], *, by_row: bool, title: str | None = None, gutter: float = 3
) -> None:
    """One page of two columns, drawn row by row across both or one column after the other;
    `gutter` characters between them."""
    pdf = canvas.Canvas(str(path), pagesize=(595.0, 842.0))
    if title:
        pdf.setFont(FONT, 16)
        pdf.drawString(LEFT, TOP + 2 * PITCH, title)
    pdf.setFont(FONT, SIZE)
    slots = [(row, column) for column in range(2) for row in range(len(columns[column]))]
    for row, column in sorted(slots) if by_row else slots:
        indent, text = columns[column][row]
        pdf.drawString(LEFT + column * (WIDTH + gutter * SIZE) + indent, TOP - row * PITCH, text)
    pdf.save()


def split_columns() -> list[list[tuple[float, str]]]:
    """COLUMN_TEXT's lines, the first 6 in column 1 and the rest in column 2."""
    lines = column_lines(COLUMN_TEXT)
    assert not lines[5][1].endswith("。")  # the column break falls inside a sentence
    return [lines[:6], lines[6:]]


# A gutter of 2 characters, into which the 。 ending a line of column 1 hangs, leaves 1.
@pytest.mark.parametrize("gutter", [3, 2])
@pytest.mark.parametrize("by_row", [True, False], ids=["row by row", "column by column"])
def test_two_columns_are_read_one_after_the_other(tmp_path: Path, by_row: bool, gutter: float) -> None:
    assert any(line.endswith("。") and len(line) > 20 for _, line in split_columns()[0])
    two_column_pdf(tmp_path / "a.pdf", split_columns(), by_row=by_row, gutter=gutter)
    [doc] = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert doc.text == "".join(text + "\n" for text in COLUMN_TEXT)
    # The second paragraph starts in column 1 and goes on in column 2.
    assert doc.locators == ("page 1, column 1", "page 1, column 1", "page 1, column 2")


def test_a_title_over_two_columns_stays_first(tmp_path: Path) -> None:
    two_column_pdf(tmp_path / "a.pdf", split_columns(), by_row=True, title="令和6年度 業務報告 紙の削減と職員研修の取り組み")
    [doc] = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert doc.text == "令和6年度 業務報告 紙の削減と職員研修の取り組み\n" + "".join(text + "\n" for text in COLUMN_TEXT)
    assert doc.locators == ("page 1", "page 1, column 1", "page 1, column 1", "page 1, column 2")


def test_column_two_has_its_own_locator(tmp_path: Path) -> None:
    lines = column_lines(COLUMN_TEXT)
    first = len(wrap(COLUMN_TEXT[0], SIZE))  # column 1 holds the first paragraph only
    two_column_pdf(tmp_path / "a.pdf", [lines[:first], lines[first:]], by_row=True)
    [doc] = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert doc.text == "".join(text + "\n" for text in COLUMN_TEXT)
    assert doc.locators == ("page 1, column 1", "page 1, column 2", "page 1, column 2")


def test_a_two_column_table_is_read_row_by_row(tmp_path: Path) -> None:
    rows = [("件名", "新製品の販売開始について"), ("日時", "令和6年10月1日"), ("会場", "市民会館大ホール"),
            ("対象", "市内在住の方"), ("費用", "無料(要申込み)")]
    pdf = canvas.Canvas(str(tmp_path / "a.pdf"))
    pdf.setFont(FONT, SIZE)
    for row, (label, value) in enumerate(rows):
        pdf.drawString(LEFT, TOP - row * PITCH, label)
        pdf.drawString(LEFT + 8 * SIZE, TOP - row * PITCH, value)
    pdf.save()
    [doc] = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert doc.text.replace(" ", "") == "".join(label + value for label, value in rows) + "\n"
    assert set(doc.locators) == {"page 1"}


# ---------- scanned pages among text pages (issue 25) ----------

def pdf_with_a_scanned_page(path: Path, scanned: set[int], pages: int = 3) -> None:
    """`pages` pages of one sentence each, less those in `scanned`, which hold only an image."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    pdf = canvas.Canvas(str(path))
    for number in range(1, pages + 1):
        if number in scanned:
            pdf.drawImage(ImageReader(Image.new("L", (40, 60), 200)), 50, 50, 500, 700)
        else:
            pdf.setFont(FONT, SIZE)
            pdf.drawString(LEFT, TOP, ["会議は延期された。", "参加費は無料です。", "東京都は発表した。", "ありがとうございます。", "会議は延期された。"][number - 1])
        pdf.showPage()
    pdf.save()


def test_a_scanned_page_among_text_pages_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    from ja2en.errors import PagesWithoutTextError

    pdf_with_a_scanned_page(tmp_path / "a.pdf", {2})
    error, doc = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert isinstance(error, PagesWithoutTextError)
    assert str(error) == (
        f"{tmp_path / 'a.pdf'}: no text layer on page 2 (scanned?), so the translation lacks it; "
        "to include it, OCR the PDF first, e.g. with ocrmypdf -l jpn --skip-text"
    )
    assert doc.text == "会議は延期された。\n東京都は発表した。\n"
    assert doc.locators == ("page 1", "page 3")
    assert doc.meta == {"pages": 3, "pages_without_text": [2]}


def test_scanned_pages_are_named_in_ranges_and_a_blank_page_is_not_reported(tmp_path: Path) -> None:
    pdf_with_a_scanned_page(tmp_path / "a.pdf", {1, 2, 4}, pages=5)
    error, doc = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert "no text layer on pages 1-2, 4 (scanned?)" in str(error)
    assert doc.meta == {"pages": 5, "pages_without_text": [1, 2, 4]}
    pdf = canvas.Canvas(str(tmp_path / "blank.pdf"))
    pdf.setFont(FONT, SIZE)
    pdf.drawString(LEFT, TOP, "会議は延期された。")
    pdf.showPage()
    pdf.showPage()  # an empty page: nothing on it is lost
    pdf.save()
    [doc] = read_file(tmp_path / "blank.pdf", tmp_path, options=ReadOptions())
    assert doc.meta == {"pages": 2}


def test_a_run_warns_lists_the_scanned_page_in_errors_jsonl_and_translates_the_rest(
    tmp_path: Path, translator, expected
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    pdf_with_a_scanned_page(root / "a.pdf", {2})
    message = (
        f"{root / 'a.pdf'}: no text layer on page 2 (scanned?), so the translation lacks it; "
        "to include it, OCR the PDF first, e.g. with ocrmypdf -l jpn --skip-text"
    )
    with pytest.warns(ja2en.errors.Ja2enWarning) as warned:
        result = ja2en.translate_documents(root, output_dir=tmp_path / "out", translator=translator, summary="none")
    assert [str(w.message) for w in warned if issubclass(w.category, ja2en.errors.Ja2enWarning)] == [message]
    assert read_jsonl(result.files["errors"]) == [{"error": "PagesWithoutTextError", "message": message}]
    [doc] = read_jsonl(result.files["documents"])
    assert [(pair["ja"], pair["en"], pair["locator"]) for pair in doc["pairs"]] == [
        ("会議は延期された。", expected["会議は延期された。"], "page 1"),
        ("東京都は発表した。", expected["東京都は発表した。"], "page 3"),
    ]
    assert doc["meta"] == {"pages": 3, "pages_without_text": [2]}


def test_fail_fast_stops_at_a_scanned_page(tmp_path: Path, translator) -> None:
    root = tmp_path / "in"
    root.mkdir()
    pdf_with_a_scanned_page(root / "a.pdf", {2})
    with pytest.raises(ja2en.errors.PagesWithoutTextError, match="no text layer on page 2"):
        ja2en.translate_documents(
            root, output_dir=tmp_path / "out", translator=translator, summary="none", fail_fast=True
        )


def test_vertical_writing_is_reported_not_spliced(tmp_path: Path) -> None:
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    # The vertical font takes the horizontal one's name: it is put back for the other tests.
    pdfmetrics.registerFont(UnicodeCIDFont(FONT, isVertical=True))
    try:
        pdf = canvas.Canvas(str(tmp_path / "tate.pdf"))
        pdf.setFont(FONT, 12)
        for column, text in enumerate(["政府は昨年度、紙の使用量を大幅に", "削減する方針を決めた。その結果、", "使用量が減った。"]):
            pdf.drawString(500 - 20 * column, 780, text)  # columns run top to bottom, right to left
        pdf.save()
    finally:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    assert [str(item) for item in read_file(tmp_path / "tate.pdf", tmp_path, options=ReadOptions())] == [
        f"{tmp_path / 'tate.pdf'}: vertical writing (縦書き) on page 1, which ja2en cannot read in order; "
        "give it the text another way, e.g. copied from the document it was made from"
    ]


def test_the_report_says_which_pages_were_not_translated(tmp_path: Path, translator) -> None:
    import shutil

    from playwright.sync_api import sync_playwright

    from ja2en.corpus.report import write_report

    root = tmp_path / "in"
    root.mkdir()
    pdf_with_a_scanned_page(root / "a.pdf", {2, 3}, pages=4)
    with pytest.warns(ja2en.errors.Ja2enWarning):
        ja2en.translate_documents(root, output_dir=tmp_path / "out", translator=translator, summary="none")
    report = write_report(tmp_path / "out")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(report.resolve().as_uri())
            page.wait_for_selector("body[data-ready=true]", timeout=10_000)
            shown = page.locator("article.doc .pages-without-text").all_inner_texts()
            errors = page.locator("#errors").inner_text()
        finally:
            browser.close()
    assert shown == ["not translated: pages 2, 3 (no text layer, scanned?)"]
    assert "PagesWithoutTextError" in errors and "no text layer on pages 2-3 (scanned?)" in errors


@pytest.mark.parametrize(("after", "paragraphs"), [
    ("との声明を発表した。", ["同社は「顧客の安全を第一に考える。」との声明を発表した。"]),
    ("同社は声明を発表した。", ["同社は「顧客の安全を第一に考える。」", "同社は声明を発表した。"]),
])
def test_a_quote_ending_a_page_goes_on_when_its_sentence_does(tmp_path: Path, after: str, paragraphs: list[str]) -> None:
    # 。」 ends a page, or a column: the sentence ends there only if the segmenter would end it.
    write_pdf(tmp_path / "a.pdf", [[(0.0, "同社は「顧客の安全を第一に考える。」")], [(0.0, after)]], header=None)
    [doc] = read_file(tmp_path / "a.pdf", tmp_path, options=ReadOptions())
    assert doc.text == "".join(paragraph + "\n" for paragraph in paragraphs)


def test_the_cli_warns_of_a_scanned_page_once_and_counts_it_apart_from_failures(tmp_path: Path, tiny_marian: Path) -> None:
    from typer.testing import CliRunner

    from ja2en.cli import app

    root = tmp_path / "in"
    root.mkdir()
    pdf_with_a_scanned_page(root / "a.pdf", {2})
    (root / "b.txt").write_bytes(b"\xff\xfe\x00broken")
    options = ["-m", str(tiny_marian), "--no-summary", "--beams", "1", "--backend", "torch", "--device", "cpu"]
    result = CliRunner().invoke(app, ["translate", str(root), *options, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2  # errors.jsonl is not empty: the translation lacks a page
    warning = (
        f"warning: {root / 'a.pdf'}: no text layer on page 2 (scanned?), so the translation lacks it; "
        "to include it, OCR the PDF first, e.g. with ocrmypdf -l jpn --skip-text"
    )
    lines = result.stderr.splitlines()
    assert lines.count(warning) == 1
    assert [line for line in lines if line.startswith("error: ")] == [
        f"error: {root / 'b.txt'}: looks like a binary file (it contains NUL bytes); remove it from the input, "
        "or re-save it as UTF-8 if it is UTF-16 text"
    ]
    assert ", 1 failed (see above), 1 with pages left out (see errors.jsonl) →" in result.stdout
