"""A document's sentences → windows of sentences to send in one request, each with its context.

An LLM translates better with the document around a sentence (zero pronouns, recurring
terms, register), so a request carries a window: a paragraph, or as many sentences as fit a
token budget, each under its id so the reply can be checked id by id. The context is the
title and the previous sentences with their finished translations. Pure functions: no I/O.

Context uses the translations of earlier windows, so the windows of one document are
translated in order (documents in parallel); that also keeps the context, and so the prompt
and its cache key, the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..records import Sentence

# Tokens per character, as OpenAI-style BPE vocabularies cut them: about one token per
# kana or kanji, about four ASCII characters per token. Only used to size windows and to
# estimate a run's tokens before anything is sent; the server's `usage` is the real count.
_ASCII_CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class SourceSentence:
    """One Japanese sentence to translate, under the id its reply must carry."""

    id: str
    paragraph: int
    ja: str


@dataclass(frozen=True, slots=True)
class ContextPair:
    """A sentence before the window and its translation (None while it has none)."""

    ja: str
    en: str | None


@dataclass(frozen=True, slots=True)
class Window:
    """The sentences of one request, and what the model should know of the text before them."""

    sentences: tuple[SourceSentence, ...]
    title: str | None = None
    context: tuple[ContextPair, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sentences)

    def halves(self) -> tuple[Window, Window]:
        """The window cut in two; the second half's context grows by the first half's sources."""
        middle = len(self.sentences) // 2
        first, second = self.sentences[:middle], self.sentences[middle:]
        # The first half's translations are not known yet when both halves go out; its
        # sources still tell the model what came just before.
        keep = len(self.context)
        carried = (self.context + tuple(ContextPair(s.ja, None) for s in first))[-keep:] if keep else ()
        return Window(first, self.title, self.context), Window(second, self.title, carried)


def estimate_tokens(text: str) -> int:
    """A rough token count of `text` for a BPE vocabulary (see _ASCII_CHARS_PER_TOKEN)."""
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return len(text) - ascii_chars + -(-ascii_chars // _ASCII_CHARS_PER_TOKEN)


def source_sentences(sentences: Sequence[Sentence]) -> list[SourceSentence]:
    """A document's sentences (segment.py's records, in order) with short ids: s1, s2, ..."""
    return [SourceSentence(f"s{n}", s.paragraph, s.ja) for n, s in enumerate(sentences, start=1)]


def cut_windows(
    sentences: Sequence[SourceSentence],
    *,
    max_tokens: int = 600,
    max_sentences: int | None = None,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> list[tuple[SourceSentence, ...]]:
    """Cut a document's sentences into windows: never across a paragraph, never past the budget.

    A paragraph that fits `max_tokens` is one window; a longer one is cut where the budget
    runs out. A sentence longer than the budget is a window of its own. `max_sentences`
    caps the sentences per window (1 for a template that translates one sentence at a time).
    """
    windows: list[tuple[SourceSentence, ...]] = []
    current: list[SourceSentence] = []
    used = 0
    for sentence in sentences:
        cost = count_tokens(sentence.ja)
        full = (max_sentences is not None and len(current) >= max_sentences) or used + cost > max_tokens
        if current and (sentence.paragraph != current[-1].paragraph or full):
            windows.append(tuple(current))
            current, used = [], 0
        current.append(sentence)
        used += cost
    if current:
        windows.append(tuple(current))
    return windows


def attach_context(
    window: Sequence[SourceSentence],
    before: Sequence[SourceSentence],
    finished: Mapping[str, str],
    *,
    title: str | None = None,
    context_sentences: int = 3,
) -> Window:
    """A window with its context: the title and the last `context_sentences` sentences of `before`.

    `before` is every sentence of the document ahead of the window, in order; `finished`
    maps ids to the translations known so far (a sentence without one goes as source only).
    """
    previous = before[-context_sentences:] if context_sentences > 0 else ()
    context = tuple(ContextPair(s.ja, finished.get(s.id)) for s in previous)
    return Window(tuple(window), title, context)
