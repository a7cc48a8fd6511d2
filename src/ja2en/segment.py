"""Paragraph and sentence segmentation for Japanese text (pure stdlib, linear time)."""

# Why our own splitter and not a library: on the labelled paragraphs in
# tests/data/segmentation.jsonl (shared with tests/test_segment.py; run
# benchmarks/compare_segmenters.py for the current scores) pysbd and
# ja-sentence-segmenter both fall well short.  pysbd 0.3.4 (ja) splits runs like
# "！？"/"!!!", URLs at ? and !, and after Inc./etc./U.S., misses "「はい。」次の文",
# cuts "(…。)で構成される" in two, silently drops sentences containing U+222F (its
# internal sentinel), and is quadratic (8,000 sentences in one line: ~10 s).
# ja-sentence-segmenter 0.3.0 (README pipeline) turns runs of !/? and "。。。" into
# several sentences, never splits at '.'/'．' or in English, and its normalizer alters
# the text (drops spaces, rewrites ！ → !, = → ＝), so its sentences no longer point
# into the document.  Neither returns offsets, which the aligned JSONL needs.

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
    "〖": "〗", "〝": "〟", "«": "»", "｢": "」",
}
# Full-width (and half-width katakana-block) closers are matched as their NFKC twins,
# so raw "（…)" and "｢…」" still pair.
_CLOSE_ALIAS = {"）": ")", "］": "]", "｝": "}", "｣": "」"}
_OPENERS = frozenset(_PAIRS)
# Closing chars that stay with the sentence they follow.
_CLOSERS = frozenset(_PAIRS.values()) | frozenset(_CLOSE_ALIAS) | frozenset("’〞")
# Quotes among the openers: what they hold is speech or a title, not an aside.
_QUOTES = frozenset("「『“〝«｢")
# Kana that end a predicate (です/ます, した, だ, する, ない, 除く, 含む, ません...), so a
# bracket right after one follows a clause that could stand as a sentence.  Particles
# (は, が, を, に, で, と, から, まで...) end in other kana.
_PREDICATE_ENDS = frozenset("すただるいうくぐつぬぶむん")
# ASCII quotes are closers only when nothing word-like follows them.
_AMBIGUOUS_QUOTES = frozenset("\"'")
_ANY_CLOSER = _CLOSERS | _AMBIGUOUS_QUOTES
# A bracket opened mid-sentence after a noun or particle is an aside and never ends the
# sentence (see _is_aside).  For the others -- a bracket or quote that opens the sentence,
# one after a predicate, any quote -- what follows the closer that comes right after a
# sentence-final mark ("…外部。)" or "「検討中。」") decides whether the sentence goes on.
# Government and legal Japanese puts a 。 inside brackets mid-sentence all the time:
# 委員は5名(うち2名は外部。)で構成される。 is one sentence.  The sentence goes on only
# when the next word cannot start a sentence: a particle, copula or auxiliary that attaches
# to the bracket.  Anything else -- a kanji or katakana word, an opening bracket, Latin
# text, a space, the end of the paragraph, or a hiragana word not listed here -- starts a
# new sentence.
_CONTINUATION_WORDS = (
    # punctuation that cannot start a sentence; a terminator ends "(…。)。" itself
    "、", "，", ",", *_TERMINATORS,
    # case and quotative particles (と covers という/として/とする, って is colloquial と)
    "と", "って", "の", "を", "が", "に", "へ", "や", "は", "も", "か", "より", "から", "まで",
    # adverbial particles
    "など", "なんて", "なら", "なの", "ほど", "くらい", "ぐらい", "だけ", "しか", "ばかり",
    "こそ", "さえ", "すら", "のみ",
    # copula and auxiliaries: で covers です/でし/である/であり/では; だ covers だった/だろう
    "で", "だ", "じゃ", "ます",
    # conjunctions that only join two parts of one sentence (legal text: A及びB, A又はB)
    "または", "もしくは", "かつ", "ならびに", "及び", "又は", "並びに", "若しくは", "等",
)
# Sentence-initial words that begin like a continuation word (で→では, だ→だが,
# も→もちろん).  They start a new sentence; the longest listed word wins, so
# "もしくは" (or) continues while "もし" (if) starts a sentence.  Words that share no
# prefix with a continuation word (そして, これ, それ, また, なお) need no entry:
# unlisted words start a sentence anyway.
_SENTENCE_OPENERS = (
    "では、", "では,", "でも", "だが", "だから", "だけど", "だって", "じゃあ",
    "もし", "もちろん", "もっとも", "もう", "はい、", "はい,", "はい。", "はじめに",
    "やはり", "やがて", "やっと", "とはいえ", "ところで", "ところが", "とにかく", "ともかく",
    "とりあえず", "とりわけ", "とくに", "とても", "かつて", "かなり", "しかし", "しかも",
    "ならば、",
)
# Continuation (True) or not (False) for every listed word, looked up longest first.
_AFTER_CLOSER = {**dict.fromkeys(_CONTINUATION_WORDS, True), **dict.fromkeys(_SENTENCE_OPENERS, False)}
_AFTER_CLOSER_LENGTHS = sorted({len(w) for w in _AFTER_CLOSER}, reverse=True)
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


def _protected(p: str) -> tuple[bytearray, bytearray, dict[int, int]]:
    """Masks of the positions inside a bracket pair or URL and of top-level closers; each opener's closer."""
    n = len(p)
    delta = [0] * (n + 1)
    closes = bytearray(n)
    closer_of: dict[int, int] = {}
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
        closer_of[o] = i
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
    return mask, top_closers, closer_of


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
    """True if the text at k goes on with the sentence despite the closers before it."""
    for length in _AFTER_CLOSER_LENGTHS:
        word = p[k:k + length]
        if len(word) == length and word in _AFTER_CLOSER:
            return _AFTER_CLOSER[word]
    return False


def _ends_with_final_mark(p: str, i: int) -> bool:
    """True if the closer at i follows (through more closers) a mark that ends sentences."""
    b = i - 1
    while b >= 0 and p[b] in _CLOSERS:
        b -= 1
    return b >= 0 and (p[b] in _STRONG or p[b] == "．" or (p[b] == "." and b > 0 and _is_cjk(p[b - 1])))


def _quote_run(p: str, k: int, closer_of: dict[int, int]) -> list[int]:
    """Candidate cuts at k and after each directly following bracket that ends in a final mark.

    「A。」「B。」の二点 is one sentence and 「はい。」「いいえ。」 two: a run of such quotes
    stands or falls together, on the word after the last one.
    """
    run = [k]
    while k in closer_of and _ends_with_final_mark(p, closer_of[k]):
        k = _skip_closers(p, closer_of[k] + 1)
        run.append(k)
    return run


def _cut_after_closers(p: str, k: int, closer_of: dict[int, int], cuts: list[int]) -> int:
    """Append the cuts of the quote run starting at k to cuts, unless the sentence goes on.

    Returns where scanning resumes: after the run, which is linear because every
    bracket in it is skipped whole.
    """
    run = _quote_run(p, k, closer_of)
    if not _continues(p, run[-1]):
        cuts.extend(run)
    return run[-1]


def _is_aside(p: str, o: int, begin: int) -> bool:
    """Whether the bracket opened at o is an aside inside the sentence that starts at begin.

    Legal and administrative Japanese puts whole sentences in parentheses after a noun or
    a particle, and the sentence goes on with a noun: 申請書(別記様式第一号。)正本一通を
    提出する。 is one sentence.  Not an aside, so the word after the bracket decides as
    before: a bracket that opens the sentence (「了解。」彼はそう答えた。), one that
    follows a predicate, which had ended its sentence without a 。 (会場は市民会館です(駐車
    場はありません。)公共交通機関を…), and a quote, which is speech (市長は「全力で取り組む。」
    強い口調でそう語った。).
    """
    if o <= begin or p[o] in _QUOTES:
        return False
    b = o - 1
    while b > begin and p[b].isspace():
        b -= 1
    return p[b] not in _PREDICATE_ENDS


def _sentence_begin(p: str, cuts: list[int]) -> int:
    """Where the sentence being scanned starts: its first non-space character."""
    b = cuts[-1] if cuts else 0
    while b < len(p) and p[b].isspace():
        b += 1
    return b


def _cuts(p: str) -> list[int]:
    """End offsets (exclusive) of the sentences in p, before whitespace stripping."""
    n = len(p)
    mask, top_closers, closer_of = _protected(p)
    opened_at = {close: open_ for open_, close in closer_of.items()}
    cuts: list[int] = []
    begin = (-1, 0)  # (len(cuts), where the sentence begins): found once per sentence, so linear
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
            if not ends:
                i = j
            elif k == j:
                cuts.append(k)  # no closer: a final mark ends the sentence, whatever follows
                i = k
            else:
                i = _cut_after_closers(p, k, closer_of, cuts)
            continue
        if top_closers[i] and _ends_with_final_mark(p, i):
            k = _skip_closers(p, i + 1)
            if begin[0] != len(cuts):
                begin = (len(cuts), _sentence_begin(p, cuts))
            if _is_aside(p, opened_at[i], begin[1]) and not (k < n and p[k] in _OPENERS):
                # 本年度から(詳細は検討中。)運用を開始する。 -- the sentence ends at the first
                # terminator after the bracket.  A bracket right before another, as in
                # (1)氏名(法人は名称。)(2)住所, is left to the run below.
                i = k
                continue
            # 「はい。」次の文 -- the quote opened the sentence; the word after it decides.
            i = _cut_after_closers(p, k, closer_of, cuts)
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
