"""Word .docx → Document: its XML read with the standard library, in reading order.

Headers first, then the body (paragraphs and headings, each table cell its own
paragraph), then footnotes and endnotes, then footers. A header or footer repeated by
several sections is read once.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

from ..errors import InputError, display_path, first_line
from ..records import Document
from .text import ReadOptions, paragraphs_document
from .zips import ZipParts

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
# Wrappers whose children are read as if they stood in their place (content controls,
# custom XML, tracked insertions and moves, hyperlinks, smart tags, simple fields).
_TRANSPARENT = {_W + name for name in ("sdt", "sdtContent", "customXml", "ins", "moveTo", "hyperlink", "smartTag", "fldSimple", "r")}
# Not the text on the page: tracked deletions, field codes, and furigana (the reading set
# above a ruby's base text, which would otherwise run into the sentence: 漢字かんじ).
_UNREAD = {_W + name for name in ("del", "moveFrom", "delText", "instrText", "rt")}
# Word's separator lines between the body and its notes are notes of these types.
_NOT_NOTES = {"separator", "continuationSeparator", "continuationNotice"}
_PART_NUMBER = re.compile(r"(\d+)\.xml$")

Block = tuple[str, str]


def read_docx_file(path: Path, root: Path, data: bytes, options: ReadOptions) -> Iterator[Document | InputError]:
    """A .docx file: one document, one paragraph per Word paragraph, table cell, header, footer or note."""
    label = display_path(path)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        yield InputError(
            f"{label}: not a .docx file (not a zip archive; an old .doc or a password-protected file?); "
            "save it as .docx without a password"
        )
        return
    names = set(archive.namelist())
    if "word/document.xml" not in names:
        yield InputError(f"{label}: a zip archive but not a Word document (no word/document.xml); save it as .docx from Word")
        return
    try:
        blocks, title = _read_parts(ZipParts(archive, label, options), names)
    except InputError as exc:  # it unpacks to more than one document may take
        yield exc
        return
    except ElementTree.ParseError as exc:
        yield InputError(f"{label}: damaged Word document (invalid XML: {exc}); open and save it again in Word")
        return
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        yield InputError(f"{label}: damaged Word document ({first_line(exc)}); open and save it again in Word")
        return
    except RecursionError:
        yield InputError(f"{label}: its XML is nested too deeply to read; open and save it again in Word")
        return
    yield paragraphs_document(path, root, data, blocks, format="docx", encoding="utf-8", title=title)


def _read_parts(parts: ZipParts, names: set[str]) -> tuple[list[Block], str | None]:
    """Every text block of the document in reading order, and its title."""
    body_blocks, cited = _body_blocks(parts)
    return (
        _margin_blocks(parts, names, "header")
        + body_blocks
        + _note_blocks(parts, names, cited["footnote"], "footnote")
        + _note_blocks(parts, names, cited["endnote"], "endnote")
        + _margin_blocks(parts, names, "footer"),
        _title(parts, names),
    )


def _body_blocks(parts: ZipParts) -> tuple[list[Block], dict[str, list[str | None]]]:
    """The body's blocks, and the ids of the notes it cites in order, parsed as document.xml unpacks.

    Each child of <w:body> is read when it ends and then dropped, so memory holds one
    paragraph or table at a time, not the tree of the whole document.
    """
    reader, found = _Body(), []
    cited: dict[str, list[str | None]] = {"footnote": [], "endnote": []}
    references = {_W + f"{kind}Reference": kind for kind in cited}
    path: list[ElementTree.Element] = []  # the open elements, from the root
    with parts.open("word/document.xml") as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            if event == "start":
                path.append(element)
                continue
            path.pop()
            if element.tag in references:
                cited[references[element.tag]].append(element.get(_W + "id"))
            if len(path) == 2 and path[1].tag == _W + "body":
                found += reader.blocks_of(element)
                path[1].remove(element)
    return found, cited


def _parse(parts: ZipParts, name: str) -> ElementTree.Element:
    with parts.open(name) as stream:
        return ElementTree.parse(stream).getroot()


class _Body:
    """Numbers paragraphs and tables as a reader of the page counts them."""

    def __init__(self) -> None:
        self.paragraphs = 0
        self.tables = 0

    def blocks_of(self, child: ElementTree.Element) -> list[Block]:
        """The blocks of one child of the body (or of a wrapper read in its place)."""
        if child.tag == _W + "p":
            text, boxes = _paragraph_text(child)
            if not (text.strip() or boxes):
                return []
            self.paragraphs += 1
            where = f"paragraph {self.paragraphs}"
            return [(text, where)] + [(box, f"{where}, text box") for box in boxes]
        if child.tag == _W + "tbl":
            return self._table(child)
        if child.tag in _TRANSPARENT:
            return [block for grandchild in child for block in self.blocks_of(grandchild)]
        return []

    def _table(self, table: ElementTree.Element) -> list[Block]:
        self.tables += 1
        where = f"table {self.tables}"
        found = []
        for r, row in enumerate(_children(table, "tr"), start=1):
            for c, cell in enumerate(_children(row, "tc"), start=1):
                # A table inside a cell is read as part of that cell's text.
                found.append(("\n".join(_flat_text(cell)), f"{where}, row {r}, cell {c}"))
        return found


def _children(element: ElementTree.Element, name: str) -> Iterator[ElementTree.Element]:
    """`element`'s children called `name`, looking through content controls and custom XML."""
    for child in element:
        if child.tag == _W + name:
            yield child
        elif child.tag in _TRANSPARENT:
            yield from _children(child, name)


def _flat_text(container: ElementTree.Element) -> list[str]:
    """The text of every paragraph under `container`, tables included, one string each."""
    lines = []
    for child in container:
        if child.tag == _W + "p":
            text, boxes = _paragraph_text(child)
            lines += [text, *boxes]
        elif child.tag in (_W + "tbl", _W + "tr", _W + "tc") or child.tag in _TRANSPARENT:
            lines += _flat_text(child)
    return lines


def _paragraph_text(paragraph: ElementTree.Element) -> tuple[str, list[str]]:
    """A paragraph's text, and that of the text boxes anchored in it (read after it)."""
    parts: list[str] = []
    boxes: list[str] = []
    _collect(paragraph, parts, boxes)
    return "".join(parts), [box for box in boxes if box.strip()]


def _collect(element: ElementTree.Element, parts: list[str], boxes: list[str]) -> None:
    for child in element:
        tag = child.tag
        if tag == _W + "t":
            parts.append(child.text or "")
        elif tag in (_W + "tab", _W + "ptab"):
            parts.append(" ")
        elif tag in (_W + "br", _W + "cr"):
            parts.append("\n")
        elif tag == _W + "noBreakHyphen":
            parts.append("-")
        elif tag == _W + "txbxContent":
            boxes.append("\n".join(_flat_text(child)))
        elif tag == _MC + "AlternateContent":
            # The same drawing twice, as Choice and as Fallback for older Word: read one.
            choice = child.find(_MC + "Choice")
            if choice is not None:
                _collect(choice, parts, boxes)
        elif tag not in _UNREAD:
            # Runs, hyperlinks, insertions, drawings: their text is somewhere inside.
            _collect(child, parts, boxes)


def _part_names(names: set[str], kind: str) -> list[str]:
    """word/header1.xml, word/header2.xml... in number order."""
    found = [name for name in names if re.fullmatch(rf"word/{kind}\d*\.xml", name)]
    return sorted(found, key=lambda name: int(m.group(1)) if (m := _PART_NUMBER.search(name)) else 0)


def _margin_blocks(parts: ZipParts, names: set[str], kind: str) -> list[Block]:
    """The headers (or footers) of all sections, each distinct one once."""
    found: list[Block] = []
    seen: set[tuple[str, ...]] = set()
    for name in _part_names(names, kind):
        texts = tuple(text for text in _flat_text(_parse(parts, name)) if text.strip())
        if texts and texts not in seen:
            seen.add(texts)
            found += [(text, kind) for text in texts]
    return found


def _note_blocks(parts: ZipParts, names: set[str], cited: list[str | None], kind: str) -> list[Block]:
    """Footnotes (or endnotes), numbered as the reader sees them: in the order the body cites them."""
    name = f"word/{kind}s.xml"
    if name not in names:
        return []
    notes = {
        note.get(_W + "id"): note
        for note in _parse(parts, name).iter(_W + kind)
        if note.get(_W + "type") not in _NOT_NOTES
    }
    order = list(dict.fromkeys([i for i in cited if i in notes] + list(notes)))
    return [
        (text, f"{kind} {number}")
        for number, note_id in enumerate(order, start=1)
        for text in _flat_text(notes[note_id])
        if text.strip()
    ]


def _title(parts: ZipParts, names: set[str]) -> str | None:
    if "docProps/core.xml" not in names:
        return None
    title = _parse(parts, "docProps/core.xml").find(_DC_TITLE)
    return title.text if title is not None and title.text and title.text.strip() else None
