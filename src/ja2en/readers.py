"""Files and folders → Document: finding inputs, detecting encodings, normalizing text.

Errors in one file (or one JSONL line) are yielded in place of its documents, as
`InputError` values, so that one bad input never stops the others; the pipeline decides
what to do with them.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, MutableSet
from pathlib import Path
from typing import Any

from .errors import DecodeError, InputError, display_path
from .records import Document
from .writers import LOCK_FILE, MANIFEST_FILE

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl",)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + JSONL_SUFFIXES

# Tried in this order. UTF-8 is strict enough that legacy bytes almost never pass it;
# ISO-2022-JP is 7-bit and recognised by its escape sequences; CP932 and EUC-JP both
# accept many byte strings, so between them the one that reads as more Japanese wins.
_LEGACY_ENCODINGS = ("cp932", "euc-jp")
# Half a UTF-16 surrogate pair, which a JSON escape can hold alone (\ud83d).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_TYPES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}
_IMPLAUSIBLE = re.compile("[\x80-\x9f\ue000-\uf8ff]")
_ISO2022_ESCAPES = (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b(B", b"\x1b$(D")


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
            or 0x4E00 <= code <= 0x9FFF  # common kanji
            or 0xFF01 <= code <= 0xFF5E  # full-width ASCII
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


def is_output_folder(folder: Path | str) -> bool:
    """Whether `folder` holds the outputs of a ja2en run (its lock file or manifest)."""
    folder = Path(folder)
    if (folder / LOCK_FILE).is_file():
        return True
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "ja2en_version" in manifest


def _walk(folder: Path, exclude: set[str], skipped: list[str]) -> Iterator[Path | InputError]:
    """Every non-hidden file below `folder`, in the order of their sorted relative paths, lazily.

    One folder's entries are listed at a time, so memory does not grow with the tree. A
    folder's files sort by name and its subfolders by name + "/", which walks the tree in
    exactly the order of sorting every relative path as a string. A folder that cannot be
    listed comes back as an error in its place. Folders in `exclude` (real paths) and
    folders holding a ja2en run's outputs are not entered (a run's own output folder inside
    its input folder would otherwise be read back as input on every re-run); their paths
    are added to `skipped`.
    """
    seen: set[str] = set()  # real paths of folders, so a symlink loop is walked once
    stack: list[Iterator[tuple[str, Path, bool]]] = [iter([("", folder, True)])]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        _, path, is_folder = entry
        if not is_folder:
            yield path
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        if path != folder and (real in exclude or is_output_folder(path)):
            if real not in exclude or (path / MANIFEST_FILE).exists():  # not a run's own folder, still empty
                skipped.append(display_path(path))
            continue
        try:
            stack.append(iter(_sorted_entries(path)))
        except OSError as error:
            yield InputError(f"{display_path(error.filename or path)}: cannot list this folder ({error.strerror}); check its permissions")


def _sorted_entries(folder: Path) -> list[tuple[str, Path, bool]]:
    """(sort key, path, is a folder) of the non-hidden entries of one folder, sorted."""
    entries = []
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir()  # through symbolic links, as the walk follows them
            except OSError:
                is_folder = False
            entries.append((entry.name + "/" if is_folder else entry.name, folder / entry.name, is_folder))
    entries.sort(key=lambda e: e[0])
    return entries


def iter_input_files(
    inputs: Iterable[Path | str],
    *,
    exclude: Iterable[Path | str] = (),
    skipped: list[str] | None = None,
    seen: MutableSet[str] | None = None,
) -> Iterator[tuple[Path, Path] | InputError]:
    """Expand files and folders into (file, root) pairs, lazily: folders recursively, sorted, stable.

    Hidden files and folders (names starting with '.') are skipped. Inside folders, a file
    that is not .txt/.md/.jsonl, a broken symbolic link, or a folder that cannot be listed
    comes back as an InputError in its place, so nothing is skipped without a word; a file
    named explicitly is always read. Folders in `exclude` (a run's output folder) and
    folders holding ja2en outputs are not entered: their paths go into `skipped`. `seen`
    collects the real paths of the files given, so overlapping inputs (a folder and a file
    in it) give a file once; pass a set kept on disk for inputs of millions of files.
    """
    excluded = {os.path.realpath(folder) for folder in exclude}
    skipped = [] if skipped is None else skipped
    seen = set() if seen is None else seen

    def new(file: Path) -> bool:
        real = os.path.realpath(file)
        if real in seen:
            return False
        seen.add(real)
        return True

    for raw in inputs:
        path = Path(raw)
        if path.is_dir() and os.path.realpath(path) in excluded:
            yield InputError(f"{display_path(path)}: is the output folder too; write the outputs to another folder with -o")
        elif path.is_dir():
            for item in _walk(path, excluded, skipped):
                if isinstance(item, InputError):
                    yield item
                elif item.is_symlink() and not item.exists():
                    yield _broken_link(item)
                elif item.suffix.lower() not in SUPPORTED_SUFFIXES:
                    yield InputError(
                        f"{display_path(item)}: not a document ja2en reads ({item.suffix or 'no suffix'}); "
                        "convert it to .txt, .md or .jsonl, or move it out of the input folder"
                    )
                elif item.is_file():
                    if new(item):
                        yield item, path
                else:
                    yield _not_regular(item)
        elif path.is_file():
            if new(path):
                yield path, path.parent
        elif path.is_symlink() and not path.exists():
            yield _broken_link(path)
        elif path.exists():
            yield _not_regular(path)
        else:
            yield InputError(f"{display_path(path)}: no such file or folder; check the path")


def list_input_files(
    inputs: Iterable[Path | str], *, exclude: Iterable[Path | str] = (), skipped: list[str] | None = None
) -> list[tuple[Path, Path] | InputError]:
    """`iter_input_files` as a list."""
    return list(iter_input_files(inputs, exclude=exclude, skipped=skipped))


def _not_regular(path: Path) -> InputError:
    return InputError(f"{display_path(path)}: not a regular file (a pipe, socket or device); copy its text into a .txt file")


def _broken_link(path: Path) -> InputError:
    return InputError(f"{display_path(path)}: broken symbolic link (to {display_path(os.readlink(path))}); fix or remove it")


def _document_id(path: Path, root: Path) -> str:
    return display_path(path.relative_to(root).with_suffix("").as_posix())


def read_file(path: Path, root: Path, *, encoding: str | None = None) -> Iterator[Document | InputError]:
    """Read one file into documents (one for .txt/.md, one per line for .jsonl)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield InputError(f"{display_path(path)}: cannot be read ({exc.strerror}); check its permissions")
        return
    try:
        text, used = decode_bytes(data, path=display_path(path), encoding=encoding)
    except InputError as exc:
        yield exc
        return
    doc_id = _document_id(path, root)
    if path.suffix.lower() in JSONL_SUFFIXES:
        yield from _read_jsonl(text, used, path, doc_id, used.removesuffix("-sig"))
        return
    normalized = normalize_text(text)
    if not normalized.strip():
        yield InputError(f"{display_path(path)}: empty document; remove it or add text")
        return
    yield Document(
        id=doc_id,
        source=display_path(path.as_posix()),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=used,
        text=normalized,
    )


def _read_jsonl(
    text: str, encoding: str, path: Path, file_id: str, byte_encoding: str
) -> Iterator[Document | InputError]:
    # Lines are split on \n only: \r\n is handled by json, and U+2028 may occur inside strings.
    if not text.strip():
        yield InputError(f'{display_path(path)}: no records; each line must be an object like {{"id": ..., "text": ...}}')
        return
    for number, line in enumerate(text.split("\n"), start=1):
        where = f"{display_path(path)}:{number}"
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield InputError(f"{where}: not valid JSON ({exc.msg}); fix or remove the line")
            continue
        if not isinstance(record, dict) or "text" not in record:
            yield InputError(f'{where}: no "text" field; each line must be an object like {{"id": ..., "text": ...}}')
            continue
        body = record["text"]
        if not isinstance(body, str):
            yield InputError(f'{where}: "text" must be a string, not {json_type_name(body)}')
            continue
        if LONE_SURROGATE.search(body):
            # JSON can escape half a character (\ud83d); no model can read it and no file can hold it.
            yield InputError(f'{where}: "text" holds a lone surrogate escape (half an emoji?); fix the escape')
            continue
        normalized = normalize_text(body)
        if not normalized.strip():
            yield InputError(f'{where}: empty "text"; remove the line or add text')
            continue
        raw_id = record.get("id")
        doc_id = str(raw_id) if raw_id not in (None, "") else f"{file_id}:{number}"
        if LONE_SURROGATE.search(doc_id):
            yield InputError(f'{where}: "id" holds a lone surrogate escape (half an emoji?); fix the escape')
            continue
        yield Document(
            id=doc_id,
            source=where,
            sha256=hashlib.sha256(line.encode(byte_encoding, errors="surrogatepass")).hexdigest(),
            encoding=encoding,
            text=normalized,
        )


def read_documents(
    inputs: Iterable[Path | str], *, encoding: str | None = None
) -> Iterator[Document | InputError]:
    """Read every document under `inputs` in a stable order; errors come back as values."""
    for item in iter_input_files(inputs):
        if isinstance(item, InputError):
            yield item
        else:
            yield from read_file(*item, encoding=encoding)
