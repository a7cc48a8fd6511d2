"""JSON Lines → Document: one document per line, its text in a field (`text` by default).

The file is streamed a line at a time, so memory follows the longest line, not the file.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, display_path
from ..records import Document
from .text import LONE_SURROGATE, ReadOptions, TextLines, document_id, json_type_name, normalize_text


def read_jsonl_file(
    path: Path, root: Path, data: bytes | IO[bytes], options: ReadOptions
) -> Iterator[Document | InputError]:
    """A .jsonl file (its bytes or an open binary stream): each line an object with the text in
    `options.text_field` ("text") and, optionally, an id in `options.id_field` ("id"); the other
    keys go into the document's meta."""
    try:
        lines = TextLines(io.BytesIO(data) if isinstance(data, bytes) else data, display_path(path), options, newline="\n")
    except InputError as exc:
        yield exc
        return
    # Lines are split on \n only: \r\n is handled by json, and U+2028 may occur inside strings.
    file_id, byte_encoding = document_id(path, root), lines.encoding.removesuffix("-sig")
    shape = f'{{"{options.id_field}": ..., "{options.text_field}": ...}}'
    empty = True
    for number, line in lines:
        if isinstance(line, InputError):
            empty = False
            yield line
            continue
        line = line.removesuffix("\n")
        if not line.strip():
            continue
        empty, where = False, f"{display_path(path)}:{number}"
        record = lines.undecodable(where) if lines.is_undecodable(line) else _record(line, where, options, shape)
        if isinstance(record, InputError):
            yield record
            continue
        yield _document(record, line, number, path, file_id, lines.encoding, byte_encoding, options)
    if empty:
        yield InputError(f"{display_path(path)}: no records; each line must be an object like {shape}")


def _record(line: str, where: str, options: ReadOptions, shape: str) -> dict[str, Any] | InputError:
    """The line's object, or the one error that says what is wrong with it."""
    text_key, id_key = options.text_field, options.id_field
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return InputError(f"{where}: not valid JSON ({exc.msg}); fix or remove the line")
    has = f" (it has {', '.join(sorted(record))}" if isinstance(record, dict) and record else ""
    if not isinstance(record, dict) or text_key not in record:
        keys = f"{has}; choose one with --text-field)" if has else ""
        return InputError(f'{where}: no "{text_key}" field{keys}; each line must be an object like {shape}')
    if options.id_required and id_key not in record:
        return InputError(f'{where}: no "{id_key}" field{has}); choose one with --id-field, or give every line one')
    body = record[text_key]
    if not isinstance(body, str):
        return InputError(f'{where}: "{text_key}" must be a string, not {json_type_name(body)}')
    if LONE_SURROGATE.search(body):
        # JSON can escape half a character (\ud83d); no model can read it and no file can hold it.
        return InputError(f'{where}: "{text_key}" holds a lone surrogate escape (half an emoji?); fix the escape')
    if not normalize_text(body).strip():
        return InputError(f'{where}: empty "{text_key}"; remove the line or add text')
    raw_id = record.get(id_key)
    if raw_id not in (None, "") and LONE_SURROGATE.search(str(raw_id)):
        return InputError(f'{where}: "{id_key}" holds a lone surrogate escape (half an emoji?); fix the escape')
    return record


def _document(
    record: dict[str, Any], line: str, number: int, path: Path, file_id: str, encoding: str, byte_encoding: str,
    options: ReadOptions,
) -> Document:  # fmt: skip
    text_key, id_key = options.text_field, options.id_field
    raw_id = record.get(id_key)
    meta = {key: value for key, value in record.items() if key not in (text_key, id_key)}
    return Document(
        id=str(raw_id) if raw_id not in (None, "") else f"{file_id}:{number}",
        source=f"{display_path(path)}:{number}",
        # The line's own bytes (re-encoded), so that editing one record changes only its hash.
        sha256=hashlib.sha256(line.encode(byte_encoding, errors="surrogatepass")).hexdigest(),
        encoding=encoding,
        text=normalize_text(record[text_key]),
        format="jsonl",
        meta=meta or None,
    )
