"""HTML pages → Document: the page's main text, one paragraph per heading, <p>, list item or table cell.

The page is cut into blocks (every heading, paragraph, list item, table cell, and each run
of text in a <div>) in reading order; trafilatura then says which text is the article,
and the blocks holding that text are kept, with the headings that open them. Blocks, not
trafilatura's own output, become the paragraphs, so that each can say where it is in the
page ("h2 概要 › p 3"). benchmarks/extract_html.py compares trafilatura with
readability-lxml and jusText on Japanese news pages.

EPUB chapters (epub.py) go through the same blocks, all of them kept.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import InputError, display_path
from ..records import Document
from .text import ReadOptions, decode_bytes, import_extra, normalize_text, paragraphs_document

# Elements that end the text run before them and start a new one.
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
    "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
})  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Never text a reader would read: code, styling, hidden templates, form controls.
_SKIPPED_TAGS = frozenset({
    "script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "button", "select", "option",
    "textarea",
})  # fmt: skip
# Read only as far as a browser looks for the declaration (HTML: the first 1024 bytes; a little more is harmless).
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
# Browsers read every Shift_JIS label as Windows-31J (CP932), which ja2en's detection also uses.
_CHARSET_CODECS = dict.fromkeys(("shift_jis", "sjis", "x-sjis", "windows-31j", "ms932", "ms_kanji"), "cp932")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SPACES = re.compile(r"[ \t\f\r\u00a0]+")
_HEADING_CHARS = 24  # of a heading's text in a locator; enough to recognise it
_DEPTH = re.compile(r"depth in document: (\d+)")


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph-to-be of a page: its text, the element it is in, and its cell if in a table."""

    text: str
    tag: str
    cell: tuple[int, int, int] | None = None  # (table, row, cell), counted from 1 over the page
    linked: bool = False  # all its text is the text of links: a menu item, a related article

    @property
    def key(self) -> str:
        """The text without whitespace, which extractors add or drop around inline elements."""
        return "".join(self.text.split())


def decode_html(data: bytes, options: ReadOptions, where: str) -> tuple[str, str]:
    """(text, encoding): a BOM wins, then --encoding, then the page's own <meta charset> or XML declaration, then detection."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec
    if options.encoding:
        return decode_bytes(data, path=where, encoding=options.encoding)
    found = _META_CHARSET.search(data[:4096]) or _XML_ENCODING.search(data[:200])
    if found:
        label = found.group(1).decode("ascii").lower()
        codec = _CHARSET_CODECS.get(label, label)
        try:
            return data.decode(codec), codec
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: the bytes themselves decide
    return decode_bytes(data, path=where)


class TooDeepError(InputError):
    """A page nested deeper than the HTML parser reads: one error for that page, not the run's end."""


def parse_html(text: str, suffix: str = ".html", where: str = "the page") -> Any:
    """An lxml tree of a decoded page (XHTML too), or None when it holds no markup at all.

    The text goes in re-encoded as UTF-8, so the charset the page declares is not applied twice.
    TooDeepError when the page nests deeper than the parser reads (the text below would be lost).
    """
    lxml_html = import_extra("lxml.html", suffix)
    # huge_tree: libxml2 otherwise stops at 256 nested elements, which generated pages pass
    # (a <div> per nesting level); the file itself is already within --max-input-mb.
    parser = lxml_html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True)
    try:
        tree = lxml_html.document_fromstring(text.encode("utf-8", errors="replace"), parser=parser)
    except lxml_html.etree.ParserError:  # an empty or whitespace-only file
        return None
    for error in parser.error_log:
        if error.type == lxml_html.etree.ErrorTypes.ERR_RESOURCE_LIMIT:
            depth = _DEPTH.search(error.message)
            raise TooDeepError(
                f"{where}: its elements are nested more than {depth.group(1) if depth else 'the parser allows'} deep, "
                "deeper than the HTML parser (libxml2) reads, so the text below that depth cannot be read; "
                "save the page again with less nesting"
            )
    return tree


class _Blocks:
    """Walks a tree in reading order, cutting its text into Blocks at block elements and <br>."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.pieces: list[tuple[str, bool]] = []  # (text, inside a link)
        self.in_link = False
        self.tables = 0
        self.rows: list[list[int]] = []  # per open table: [row, cell]

    def flush(self, tag: str, cell: tuple[int, int, int] | None) -> None:
        # HTML collapses whitespace; a line break is kept so that join_lines can join
        # hard-wrapped Japanese without a space.
        raw = "".join(piece for piece, _ in self.pieces)
        text = "\n".join(_SPACES.sub(" ", line).strip() for line in raw.split("\n")).strip()
        linked = all(in_link for piece, in_link in self.pieces if piece.strip())
        self.pieces.clear()
        if text:
            self.blocks.append(Block(text, tag, cell, linked))

    def walk_block(self, element: Any, name: str, outer: str, cell: tuple[int, int, int] | None) -> None:
        """Read block element `element` (a `name`) and all below it, inside the block `outer`.

        With a stack of open elements, not recursion: a page may nest thousands of elements.
        """
        stack = [self._open_block(element, name, outer, cell)]
        while stack:
            frame = stack[-1]
            child = next(frame.children, None)
            if child is None:
                stack.pop()
                self._close(frame)
                if stack and frame.element.tail:
                    self.pieces.append((frame.element.tail, self.in_link))
                continue
            opened = self._open(child, frame.tag, frame.cell)
            if opened:
                stack.append(opened)
            elif child.tail:
                self.pieces.append((child.tail, self.in_link))

    def _open(self, child: Any, tag: str, cell: tuple[int, int, int] | None) -> _Open | None:
        """Start reading `child` of an element read as part of the block `tag`; None when there is nothing inside to read."""
        name = child.tag.lower() if isinstance(child.tag, str) else ""
        if name in _SKIPPED_TAGS or not name:
            return None
        if name == "br":
            self.flush(tag, cell)
            return None
        if name in _BLOCK_TAGS:
            self.flush(tag, cell)
            return self._open_block(child, name, tag, cell)
        link = name == "a" and not self.in_link
        self.in_link = self.in_link or link
        return self._open_inline(child, tag, cell, "link" if link else "inline")

    def _open_block(self, element: Any, name: str, outer: str, cell: tuple[int, int, int] | None) -> _Open:
        if name == "table":
            self.tables += 1
            self.rows.append([0, 0])
        elif name == "tr" and self.rows:
            self.rows[-1] = [self.rows[-1][0] + 1, 0]
        elif name in ("td", "th") and self.rows:
            self.rows[-1][1] += 1
            cell = (self.tables, *self.rows[-1])  # type: ignore[assignment]
        # Text directly inside a container (<div>text</div>) is the container's block;
        # a <td> or <li> holding <p>s still gives each <p> its own.
        inner = outer if name in ("html", "body", "tbody", "thead", "tfoot", "tr", "table", "ul", "ol", "dl") else name
        return self._open_inline(element, inner, cell, "table" if name == "table" else "block")

    def _open_inline(self, element: Any, tag: str, cell: tuple[int, int, int] | None, kind: str) -> _Open:
        if element.text:
            self.pieces.append((element.text, self.in_link))
        return _Open(element, iter(element), tag, cell, kind)

    def _close(self, frame: _Open) -> None:
        if frame.kind == "link":
            self.in_link = False
        elif frame.kind in ("block", "table"):
            self.flush(frame.tag, frame.cell)
            if frame.kind == "table":
                self.rows.pop()


@dataclass(slots=True)
class _Open:
    """An element being read: its children still to read, the block its text belongs to, and what ends with it."""

    element: Any
    children: Iterator[Any]
    tag: str
    cell: tuple[int, int, int] | None
    kind: str  # "inline", "link" (ends the link), "block" (ends its block), "table" (ends its block and table)


def html_blocks(tree: Any) -> list[Block]:
    """Every block of text of a page or chapter, in reading order."""
    body = tree.find(".//body")
    walker = _Blocks()
    walker.walk_block(body if body is not None else tree, "body", "div", None)
    return walker.blocks


@cache
def _trafilatura_options() -> Any:
    trafilatura_settings = import_extra("trafilatura.settings", ".html")
    config = trafilatura_settings.use_config()
    # trafilatura's default (250 characters) is a short English paragraph but a whole
    # Japanese news item; below it trafilatura falls back to keeping the page's text,
    # menus included.
    config["DEFAULT"]["MIN_EXTRACTED_SIZE"] = "10"
    return config


def _extracted_keys(tree: Any) -> tuple[set[str], str]:
    """The texts trafilatura finds to be the article, whole and line by line, without whitespace."""
    trafilatura = import_extra("trafilatura", ".html")
    found = trafilatura.bare_extraction(
        tree,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
        with_metadata=False,
        config=_trafilatura_options(),
    )
    body = getattr(found, "body", None)
    if body is None:
        return set(), ""
    for line_break in body.iter("lb"):
        line_break.tail = "\n" + (line_break.tail or "")
    keys = set()
    for element in body.iter("head", "p", "item", "cell", "quote", "code"):
        text = "".join(element.itertext())
        keys.add("".join(text.split()))
        keys.update("".join(line.split()) for line in text.split("\n"))
    keys.discard("")
    return keys, "\n".join(sorted(keys))


def main_blocks(tree: Any) -> list[Block]:
    """The blocks of a page that hold its article, with the headings that open them."""
    blocks = html_blocks(tree)  # before trafilatura, which edits the tree it is given
    keys, joined = _extracted_keys(tree)
    # A block is article text when trafilatura found it as one of its paragraphs; a long
    # block may also sit inside one (trafilatura joins some <div> runs), a short one (a
    # menu item, "経済") could sit inside any sentence, so it must match whole.
    kept = [block.key in keys or (len(block.key) >= 10 and block.key in joined) for block in blocks]
    # trafilatura drops some short headings ("概要"); a heading is kept when the block
    # it introduces is.
    following = False
    for index in range(len(blocks) - 1, -1, -1):
        if blocks[index].tag in _HEADINGS:
            kept[index] = kept[index] or following
        else:
            following = kept[index]
    main = [block for block, keep in zip(blocks, kept) if keep]
    # With no article to find, trafilatura falls back to the page's whole text: when
    # that is nothing but links, the page is a menu.
    return main if any(not block.linked for block in main) else []


def block_locators(blocks: list[Block], prefix: str = "") -> list[tuple[str, str]]:
    """(text, locator) per block: `prefix` (an EPUB's chapter file), the heading it sits under, its element and number.

    e.g. "h2 概要", "h2 概要 › p 3", "li 2" (before any heading), "h2 問い合わせ先 › table 1, row 1, cell 2".
    """
    out, heading, counts = [], "", {}
    for block in blocks:
        if block.tag in _HEADINGS:
            text = " ".join(normalize_text(block.text).split())
            heading = f"{block.tag} {text if len(text) <= _HEADING_CHARS else text[:_HEADING_CHARS] + '…'}"
            counts, where = {}, ""
        elif block.cell:
            where = "table {}, row {}, cell {}".format(*block.cell)
        else:
            counts[block.tag] = counts.get(block.tag, 0) + 1
            where = f"{block.tag} {counts[block.tag]}"
        out.append((block.text, " › ".join(part for part in (prefix, heading, where) if part)))
    return out


def page_title(tree: Any) -> str | None:
    """The text of the page's <title>, if it has one."""
    title = tree.find(".//title")
    return title.text_content() if title is not None and title.text_content().strip() else None


def page_lang(tree: Any) -> str | None:
    """The language the page declares on <html> (lang or xml:lang)."""
    root = tree.getroottree().getroot()
    lang = root.get("lang") or root.get("xml:lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    return lang.strip() if lang and lang.strip() else None


def read_html_file(path: Path, root: Path, data: bytes, options: ReadOptions) -> Iterator[Document | InputError]:
    """A .html or .htm page: one document, its main text only, its <title> as title and lang in meta."""
    where = display_path(path)
    try:
        text, encoding = decode_html(data, options, where)
    except InputError as exc:
        yield exc
        return
    try:
        tree = parse_html(text, where=where)
    except TooDeepError as exc:
        yield exc
        return
    blocks = main_blocks(tree) if tree is not None else []
    if not blocks:
        yield InputError(
            f"{where}: no article text found; the page holds only menus and links, or its text is loaded by JavaScript"
        )
        return
    lang = page_lang(tree)
    yield paragraphs_document(
        path,
        root,
        data,
        block_locators(blocks),
        format="html",
        encoding=encoding,
        title=page_title(tree),
        meta={"lang": lang} if lang else None,
    )
