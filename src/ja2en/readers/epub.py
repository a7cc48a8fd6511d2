"""EPUB books → Document: the spine's chapters in reading order, every block of each kept.

An EPUB is a zip: META-INF/container.xml names the package (OPF) file, whose manifest
lists the book's files and whose spine orders the chapters. Only zipfile and the standard
XML parser read that (ebooklib is AGPL); each chapter then goes through the HTML blocks of
html.py, all of them kept: a chapter has no menus, and a boilerplate remover would drop
short chapters.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

from ..errors import InputError, display_path
from ..records import Document
from .html import TooDeepError, block_locators, decode_html, html_blocks, parse_html
from .text import ReadOptions, paragraphs_document
from .zips import ZipParts

_CONTAINER = "META-INF/container.xml"
_NS = {
    "container": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_CHAPTER_TYPES = ("application/xhtml+xml", "text/html")
_REMAKE = "re-export it from the editor that made it"


class _NotEpub(Exception):
    """What makes a file not a readable EPUB, said as the middle of a one-line message."""


def _package(book: ZipParts) -> tuple[str, ElementTree.Element]:
    """(OPF path, its parsed root), found through META-INF/container.xml."""
    try:
        container = ElementTree.fromstring(book.read(_CONTAINER))
    except KeyError:
        raise _NotEpub(f"not an EPUB (no {_CONTAINER} in the zip)") from None
    except ElementTree.ParseError:
        raise _NotEpub(f"{_CONTAINER} is not valid XML") from None
    rootfile = container.find(".//container:rootfile", _NS)
    opf_path = rootfile.get("full-path") if rootfile is not None else None
    if not opf_path:
        raise _NotEpub(f"{_CONTAINER} names no package file")
    try:
        return opf_path, ElementTree.fromstring(book.read(opf_path))
    except KeyError:
        raise _NotEpub(f"its package file {opf_path} is missing") from None
    except ElementTree.ParseError:
        raise _NotEpub(f"its package file {opf_path} is not valid XML") from None


def spine_chapters(opf_path: str, opf: ElementTree.Element) -> list[str]:
    """The zip paths of the spine's (X)HTML documents, in reading order."""
    manifest = {
        item.get("id"): item
        for item in opf.iterfind("opf:manifest/opf:item", _NS)
        if item.get("id") and item.get("href")
    }
    chapters = []
    for itemref in opf.iterfind("opf:spine/opf:itemref", _NS):
        item = manifest.get(itemref.get("idref"))
        if item is not None and item.get("media-type", "application/xhtml+xml") in _CHAPTER_TYPES:
            href = unquote(item.get("href", "").split("#")[0])
            chapters.append(posixpath.normpath(posixpath.join(posixpath.dirname(opf_path), href)))
    return chapters


def _metadata(opf: ElementTree.Element, name: str) -> str | None:
    element = opf.find(f"opf:metadata/dc:{name}", _NS)
    return element.text.strip() if element is not None and element.text and element.text.strip() else None


def read_epub_file(path: Path, root: Path, data: bytes, options: ReadOptions) -> Iterator[Document | InputError]:
    """An .epub book: one document, its chapters in spine order, its dc:title as title and dc:language in meta."""
    where = display_path(path)
    try:
        book = ZipParts(zipfile.ZipFile(io.BytesIO(data)), where, options)
        opf_path, opf = _package(book)
    except zipfile.BadZipFile:
        yield InputError(f"{where}: not an EPUB (not a zip file); {_REMAKE}")
        return
    except InputError as exc:  # it unpacks to more than one document may take
        yield exc
        return
    except _NotEpub as exc:
        yield InputError(f"{where}: {exc}; {_REMAKE}")
        return
    chapters = spine_chapters(opf_path, opf)
    if not chapters:
        yield InputError(f"{where}: its spine lists no chapters; {_REMAKE}")
        return
    base = posixpath.dirname(opf_path)
    blocks: list[tuple[str, str]] = []
    for chapter in chapters:
        name = posixpath.relpath(chapter, base) if base else chapter
        try:
            raw = book.read(chapter)
        except KeyError:
            yield InputError(f"{where}: chapter {name} is in the spine but not in the zip; {_REMAKE}")
            continue
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
            yield InputError(f"{where}: chapter {name} cannot be unpacked ({exc}); {_REMAKE}")
            continue
        except InputError as exc:  # the book unpacks to more than one document may take
            yield exc
            return
        try:
            # Chapters are XHTML: UTF-8 or as their XML declaration says, whatever --encoding says.
            text, _ = decode_html(raw, ReadOptions(), f"{where}:{name}")
        except InputError as exc:
            yield exc
            continue
        try:
            tree = parse_html(text, ".epub", f"{where}:{name}")
        except TooDeepError as exc:
            yield exc
            continue
        if tree is not None:
            blocks.extend(block_locators(html_blocks(tree), prefix=name))
    lang = _metadata(opf, "language")
    yield paragraphs_document(
        path,
        root,
        data,
        blocks,
        format="epub",
        encoding="utf-8",
        title=_metadata(opf, "title"),
        meta={"lang": lang} if lang else None,
    )
