"""A Japanese source and its English output → quality flags.

MT models fail in a few recognisable ways; each check names one, so the records can say
which sentences to distrust and publish/export can drop them (`--drop-flagged`):

- `repetition`: a loop ("the the the", "of the city of the city of the city").
- `length_ratio`: far too short or too long for the source (dropped or invented content).
- `untranslated`: Japanese script left in the English.
- `stock_phrase`: a stock reply ("Thank you.", "I'm sorry.") for a source that says no such thing
  (a known hallucination of small MT models on unusual input).
- `empty`: nothing came out.
- `hit_max_length`: decoding stopped at the length cap, so the end is probably missing.
- `split`: the sentence was too long for the model and was translated in pieces (not an
  error, but the joins deserve a look).
- `copied`: the sentence has no letters or digits, only punctuation, symbols or emoji
  ("……。", "※", "★★★"), so its "English" is the source, copied without a model call. A
  model asked to translate such a line invents an unrelated sentence and flags none of
  the above; a copied one is at least honest, but it is no translation pair.
"""

from __future__ import annotations

import re
import unicodedata

# English characters per Japanese character in news translation are typically 1.5-4;
# outside these bounds (for sources long enough to judge) something went wrong.
_MIN_RATIO, _MAX_RATIO, _MIN_SOURCE_CHARS = 0.4, 9.0, 8

_JAPANESE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_CHAR_LOOP = re.compile(r"(.{2,30}?)\1{3,}", re.DOTALL)

# Stock outputs, and the Japanese that would justify them.
_STOCK = {
    "thank you.": ("ありがとう", "感謝", "お礼"),
    "thank you very much.": ("ありがとう", "感謝", "お礼"),
    "i'm sorry.": ("すみません", "申し訳", "ごめん", "失礼", "残念"),
    "i am sorry.": ("すみません", "申し訳", "ごめん", "失礼", "残念"),
    "yes.": ("はい", "ええ", "うん", "そうです"),
    "no.": ("いいえ", "いや", "ない"),
    "i don't know.": ("知ら", "分から", "わから"),
    "what?": ("何", "なに", "え"),
}


def has_repetition(text: str) -> bool:
    """A word n-gram (n ≤ 6) repeated back to back (3+ times, 4+ for single words), or a character loop."""
    words = text.lower().split()
    for n in range(1, 7):
        needed = 4 if n == 1 else 3
        for start in range(0, len(words) - n * needed + 1):
            gram = words[start : start + n]
            if all(words[start + k * n : start + (k + 1) * n] == gram for k in range(1, needed)):
                return True
    return bool(_CHAR_LOOP.search(text))


def has_text(text: str) -> bool:
    """Whether `text` holds anything to translate: a letter or digit of any script (kana, kanji, Latin, 1, ①)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


# Given to a sentence without text (see `has_text`), which is copied rather than translated.
COPIED = "copied"


def detect_flags(ja: str, en: str, *, hit_max_length: bool = False, split: bool = False) -> tuple[str, ...]:
    """The quality flags for one translated sentence, in a fixed order."""
    flags: list[str] = []
    source, output = ja.strip(), en.strip()
    if source and not output:
        flags.append("empty")
    if output and has_repetition(output):
        flags.append("repetition")
    if len(source) >= _MIN_SOURCE_CHARS and output:
        ratio = len(output) / len(source)
        if ratio < _MIN_RATIO or ratio > _MAX_RATIO:
            flags.append("length_ratio")
    if len(_JAPANESE.findall(output)) >= 2:
        flags.append("untranslated")
    justification = _STOCK.get(output.lower())
    if justification is not None and not any(word in source for word in justification):
        flags.append("stock_phrase")
    if hit_max_length:
        flags.append("hit_max_length")
    if split:
        flags.append("split")
    return tuple(flags)


# Flags a second decoding with repetition controls can fix; `split` is not a failure, and
# `copied` sentences never reach the model.
REDECODE_FLAGS = frozenset({"empty", "repetition", "length_ratio", "untranslated", "stock_phrase", "hit_max_length"})
