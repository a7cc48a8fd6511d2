"""Bytes → text, and .txt/.md files → Document: encoding detection and normalization.

Every reader decodes and normalizes through here, so a document's text is the same
whatever format it came in.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import DecodeError, InputError, display_path
from ..records import Document

# Tried in this order. UTF-8 is strict enough that legacy bytes almost never pass it;
# ISO-2022-JP is 7-bit and recognised by its escape sequences; CP932 and EUC-JP both
# accept many byte strings, so between them the one that reads as more Japanese wins.
_LEGACY_ENCODINGS = ("cp932", "euc-jp")
# Half a UTF-16 surrogate pair, which a JSON escape can hold alone (\ud83d).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_TYPES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}
_IMPLAUSIBLE = re.compile("[\x80-\x9f\ue000-\uf8ff]")


def _cp932_rows(*leads: int) -> frozenset[str]:
    found = set()
    for lead in leads:
        for trail in range(0x40, 0xFD):
            try:
                found.add(bytes((lead, trail)).decode("cp932"))
            except UnicodeDecodeError:
                continue  # an unassigned code
    return frozenset(found)


# The symbols, Greek, Cyrillic and box drawing of JIS X 0208 (CP932 leads 0x81-0x84) and
# NEC's row 13 (0x87: ① ㈱ №): Japanese text has them (§ ± ° ★ →), and no EUC-JP byte is
# a CP932 lead below 0x8E, so an EUC-JP file misread as CP932 cannot gain them.
_JAPANESE_SYMBOLS = _cp932_rows(0x81, 0x82, 0x83, 0x84, 0x87)
_ISO2022_ESCAPES = (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b(B", b"\x1b$(D")
DEFAULT_ID_FIELD = "id"
# The codec behind each name decode_bytes reports, where the two differ.
_CODECS = {"iso-2022-jp": "iso2022_jp_ext"}
MB = 1024 * 1024
# What one document may take by default: a file read whole (.txt, .html, .pdf...), what a
# .docx or .epub unpacks to, one JSONL line or CSV row. Raised with --max-input-mb.
MAX_INPUT_MB = 256
# A streamed file's encoding is detected from this much of its start (then to the end of
# that line); a file this short is detected from all of it, exactly as one read whole.
DETECT_BYTES = 4 * MB
# A streamed line is read this many characters at a time.
LINE_PIECE = MB


def json_type_name(value: Any) -> str:
    """What a parsed JSON value is, for a message: "null", "a number", "an array"..."""
    return _JSON_TYPES.get(type(value), "a value")


def normalize_text(text: str) -> str:
    """Unify newlines to \\n and apply Unicode NFKC (full-width letters/digits become ASCII)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFKC", text)


def _japanese_score(text: str) -> float:
    """Share of characters that are plausible in Japanese prose; mojibake scores low."""
    if not text:
        return 0.0
    good = 0
    for ch in text:
        code = ord(ch)
        if (
            code < 0x80
            or 0x3000 <= code <= 0x30FF  # CJK punctuation, hiragana, katakana
            or 0x2010 <= code <= 0x203B  # dashes, quotes, ‥ … ※, which Japanese prose borrows
            or 0x4E00 <= code <= 0x9FFF  # common kanji
            or 0xFF01 <= code <= 0xFF5E  # full-width ASCII
            or ch in _JAPANESE_SYMBOLS
        ):
            good += 1
        # half-width katakana (0xFF61-0xFF9F) and rare blocks are what EUC-JP bytes
        # look like when misread as CP932, so they do not count as good
    return good / len(text)


def decode_bytes(data: bytes, *, path: Path | str, encoding: str | None = None) -> tuple[str, str]:
    """Decode `data`, returning (text, encoding used). Raises DecodeError with a fix."""
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(
                f"unknown encoding '{encoding}'; use one of utf-8, cp932, shift_jis, euc-jp, iso-2022-jp"
            ) from None
        try:
            return data.decode(codec), encoding
        except UnicodeDecodeError as exc:
            raise DecodeError.forced(path, encoding, f"byte {exc.start}") from None
    if b"\x00" in data:
        raise InputError(
            f"{display_path(path)}: looks like a binary file (it contains NUL bytes); remove it from the input, "
            "or re-save it as UTF-8 if it is UTF-16 text"
        )
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError:
            raise DecodeError.undetected(path) from None
    # ISO-2022-JP is 7-bit, so it is also valid UTF-8: its escapes must be looked for first.
    if data.isascii() and any(esc in data for esc in _ISO2022_ESCAPES):
        try:
            return data.decode("iso2022_jp_ext"), "iso-2022-jp"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    for name in _LEGACY_ENCODINGS:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        # Both codecs map stray bytes to C1 controls or the private use area; real
        # documents contain neither, so such a reading is a misreading.
        if not _IMPLAUSIBLE.search(text):
            candidates.append((_japanese_score(text), name, text))
    if not candidates:
        raise DecodeError.undetected(path)
    score, name, text = max(candidates, key=lambda c: c[0])
    if score < 0.5:
        raise DecodeError.undetected(path)
    return text, name


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What a reader is told besides the file: the encoding to force, the fields of a table or JSONL record."""

    encoding: str | None = None  # None: detect (text formats) or as the file declares (HTML, XML)
    text_field: str = "text"  # the column (CSV, TSV, Parquet, datasets) or key (JSONL) holding the text
    # The column or key holding the document id: "id" may be absent (the row number is
    # used instead), a column named otherwise must exist.
    id_field: str = DEFAULT_ID_FIELD
    max_input_mb: int = MAX_INPUT_MB  # the most one document may take: see MAX_INPUT_MB

    @property
    def max_input_bytes(self) -> int:
        return self.max_input_mb * MB

    @property
    def id_required(self) -> bool:
        """Whether the id column must exist: only when named, as the default "id" may be absent."""
        return self.id_field != DEFAULT_ID_FIELD


# Scripts written without spaces between words: a line break between two of their
# characters joins them directly; any other break becomes one space.
_UNSPACED = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60\uff61-\uff9f]")


def join_lines(lines: list[str]) -> str:
    """Hard-wrapped lines as one paragraph: Japanese joined directly, Latin words by one space."""
    joined = ""
    for line in (line.strip() for line in lines):
        if not line:
            continue
        if joined and not (_UNSPACED.match(joined[-1]) or _UNSPACED.match(line[0])):
            joined += " "
        joined += line
    return joined


def import_extra(module: str, suffix: str) -> Any:
    """`module`, imported when a file of this suffix is first read; InputError with the install line if missing.

    Raised, not yielded: without the library no file of its kind can be read, so the run
    stops before any model loads instead of reporting every such file.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"reading {suffix} files needs the formats extra: pip install 'ja2en[formats]'") from None


def paragraphs_document(
    path: Path,
    root: Path,
    data: bytes,
    blocks: list[tuple[str, str]],
    *,
    format: str,
    encoding: str,
    title: str | None = None,
    meta: dict[str, Any] | None = None,
    doc_id: str | None = None,
    source: str | None = None,
    sha256: str | None = None,
) -> Document | InputError:
    """A Document from extracted (paragraph text, locator) blocks, in reading order.

    Each block is normalized like any text (NFKC) and becomes one paragraph (its line
    breaks joined by `join_lines`); blank blocks are dropped with their locator. An InputError when no
    text is left. `doc_id`, `source` and `sha256` default to the file's.
    """
    paragraphs, locators = [], []
    for text, locator in blocks:
        paragraph = join_lines(normalize_text(text).split("\n"))
        if paragraph:
            paragraphs.append(paragraph)
            locators.append(locator)
    where = source or display_path(path.as_posix())
    if not paragraphs:
        return InputError(f"{where}: no text found in this {format} document; check that it holds text, not only images")
    return Document(
        id=doc_id or document_id(path, root),
        source=where,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        text="\n".join(paragraphs) + "\n",
        format=format,
        title=normalize_text(title).strip() or None if title else None,
        locators=tuple(locators),
        meta=meta or None,
    )


def document_id(path: Path, root: Path) -> str:
    """A file's document id: its path below the input root, without its suffix."""
    return display_path(path.relative_to(root).with_suffix("").as_posix())


def over_limit(
    where: str, what: str, options: ReadOptions, needed: int | None = None, *, advice: str = "", then: str = ""
) -> InputError:
    """The one error for an input over --max-input-mb.

    `what` begins the sentence ("2 MB,", "the line is"), `then` ends it, `advice` comes
    before the fix, and `needed` (bytes), when known, says how far to raise the limit.
    """
    fix = f"--max-input-mb {math.ceil(needed / MB)}" if needed else "a higher --max-input-mb"
    return InputError(
        f"{where}: {what} over the {options.max_input_mb} MB limit for one document{then}; "
        f"{advice}re-run with {fix} if it is genuine"
    )


def read_whole(path: Path, options: ReadOptions) -> bytes:
    """A file read whole, for a format that is one document: InputError past the limit, before it is read."""
    limit = options.max_input_bytes
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(limit + 1) if size <= limit else b""
        size = max(size, len(data))  # a file that grew since, or a size the system does not know
    if size > limit:
        where = display_path(path)
        raise over_limit(where, f"{math.ceil(size / MB)} MB,", options, size, advice="split it into smaller files, or ")
    return data


class TextLines:
    """A streamed text file's lines, decoded with the encoding of its start, each line within the limit.

    Iterating gives (line number from 1, the line with its line break), or (number, InputError)
    for a line over the limit, which is skipped. A line holding bytes of another encoding is
    given as it is, for the reader to report with `undecodable` where `is_undecodable` says so.
    `newline` is as for open(): "\n" splits on \n only (JSON Lines), "" on any line break (CSV).
    """

    def __init__(self, stream: IO[bytes], where: str, options: ReadOptions, *, newline: str) -> None:
        self.where, self.options = where, options
        self.encoding = self._detect(stream)  # raises the file's DecodeError
        self.forced = bool(options.encoding)
        self.legacy = not self.forced and self.encoding in _LEGACY_ENCODINGS
        stream.seek(0)
        # surrogateescape: bytes the encoding cannot read become lone surrogates, which no
        # decoded text holds otherwise, so a bad line is found and the next one still read.
        codec = _CODECS.get(self.encoding, self.encoding)
        self.text = io.TextIOWrapper(stream, encoding=codec, errors="surrogateescape", newline=newline)
        self.ends = ("\n",) if newline == "\n" else ("\n", "\r")

    def _detect(self, stream: IO[bytes]) -> str:
        prefix = stream.read(DETECT_BYTES)
        if len(prefix) < DETECT_BYTES:
            return decode_bytes(prefix, path=self.where, encoding=self.options.encoding)[1]
        # Whole lines only, so that no character is cut in two; a first line longer than
        # the prefix is cut where a character ends (at most 3 bytes before).
        prefix += stream.readline(self.options.max_input_bytes)
        if b"\n" in prefix:
            return decode_bytes(prefix[: prefix.rindex(b"\n") + 1], path=self.where, encoding=self.options.encoding)[1]
        for cut in (3, 2, 1):
            try:
                return decode_bytes(prefix[:-cut], path=self.where, encoding=self.options.encoding)[1]
            except DecodeError:
                pass
        return decode_bytes(prefix, path=self.where, encoding=self.options.encoding)[1]

    def __iter__(self) -> Iterator[tuple[int, str | InputError]]:
        number = 0
        while line := self._line():
            number += 1
            if isinstance(line, str):
                yield number, line
            else:
                yield number, over_limit(f"{self.where}:{number}", "the line is", self.options)

    def _line(self) -> str | bool:
        """The next line ("" at the end), or True for a line over the limit, which is then skipped.

        Read a piece at a time, so that a line over the limit never takes more than the
        limit and a piece, however long it goes on.
        """
        pieces, size, limit = [], 0, self.options.max_input_bytes
        while piece := self.text.readline(LINE_PIECE):
            size += len(piece)
            if size > limit:
                pieces.clear()
            else:
                pieces.append(piece)
            if piece.endswith(self.ends):
                break
        return size > limit or "".join(pieces)

    def is_undecodable(self, text: str) -> bool:
        # A detected legacy encoding reads stray bytes as C1 controls or private use characters.
        return bool(LONE_SURROGATE.search(text) or (self.legacy and _IMPLAUSIBLE.search(text)))

    def undecodable(self, where: str) -> InputError:
        """The error for a line (or row) at `where` that is not in the file's encoding."""
        if self.forced:
            return DecodeError(f"{where}: not valid {self.encoding}; re-run without --encoding to detect it automatically")
        return DecodeError(
            f"{where}: not valid {self.encoding}, the encoding of the start of the file; "
            "convert the file to one encoding, or re-run with --encoding NAME (for example --encoding cp932)"
        )


def read_text_file(path: Path, root: Path, data: bytes, options: ReadOptions) -> Iterator[Document | InputError]:
    """A .txt or .md file: one document, its lines its paragraphs."""
    try:
        text, used = decode_bytes(data, path=display_path(path), encoding=options.encoding)
    except InputError as exc:
        yield exc
        return
    normalized = normalize_text(text)
    if not normalized.strip():
        yield InputError(f"{display_path(path)}: empty document; remove it or add text")
        return
    yield Document(
        id=document_id(path, root),
        source=display_path(path.as_posix()),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=used,
        text=normalized,
        format=path.suffix.lower().lstrip(".") or "txt",
    )
