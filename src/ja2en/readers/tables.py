"""CSV, TSV and Parquet tables → Documents: one document per row, its text in one column.

The row → Document step (`row_document`, `arrow_documents`) is shared with saved Hugging
Face datasets (dataset.py), so a row reads the same whatever table it came from: its id
from the id column (else its row number), its other columns in `meta` to join results
back, its own sha256, and "row N" as the locator of each of its paragraphs.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import hashlib
import io
import json
import math
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, display_path, first_line
from ..records import Document
from .text import ReadOptions, TextLines, document_id, import_extra, normalize_text, over_limit, paragraphs_document

# Rows converted to Python at a time: a Parquet file or dataset of millions of rows is
# never held as Python objects all at once.
BATCH_ROWS = 1024
# Column names shown in a "no column" message; a header-less CSV has sentences for names.
_SHOWN_NAME_CHARS = 30
_SHOWN_NAMES = 20


def json_safe(value: Any) -> Any:
    """A cell as a JSON value: dates, decimals and the like become strings, NaN becomes null."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        # Binary cells (images, audio) are no join key; megabytes of base64 in every
        # document record would only bloat the output.
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, datetime.timedelta)):
        return str(value)
    return str(value)


def missing_column(label: str, names: list[str], field: str, option: str = "--text-field") -> InputError:
    """The one error for a table without its text (or named id) column, naming the columns it has."""
    shown = [name if len(name) <= _SHOWN_NAME_CHARS else name[: _SHOWN_NAME_CHARS - 1] + "…" for name in names[:_SHOWN_NAMES]]
    more = f", and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else ""
    has = f"it has: {', '.join(shown)}{more}" if names else "it has no columns"
    return InputError(f"{label}: no column '{field}' ({has}); choose one with {option}")


def missing_columns(label: str, names: list[str], options: ReadOptions) -> InputError | None:
    """The error for a table without its text column, or without the id column --id-field names."""
    if options.text_field not in names:
        return missing_column(label, names, options.text_field)
    if options.id_required and options.id_field not in names:
        return missing_column(label, names, options.id_field, "--id-field")
    return None


def row_document(
    number: int,
    row: dict[str, Any],
    *,
    label: str,
    source: str,
    id_prefix: str,
    format: str,
    encoding: str,
    options: ReadOptions,
    place: str = "",
) -> Document | InputError:
    """Row `number` (counting from 1) of a table as a Document, or the InputError of that row alone.

    `label` names the table in messages, `source` and `id_prefix` begin the row's source
    and fallback id (":N" is added), `place` begins its locator ("split train, ").
    """
    field, where = options.text_field, f"{label}: {place}row {number}"
    body = row.get(field)
    if body is not None and not isinstance(body, str):
        return InputError(f"{where}: '{field}' holds {type(body).__name__}, not text; choose the text column with --text-field")
    text = normalize_text(body or "")
    if not text.strip():
        return InputError(f"{where}: empty '{field}'; fill it in or remove the row")
    raw_id = row.get(options.id_field)
    safe = {str(key): json_safe(value) for key, value in row.items()}
    canonical = json.dumps(safe, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    meta = {key: value for key, value in safe.items() if key not in (field, options.id_field)}
    locator = f"{place}row {number}"
    # The row's own id, source and hash are given, so no file path or bytes are needed.
    return paragraphs_document(
        Path(source),
        Path(source),
        b"",
        [(line, locator) for line in text.split("\n")],
        format=format,
        encoding=encoding,
        meta=meta,
        doc_id=str(json_safe(raw_id)) if raw_id not in (None, "") else f"{id_prefix}:{number}",
        source=f"{source}:{number}",
        sha256=hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest(),
    )


def text_column_problem(label: str, schema: Any, options: ReadOptions) -> InputError | None:
    """An error when an Arrow table has no text column (or named id column), or its text column holds no strings."""
    import pyarrow as pa

    field = options.text_field
    missing = missing_columns(label, list(schema.names), options)
    if missing:
        return missing
    kind = schema.field(field).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(kind)
    ):
        return None
    return InputError(f"{label}: column '{field}' holds {kind}, not text; choose the text column with --text-field")


def arrow_documents(
    batches: Iterable[Any], *, label: str, source: str, id_prefix: str, format: str, options: ReadOptions, place: str = ""
) -> Iterator[Document | InputError]:
    """The rows of Arrow record batches (or tables) as Documents, converted to Python one batch at a time.

    A batch that cannot be read (a damaged file) ends the table with one error; the rows
    before it are kept.
    """
    import pyarrow as pa

    number = 0
    try:
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield row_document(
                    number, row, label=label, source=source, id_prefix=id_prefix, format=format, encoding="utf-8",
                    options=options, place=place,
                )  # fmt: skip
    except (pa.ArrowException, OSError) as exc:
        yield InputError(f"{label}: damaged after {place}row {number} ({first_line(exc)}); export it again")


def read_csv_file(path: Path, root: Path, data: bytes | IO[bytes], options: ReadOptions) -> Iterator[Document | InputError]:
    """A .csv file (its bytes or an open binary stream) with a header row: one document per row, its text in `options.text_field`."""
    yield from _read_delimited(path, root, data, options, delimiter=",", format="csv")


def read_tsv_file(path: Path, root: Path, data: bytes | IO[bytes], options: ReadOptions) -> Iterator[Document | InputError]:
    """A .tsv file (its bytes or an open binary stream) with a header row: one document per row, its text in `options.text_field`."""
    yield from _read_delimited(path, root, data, options, delimiter="\t", format="tsv")


class _RowTooLong(Exception):
    """A row (one line, or the lines of its quoted cells) over --max-input-mb."""


class _RecordLines:
    """A file's lines for csv.reader, streamed, stopping at a row that grows over the limit."""

    def __init__(self, lines: TextLines) -> None:
        self.lines, self.row_chars = lines, 0

    def __iter__(self) -> Iterator[str]:
        for _, line in self.lines:
            if isinstance(line, InputError):
                raise _RowTooLong
            self.row_chars += len(line)
            if self.row_chars > self.lines.options.max_input_bytes:
                raise _RowTooLong
            yield line


def _read_delimited(
    path: Path, root: Path, data: bytes | IO[bytes], options: ReadOptions, *, delimiter: str, format: str
) -> Iterator[Document | InputError]:
    label = display_path(path)
    try:
        lines = TextLines(io.BytesIO(data) if isinstance(data, bytes) else data, label, options, newline="")
    except InputError as exc:
        yield exc
        return
    # One article in one cell may well exceed the csv module's 128K-character default.
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    # newline="": quoted line breaks stay inside their cell, as the csv module expects.
    source = _RecordLines(lines)
    reader = csv.reader(source, delimiter=delimiter)
    number = rows = 0
    try:
        names = yield from _header(reader, label, options)
        if names is None:
            return
        separator = "a tab" if delimiter == "\t" else "a comma"
        for number, cells in enumerate(reader, start=1):
            source.row_chars = 0
            if not cells or cells == [""]:
                continue  # a blank line
            rows += 1
            if len(cells) != len(names):
                yield InputError(
                    f"{label}: row {number} has {len(cells)} cells but the header has {len(names)}; "
                    f"put cells that hold {separator}, a quote or a line break in double quotes"
                )
            elif any(lines.is_undecodable(cell) for cell in cells):
                yield lines.undecodable(f"{label}: row {number}")
            else:
                yield row_document(
                    number, dict(zip(names, cells)), label=label, source=display_path(path.as_posix()),
                    id_prefix=document_id(path, root), format=format, encoding=lines.encoding, options=options,
                )  # fmt: skip
    except csv.Error as exc:
        yield InputError(f"{label}: not valid {format.upper()} near line {reader.line_num} ({exc}); fix its quoting")
        return
    except _RowTooLong:
        yield over_limit(label, f"row {number + 1} is", options, then=", so the rows after it are not read")
        return
    if not rows:
        yield InputError(f"{label}: a header but no rows; add one row per document")


def _header(reader: Any, label: str, options: ReadOptions) -> Generator[InputError, None, list[str] | None]:
    """The column names of the header row, or None after yielding why the table cannot be read."""
    header = next(reader, None)
    if not header or not any(name.strip() for name in header):
        yield InputError(f"{label}: no header row; the first line must name the columns, one of them '{options.text_field}'")
        return None
    names = [name.strip() or f"column {i}" for i, name in enumerate(header, start=1)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        yield InputError(f"{label}: the header names column '{twice[0]}' twice; rename one of them")
        return None
    missing = missing_columns(label, names, options)
    if missing:
        yield missing
        return None
    return names


def read_parquet_file(
    path: Path, root: Path, data: bytes | IO[bytes], options: ReadOptions
) -> Iterator[Document | InputError]:
    """A .parquet file (its bytes or an open binary stream): one document per row, its text in `options.text_field`, read one row batch at a time."""
    parquet = import_extra("pyarrow.parquet", ".parquet")
    import pyarrow as pa

    label = display_path(path)
    try:
        table = parquet.ParquetFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (pa.ArrowException, OSError) as exc:
        yield InputError(f"{label}: not a readable Parquet file ({first_line(exc)}); export it again")
        return
    schema = table.schema_arrow
    problem = text_column_problem(label, schema, options)
    if problem:
        yield problem
        return
    if table.metadata.num_rows == 0:
        yield InputError(f"{label}: no rows; add one row per document")
        return
    yield from arrow_documents(
        table.iter_batches(batch_size=BATCH_ROWS), label=label, source=display_path(path.as_posix()),
        id_prefix=document_id(path, root), format="parquet", options=options,
    )  # fmt: skip
