"""PDF text extraction: which library, and how fast ja2en reads a Japanese PDF.

Run from the repo root:  PYTHONPATH=src .venv/bin/python benchmarks/extract_pdf.py
(needs reportlab to typeset the PDF and pypdfium2; pypdf, pdfminer.six and pdfplumber
are measured when installed.) Prints one JSON line.

COMPARISON

A 50-page A4 PDF is typeset here with reportlab's built-in Japanese CID font (HeiseiMin-W3),
dense like a report: 38 lines of 40 characters a page, the fixture corpus's sentences in
paragraphs of three, first lines indented, wrapped inside sentences (never inside a Latin
word or number), a running header and a "- N -" page number. "sentences" counts the corpus
sentences found whole, in order, once line breaks, spaces, the header and the page numbers
are removed; "positions" says what the library's API gives of where text stands, which
finding headers, page numbers and paragraph gaps needs (*: checked for PDFium only,
through the reader's paragraphs). Speed: pages per second, one process (one core), best
of 3 runs; 2 shared cores, so the numbers are rough.

| extractor                                  | pages/s | sentences  | positions                   |
|--------------------------------------------|---------|------------|-----------------------------|
| pypdfium2 5.15.2 (PDFium), text only       |   1070  | 2208/2208  | per char (origin, box)      |
| ja2en.readers.pdf (pypdfium2 + layout)     |    550  | 2208/2208  | 736/736 paragraph breaks *  |
| pypdf 7.1.1, extract_text()                |    275  | 2208/2208  | per text op, via a visitor  |
| pdfminer.six 20260107, extract_text()      |     58  | 2208/2208  | per line (LTTextLine bbox)  |
| pdfplumber 0.11.10, extract_text()         |     31  | 2208/2208  | per char and word           |

* The reader finds every paragraph break, cuts no sentence, and adds 2 breaks where a
  page ends with a sentence end (ja2en_paragraph_breaks); header and page numbers are
  dropped on every page (the text would differ otherwise: compare_breaks asserts it).
* All of them read reportlab's CID font back as the real Unicode Japanese (its
  UniJIS-UCS2-H CMap): the text layer round-trips without an embedded font.
* pypdfium2 (Apache-2.0 / BSD-3; PDFium compiled into the wheel, no other dependency) is
  the fastest, 4x pypdf and 20x pdfminer.six here, and its text page gives every
  character's origin and font box, so one parse gives both the text and its layout.
* This PDF is the easy case for the pure-Python parsers: one text operator per line and
  a font that is not embedded. PDFs from Word or InDesign embed subset fonts and often
  place glyphs one by one, which should cost the pure-Python parsers more per page than
  PDFium; that was not measured (no Japanese font file on this machine to embed).
* pdfminer.six (MIT) gives lines with boxes but is at 58 pages/s before any layout work of
  ours; pdfplumber (MIT) is built on it and at 31 pages/s is near the 20 pages/s floor.
* Chosen: pypdfium2. The reader calls PDFium once per character and a few times per line;
  that per-call cost in Python, not the parse, halves its speed against text-only
  extraction, still 27 times the 20 pages/s asked for.
* PyMuPDF was not measured: it is AGPL.

TWO COLUMNS (issue 25)

The same text set in two columns of 19 characters with a 2-character gutter, drawn row by
row across both columns (the order that spliced the columns inside sentences before):
"ja2en_two_columns_by_row" and "ja2en_two_columns_paragraph_breaks". Measured 2026-12-06 on
the shared machine under load, interleaved with the reader before issue 25 (7 runs each,
medians): single column 73.0 -> 68.4 pages/s, two columns 65.5 (spliced) -> 54.8 pages/s;
2373/2373 sentences found in order, 791/791 paragraph breaks, none inside a sentence.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

PAGES = 50
FONT = "HeiseiMin-W3"
SIZE = 10.5
LINES_PER_PAGE = 38
WIDTH = 40 * SIZE
_UNIT = re.compile(r"[A-Za-z0-9.,%=()\-]+ ?|.")
_HANGING = set("。、」』)")


def load_sentences() -> list[str]:
    rows = (ROOT / "tests" / "data" / "corpus.tsv").read_text(encoding="utf-8").splitlines()
    return [row.split("\t")[0] for row in rows if row and not row.startswith("#")]


def wrap(text: str, indent: float, width: float = WIDTH) -> list[str]:
    """Lines no wider than `width`; Latin words and numbers are not broken, closing marks hang."""
    lines, line = [], ""
    for unit in _UNIT.findall(text):
        room = width - (indent if not lines else 0)
        if line and unit not in _HANGING and pdfmetrics.stringWidth((line + unit).rstrip(), FONT, SIZE) > room:
            lines.append(line.rstrip())
            line = ""
        line += unit
    return lines + [line.rstrip()]


def typeset(sentences: list[str], columns: int = 1) -> tuple[bytes, list[str], list[str]]:
    """A PAGES-page PDF of paragraphs of 3 sentences, and the sentences and paragraphs in it, in order.

    With 2 columns (of 19 characters, a gutter of 2) the lines are drawn row by row across
    both columns, as many PDF writers do: the order a reader must undo."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    width = WIDTH if columns == 1 else (WIDTH - 2 * SIZE) / 2
    per_page = LINES_PER_PAGE * columns
    slots: list[tuple[float, str]] = []
    used: list[str] = []
    paragraphs: list[str] = []
    index = 0
    while len(slots) < PAGES * per_page:
        paragraph = [sentences[(index + k) % len(sentences)] for k in range(3)]
        index += 3
        lines = wrap("".join(paragraph), SIZE, width)
        slots += [(SIZE if n == 0 else 0.0, line) for n, line in enumerate(lines)]
        used += paragraph
        paragraphs.append("".join(paragraph))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(595.0, 842.0))
    pdf.setTitle("ベンチマーク")
    kept = 0
    for page in range(PAGES):
        pdf.setFont(FONT, 9)
        pdf.drawString(72, 800, "社内報 2024年春号")
        pdf.drawCentredString(297.5, 40, f"- {page + 1} -")
        pdf.setFont(FONT, SIZE)
        on_page = slots[page * per_page : (page + 1) * per_page]
        for row in range(LINES_PER_PAGE):
            for column in range(columns):
                indent, line = on_page[column * LINES_PER_PAGE + row]
                pdf.drawString(72 + column * (width + 2 * SIZE) + indent, 770 - row * 1.6 * SIZE, line)
                kept += len(line.replace(" ", ""))
        pdf.showPage()
    pdf.save()
    # Only the sentences that fit on the pages count.
    total, found = 0, []
    for sentence in used:
        total += len(sentence.replace(" ", ""))
        if total > kept:
            break
        found.append(sentence)
    return buffer.getvalue(), found, paragraphs[: len(found) // 3]


def with_pypdfium2(data: bytes) -> str:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def with_ja2en(data: bytes) -> str:
    from ja2en.readers.pdf import read_pdf_file
    from ja2en.readers.text import ReadOptions

    [doc] = read_pdf_file(Path("/tmp/bench/bench.pdf"), Path("/tmp/bench"), data, ReadOptions())
    assert not isinstance(doc, Exception), doc
    return doc.text


def with_pypdf(data: bytes) -> str:
    import pypdf

    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def with_pdfminer(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def with_pdfplumber(data: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return "\n".join(page.extract_text() for page in pdf.pages)


def measure(extract: Callable[[bytes], str], data: bytes, sentences: list[str]) -> dict[str, object]:
    runs, text = [], ""
    for _ in range(3):
        start = time.perf_counter()
        text = extract(data)
        runs.append(time.perf_counter() - start)
        if runs[-1] > 2:  # a slow one is measured once
            break
    # The running header and page numbers cut the sentences that go on over a page break.
    flat = re.sub(r"社内報2024年春号|-\d+-", "", re.sub(r"\s+", "", text))
    position, found = 0, 0
    for sentence in sentences:  # in order
        at = flat.find(sentence.replace(" ", ""), position)
        if at >= 0:
            found, position = found + 1, at
    return {"pages_per_s": round(PAGES / min(runs), 1), "sentences": f"{found}/{len(sentences)}"}


def compare_breaks(found: list[str], typeset: list[str]) -> dict[str, int]:
    """The reader's paragraph breaks against the typeset ones: missed, and extra ones after a
    sentence end (a page break at a sentence end: harmless) or inside a sentence (a cut sentence)."""

    def breaks(paragraphs: list[str]) -> set[int]:
        ends, at = set(), 0
        for paragraph in paragraphs:
            at += len(paragraph)
            ends.add(at)
        return ends

    text = "".join(typeset)
    found_breaks = {at for at in breaks(found) if at < len(text)}
    typeset_breaks = breaks(typeset)
    extra = found_breaks - typeset_breaks
    assert "".join(found).startswith(text), "the reader's text differs from the typeset text"
    return {
        "typeset": len(typeset_breaks),
        "missed": len(typeset_breaks - found_breaks - {len(text)}),
        "extra_at_sentence_end": sum(text[at - 1] == "。" for at in extra),
        "extra_inside_sentence": sum(text[at - 1] != "。" for at in extra),
    }


def main() -> None:
    data, sentences, paragraphs = typeset(load_sentences())
    extractors = {
        "pypdfium2": with_pypdfium2,
        "ja2en": with_ja2en,
        "pypdf": with_pypdf,
        "pdfminer.six": with_pdfminer,
        "pdfplumber": with_pdfplumber,
    }
    results: dict[str, object] = {"pages": PAGES, "bytes": len(data)}
    for name, extract in extractors.items():
        try:
            results[name] = measure(extract, data, sentences)
        except ImportError as exc:
            results[name] = f"not installed ({exc.name})"
    results["ja2en_paragraph_breaks"] = compare_breaks(with_ja2en(data).splitlines(), paragraphs)
    data, sentences, paragraphs = typeset(load_sentences(), columns=2)
    results["ja2en_two_columns_by_row"] = measure(with_ja2en, data, sentences)
    results["ja2en_two_columns_paragraph_breaks"] = compare_breaks(with_ja2en(data).splitlines(), paragraphs)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
