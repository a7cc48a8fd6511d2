"""Files and folders → Document: finding inputs, and one reader per format.

`READERS` maps a file suffix to the reader of that format, as "module:function" names
imported only when a file of that kind is read. Each reader takes (path, root, the
file's bytes — or the open file, for the formats in STREAMED —, a ReadOptions) and yields
Documents, or InputErrors in place of what it could not read, so that one bad input never
stops the others; the run decides what to do with them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import InputError, display_path
from ..records import Document
from .files import is_output_folder, iter_input_files, list_input_files
from .text import LONE_SURROGATE, MAX_INPUT_MB, ReadOptions, decode_bytes, json_type_name, normalize_text, read_whole

READERS: dict[str, str] = {
    ".txt": "text:read_text_file",
    ".md": "text:read_text_file",
    ".jsonl": "jsonl:read_jsonl_file",
    ".html": "html:read_html_file",
    ".htm": "html:read_html_file",
    ".epub": "epub:read_epub_file",
    ".pdf": "pdf:read_pdf_file",
    ".docx": "docx:read_docx_file",
    ".csv": "tables:read_csv_file",
    ".tsv": "tables:read_tsv_file",
    ".parquet": "tables:read_parquet_file",
}
SUFFIXES = tuple(READERS)
# Formats of many documents, read a record (or row batch) at a time from an open file; the
# others are one document each, read whole within --max-input-mb.
STREAMED = frozenset({".jsonl", ".csv", ".tsv", ".parquet"})

__all__ = [
    "LONE_SURROGATE",
    "MAX_INPUT_MB",
    "READERS",
    "ReadOptions",
    "SUFFIXES",
    "decode_bytes",
    "is_output_folder",
    "iter_input_files",
    "json_type_name",
    "list_input_files",
    "normalize_text",
    "read_documents",
    "read_file",
    "readable",
]


def readable(path: Path) -> bool:
    """Whether ja2en has a reader for this file's suffix."""
    return path.suffix.lower() in READERS


def _reader(suffix: str) -> Callable[..., Iterator[Document | InputError]]:
    module, function = READERS[suffix].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def read_file(
    path: Path, root: Path, *, encoding: str | None = None, options: ReadOptions | None = None
) -> Iterator[Document | InputError]:
    """Read one file into documents with the reader of its format (a file of another suffix is read as text).

    `options` (a ReadOptions) says more than `encoding` alone: the text and id fields of tables,
    and --max-input-mb. A file over it, or a record over it, is one InputError in its place.
    """
    options = options or ReadOptions(encoding=encoding)
    if path.is_dir():  # the walk only gives folders that are saved datasets
        from .dataset import read_saved_dataset

        yield from read_saved_dataset(path, root, options)
        return
    suffix = path.suffix.lower() if readable(path) else ".txt"
    try:
        source = path.open("rb") if suffix in STREAMED else read_whole(path, options)
    except InputError as exc:  # over the limit
        yield exc
        return
    except OSError as exc:
        yield InputError(f"{display_path(path)}: cannot be read ({exc.strerror}); check its permissions")
        return
    if isinstance(source, bytes):
        yield from _reader(suffix)(path, root, source, options)
        return
    with source:
        yield from _reader(suffix)(path, root, source, options)


def read_documents(
    inputs: Iterable[Path | str], *, encoding: str | None = None
) -> Iterator[Document | InputError]:
    """Read every document under `inputs` in a stable order; errors come back as values."""
    for item in iter_input_files(inputs):
        if isinstance(item, InputError):
            yield item
        else:
            yield from read_file(*item, encoding=encoding)
