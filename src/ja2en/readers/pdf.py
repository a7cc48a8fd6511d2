"""PDF → Document: the text layer (no OCR) read with PDFium, page by page, as paragraphs.

PDFium (pypdfium2) gives each page's characters in content-stream order, which is the
reading order of almost every generated PDF, and breaks them into lines. Each line keeps
its position: the origin of its first character (left x, baseline y), the right edge of
its last one, and its size (the height of its first character's font box).
benchmarks/extract_pdf.py measured the choice of library.

Page furniture is dropped before paragraphs are built. Only the two highest and the two
lowest lines of a page can be furniture:
- a page number: "3", "- 3 -", "3 / 10", "p. 3", "Page 3", "第3頁", "3ページ", "iv";
- a running header or footer: a line whose text, with its digits ignored ("2024年 社内報 3"),
  stands at the top or bottom of at least half of the pages, and of two pages or more.

Paragraphs. A PDF has no paragraphs, only lines, and Japanese text is wrapped inside
sentences, so the rule is built around one fact: a break right after a sentence end
(。.!?」』) cannot cut a sentence, while a break anywhere else can. A new paragraph starts
- wherever the layout says so by itself: a vertical gap larger than 1.3 times the
  document's usual line pitch (median baseline distance in units of the font size), a
  change of font size by more than 15% (a heading), or a line that does not lie below the
  one before it (a new column, a text box);
- after a line that ends a sentence, when either the next line is indented (it starts with
  a space, or half a character or more right of the page's usual left margin) or the line
  itself is short (it ends two characters or more before the page's right margin, so the
  text did not wrap there).
A paragraph goes on across a page break only when the page's last line neither ends a
sentence nor ends short, and the next page's first line is not indented and has the same
size: a sentence cut by a page break stays whole, its locator the page where it starts.
Any other page break ends the paragraph, so that each page's sentences say their page.

Lines of one paragraph are joined by `join_lines`: Japanese directly, Latin words with one
space. A PDF with no text at all on any page has no text layer (a scan): it is reported,
never translated as empty. Vertical writing (縦書き) is not laid out into lines here.
"""

from __future__ import annotations

import ctypes
import itertools
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, display_path, first_line
from ..records import Document
from .text import ReadOptions, import_extra, normalize_text, paragraphs_document

# Lines at the top and at the bottom of a page that may be a header, footer or page number.
_BAND = 2
_GAP = 1.3  # a vertical gap this many times the usual line pitch ends a paragraph
_SIZE_CHANGE = 0.15
_INDENT = 0.5  # in characters (font sizes)
_SHORT = 2.0  # in characters: a line ending this far before the right margin did not wrap
_SENTENCE_END = tuple("。.!?」』")
_PAGE_NUMBER = re.compile(
    r"[-‐−–—~〜\s]*\d+[-‐−–—~〜\s]*"
    r"|\d+\s*(/|of)\s*\d+"
    r"|(p|pp|page|pg)\.?\s*\d+"
    r"|(第\s*)?[\d〇一二三四五六七八九十百]+\s*(頁|ページ)"
    r"|(ページ|頁)\s*\d+",
    re.IGNORECASE,
)
# Front matter is numbered in small roman numerals; capitals are more often a heading ("II").
_ROMAN_PAGE_NUMBER = re.compile(r"[-‐−–—\s]*[ivxlc]+[-‐−–—\s]*")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_LINE_BREAKS = {0x0A, 0x0D}
# Placeholders that PDF writers put in the Title field when the author gave none.
_NO_TITLE = {"", "untitled", "無題"}


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a page's text layer, NFKC-normalized, with where it stands (PDF points)."""

    text: str
    left: float  # origin x of its first character
    right: float  # right edge of its last character
    baseline: float  # origin y of its first character; larger is higher on the page
    size: float  # height of its first character's font box, about the font size


def read_pdf_file(path: Path, root: Path, data: bytes, options: ReadOptions) -> Iterator[Document | InputError]:
    """A .pdf file: one document, its paragraphs rebuilt from the text layer, each located by "page N"."""
    pdfium = import_extra("pypdfium2", ".pdf")
    raw = import_extra("pypdfium2.raw", ".pdf")
    where = display_path(path)
    opened = open_pdf(pdfium, raw, data, where)
    if isinstance(opened, InputError):
        yield opened
        return
    try:
        title = opened.get_metadata_value("Title").strip()
        pages = []
        for number in range(len(opened)):
            try:
                pages.append(read_page_lines(raw, opened, number))
            except pdfium.PdfiumError as exc:
                yield InputError(f"{where}: page {number + 1} cannot be read ({first_line(exc)}); repair it, e.g. with qpdf")
                return
    finally:
        opened.close()
    if not any(pages):
        yield InputError(
            f"{where}: no text layer (a scanned PDF?); OCR it first, e.g. with ocrmypdf, then translate the result"
        )
        return
    blocks = build_paragraphs(drop_page_furniture(pages))
    yield paragraphs_document(
        path, root, data, blocks, format="pdf", encoding="utf-16",  # PDFium hands the text layer out as UTF-16
        title=None if title.lower() in _NO_TITLE else title, meta={"pages": len(pages)},
    )


def open_pdf(pdfium: Any, raw: Any, data: bytes, where: str) -> Any:
    """The PDFium document of `data`, or an InputError saying why it cannot be read."""
    if b"%PDF-" not in data[:1024]:
        return InputError(f"{where}: not a PDF (no %PDF- header); check what the file is and give it its real suffix")
    # PDFium rebuilds a damaged cross-reference table and opens a cut-off file silently,
    # with its last pages or objects missing; the end-of-file marker shows the cut.
    if b"%%EOF" not in data.rstrip(b"\x00\t\n\f\r ")[-1024:]:
        return InputError(f"{where}: truncated (it does not end with %%EOF); copy or download it again")
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in (raw.FPDF_ERR_PASSWORD, raw.FPDF_ERR_SECURITY):
            return InputError(f"{where}: encrypted; decrypt it first, e.g. with qpdf --decrypt")
        return InputError(f"{where}: damaged PDF ({first_line(exc)}); repair it, e.g. with qpdf, or export it again")


def read_page_lines(raw: Any, pdf: Any, number: int) -> list[Line]:
    """The non-blank lines of page `number` in PDFium's order, as PDFium breaks them."""
    page = pdf[number]
    textpage = page.get_textpage()
    try:
        lines: list[Line] = []
        chars: list[str] = []
        first = 0
        count = raw.FPDFText_CountChars(textpage)
        # One call per character, the few others once per line: Python's per-call cost
        # is what bounds the speed here.
        for index in range(count + 1):
            code = raw.FPDFText_GetUnicode(textpage, index) if index < count else 0x0A
            if code not in _LINE_BREAKS:
                chars.append(chr(code))
                continue
            text = normalize_text("".join(chars)).strip()
            if text:
                lines.append(_line(raw, textpage, text, first, index - 1))
            chars, first = [], index + 1
        return lines
    finally:
        textpage.close()
        page.close()


def _line(raw: Any, textpage: Any, text: str, first: int, last: int) -> Line:
    x, y = ctypes.c_double(), ctypes.c_double()
    raw.FPDFText_GetCharOrigin(textpage, first, x, y)
    start, end = raw.FS_RECTF(), raw.FS_RECTF()
    raw.FPDFText_GetLooseCharBox(textpage, first, start)
    while last > first and raw.FPDFText_GetUnicode(textpage, last) in (0x20, 0x3000):
        last -= 1
    raw.FPDFText_GetLooseCharBox(textpage, last, end)
    size = start.top - start.bottom
    if size <= 0:
        size = raw.FPDFText_GetFontSize(textpage, first) or 10.0
    return Line(text, x.value, end.right, y.value, size)


def furniture_key(text: str) -> str:
    """What a running header or footer keeps from page to page: its text without its digits."""
    return _SPACES.sub(" ", _DIGITS.sub("0", text))


def is_page_number(text: str) -> bool:
    """Whether a line is only a page number: "3", "- 3 -", "3 / 10", "p. 3", "第3頁", "iv"..."""
    return bool(_PAGE_NUMBER.fullmatch(text) or _ROMAN_PAGE_NUMBER.fullmatch(text))


def _band(lines: list[Line]) -> list[Line]:
    """The lines that could be page furniture: the highest and the lowest on the page."""
    by_height = sorted(lines, key=lambda line: -line.baseline)
    return by_height[:_BAND] + by_height[_BAND:][-_BAND:]


def drop_page_furniture(pages: list[list[Line]]) -> list[list[Line]]:
    """Each page's lines without its page number and the headers and footers repeated on most pages."""
    seen = Counter(key for lines in pages for key in {furniture_key(line.text) for line in _band(lines)})
    repeated = {key for key, count in seen.items() if count >= 2 and 2 * count >= len(pages)}
    kept = []
    for lines in pages:
        furniture = {
            id(line) for line in _band(lines) if is_page_number(line.text) or furniture_key(line.text) in repeated
        }
        kept.append([line for line in lines if id(line) not in furniture])
    return kept


def _usual_pitch(pages: list[list[Line]]) -> float:
    """The document's usual distance between baselines, in font sizes (the median)."""
    pitches = [
        (above.baseline - below.baseline) / below.size
        for lines in pages
        for above, below in itertools.pairwise(lines)
        if 0 < above.baseline - below.baseline <= 3 * below.size
    ]
    return statistics.median(pitches) if pitches else 1.2


def _margins(lines: list[Line]) -> tuple[float, float]:
    """A page's left margin (the most common line start) and right margin (the farthest line end)."""
    if not lines:
        return 0.0, 0.0
    left = Counter(round(line.left) for line in lines).most_common(1)[0][0]
    return left, max(line.right for line in lines)


def _indented(line: Line, left: float) -> bool:
    return line.left >= left + _INDENT * line.size


def _ends_paragraph(line: Line, right: float) -> bool:
    """Whether a line ends a sentence and the text did not wrap there (it ends short)."""
    return line.text.endswith(_SENTENCE_END) and line.right <= right - _SHORT * line.size


def _resized(above: Line, below: Line) -> bool:
    return abs(above.size - below.size) > _SIZE_CHANGE * max(above.size, below.size)


def _breaks(above: Line, below: Line, pitch: float, left: float, right: float) -> bool:
    """Whether `below`, the next line on the same page, starts a new paragraph."""
    gap = above.baseline - below.baseline
    if gap <= 0.5 * below.size or gap > _GAP * pitch * below.size or _resized(above, below):
        return True
    if not above.text.endswith(_SENTENCE_END):
        return False
    return _indented(below, left) or _ends_paragraph(above, right)


def _continues_page(last: Line, last_right: float, first: Line, first_left: float) -> bool:
    """Whether the first line of a page goes on with the last paragraph of the page before."""
    # Without a gap to measure, a sentence end is where to break: it cuts no sentence, and
    # keeps each page's sentences on their own page's locator.
    ended = last.text.endswith(_SENTENCE_END) or last.right <= last_right - _SHORT * last.size
    return not (ended or _indented(first, first_left) or _resized(last, first))


def build_paragraphs(pages: list[list[Line]]) -> list[tuple[str, str]]:
    """(paragraph text with its lines joined by newlines, "page N" where it starts) in reading order."""
    pitch = _usual_pitch(pages)
    blocks: list[tuple[list[str], str]] = []
    previous: tuple[Line, float] | None = None  # the last line so far, and its page's right margin
    for number, lines in enumerate(pages, start=1):
        left, right = _margins(lines)
        for index, line in enumerate(lines):
            if index:
                new = _breaks(lines[index - 1], line, pitch, left, right)
            else:
                new = previous is None or not _continues_page(previous[0], previous[1], line, left)
            if new:
                blocks.append(([], f"page {number}"))
            blocks[-1][0].append(line.text)
        if lines:
            previous = (lines[-1], right)
    return [("\n".join(texts), locator) for texts, locator in blocks]
