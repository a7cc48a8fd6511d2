"""Orchestration only: read → segment → translate → summarize → write, with progress.

Documents are translated in groups of a few hundred sentences so batches stay full
across short documents, and each finished document is written before the next group.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import InputError
from .models import DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL
from .readers import list_input_files, read_file
from .records import Document, Sentence, SentencePair, TranslatedDocument
from .segment import segment_document
from .summarize import Summarizer
from .translate import Translator
from .writers import CorpusWriter, prepare_output_dir

GROUP_SENTENCES = 256


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run stands; passed to the `progress` callback after every step."""

    stage: str  # "loading", "translating", "summarizing", "writing", "done"
    documents_done: int
    documents_total: int
    sentences_done: int
    sentences_total: int


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run produced."""

    output_dir: Path
    files: dict[str, Path]
    documents: int
    sentences: int
    errors: tuple[str, ...]
    seconds: float
    manifest: dict[str, Any] = field(repr=False)


ProgressCallback = Callable[[Progress], None]


def assemble(
    document: Document, sentences: Sequence[Sentence], english: Sequence[str], summary: Any, models: dict[str, str]
) -> TranslatedDocument:
    """Pair each Japanese sentence with its English and rebuild the English text by paragraph."""
    pairs = tuple(
        SentencePair(s.paragraph, s.sentence, s.start, s.end, s.ja, en) for s, en in zip(sentences, english, strict=True)
    )
    paragraphs: dict[int, list[str]] = {}
    for pair in pairs:
        paragraphs.setdefault(pair.paragraph, []).append(pair.en)
    return TranslatedDocument(
        id=document.id,
        source=document.source,
        sha256=document.sha256,
        encoding=document.encoding,
        pairs=pairs,
        ja=document.text,
        en="\n".join(" ".join(p) for p in paragraphs.values()),
        summary=summary,
        models=models,
    )


def _model_ids(translator: Translator, summarizer: Summarizer | None) -> dict[str, str]:
    ids = {"translation": translator.model_id, "translation_revision": translator.revision}
    if summarizer:
        ids |= {"summarization": summarizer.model_id, "summarization_revision": summarizer.revision}
    return ids


def process_documents(
    documents: Iterable[Document],
    translator: Translator,
    summarizer: Summarizer | None = None,
    *,
    on_sentences: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Iterator[TranslatedDocument]:
    """Translate (and summarize) documents, yielding each finished one in input order. No I/O."""
    segmented = ((document, segment_document(document)) for document in documents)
    yield from _process_segmented(segmented, translator, summarizer, on_sentences=on_sentences, on_stage=on_stage)


def _process_segmented(
    segmented: Iterable[tuple[Document, list[Sentence]]],
    translator: Translator,
    summarizer: Summarizer | None,
    *,
    on_sentences: Callable[[int], None] | None,
    on_stage: Callable[[str], None] | None,
) -> Iterator[TranslatedDocument]:
    models = _model_ids(translator, summarizer)
    group: list[tuple[Document, list[Sentence]]] = []
    size = 0

    def flush() -> Iterator[TranslatedDocument]:
        if on_stage:
            on_stage("translating")
        english = translator.translate([s.ja for _, ss in group for s in ss], progress=on_sentences)
        offset = 0
        for document, sentences in group:
            own = english[offset : offset + len(sentences)]
            offset += len(sentences)
            summary = None
            if summarizer:
                if on_stage:
                    on_stage("summarizing")
                summary = summarizer.summarize(own)
            yield assemble(document, sentences, own, summary, models)

    for document, sentences in segmented:
        group.append((document, sentences))
        size += len(sentences)
        if size >= GROUP_SENTENCES:
            yield from flush()
            group, size = [], 0
    if group:
        yield from flush()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("ja2en", "torch", "transformers", "tokenizers", "sentencepiece", "huggingface_hub"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def translate_documents(
    inputs: Sequence[Path | str] | Path | str,
    *,
    output_dir: Path | str = "outputs",
    model: str = DEFAULT_TRANSLATION_MODEL,
    summarizer_model: str | None = DEFAULT_SUMMARY_MODEL,
    translator: Translator | None = None,
    summarizer: Summarizer | None = None,
    beams: int = 4,
    batch_size: int = 32,
    device: str = "auto",
    dtype: str = "auto",
    encoding: str | None = None,
    fail_fast: bool = False,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Translate every document under `inputs` and write the corpus files to `output_dir`.

    Pass `summarizer_model=None` to skip summaries. Ready `translator`/`summarizer`
    objects take precedence over the model names. A bad input document is reported in
    `RunResult.errors` and skipped (raised at once with `fail_fast=True`); the others are
    still written.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]

    # Inputs and output first: a typo in a path must fail in milliseconds, not after
    # a model has loaded.
    files = list_input_files(inputs)
    output = prepare_output_dir(output_dir)
    documents: list[Document] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for path, root in files:
        for item in read_file(path, root, encoding=encoding):
            if isinstance(item, Document) and item.id in seen:
                item = InputError(
                    f"{item.source}: document id '{item.id}' is already used by {seen[item.id]}; give each document a unique id"
                )
            if isinstance(item, InputError):
                if fail_fast:
                    raise item
                errors.append(str(item))
                continue
            seen[item.id] = item.source
            documents.append(item)
    segmented = [(d, segment_document(d)) for d in documents]
    timings["read_s"] = time.perf_counter() - started

    state = {"stage": "loading", "documents": 0, "sentences": 0}
    total_sentences = sum(len(sentences) for _, sentences in segmented)

    def report(stage: str | None = None) -> None:
        if stage:
            state["stage"] = stage
        if progress:
            progress(
                Progress(
                    str(state["stage"]), int(state["documents"]), len(documents), int(state["sentences"]), total_sentences
                )
            )

    def advance(count: int) -> None:
        state["sentences"] = int(state["sentences"]) + count
        report()

    report()
    loading = time.perf_counter()
    if translator is None:
        translator = Translator(model, beams=beams, batch_size=batch_size, device=device, dtype=dtype)
    if summarizer is None and summarizer_model:
        summarizer = Summarizer(summarizer_model, device=device, dtype=dtype)
    timings["load_s"] = time.perf_counter() - loading

    work = time.perf_counter()
    write_seconds = 0.0
    with CorpusWriter(output) as writer:
        for translated in _process_segmented(segmented, translator, summarizer, on_sentences=advance, on_stage=report):
            tick = time.perf_counter()
            writer.write(translated)
            write_seconds += time.perf_counter() - tick
            state["documents"] = int(state["documents"]) + 1
            report("writing")
        timings["translate_and_summarize_s"] = time.perf_counter() - work - write_seconds
        timings["write_s"] = write_seconds
        timings["total_s"] = time.perf_counter() - started
        manifest = {
            "ja2en_version": _versions()["ja2en"],
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "inputs": [str(p) for p in inputs],
            "settings": {"encoding": encoding, "summary": summarizer is not None},
            "models": {
                "translation": translator.settings(),
                "summarization": summarizer.settings() if summarizer else None,
            },
            "versions": _versions(),
            "counts": {
                "input_files": len(files),
                "documents": writer.documents,
                "paragraphs": writer.paragraphs,
                "sentences": writer.sentences,
                "errors": len(errors),
            },
            "errors": errors,
            "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        written = writer.commit(manifest)
    report("done")
    return RunResult(
        output_dir=output,
        files=written,
        documents=manifest["counts"]["documents"],
        sentences=manifest["counts"]["sentences"],
        errors=tuple(errors),
        seconds=time.perf_counter() - started,
        manifest=manifest,
    )
