"""Paragraph and sentence segmentation for Japanese text (pure stdlib, linear time)."""

# Why our own splitter and not a library: on the 39 labelled cases in
# benchmarks/compare_segmenters.py (shared with tests/test_segment.py) we get 39/39.
# pysbd 0.3.4 (ja) gets 29/39: it splits runs like "！？"/"!!!", URLs at ? and !, and
# after Inc./etc./U.S., misses "「はい。」次の文", silently drops sentences containing
# U+222F (its internal sentinel), and is quadratic (8,000 sentences in one line: ~10 s).
# ja-sentence-segmenter 0.3.0 (README pipeline) gets 20/39: runs of !/? and "。。。"
# become several sentences, '.'/'．' and English sentences are never split, and its
# normalizer alters the text in 10/39 cases (drops spaces, rewrites ！ → !, = → ＝), so
# its sentences no longer point into the document; without the normalizer it gets 25/39.
# Neither returns offsets, which the aligned JSONL needs.

from __future__ import annotations

import re

from .records import Document, Sentence

# Strong terminators always end a sentence (outside brackets and URLs).
_STRONG = frozenset("。｡！？!?‼⁇⁈⁉")
# Everything that can belong to a terminator run; dots and ellipses only end a
# sentence when the rules in _dot_ends say so.
_TERMINATORS = _STRONG | frozenset(".．…‥")
# Bracket pairs whose contents are never split.  ASCII quotes are left out on
# purpose: they open and close with the same character (and ' is an apostrophe).
_PAIRS = {
    "「": "」", "『": "』", "(": ")", "（": ")", "“": "”", "【": "】", "〔": "〕",
    "〈": "〉", "《": "》", "[": "]", "［": "]", "{": "}", "｛": "}", "〘": "〙",
    "〖": "〗", "〝": "〟", "«": "»",
}
# Full-width closers are matched as their ASCII twins, so raw "（…)" still pairs.
_CLOSE_ALIAS = {"）": ")", "］": "]", "｝": "}"}
_OPENERS = frozenset(_PAIRS)
# Closing chars that stay with the sentence they follow.
_CLOSERS = frozenset(_PAIRS.values()) | frozenset(_CLOSE_ALIAS) | frozenset("’〞")
# ASCII quotes are closers only when nothing word-like follows them.
_AMBIGUOUS_QUOTES = frozenset("\"'")
_ANY_CLOSER = _CLOSERS | _AMBIGUOUS_QUOTES
# After 「…。」 these mean the quote is embedded in a longer sentence (と言った).
_CONTINUATION = frozenset("とっのをがにへや、，,")
# Latin abbreviations whose '.' does not end a sentence (compared lowercased).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc inc co corp ltd no nos fig figs vol "
    "pp ed eds approx dept est gov jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# URLs may contain ? and ! (query strings); ()[] are excluded so a URL inside
# brackets does not swallow the closer.  Literal prefixes keep this linear.
_URL_RE = re.compile(r"(?:https?|ftp)://[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+|www\.[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+")
_URL_TRAILING = ".,!?:;'"
# Names with a built-in "!" (common in Japanese news); only mid-sentence.
_NAME_RE = re.compile(r"Yahoo!(?=\S)")


def _is_cjk(c: str) -> bool:
    """True for kana, CJK ideographs and iteration marks."""
    return ("\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u4dbf" or "\u4e00" <= c <= "\u9fff"
            or "\uf900" <= c <= "\ufaff" or "\uff66" <= c <= "\uff9f" or c in "々〆〇ヶ")


def _is_latin_or_digit(c: str) -> bool:
    """True for ASCII or full-width Latin letters and digits (not CJK, which isalnum too)."""
    return (c.isascii() and c.isalnum()) or ("\uff10" <= c <= "\uff5a" and c.isalnum())


def _protected(p: str) -> tuple[bytearray, bytearray]:
    """Mask of positions inside a matched bracket pair or URL, and mask of top-level closers."""
    n = len(p)
    delta = [0] * (n + 1)
    closes = bytearray(n)
    stack: list[tuple[int, str]] = []
    pending: dict[str, int] = {}  # closer -> number of openers waiting for it
    for i, c in enumerate(p):
        if c in _PAIRS:
            want = _PAIRS[c]
            stack.append((i, want))
            pending[want] = pending.get(want, 0) + 1
            continue
        c = _CLOSE_ALIAS.get(c, c)
        if not pending.get(c):
            continue  # stray closer, or not a bracket at all: ignore it
        # Openers above the match are never closed: drop them, so text after an
        # unclosed bracket is split as if the bracket were not there.  Each
        # opener is popped once, so this stays linear.
        while True:
            o, want = stack.pop()
            pending[want] -= 1
            if want == c:
                break
        delta[o + 1] += 1
        delta[i] -= 1
        closes[i] = 1
    mask = bytearray(n)
    top_closers = bytearray(n)
    depth = 0
    for i in range(n):
        depth += delta[i]
        if depth:
            mask[i] = 1
        elif closes[i]:
            top_closers[i] = 1  # closes a pair that no other matched pair encloses
    for m in _URL_RE.finditer(p):
        end = m.end()
        while end > m.start() and p[end - 1] in _URL_TRAILING:
            end -= 1  # "see https://x.jp." -- the final '.' is punctuation
        mask[m.start():end] = b"\x01" * (end - m.start())
    for m in _NAME_RE.finditer(p):
        mask[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    return mask, top_closers


def _skip_closers(p: str, k: int) -> int:
    """Index after the closing brackets/quotes starting at k."""
    n = len(p)
    while k < n:
        c = p[k]
        if c in _CLOSERS:
            k += 1
        elif c in _AMBIGUOUS_QUOTES and (k + 1 == n or p[k + 1].isspace() or p[k + 1] in _ANY_CLOSER):
            k += 1  # `"Go." She` closes; `。"Hello"` opens, so it is left alone
        else:
            break
    return k


def _is_abbreviation(p: str, i: int) -> bool:
    """True if the Latin word ending at the '.' at index i is an abbreviation or initial."""
    w = i
    while w > 0 and i - w <= 16 and p[w - 1].isascii() and (p[w - 1].isalpha() or p[w - 1] == "."):
        w -= 1
    if i - w > 16:
        return False  # far too long to be an abbreviation
    word = p[w:i].strip(".").lower()
    if not word:
        return False  # digits or symbols before the dot: "in 2020. The"
    parts = word.split(".")
    # "J." (initial), "U.S." / "e.g." / "Ph.D." (dotted acronyms), or a listed word.
    return len(word) == 1 or (len(parts) > 1 and all(len(x) <= 2 for x in parts)) or word in _ABBREVIATIONS


def _dot_ends(p: str, i: int, k: int) -> bool:
    """Whether a lone '.'/'．' at i (closers end at k) ends a sentence."""
    n = len(p)
    after = p[i + 1] if i + 1 < n else ""
    if _is_latin_or_digit(after):
        return False  # 3.5, v2.0, example.com, a.b@c.jp
    if p[i] == "．":
        return True  # a raw full-width period is deliberate Japanese punctuation
    nxt = p[k] if k < n else ""
    if i > 0 and _is_cjk(p[i - 1]):
        # Japanese text using '.' like 。: "発表した.次に"
        return not nxt or nxt.isspace() or _is_cjk(nxt) or nxt in _OPENERS
    # Latin context: only "word. Next" (space, then a capital/CJK/opener) ends a sentence.
    m = k
    while m < n and p[m].isspace():
        m += 1
    if m == n:
        return True
    if m == k:
        return False  # "e.g.," or "etc.)" continue
    nxt = p[m]
    if not (nxt.isupper() or _is_cjk(nxt) or nxt in _OPENERS or nxt in _AMBIGUOUS_QUOTES):
        return False
    return not _is_abbreviation(p, i)


def _continues(p: str, k: int) -> bool:
    """True if the text at k continues the sentence despite the closers before it."""
    return k < len(p) and (p[k] in _CONTINUATION or p[k] in _TERMINATORS)


def _cuts(p: str) -> list[int]:
    """End offsets (exclusive) of the sentences in p, before whitespace stripping."""
    n = len(p)
    mask, top_closers = _protected(p)
    cuts: list[int] = []
    i = 0
    while i < n:
        c = p[i]
        if c in _TERMINATORS and not mask[i]:
            j = i
            while j < n and p[j] in _TERMINATORS:
                j += 1  # "本当に！？" and "すごい!!!" are one boundary
            k = _skip_closers(p, j)
            # Without a strong terminator only a lone dot may end it: "……"/"..." never do.
            ends = any(ch in _STRONG for ch in p[i:j]) or (j - i == 1 and c in ".．" and _dot_ends(p, i, k))
            if ends and not (k > j and _continues(p, k)):
                cuts.append(k)
                i = k
            else:
                i = j
            continue
        if top_closers[i]:
            # 「はい。」次の文 -- the quote ends with a terminator and closes at top level.
            b = i - 1
            while b >= 0 and p[b] in _CLOSERS:
                b -= 1
            final = b >= 0 and (p[b] in _STRONG or p[b] == "．"
                                or (p[b] == "." and b > 0 and _is_cjk(p[b - 1])))
            k = _skip_closers(p, i + 1)
            if final and not _continues(p, k):
                cuts.append(k)
                i = k
                continue
        i += 1
    return cuts


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so it has no leading/trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank lines of text, stripped of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        s, e = _strip_span(text, start, end)
        if s < e:
            spans.append((s, e))
        start = end + 1
    return spans


def sentence_spans(paragraph: str) -> list[tuple[int, int]]:
    """Stripped, ordered, non-overlapping spans of the sentences in one paragraph."""
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in _cuts(paragraph) + [len(paragraph)]:
        s, e = _strip_span(paragraph, start, cut)
        if s < e:
            spans.append((s, e))
        start = cut
    return spans


def split_sentences(paragraph: str) -> list[str]:
    """The sentences of one paragraph as strings."""
    return [paragraph[s:e] for s, e in sentence_spans(paragraph)]


def segment_document(document: Document) -> list[Sentence]:
    """All sentences of a document, numbered from 0 per paragraph, with offsets into its text."""
    text = document.text
    sentences: list[Sentence] = []
    for p_index, (p_start, p_end) in enumerate(split_paragraphs(text)):
        for s_index, (s, e) in enumerate(sentence_spans(text[p_start:p_end])):
            start, end = p_start + s, p_start + e
            sentences.append(Sentence(p_index, s_index, start, end, text[start:end]))
    return sentences
