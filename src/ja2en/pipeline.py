"""Orchestration only: read → segment → translate → summarize → journal, with progress.

Documents are translated in groups of a few hundred sentences so batches stay full
across short documents, and each finished document is made durable before the next
group (journal.py), so a crash costs at most one group. A document whose translation or
summary fails is reported and the run goes on.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .cache import TranslationCache
from .errors import DocumentError, InputError, Ja2enError
from .journal import Journal
from .models import DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL
from .presets import DEFAULT_JA_SUMMARIZER
from .readers import list_input_files, read_file
from .records import Document, Sentence, SentencePair, Summary, TranslatedDocument, Translation
from .segment import segment_document, split_sentences
from .summarize import Summarizer
from .translate import Translator
from .writers import prepare_output_dir

GROUP_SENTENCES = 256
SUMMARY_MODES = ("en", "ja", "both")


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
    document: Document,
    sentences: Sequence[Sentence],
    translations: Sequence[Translation],
    summary: Summary | None,
    models: dict[str, str],
    summary_ja: Summary | None = None,
) -> TranslatedDocument:
    """Pair each Japanese sentence with its translation and rebuild the English text by paragraph."""
    pairs = tuple(
        SentencePair(s.paragraph, s.sentence, s.start, s.end, s.ja, t.en, t.score, t.flags)
        for s, t in zip(sentences, translations, strict=True)
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
        summary_ja=summary_ja,
    )


def _model_ids(translator: Translator, summarizer: Summarizer | None, ja_summarizer: Summarizer | None) -> dict[str, str]:
    ids = {"translation": translator.model_id, "translation_revision": translator.revision}
    if summarizer:
        ids |= {"summarization": summarizer.model_id, "summarization_revision": summarizer.revision}
    if ja_summarizer:
        ids |= {"ja_summarization": ja_summarizer.model_id, "ja_summarization_revision": ja_summarizer.revision}
    return ids


def process_documents(
    documents: Iterable[Document],
    translator: Translator,
    summarizer: Summarizer | None = None,
    *,
    ja_summarizer: Summarizer | None = None,
    on_sentences: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Iterator[TranslatedDocument | DocumentError]:
    """Translate (and summarize) documents, yielding each finished one in input order. No I/O.

    `summarizer` summarizes the English translation; `ja_summarizer` the Japanese source,
    whose summary is then translated. A document that fails comes back as a DocumentError.
    """
    segmented = ((document, segment_document(document)) for document in documents)
    yield from _process_segmented(
        segmented, translator, summarizer, ja_summarizer=ja_summarizer, on_sentences=on_sentences, on_stage=on_stage
    )


def _process_segmented(
    segmented: Iterable[tuple[Document, list[Sentence]]],
    translator: Translator,
    summarizer: Summarizer | None,
    *,
    ja_summarizer: Summarizer | None = None,
    on_sentences: Callable[[int], None] | None,
    on_stage: Callable[[str], None] | None,
) -> Iterator[TranslatedDocument | DocumentError]:
    models = _model_ids(translator, summarizer, ja_summarizer)
    group: list[tuple[Document, list[Sentence]]] = []
    size = 0

    def stage(name: str) -> None:
        if on_stage:
            on_stage(name)

    def translate_group() -> list[tuple[Document, list[Sentence], list[Translation]] | DocumentError]:
        stage("translating")
        reported = 0

        def count(n: int) -> None:
            nonlocal reported
            reported += n
            if on_sentences:
                on_sentences(n)

        try:
            translations = translator.translate_detailed([s.ja for _, ss in group for s in ss], progress=count)
        except Exception:
            # Find the document at fault: translate each on its own (the good ones are
            # cheap to redo, most from the cache) and report only the one that fails.
            # Progress only moves past what the failed attempt already reported.
            done: list[tuple[Document, list[Sentence], list[Translation]] | DocumentError] = []
            finished = 0
            for document, sentences in group:
                try:
                    done.append((document, sentences, translator.translate_detailed([s.ja for s in sentences])))
                except Exception as exc:  # one document's failure must not stop the batch
                    done.append(DocumentError.failed(document.source, "translation", exc))
                finished += len(sentences)
                if finished > reported:
                    count(finished - reported)
            return done
        done, offset = [], 0
        for document, sentences in group:
            done.append((document, sentences, translations[offset : offset + len(sentences)]))
            offset += len(sentences)
        return done

    Translated = list[tuple[Document, list[Sentence], list[Translation]]]

    def summarize_with(
        model: Summarizer | None, texts: list[list[str]], translated: Translated, what: str
    ) -> list[Summary | DocumentError | None]:
        if not model or not translated:
            return [None] * len(translated)
        stage("summarizing")
        try:
            return list(model.summarize_many(texts))
        except Exception:
            results: list[Summary | DocumentError | None] = []
            for (document, _, _), own in zip(translated, texts, strict=True):
                try:
                    results.append(model.summarize(own))
                except Exception as exc:
                    results.append(DocumentError.failed(document.source, what, exc))
            return results

    def translate_summaries(
        summaries: list[Summary | DocumentError | None], translated: Translated
    ) -> list[Summary | DocumentError | None]:
        """The Japanese summaries with their English, sentence by sentence, like the documents."""
        results = list(summaries)
        todo = [(i, split_sentences(s.text)) for i, s in enumerate(summaries) if isinstance(s, Summary)]

        def attach(i: int, english: list[str]) -> None:
            results[i] = dataclasses.replace(results[i], translation=" ".join(english))  # type: ignore[arg-type]

        try:
            english = iter(translator.translate([piece for _, pieces in todo for piece in pieces]))
            for i, pieces in todo:
                attach(i, [next(english) for _ in pieces])
        except Exception:
            for i, pieces in todo:  # find the summary at fault, as for the documents
                try:
                    attach(i, translator.translate(pieces))
                except Exception as exc:
                    results[i] = DocumentError.failed(translated[i][0].source, "summary translation", exc)
        return results

    def summarize(translated: Translated) -> list[tuple[Summary | None, Summary | None] | DocumentError]:
        english = [[t.en for t in translations] for _, _, translations in translated]
        of_english = summarize_with(summarizer, english, translated, "summarization")
        japanese = [[s.ja for s in sentences] for _, sentences, _ in translated]
        of_japanese = summarize_with(ja_summarizer, japanese, translated, "Japanese summarization")
        if ja_summarizer:
            of_japanese = translate_summaries(of_japanese, translated)
        return [
            en if isinstance(en, DocumentError) else ja if isinstance(ja, DocumentError) else (en, ja)
            for en, ja in zip(of_english, of_japanese, strict=True)
        ]

    def flush() -> Iterator[TranslatedDocument | DocumentError]:
        done = translate_group()
        translated = [item for item in done if not isinstance(item, DocumentError)]
        summaries = iter(summarize(translated))
        for item in done:  # input order, failures in their place
            if isinstance(item, DocumentError):
                yield item
                continue
            summary = next(summaries)
            yield summary if isinstance(summary, DocumentError) else assemble(*item, summary[0], models, summary[1])

    for document, sentences in segmented:
        group.append((document, sentences))
        size += len(sentences)
        if size >= GROUP_SENTENCES:
            yield from flush()
            group, size = [], 0
    if group:
        yield from flush()


def check_summary_mode(summary: str) -> None:
    """InputError unless `summary` is one of SUMMARY_MODES."""
    if summary not in SUMMARY_MODES:
        raise InputError(f"unknown summary mode '{summary}'; use one of {', '.join(SUMMARY_MODES)}")


def describe_models(
    translator: Translator, summarizer: Summarizer | None, ja_summarizer: Summarizer | None
) -> dict[str, Any]:
    """The models' part of a run's fingerprint (what decides outputs) and of its manifest."""
    return {
        "fingerprint": {
            "translation": translator.fingerprint(),
            "summarization": summarizer.fingerprint() if summarizer else None,
            **({"ja_summarization": ja_summarizer.fingerprint()} if ja_summarizer else {}),
        },
        "settings": {
            "translation": translator.settings(),
            "summarization": summarizer.settings() if summarizer else None,
            "ja_summarization": ja_summarizer.settings() if ja_summarizer else None,
        },
    }


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("ja2en", "torch", "transformers", "tokenizers", "sentencepiece", "huggingface_hub"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read_inputs(
    inputs: Sequence[Path | str], encoding: str | None, fail_fast: bool
) -> tuple[int, list[Document], list[Ja2enError]]:
    """Read every input; bad ones (and duplicate ids) come back as errors, or raise with fail_fast."""
    files = list_input_files(inputs)
    documents: list[Document] = []
    errors: list[Ja2enError] = []
    seen: dict[str, str] = {}
    for found in files:
        for item in [found] if isinstance(found, InputError) else read_file(*found, encoding=encoding):
            if isinstance(item, Document) and item.id in seen:
                item = InputError(
                    f"{item.source}: document id '{item.id}' is already used by {seen[item.id]}; "
                    "give each document a unique id"
                )
            if isinstance(item, InputError):
                if fail_fast:
                    raise item
                errors.append(item)
                continue
            seen[item.id] = item.source
            documents.append(item)
    return sum(1 for found in files if not isinstance(found, InputError)), documents, errors


def translate_documents(
    inputs: Sequence[Path | str] | Path | str,
    *,
    output_dir: Path | str = "outputs",
    model: str = DEFAULT_TRANSLATION_MODEL,
    summarizer_model: str | None = DEFAULT_SUMMARY_MODEL,
    summary: str = "en",
    ja_summarizer_model: str = DEFAULT_JA_SUMMARIZER,
    translator: Translator | None = None,
    summarizer: Summarizer | None = None,
    ja_summarizer: Summarizer | None = None,
    beams: int = 4,
    batch_size: int = 64,
    batch_tokens: int = 4096,
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    encoding: str | None = None,
    cache: bool | Path | str = True,
    force: bool = False,
    fail_fast: bool = False,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Translate every document under `inputs` and write the corpus files to `output_dir`.

    `summary` is "en" (summarize the English translation with `summarizer_model`), "ja"
    (summarize the Japanese with `ja_summarizer_model`, then translate that summary) or
    "both"; pass `summarizer_model=None` with "en" to skip summaries. Ready
    `translator`/`summarizer`/`ja_summarizer` objects take precedence over model names. Re-running into the same `output_dir`
    resumes: documents already finished there with the same settings are skipped; other
    settings are refused unless `force=True` (which starts afresh). `cache` is True for the
    default translation cache, a path for another, or False for none. A bad input
    document is reported in `RunResult.errors` and skipped (raised with `fail_fast=True`);
    the others are still written.
    """
    started = time.perf_counter()
    started_at = _now()
    timings: dict[str, float] = {}
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    check_summary_mode(summary)

    # Inputs and output first: a typo in a path must fail in milliseconds, not after
    # a model has loaded.
    input_files, documents, errors = _read_inputs(inputs, encoding, fail_fast)
    if not documents:
        # Nothing to do: say why now rather than load models for an empty run.
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise InputError(f"nothing to translate: all {len(errors)} inputs failed; the first: {errors[0]}")
        raise InputError(f"{', '.join(map(str, inputs))}: no .txt, .md or .jsonl documents found; check the path")
    prepare_output_dir(output_dir)
    segmented = [(d, segment_document(d)) for d in documents]
    total_sentences = sum(len(sentences) for _, sentences in segmented)
    timings["read_s"] = time.perf_counter() - started
    if progress:
        progress(Progress("loading", 0, len(segmented), 0, total_sentences))

    loading = time.perf_counter()
    translation_cache = None
    if cache and translator is None:
        translation_cache = TranslationCache(None if cache is True else cache)
    if translator is None:
        translator = Translator(
            model, beams=beams, batch_size=batch_size, batch_tokens=batch_tokens, backend=backend,
            device=device, dtype=dtype, cache=translation_cache, trust_remote_code=trust_remote_code,
        )  # fmt: skip
    shared = {"backend": backend, "device": device, "dtype": dtype, "trust_remote_code": trust_remote_code}
    if summary == "ja":
        summarizer = None
    elif summarizer is None and summarizer_model:
        summarizer = Summarizer(summarizer_model, **shared)
    if summary == "en":
        ja_summarizer = None
    elif ja_summarizer is None:
        ja_summarizer = Summarizer(ja_summarizer_model, language="ja", **shared)
    timings["load_s"] = time.perf_counter() - loading

    described = describe_models(translator, summarizer, ja_summarizer)
    fingerprint = {"ja2en": _versions()["ja2en"], "encoding": encoding, **described["fingerprint"]}
    journal = Journal(output_dir, fingerprint, force=force)
    todo = [(d, s) for d, s in segmented if (d.id, d.sha256) not in journal.done]
    resumed = len(segmented) - len(todo)
    manifest: dict[str, Any] = {
        "ja2en_version": fingerprint["ja2en"],
        "inputs": [str(p) for p in inputs],
        "settings": {"encoding": encoding, "summary": summary if summarizer or ja_summarizer else None},
        "models": described["settings"],
        "versions": _versions(),
    }
    journal.start(manifest)

    state: dict[str, Any] = {
        "stage": "translating",
        "documents": resumed,
        "sentences": total_sentences - sum(len(sentences) for _, sentences in todo),
    }

    def report(stage: str | None = None) -> None:
        if stage:
            state["stage"] = stage
        if progress:
            progress(Progress(str(state["stage"]), int(state["documents"]), len(segmented), int(state["sentences"]), total_sentences))

    def advance(count: int) -> None:
        state["sentences"] = int(state["sentences"]) + count
        report()

    report()
    work = time.perf_counter()
    write_seconds = 0.0
    hits_before = translator.cache.hits if translator.cache else 0
    for item in _process_segmented(
        todo, translator, summarizer, ja_summarizer=ja_summarizer, on_sentences=advance, on_stage=report
    ):
        if isinstance(item, DocumentError):
            if fail_fast:
                raise item
            errors.append(item)
            continue
        tick = time.perf_counter()
        journal.append(item)
        write_seconds += time.perf_counter() - tick
        state["documents"] = int(state["documents"]) + 1
        report("writing")
    timings["translate_and_summarize_s"] = time.perf_counter() - work - write_seconds

    timings["write_s"] = write_seconds
    finishing = time.perf_counter()
    manifest["counts"] = {"input_files": input_files, "errors": len(errors)}
    manifest["errors"] = [str(e) for e in errors]
    written = [key for key in ((d.id, d.sha256) for d, _ in segmented) if key in journal.done]
    cache_hits = translator.cache.hits - hits_before if translator.cache else 0

    def this_run() -> dict[str, Any]:
        # What differs between an interrupted-and-resumed run and an uninterrupted one.
        now = time.perf_counter()
        return {
            "started_at": started_at,
            "finished_at": _now(),
            "documents_resumed": resumed,
            "documents_translated": len(written) - resumed,
            "sentences_from_cache": cache_hits,
            "timings": {k: round(v, 3) for k, v in {**timings, "finish_s": now - finishing, "total_s": now - started}.items()},
        }

    files, final = journal.finish(
        written, [{"error": type(e).__name__, "message": str(e)} for e in errors], manifest, this_run
    )
    if translation_cache:
        translation_cache.close()
    report("done")
    return RunResult(
        output_dir=journal.folder,
        files=files,
        documents=final["counts"]["documents"],
        sentences=final["counts"]["sentences"],
        errors=tuple(str(e) for e in errors),
        seconds=time.perf_counter() - started,
        manifest=final,
    )
