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
sentence (as the segmenter decides, so that 「…。」 goes on before との…) nor ends short, and the next page's first line is not indented and has the same
size: a sentence cut by a page break stays whole, its locator the page where it starts.
Any other page break ends the paragraph, so that each page's sentences say their page.

Columns. A page drawn row by row across two columns comes from PDFium as lines that hold
a row of each column, the columns' text spliced inside sentences; so a line is also cut
where a gap of 0.8 characters or more separates its words (its `pieces`). A column starts
where at least three of these pieces start at the same x, right of a gutter that the
pieces on its left do not reach, when the pieces on both sides read like wrapped text:
eight characters wide or more, at least half of them reaching the column's right edge
(a table of short labels beside their values does not). The columns are then read one
after the other, top to bottom, each located by "page N, column C"; a line across the
gutter (a title over the columns, a full-width paragraph under them) stays where it
stands, located by "page N". A paragraph goes on from one column to the next as it goes
on across a page break. A page of one column is read as before.

Lines of one paragraph are joined by `join_lines`: Japanese directly, Latin words with one
space. A PDF with no text at all on any page has no text layer (a scan): it is reported,
never translated as empty. A page with an image and no text among pages with text (a
scanned page) is left out, listed in the document's meta as `pages_without_text`, and
reported by a PagesWithoutTextError beside the document. Vertical writing (縦書き) is not
laid out into lines here: a page set mostly vertically makes the PDF one error rather
than text in the wrong order.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, PagesWithoutTextError, display_path, first_line
from ..records import Document
from ..segment import sentence_spans
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
_SPACE_CODES = {0x20, 0x3000}
# In characters: a gap this wide inside a line may be the gutter between two columns (a
# gutter of 2 characters less a full stop hanging into it leaves 1; a word space is 0.3).
_GUTTER = 0.8
_MIN_COLUMN_LINES = 3  # lines that start a column at the same x
_MIN_COLUMN_WIDTH = 8.0  # in characters: narrower is a table's cell, not a column of text
_FILLED = 0.5  # the share of a column's lines that reach its right edge: text wraps there
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
    # The line cut where a gap of _GUTTER characters or more separates its words: the rows
    # of two columns drawn row by row come as one line; empty when the line has no such gap.
    pieces: tuple[Line, ...] = ()
    vertical: bool = False  # its characters run top to bottom (縦書き)


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
        read = read_pages(pdfium, raw, opened, where)
    finally:
        opened.close()
    if isinstance(read, InputError):
        yield read
        return
    pages, scanned = read
    if not any(pages):
        yield InputError(
            f"{where}: no text layer (a scanned PDF?); OCR it first, e.g. with ocrmypdf, then translate the result"
        )
        return
    if vertical := [number for number, lines in enumerate(pages, start=1) if is_vertical(lines)]:
        # Read as rows, the columns of vertical writing would come out spliced.
        yield InputError(
            f"{where}: vertical writing (縦書き) on {page_list(vertical)}, which ja2en cannot read in order; "
            "give it the text another way, e.g. copied from the document it was made from"
        )
        return
    meta: dict[str, Any] = {"pages": len(pages)}
    if scanned:
        meta["pages_without_text"] = scanned
        yield PagesWithoutTextError(
            f"{where}: no text layer on {page_list(scanned)} (scanned?), so the translation lacks it; "
            "to include it, OCR the PDF first, e.g. with ocrmypdf -l jpn --skip-text"
        )
    kept = drop_page_furniture(pages)
    blocks = build_paragraphs([reading_runs(lines, number) for number, lines in enumerate(kept, start=1)])
    yield paragraphs_document(
        path, root, data, blocks, format="pdf", encoding="utf-16",  # PDFium hands the text layer out as UTF-16
        title=None if title.lower() in _NO_TITLE else title, meta=meta,
    )


def read_pages(pdfium: Any, raw: Any, pdf: Any, where: str) -> tuple[list[list[Line]], list[int]] | InputError:
    """Every page's lines, and the numbers of the pages that show an image but hold no text (scans)."""
    pages, scanned = [], []
    for number in range(len(pdf)):
        try:
            lines = read_page_lines(raw, pdf, number)
            # A page without text or images is blank, and nothing is lost with it.
            if not lines and _has_images(raw, pdf, number):
                scanned.append(number + 1)
        except pdfium.PdfiumError as exc:
            return InputError(f"{where}: page {number + 1} cannot be read ({first_line(exc)}); repair it, e.g. with qpdf")
        pages.append(lines)
    return pages, scanned


def _has_images(raw: Any, pdf: Any, number: int) -> bool:
    page = pdf[number]
    try:
        return any(page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,)))
    finally:
        page.close()


def page_list(numbers: list[int]) -> str:
    """Page numbers as a message shows them: "page 3", "pages 2-4, 7"."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and spans[-1][1] == number - 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"page {shown}" if len(numbers) == 1 else f"pages {shown}"


def is_vertical(lines: list[Line]) -> bool:
    """Whether most of a page's text is set in vertical lines (縦書き)."""
    total = sum(len(line.text) for line in lines)
    return total > 0 and 2 * sum(len(line.text) for line in lines if line.vertical) > total


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
        spaces: list[int] = []  # where the line's spaces are: a gutter can only be there
        first = 0
        count = raw.FPDFText_CountChars(textpage)
        # One call per character, the few others once per line or space: Python's per-call
        # cost is what bounds the speed here.
        for index in range(count + 1):
            code = raw.FPDFText_GetUnicode(textpage, index) if index < count else 0x0A
            if code not in _LINE_BREAKS:
                if code in _SPACE_CODES:
                    spaces.append(index)
                chars.append(chr(code))
                continue
            text = normalize_text("".join(chars)).strip()
            if text:
                line = _line(raw, textpage, text, first, index - 1)
                pieces = _pieces(raw, textpage, chars, first, index - 1, spaces) if spaces else ()
                lines.append(dataclasses.replace(line, pieces=pieces) if pieces else line)
            chars, spaces, first = [], [], index + 1
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
    # The last character below the first, not right of it: a vertical line.
    vertical = end.top <= start.bottom and end.left < start.right
    return Line(text, x.value, end.right, y.value, size, vertical=vertical)


def _pieces(raw: Any, textpage: Any, chars: list[str], first: int, last: int, spaces: list[int]) -> tuple[Line, ...]:
    """The parts of the line first..last between its gaps of _GUTTER characters or more (none if it has none)."""
    runs: list[list[int]] = []  # [first, last] of each run of spaces: the gap is measured around it
    for space in spaces:
        if runs and runs[-1][1] == space - 1:
            runs[-1][1] = space
        else:
            runs.append([space, space])
    box = raw.FS_RECTF()
    starts = [first]
    for run_first, run_last in runs:
        before, after = run_first - 1, run_last + 1
        if before < first or after > last:
            continue
        raw.FPDFText_GetLooseCharBox(textpage, before, box)
        end, size = box.right, box.top - box.bottom
        raw.FPDFText_GetLooseCharBox(textpage, after, box)
        if size > 0 and box.left - end >= _GUTTER * size:
            starts.append(after)
    if len(starts) == 1:
        return ()
    pieces = []
    for start, stop in zip(starts, [*starts[1:], last + 1], strict=True):
        text = normalize_text("".join(chars[start - first : stop - first])).strip()
        if text:
            pieces.append(_line(raw, textpage, text, start, stop - 1))
    return tuple(pieces)


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
    ended = _ends_sentence(last, first) or last.right <= last_right - _SHORT * last.size
    return not (ended or _indented(first, first_left) or _resized(last, first))


def _ends_sentence(last: Line, first: Line) -> bool:
    """Whether `last` ends a sentence when `first` follows it, as the segmenter decides.

    「…考える。」 ends a sentence before 同社は… but not before との声明を発表した。
    """
    if not last.text.endswith(_SENTENCE_END):
        return False
    return any(end == len(last.text) for _, end in sentence_spans(last.text + first.text))


def _column_starts(fragments: list[Line], size: float) -> list[float]:
    """Where each column after the first starts, left to right; empty for a page of one column.

    A column starts where the lines of many rows start, right of a gutter that the lines
    on its left do not reach. Both sides must read like wrapped text (_is_text_column), so
    a table of short labels beside their values is not taken for two columns.
    """
    edge = min(line.left for line in fragments)
    lefts = Counter(round(line.left) for line in fragments)
    for start, count in lefts.most_common():
        if count < _MIN_COLUMN_LINES:
            break
        if start < edge + _MIN_COLUMN_WIDTH * size:
            continue
        left = [line for line in fragments if line.right <= start - 0.5 * size]
        right = [line for line in fragments if line.left >= start - 0.5 * size]
        if 4 * (len(fragments) - len(left) - len(right)) > len(fragments) or not _is_text_column(left, size):
            continue
        more = _column_starts(right, size) if len(right) >= 2 * _MIN_COLUMN_LINES else []
        beside = [line for line in right if not more or line.right <= more[0] - 0.5 * size]
        if _is_text_column(beside, size):
            return [start, *more]
    return []


def _is_text_column(lines: list[Line], size: float) -> bool:
    """Whether lines look like wrapped text: wide enough, and most of them reaching its right edge."""
    if len(lines) < _MIN_COLUMN_LINES:
        return False
    right = max(line.right for line in lines)
    if right - min(line.left for line in lines) < _MIN_COLUMN_WIDTH * size:
        return False
    return sum(line.right >= right - _SHORT * size for line in lines) >= _FILLED * len(lines)


def _column_of(line: Line, starts: list[float], size: float) -> int | None:
    """The index of the column a line lies in, or None when it runs across a gutter."""
    column = sum(line.left >= start - 0.5 * size for start in starts)
    if column < len(starts) and line.right > starts[column] - 0.5 * size:
        return None
    return column


def reading_runs(lines: list[Line], number: int) -> list[tuple[str, list[Line]]]:
    """A page's lines in reading order, in runs that share a locator: "page N", or
    "page N, column C" for each column, read top to bottom, one column after the other.

    Lines across the columns (a title over them, a full-width figure caption) stay where
    they stand, between the rows of columns above and below them.
    """
    fragments = [piece for line in lines for piece in (line.pieces or (line,))]
    size = statistics.median(line.size for line in fragments) if fragments else 0.0
    starts = _column_starts(fragments, size) if len(fragments) >= 2 * _MIN_COLUMN_LINES else []
    if not starts:
        return [(f"page {number}", lines)]
    runs: list[tuple[str, list[Line]]] = []
    columns: list[list[Line]] = [[] for _ in range(len(starts) + 1)]
    for line in sorted(fragments, key=lambda line: (-line.baseline, line.left)):
        column = _column_of(line, starts, size)
        if column is not None:
            columns[column].append(line)
            continue
        runs += [(f"page {number}, column {c}", col) for c, col in enumerate(columns, start=1) if col]
        columns = [[] for _ in columns]
        if runs and runs[-1][0] == f"page {number}":
            runs[-1][1].append(line)
        else:
            runs.append((f"page {number}", [line]))
    return runs + [(f"page {number}, column {c}", col) for c, col in enumerate(columns, start=1) if col]


def build_paragraphs(pages: list[list[tuple[str, list[Line]]]]) -> list[tuple[str, str]]:
    """(paragraph text with its lines joined by newlines, locator where it starts) in reading order.

    `pages` holds each page's reading_runs. A paragraph goes on from one run to the next
    (the next column, the next page) only as it goes on across a page break.
    """
    pitch = _usual_pitch([lines for runs in pages for _, lines in runs])
    blocks: list[tuple[list[str], str]] = []
    previous: tuple[Line, float] | None = None  # the last line so far, and its run's right margin
    for locator, lines in (run for runs in pages for run in runs):
        left, right = _margins(lines)
        for index, line in enumerate(lines):
            if index:
                new = _breaks(lines[index - 1], line, pitch, left, right)
            else:
                new = previous is None or not _continues_page(previous[0], previous[1], line, left)
            if new:
                blocks.append(([], locator))
            blocks[-1][0].append(line.text)
        if lines:
            previous = (lines[-1], right)
    return [("\n".join(texts), locator) for texts, locator in blocks]
