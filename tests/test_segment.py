"""Tests for ja2en.segment: labelled tricky cases, rules, and no-text-lost invariants."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ja2en.records import Document
from ja2en.segment import segment_document, sentence_spans, split_paragraphs, split_sentences

# (paragraph, expected sentences).  Shared with benchmarks/compare_segmenters.py,
# which loads this list from here, so keep it a plain module-level list.
LABELLED_CASES: list[tuple[str, list[str]]] = [
    # plain terminators and runs of them
    ("これはペンです。それはマーカーです。", ["これはペンです。", "それはマーカーです。"]),
    ("本当に！？嘘でしょう。", ["本当に！？", "嘘でしょう。"]),
    ("すごい!!!やった!", ["すごい!!!", "やった!"]),
    ("研究を行った．次に結果を示す．", ["研究を行った．", "次に結果を示す．"]),
    ("東京都は発表した.次に大阪府が続いた.", ["東京都は発表した.", "次に大阪府が続いた."]),
    # closing quotes and brackets
    ("「はい。」と言った。", ["「はい。」と言った。"]),
    ("彼は言った。「はい。」次の文。", ["彼は言った。", "「はい。」", "次の文。"]),
    ("彼は「そうだ。だから行く」と言った。次へ。", ["彼は「そうだ。だから行く」と言った。", "次へ。"]),
    ("「行くよ!」「待って!」", ["「行くよ!」", "「待って!」"]),
    ("「『はい。』と彼は言った。」次の文。", ["「『はい。』と彼は言った。」", "次の文。"]),
    ("結果は良好だった(表1を参照。詳細は付録。)。次に進む。",
     ["結果は良好だった(表1を参照。詳細は付録。)。", "次に進む。"]),
    ("「はい。」って言ったのに。", ["「はい。」って言ったのに。"]),
    # unclosed and stray brackets
    ("「閉じない括弧。次の文。最後の文。", ["「閉じない括弧。", "次の文。", "最後の文。"]),
    ("顔文字(^^;です。次。", ["顔文字(^^;です。", "次。"]),
    ("これは」迷子の閉じ括弧。次の文。", ["これは」迷子の閉じ括弧。", "次の文。"]),
    # numbers, versions, URLs, e-mail
    ("円周率は約3.14です。次へ。", ["円周率は約3.14です。", "次へ。"]),
    ("売上は1,234.5万円でした。", ["売上は1,234.5万円でした。"]),
    ("2023.2.10に公開された。", ["2023.2.10に公開された。"]),
    ("Python 3.11.7とv2.0を比較した。", ["Python 3.11.7とv2.0を比較した。"]),
    ("詳細はhttps://example.com/a.b?x=1!y を参照。次へ。",
     ["詳細はhttps://example.com/a.b?x=1!y を参照。", "次へ。"]),
    ("www.digital.go.jpを見てください。", ["www.digital.go.jpを見てください。"]),
    ("連絡先はinfo.desk@example.co.jpです。", ["連絡先はinfo.desk@example.co.jpです。"]),
    ("1.はじめに", ["1.はじめに"]),
    ("Yahoo!ニュースによると雨だ。", ["Yahoo!ニュースによると雨だ。"]),
    # Latin abbreviations and embedded English
    ("Mr. Smithが来た。", ["Mr. Smithが来た。"]),
    ("Dr. Tanaka met Mr. Sato in the U.S. last year.", ["Dr. Tanaka met Mr. Sato in the U.S. last year."]),
    ("ABC Inc.とXYZ Co., Ltd.が提携した。", ["ABC Inc.とXYZ Co., Ltd.が提携した。"]),
    ("例えばe.g. Apple etc. の製品。", ["例えばe.g. Apple etc. の製品。"]),
    ("No. 5の選手が走った。", ["No. 5の選手が走った。"]),
    ("He came. She left. 彼らは帰った。", ["He came.", "She left.", "彼らは帰った。"]),
    ('"Go home." She said.', ['"Go home."', "She said."]),
    # ellipses
    ("それは……困る。", ["それは……困る。"]),
    ("それは......困る。", ["それは......困る。"]),
    ("待って…。次だ。", ["待って…。", "次だ。"]),
    ("He said... nothing. Then left.", ["He said... nothing.", "Then left."]),
    # whitespace, no terminator, punctuation only
    ("最初の文。\u3000次の文。 ", ["最初の文。", "次の文。"]),
    ("見出しだけ", ["見出しだけ"]),
    ("。。。", ["。。。"]),
    ("!?", ["!?"]),
]


@pytest.mark.parametrize(("paragraph", "expected"), LABELLED_CASES, ids=[c[0][:20] for c in LABELLED_CASES])
def test_labelled_cases(paragraph: str, expected: list[str]) -> None:
    assert split_sentences(paragraph) == expected


@pytest.mark.parametrize(("paragraph", "expected"), LABELLED_CASES, ids=[c[0][:20] for c in LABELLED_CASES])
def test_labelled_cases_after_nfkc(paragraph: str, expected: list[str]) -> None:
    # The pipeline feeds NFKC text; the same boundaries must hold there.
    norm = unicodedata.normalize("NFKC", paragraph)
    assert split_sentences(norm) == [unicodedata.normalize("NFKC", s).strip() for s in expected]


def test_full_width_and_ascii_forms_agree() -> None:
    assert split_sentences("本当？はい！次。") == ["本当？", "はい！", "次。"]
    assert split_sentences("本当?はい!次。") == ["本当?", "はい!", "次。"]
    assert split_sentences("（注：例です。）の通り。") == ["（注：例です。）の通り。"]
    assert split_sentences("約３．５倍だった。次へ。") == ["約３．５倍だった。", "次へ。"]


def test_half_width_ideographic_full_stop() -> None:
    assert split_sentences("はい｡いいえ｡") == ["はい｡", "いいえ｡"]


def test_nested_brackets_and_stray_closer_inside() -> None:
    assert split_sentences("「彼は『行く。』と言った。」") == ["「彼は『行く。』と言った。」"]
    # a stray 』 inside a matched 「」 must not end the protection early
    assert split_sentences("「あ』い。う。」次。") == ["「あ』い。う。」", "次。"]


def test_unclosed_inner_bracket_does_not_break_outer_pair() -> None:
    assert split_sentences("「あ(い。う。」次。") == ["「あ(い。う。」", "次。"]


def test_url_trailing_punctuation_is_a_terminator() -> None:
    assert split_sentences("見てhttps://example.com!次へ。") == ["見てhttps://example.com!", "次へ。"]
    assert split_sentences("See https://example.com. Then go.") == ["See https://example.com.", "Then go."]


def test_ascii_quote_after_terminator_opens_next_sentence() -> None:
    assert split_sentences('彼は言った。"Hello"と。') == ["彼は言った。", '"Hello"と。']


def test_initials_are_not_boundaries() -> None:
    assert split_sentences("J. K. Rowling wrote it. Then she rested.") == [
        "J. K. Rowling wrote it.", "Then she rested."]


def test_empty_and_whitespace_paragraphs() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \u3000\t ") == []
    assert sentence_spans("") == []


def test_spans_are_offsets_into_paragraph() -> None:
    p = "  一つ目。 二つ目！  "
    assert sentence_spans(p) == [(2, 6), (7, 11)]


def test_split_paragraphs() -> None:
    text = "一行目。\n\n\u3000二行目です。  \n   \n三行目"
    spans = split_paragraphs(text)
    assert [text[s:e] for s, e in spans] == ["一行目。", "二行目です。", "三行目"]
    assert split_paragraphs("") == []
    assert split_paragraphs("\n\n \n") == []


def test_segment_document_offsets_point_into_text() -> None:
    text = "  一つ目。二つ目！\n\n「はい。」と言った。 He came. She left.\n"
    doc = Document(id="d", source="d.txt", sha256="0", encoding="utf-8", text=text)
    got = [(s.paragraph, s.sentence, s.ja) for s in segment_document(doc)]
    assert got == [(0, 0, "一つ目。"), (0, 1, "二つ目！"), (1, 0, "「はい。」と言った。"), (1, 1, "He came."), (1, 2, "She left.")]
    assert all(text[s.start:s.end] == s.ja for s in segment_document(doc))


def test_robust_inputs() -> None:
    for p in ["😀。🇯🇵!👍🏽", "\x00\x01。\x1b[0m!", "\ud83d。", "∯。∯い。", "」」」(((「「「。。。", "\u200b。\u200b"]:
        _check_invariant(p, sentence_spans(p))


def test_long_paragraph_without_punctuation_is_one_sentence() -> None:
    p = "あ" * 100_000
    assert sentence_spans(p) == [(0, 100_000)]
    # pathological-but-plausible long inputs must also run (linear algorithms)
    for q in ["a" * 100_000 + ". B", "「" * 50_000 + "。" * 50_000, "(」" * 50_000, ". " * 50_000]:
        _check_invariant(q, sentence_spans(q))


# ---------- invariants ----------

def _check_invariant(text: str, spans: list[tuple[int, int]]) -> None:
    """Spans are ordered, non-empty, stripped; everything between them is whitespace."""
    pos = 0
    for s, e in spans:
        assert pos <= s < e <= len(text)
        assert text[pos:s].strip() == ""
        assert not text[s].isspace() and not text[e - 1].isspace()
        pos = e
    assert text[pos:].strip() == ""
    # Independently: no non-whitespace character is lost, added or reordered.
    kept = "".join(text[s:e] for s, e in spans)
    assert "".join(kept.split()) == "".join(text.split())


_JA_ALPHABET = (
    "あいうえおかきくけことのっをが漢字東京都文" "アイウエオー々"
    "。．.!?！？…‥、,"
    "「」『』()（）“”【】\"'"
    "0123456789０３AaBZe"
    " \u3000\t"
    ":/@-w"
)
ja_text = st.text(alphabet=_JA_ALPHABET, max_size=200)
ja_chunks = st.lists(
    st.sampled_from(["これは", "文", "。", "！？", "...", "……", "「", "」", "『", "』", "(", ")",
                     "3.5", "v2.0", "Mr. ", "U.S. ", " ", "He came. ", "https://a.b/?x=1!y", "と", "は"]),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_invariant_arbitrary_unicode(p: str) -> None:
    _check_invariant(p, sentence_spans(p))


@settings(max_examples=400, deadline=None)
@given(ja_text)
def test_invariant_japanese_alphabet(p: str) -> None:
    _check_invariant(p, sentence_spans(p))
    assert split_sentences(p) == [p[s:e] for s, e in sentence_spans(p)]


@settings(max_examples=400, deadline=None)
@given(ja_chunks)
def test_invariant_japanese_chunks(p: str) -> None:
    spans = sentence_spans(p)
    _check_invariant(p, spans)
    if p.strip():
        assert spans  # never drop a non-blank paragraph


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(ja_text, st.text(max_size=50)), max_size=10).map("\n".join))
def test_invariant_split_paragraphs(text: str) -> None:
    spans = split_paragraphs(text)
    _check_invariant(text, spans)
    for s, e in spans:
        assert "\n" not in text[s:e]
    # every non-blank line is exactly one paragraph
    assert len(spans) == sum(1 for line in text.split("\n") if line.strip())
