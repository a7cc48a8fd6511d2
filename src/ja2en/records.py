"""The records every stage passes on: Document → Sentence → SentencePair → TranslatedDocument.

All are frozen dataclasses; `to_dict()` gives the JSON form with stable snake_case keys
in a fixed order (the order of the fields), which is the schema documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Document:
    """One input document after reading: its text decoded, newline- and NFKC-normalized."""

    id: str
    source: str  # the path it was read from (and ":LINE" for a JSONL record)
    sha256: str  # of the source bytes (the file, or the JSONL line)
    encoding: str  # as detected or forced: utf-8, utf-8-sig, cp932, euc-jp, iso-2022-jp
    text: str  # every sentence offset points into this string
    format: str = "txt"  # the reader that made it: txt, md, jsonl, html, pdf, docx, epub, csv, tsv, parquet...
    title: str | None = None  # the source's own title (an HTML <title>, a PDF's or EPUB's metadata)
    locators: tuple[str, ...] = ()  # where each paragraph is in the source ("page 2", "table 1, row 3, cell 2"), when known
    meta: dict[str, Any] | None = None  # what else the source says of it (a table row's other columns, a page's lang)

    def locator(self, paragraph: int) -> str | None:
        """Where paragraph number `paragraph` is in the source, when the reader knows."""
        return self.locators[paragraph] if paragraph < len(self.locators) and self.locators[paragraph] else None


@dataclass(frozen=True, slots=True)
class Sentence:
    """A Japanese sentence of a document, with its place and character span in `Document.text`."""

    paragraph: int
    sentence: int  # index within its paragraph
    start: int
    end: int
    ja: str


@dataclass(frozen=True, slots=True)
class Translation:
    """The English for one Japanese sentence, with how sure the model was and what looks wrong."""

    en: str
    score: float | None = None  # mean token log-probability (0 is certain)
    flags: tuple[str, ...] = ()  # quality flags, see quality.py


@dataclass(frozen=True, slots=True)
class SentencePair:
    """An aligned Japanese sentence and its English translation."""

    paragraph: int
    sentence: int
    start: int
    end: int
    ja: str
    en: str
    score: float | None = None
    flags: tuple[str, ...] = ()
    locator: str | None = None  # where its paragraph is in the source (page, element, cell, row)

    def to_dict(self) -> dict[str, Any]:
        return {
            "paragraph": self.paragraph,
            "sentence": self.sentence,
            "start": self.start,
            "end": self.end,
            "ja": self.ja,
            "en": self.en,
            # 4 decimals: what tells pairs apart; more would only record float rounding,
            # which differs with the batch a sentence was decoded in.
            "score": None if self.score is None else round(self.score, 4),
            "flags": list(self.flags),
            "locator": self.locator,
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """A summary and how it was made (map-reduce over chunks when the text is long)."""

    text: str
    model: str
    input_tokens: int  # tokens of the document as the summarizer sees it
    max_input_tokens: int  # the summarizer's input limit
    chunks: int  # chunks in the first round; 1 when the document fit at once
    rounds: int  # generate rounds; more than 1 means chunk summaries were summarized again
    language: str = "en"  # of the text summarized (and of the summary)
    translation: str | None = None  # the English of a Japanese summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "language": self.language,
            "input_tokens": self.input_tokens,
            "max_input_tokens": self.max_input_tokens,
            "chunks": self.chunks,
            "rounds": self.rounds,
        }


@dataclass(frozen=True, slots=True)
class TranslatedDocument:
    """A document with its aligned sentence pairs, English text and summary."""

    id: str
    source: str
    sha256: str
    encoding: str
    pairs: tuple[SentencePair, ...]
    ja: str  # the normalized Japanese text; pair offsets index into it
    en: str  # one line per paragraph, sentences joined by a space
    summary: Summary | None  # of the English translation (--summary en/both)
    models: dict[str, str] = field(default_factory=dict)
    summary_ja: Summary | None = None  # of the Japanese source, with its translation (--summary ja/both)
    format: str = "txt"
    title: str | None = None
    meta: dict[str, Any] | None = None

    @property
    def num_paragraphs(self) -> int:
        return len({pair.paragraph for pair in self.pairs})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "format": self.format,
            "sha256": self.sha256,
            "encoding": self.encoding,
            "title": self.title,
            "meta": self.meta,
            "num_paragraphs": self.num_paragraphs,
            "num_sentences": len(self.pairs),
            "pairs": [p.to_dict() for p in self.pairs],
            "ja": self.ja,
            "en": self.en,
            # The English summary: of the translation, or else the translated Japanese one.
            "summary_en": self.summary.text if self.summary else self.summary_ja.translation if self.summary_ja else None,
            "summary_ja": self.summary_ja.text if self.summary_ja else None,
            "summary_ja_en": self.summary_ja.translation if self.summary_ja else None,
            "summary": self.summary.to_dict() if self.summary else None,
            "summary_ja_info": self.summary_ja.to_dict() if self.summary_ja else None,
            "models": dict(self.models),
        }


def sentence_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The flat parallel-corpus view of a document record: one row per sentence pair."""
    return [
        {
            "doc_id": record["id"], "paragraph": p["paragraph"], "sentence": p["sentence"], "ja": p["ja"], "en": p["en"],
            "locator": p.get("locator"),
        }  # fmt: skip
        for p in record["pairs"]
    ]
