"""Segmented documents → TranslatedDocuments: translate, summarize, assemble. No I/O.

Documents are taken in groups of about GROUP_SENTENCES sentences so batches stay full
across short documents. When a group's model call fails, each of its documents is tried
alone, so only the document at fault is reported (as a DocumentError in its place) and
the others go on. Both engines run this same step: the local run in its own process, the
Ray engine in each actor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Union

from .errors import DocumentError
from .records import Document, Sentence, SentencePair, Summary, TranslatedDocument, Translation
from .segment import split_sentences
from .summarize import Summarizer
from .translate import Translator

GROUP_SENTENCES = 256

# What one document can make a model call raise: a token sequence the model cannot take
# (IndexError, ValueError), a tensor operation failing on its shapes or running out of
# memory for its length (RuntimeError, MemoryError). Anything else (TypeError, OSError...)
# is a bug or the machine, not the document, and stops the run at once.
DOCUMENT_FAILURES: tuple[type[BaseException], ...] = (RuntimeError, ValueError, IndexError, MemoryError)

Segmented = tuple[Document, list[Sentence]]
Translated = tuple[Document, list[Sentence], list[Translation]]
SummaryOrFailure = Union[Summary, DocumentError, None]


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
        SentencePair(s.paragraph, s.sentence, s.start, s.end, s.ja, t.en, t.score, t.flags, document.locator(s.paragraph))
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
        format=document.format,
        title=document.title,
        meta=document.meta,
    )


def model_ids(translator: Translator, summarizer: Summarizer | None, ja_summarizer: Summarizer | None) -> dict[str, str]:
    """The models a document record names: id and revision of each model that made it."""
    ids = {"translation": translator.model_id, "translation_revision": translator.revision}
    if summarizer:
        ids |= {"summarization": summarizer.model_id, "summarization_revision": summarizer.revision}
    if ja_summarizer:
        ids |= {"ja_summarization": ja_summarizer.model_id, "ja_summarization_revision": ja_summarizer.revision}
    return ids


class DocumentProcessor:
    """The models of a run, applied to groups of segmented documents.

    `summarizer` summarizes the English translation; `ja_summarizer` the Japanese source,
    whose summary is then translated. `on_sentences(n)` is told as sentences are
    translated, `on_stage(name)` when a group moves to "translating" or "summarizing".
    """

    def __init__(
        self,
        translator: Translator,
        summarizer: Summarizer | None = None,
        ja_summarizer: Summarizer | None = None,
        *,
        on_sentences: Callable[[int], None] | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> None:
        self.translator, self.summarizer, self.ja_summarizer = translator, summarizer, ja_summarizer
        self.on_sentences = on_sentences or (lambda n: None)
        self.on_stage = on_stage or (lambda name: None)
        self.models = model_ids(translator, summarizer, ja_summarizer)

    def process(self, segmented: Iterable[Segmented]) -> Iterator[TranslatedDocument | DocumentError]:
        """Each document finished (or its DocumentError), in input order, a group at a time."""
        group: list[Segmented] = []
        size = 0
        for document, sentences in segmented:
            group.append((document, sentences))
            size += len(sentences)
            if size >= GROUP_SENTENCES:
                yield from self.process_group(group)
                group, size = [], 0
        if group:
            yield from self.process_group(group)

    def process_group(self, group: list[Segmented]) -> Iterator[TranslatedDocument | DocumentError]:
        """Translate, then summarize one group; failures come back in their documents' places."""
        done = self.translate_group(group)
        translated = [item for item in done if not isinstance(item, DocumentError)]
        summaries = iter(self.summarize_group(translated))
        for item in done:
            if isinstance(item, DocumentError):
                yield item
                continue
            summary = next(summaries)
            yield summary if isinstance(summary, DocumentError) else assemble(*item, summary[0], self.models, summary[1])

    def translate_group(self, group: list[Segmented]) -> list[Translated | DocumentError]:
        """Every sentence of the group in one call; if it fails, each document alone."""
        self.on_stage("translating")
        if self.translator.translates_documents:
            return self._translate_documents(group)
        reported = 0

        def count(n: int) -> None:
            nonlocal reported
            reported += n
            self.on_sentences(n)

        try:
            translations = self.translator.translate_detailed([s.ja for _, ss in group for s in ss], progress=count)
        except DOCUMENT_FAILURES:
            return self._translate_one_by_one(group, reported)
        done: list[Translated | DocumentError] = []
        offset = 0
        for document, sentences in group:
            done.append((document, sentences, translations[offset : offset + len(sentences)]))
            offset += len(sentences)
        return done

    def _translate_documents(self, group: list[Segmented]) -> list[Translated | DocumentError]:
        # An LLM translates whole documents (windows with context), several at once; a
        # document with a sentence no reply translated comes back as that document's error.
        results = self.translator.translate_documents(
            [(sentences, document.title, document.id) for document, sentences in group], progress=self.on_sentences
        )
        done: list[Translated | DocumentError] = []
        for (document, sentences), result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                done.append(DocumentError.failed(document.source, "translation", result))
            else:
                done.append((document, sentences, result))
        return done

    def _translate_one_by_one(self, group: list[Segmented], reported: int) -> list[Translated | DocumentError]:
        # Find the document at fault: translate each on its own (the good ones are cheap to
        # redo, most from the cache). Progress only moves past what the failed call reported.
        done: list[Translated | DocumentError] = []
        finished = 0
        for document, sentences in group:
            try:
                done.append((document, sentences, self.translator.translate_detailed([s.ja for s in sentences])))
            except DOCUMENT_FAILURES as exc:
                done.append(DocumentError.failed(document.source, "translation", exc))
            finished += len(sentences)
            if finished > reported:
                self.on_sentences(finished - reported)
                reported = finished
        return done

    def summarize_group(self, translated: list[Translated]) -> list[tuple[Summary | None, Summary | None] | DocumentError]:
        """Each translated document's (English summary, Japanese summary), or the failure."""
        english = [[t.en for t in translations] for _, _, translations in translated]
        of_english = self._summarize_with(self.summarizer, english, translated, "summarization")
        japanese = [[s.ja for s in sentences] for _, sentences, _ in translated]
        of_japanese = self._summarize_with(self.ja_summarizer, japanese, translated, "Japanese summarization")
        if self.ja_summarizer:
            of_japanese = self._translate_summaries(of_japanese, translated)
        return [
            en if isinstance(en, DocumentError) else ja if isinstance(ja, DocumentError) else (en, ja)
            for en, ja in zip(of_english, of_japanese, strict=True)
        ]

    def _summarize_with(
        self, model: Summarizer | None, texts: list[list[str]], translated: list[Translated], what: str
    ) -> list[SummaryOrFailure]:
        if not model or not translated:
            return [None] * len(translated)
        self.on_stage("summarizing")
        try:
            return list(model.summarize_many(texts))
        except DOCUMENT_FAILURES:
            results: list[SummaryOrFailure] = []
            for (document, _, _), own in zip(translated, texts, strict=True):
                try:
                    results.append(model.summarize(own))
                except DOCUMENT_FAILURES as exc:
                    results.append(DocumentError.failed(document.source, what, exc))
            return results

    def _translate_summaries(
        self, summaries: list[SummaryOrFailure], translated: list[Translated]
    ) -> list[SummaryOrFailure]:
        """The Japanese summaries with their English, sentence by sentence, like the documents."""
        results = list(summaries)
        todo = [(i, split_sentences(s.text)) for i, s in enumerate(summaries) if isinstance(s, Summary)]
        try:
            english = iter(self.translator.translate([piece for _, pieces in todo for piece in pieces]))
            for i, pieces in todo:
                results[i] = _with_translation(results[i], [next(english) for _ in pieces])
        except DOCUMENT_FAILURES:
            for i, pieces in todo:  # find the summary at fault, as for the documents
                try:
                    results[i] = _with_translation(results[i], self.translator.translate(pieces))
                except DOCUMENT_FAILURES as exc:
                    results[i] = DocumentError.failed(translated[i][0].source, "summary translation", exc)
        return results


def _with_translation(summary: SummaryOrFailure, english: list[str]) -> Summary:
    assert isinstance(summary, Summary)
    return dataclasses.replace(summary, translation=" ".join(english))
