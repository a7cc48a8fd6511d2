"""JSON Lines → Document: one document per line, its text in a field (`text` by default)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError, display_path
from ..records import Document
from .text import LONE_SURROGATE, ReadOptions, decode_bytes, document_id, json_type_name, normalize_text


def read_jsonl_file(path: Path, root: Path, data: bytes, options: ReadOptions) -> Iterator[Document | InputError]:
    """A .jsonl file: each line an object with the text in `options.text_field` ("text") and,
    optionally, an id in `options.id_field` ("id"); the other keys go into the document's meta."""
    try:
        text, used = decode_bytes(data, path=display_path(path), encoding=options.encoding)
    except InputError as exc:
        yield exc
        return
    yield from _read_jsonl(text, used, path, document_id(path, root), used.removesuffix("-sig"), options)


def _read_jsonl(
    text: str, encoding: str, path: Path, file_id: str, byte_encoding: str, options: ReadOptions
) -> Iterator[Document | InputError]:
    # Lines are split on \n only: \r\n is handled by json, and U+2028 may occur inside strings.
    text_key, id_key = options.text_field, options.id_field
    shape = f'{{"{id_key}": ..., "{text_key}": ...}}'
    if not text.strip():
        yield InputError(f"{display_path(path)}: no records; each line must be an object like {shape}")
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
        if not isinstance(record, dict) or text_key not in record:
            keys = f" (it has {', '.join(sorted(record))}; choose one with --text-field)" if isinstance(record, dict) and record else ""
            yield InputError(f'{where}: no "{text_key}" field{keys}; each line must be an object like {shape}')
            continue
        body = record[text_key]
        if not isinstance(body, str):
            yield InputError(f'{where}: "{text_key}" must be a string, not {json_type_name(body)}')
            continue
        if LONE_SURROGATE.search(body):
            # JSON can escape half a character (\ud83d); no model can read it and no file can hold it.
            yield InputError(f'{where}: "{text_key}" holds a lone surrogate escape (half an emoji?); fix the escape')
            continue
        normalized = normalize_text(body)
        if not normalized.strip():
            yield InputError(f'{where}: empty "{text_key}"; remove the line or add text')
            continue
        raw_id = record.get(id_key)
        doc_id = str(raw_id) if raw_id not in (None, "") else f"{file_id}:{number}"
        if LONE_SURROGATE.search(doc_id):
            yield InputError(f'{where}: "{id_key}" holds a lone surrogate escape (half an emoji?); fix the escape')
            continue
        meta = {key: value for key, value in record.items() if key not in (text_key, id_key)}
        yield Document(
            id=doc_id,
            source=where,
            sha256=hashlib.sha256(line.encode(byte_encoding, errors="surrogatepass")).hexdigest(),
            encoding=encoding,
            text=normalized,
            format="jsonl",
            meta=meta or None,
        )
