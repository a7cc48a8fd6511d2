"""What runs on the Ray workers: read + segment tasks, and the actor that translates batches.

Each function takes and returns pyarrow tables with fixed schemas, so blocks from different
tasks always agree. The actor runs the single-process pipeline's own translate-and-summarize
step (process.DocumentProcessor) on each batch, so a document comes out of a Ray run
exactly as it comes out of `translate_documents`; the actor writes it to its own shard file
and returns only a receipt. engine.py drives all of this.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import TranslationCache
from ..errors import DocumentError, InputError
from ..journal import ShardWriter, encode_document
from ..process import DocumentProcessor
from ..run import RunOptions, describe_models, probe_models
from ..readers import ReadOptions, read_file
from ..records import Document, Sentence
from ..segment import segment_document
from ..summarize import Summarizer
from ..translate import Translator

@dataclass(frozen=True)
class Loaders:
    """Zero-argument callables that build the models inside each actor (they cannot be shipped).

    For example `Loaders(functools.partial(Translator, "staka/fugumt-ja-en", device="cuda"))`.
    `summary` is the run's summary mode as `translate_documents` takes it, for the manifest.
    """

    translator: Callable[[], Translator]
    summarizer: Callable[[], Summarizer] | None = None
    ja_summarizer: Callable[[], Summarizer] | None = None
    summary: str = "en"

    @property
    def summarizes(self) -> bool:
        return self.summarizer is not None or self.ja_summarizer is not None

    def load(self) -> tuple[Translator, Summarizer | None, Summarizer | None]:
        return (
            self.translator(),
            self.summarizer() if self.summarizer else None,
            self.ja_summarizer() if self.ja_summarizer else None,
        )


def load_translator(model: str, *, cache: bool | Path | str = True, **settings: Any) -> Translator:
    """A Translator with this worker's translation cache (each node keeps its own)."""
    translation_cache = TranslationCache(None if cache is True else cache) if cache else None
    return Translator(model, cache=translation_cache, **settings)


def load_summarizer(model: str, **settings: Any) -> Summarizer:
    return Summarizer(model, **settings)


def model_loaders(options: RunOptions | None = None, **settings: Any) -> Loaders:
    """What each actor loads: the models `options` (or its fields as keywords) name."""
    options = RunOptions.build(options, **settings)
    translator = functools.partial(
        load_translator, options.model, cache=options.cache, **options.loading(), **options.translator_settings()
    )
    summarizer = None
    if options.summarizes_english:
        summarizer = functools.partial(load_summarizer, options.summarizer_model, **options.loading())
    ja_summarizer = None
    if options.summarizes_japanese:
        ja_summarizer = functools.partial(load_summarizer, options.ja_summarizer_model, language="ja", **options.loading())
    return Loaders(translator, summarizer, ja_summarizer, summary=options.summary)


def describe_loaders(loaders: Loaders) -> dict[str, Any]:
    """Fingerprints and manifest settings of the models, as an actor with these resources loads them."""
    return describe_models(*loaders.load())


def _schema(*fields: tuple[str, str]) -> Any:
    import pyarrow as pa

    types = {"int": pa.int64(), "str": pa.string(), "bytes": pa.binary()}
    return pa.schema([(name, types[kind]) for name, kind in fields])


# A read document, or an input that could not be read (error set, the rest empty).
# (file, item) is its place in the input order; sentences are [paragraph, sentence, start, end].
READ_FIELDS = (
    ("file", "int"), ("item", "int"), ("id", "str"), ("source", "str"), ("sha256", "str"), ("encoding", "str"),
    ("text", "str"), ("sentences", "str"), ("num_sentences", "int"), ("error_type", "str"), ("error", "str"),
    ("extras", "str"),
)  # fmt: skip
# The Document fields beside the text that only some formats fill, as one JSON column.
_EXTRAS = ("format", "title", "locators", "meta")
# One receipt per document: where the actor wrote its line (shard, offset, length), or its
# DocumentError's message and cause. The document itself never travels back to the driver.
# `probe` is what the actor's one-sentence test of its models raised after a batch with
# failures ("" when it passed or did not run), for the driver's FailureWatch.
RESULT_FIELDS = (
    ("id", "str"), ("sha256", "str"), ("shard", "str"), ("offset", "int"), ("length", "int"),
    ("error_type", "str"), ("error", "str"), ("cause", "str"), ("probe", "str"), ("cache_hits", "int"),
)  # fmt: skip


def _table(rows: list[dict[str, Any]], fields: tuple[tuple[str, str], ...]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=_schema(*fields))


def _document_row(document: Document, file: int, item: int) -> dict[str, Any]:
    sentences = segment_document(document)
    return {
        "file": file, "item": item, "id": document.id, "source": document.source, "sha256": document.sha256,
        "encoding": document.encoding, "text": document.text, "num_sentences": len(sentences),
        "sentences": json.dumps([[s.paragraph, s.sentence, s.start, s.end] for s in sentences]),
        "error_type": "", "error": "",
        "extras": json.dumps({name: getattr(document, name) for name in _EXTRAS}, ensure_ascii=False),
    }  # fmt: skip


def _error_row(error: Exception, file: int, item: int) -> dict[str, Any]:
    empty = dict.fromkeys(("id", "source", "sha256", "encoding", "text", "sentences", "extras"), "")
    return {
        **empty,
        "file": file,
        "item": item,
        "num_sentences": 0,
        "error_type": type(error).__name__,
        "error": str(error),
    }


def read_files(batch: Any, *, options: ReadOptions) -> Any:
    """Ray task: files (file, path, root) → one row per document or unreadable input, segmented."""
    rows = []
    for file, path, root in zip(*(batch[name].to_pylist() for name in ("file", "path", "root")), strict=True):
        for item, found in enumerate(read_file(Path(os.fsdecode(path)), Path(os.fsdecode(root)), options=options)):
            rows.append(
                _error_row(found, file, item) if isinstance(found, InputError) else _document_row(found, file, item)
            )
    return _table(rows, READ_FIELDS)


def segment_documents(batch: Any) -> Any:
    """Ray task: rows with Document fields → the same rows as read_files gives, segmented.

    `format`, `title`, `locators` and `meta` are taken when the rows have them (format
    "dataset" when not)."""
    fields = ("id", "source", "sha256", "encoding", "text") + tuple(f for f in _EXTRAS if f in batch.column_names)
    rows = [
        dict(zip(fields, values, strict=True)) for values in zip(*(batch[f].to_pylist() for f in fields), strict=True)
    ]
    return _table([_document_row(_document(row), 0, 0) for row in rows], READ_FIELDS)


def _document(row: dict[str, Any]) -> Document:
    """A Document from a row of its fields (the optional ones may be missing or null)."""
    return Document(
        row["id"], row["source"], row["sha256"], row["encoding"], row["text"], format=row.get("format") or "dataset",
        title=row.get("title"), locators=tuple(row.get("locators") or ()), meta=row.get("meta"),
    )  # fmt: skip


def keep_ids(batch: Any, *, ids: Any) -> Any:
    """Ray task: the readable documents whose id is in `ids` (a pyarrow string array)."""
    import pyarrow.compute as pc

    wanted = pc.is_in(batch["id"], value_set=ids)
    return batch.filter(pc.and_(wanted, pc.equal(batch["error"], "")))


class TranslateBatch:
    """Ray Data actor: loads the models once, then translates and summarizes batches of
    documents, writes them to its own shard file and returns receipts."""

    def __init__(self, loaders: Loaders, shard_dir: str) -> None:
        self.translator, self.summarizer, self.ja_summarizer = loaders.load()
        self.shard = ShardWriter(shard_dir)

    def __call__(self, batch: Any) -> Any:
        segmented = []
        for row in batch.to_pylist():
            document = _document({**row, **json.loads(row["extras"])})
            spans = json.loads(row["sentences"])
            sentences = [Sentence(p, s, start, end, document.text[start:end]) for p, s, start, end in spans]
            segmented.append((document, sentences))
        cache = self.translator.cache
        hits = cache.hits if cache else 0
        results = list(DocumentProcessor(self.translator, self.summarizer, self.ja_summarizer).process(segmented))
        probe = self.probe(results)
        rows, lines = [], []
        for (document, _), result in zip(segmented, results, strict=True):
            failed = isinstance(result, DocumentError)
            line = b"" if failed else encode_document(result)
            lines.append(line)
            rows.append({
                "id": document.id, "sha256": document.sha256, "shard": "" if failed else self.shard.name,
                "offset": 0, "length": len(line), "error_type": type(result).__name__ if failed else "",
                "error": str(result) if failed else "", "cause": result.cause if failed else "",
                "probe": probe if failed else "", "cache_hits": 0,
            })  # fmt: skip
        if any(lines):
            offset = self.shard.write(lines)
            for row, line in zip(rows, lines, strict=True):
                row["offset"] = offset
                offset += len(line)
        if rows and cache:
            rows[0]["cache_hits"] = cache.hits - hits
        return _table(rows, RESULT_FIELDS)

    def probe(self, results: list[Any]) -> str:
        """After a batch with a failed model call, what testing the models on one sentence raises
        ("" if nothing): here, where the models are, not on the driver, which has none."""
        if not any(isinstance(result, DocumentError) and result.cause for result in results):
            return ""
        try:
            probe_models(self.translator, self.summarizer, self.ja_summarizer)
        except Exception as exc:
            return type(exc).__name__
        return ""
