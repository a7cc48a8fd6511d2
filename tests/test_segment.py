"""Tests for ja2en.segment: labelled tricky cases, rules, and no-text-lost invariants."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ja2en.records import Document
from ja2en.segment import segment_document, sentence_spans, split_paragraphs, split_sentences

# (paragraph, expected sentences), from the labelled set that
# benchmarks/compare_segmenters.py also scores: tricky edge cases, then paragraphs
# shaped like ordinances, press releases, news, reports and interviews.
LABELLED_SET = Path(__file__).parent / "data" / "segmentation.jsonl"
_ROWS = [json.loads(line) for line in LABELLED_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
LABELLED_CASES: list[tuple[str, list[str]]] = [(row["text"], row["sentences"]) for row in _ROWS]
_IDS = [f"{i}-{row['genre']}-{row['text'][:12]}" for i, row in enumerate(_ROWS)]


@pytest.mark.parametrize(("paragraph", "expected"), LABELLED_CASES, ids=_IDS)
def test_labelled_cases(paragraph: str, expected: list[str]) -> None:
    assert split_sentences(paragraph) == expected


@pytest.mark.parametrize(("paragraph", "expected"), LABELLED_CASES, ids=_IDS)
def test_labelled_cases_after_nfkc(paragraph: str, expected: list[str]) -> None:
    # The pipeline feeds NFKC text; the same boundaries must hold there.
    norm = unicodedata.normalize("NFKC", paragraph)
    assert split_sentences(norm) == [unicodedata.normalize("NFKC", s).strip() for s in expected]


def test_labelled_set_is_large_and_lossless() -> None:
    assert len(LABELLED_CASES) >= 100
    for paragraph, expected in LABELLED_CASES:
        assert "".join(paragraph.split()) == "".join("".join(expected).split())


# ---------- a 。 inside brackets: does the sentence go on after the closer? ----------

@pytest.mark.parametrize("paragraph", [
    "委員は５名（うち２名は外部。）で構成される。",
    "料金は無料（ただし材料費は実費。）です。",
    "予定（変更の可能性あり。）は次の通り。",
    "本件は「検討中。」であり、結論は出ていない。",
    "期限は３月末（土日を除く。）となる。",
])
def test_issue_17_rows_are_one_sentence(paragraph: str) -> None:
    assert split_sentences(paragraph) == [paragraph]
    norm = unicodedata.normalize("NFKC", paragraph)
    assert split_sentences(norm) == [norm]


@pytest.mark.parametrize("rest", [
    "で構成される。", "です。", "でした。", "である。", "であり、未定だ。", "ではない。", "だ。", "だった。",
    "は次の通り。", "が必要だ。", "を含む。", "に限る。", "の通り。", "と同じ。", "とする。", "として扱う。",
    "という。", "も同様だ。", "や付録を見よ。", "へ移行する。", "より抜粋。", "から施行する。", "まで有効。",
    "などを参照。", "ます。", "、以下同じ。", "。", "及び別表による。", "又は様式２による。", "もしくは写し。",
])
@pytest.mark.parametrize(("open_", "close"), [("(", ")"), ("（", "）"), ("「", "」"), ("『", "』"), ("【", "】"), ("｢", "｣")])
def test_sentence_goes_on_after_closer_before_a_particle_or_copula(open_: str, close: str, rest: str) -> None:
    paragraph = f"対象とする{open_}ただし一部を除く。{close}{rest}"
    assert split_sentences(paragraph) == [paragraph]


@pytest.mark.parametrize("rest", [
    "そして次に進む。", "しかし反対もある。", "これが結論だ。", "それは別の話だ。", "また、会議を開く。",
    "なお、詳細は後日。", "では、次の議題です。", "でも、今は違う。", "だが結論は出ない。", "もちろん賛成だ。",
    "はい、そうです。", "もし雨なら中止する。", "ところで、次の件。", "詳細は別紙のとおり。", "カレンダーを参照。",
    "「次の文。」", "(次の文。)", "2024年に再開する。", "Next sentence.", " 次の文。",
])
@pytest.mark.parametrize(("open_", "close"), [("(", ")"), ("（", "）"), ("「", "」"), ("『", "』"), ("【", "】")])
def test_sentence_ends_after_closer_before_a_new_sentence(open_: str, close: str, rest: str) -> None:
    # after a predicate (する): the clause before the bracket could stand as a sentence
    first = f"対象とする{open_}ただし一部を除く。{close}"
    assert split_sentences(first + rest) == [first, rest.strip()]


def test_a_run_of_quotes_stands_or_falls_together() -> None:
    assert split_sentences("「A。」「B。」の二点が柱だ。") == ["「A。」「B。」の二点が柱だ。"]
    assert split_sentences("「A。」『B。』(C。)という三点。") == ["「A。」『B。』(C。)という三点。"]
    assert split_sentences("「はい。」「いいえ。」") == ["「はい。」", "「いいえ。」"]
    assert split_sentences("「はい。」「いいえ。」次の質問。") == ["「はい。」", "「いいえ。」", "次の質問。"]
    # the run only starts after a closer: a bare 。 always ends the sentence before it
    assert split_sentences("彼は言った。「はい。」と答えた。") == ["彼は言った。", "「はい。」と答えた。"]
    # a bracket without a final mark inside ends the run: (2) starts the next item
    assert split_sentences("(1)氏名(法人は名称。)(2)住所") == ["(1)氏名(法人は名称。)", "(2)住所"]


def test_numbered_items_headings_and_notes_keep_working() -> None:
    assert split_sentences("(1)申請する。(2)受理する。") == ["(1)申請する。", "(2)受理する。"]
    assert split_sentences("第1条(目的)この条例は必要な事項を定める。第2条(定義)用語は次による。") == [
        "第1条(目的)この条例は必要な事項を定める。", "第2条(定義)用語は次による。"]
    assert split_sentences("(注)数値は速報値。(注2)前年比。") == ["(注)数値は速報値。", "(注2)前年比。"]


def test_closer_run_before_a_particle() -> None:
    assert split_sentences("結論は保留(「検討中。」)で、次回に持ち越す。") == ["結論は保留(「検討中。」)で、次回に持ち越す。"]
    assert split_sentences("結論は保留とする(「検討中。」)次回に持ち越す。") == ["結論は保留とする(「検討中。」)", "次回に持ち越す。"]


# ---------- a bracket opened mid-sentence (issue 25) ----------

@pytest.mark.parametrize("before", ["申請書", "建築基準法", "本年度から", "第三条", "ＡＩ", "APIキー", "以下「法」"])
@pytest.mark.parametrize(("open_", "close"), [("(", ")"), ("（", "）"), ("【", "】"), ("〔", "〕"), ("［", "］")])
@pytest.mark.parametrize("rest", ["正本一通を提出する。", "第六条の規定による。", "運用を開始する。", "ただし書の適用はない。"])
def test_bracket_opened_after_a_noun_or_particle_never_ends_the_sentence(
    before: str, open_: str, close: str, rest: str
) -> None:
    paragraph = f"{before}{open_}詳細は検討中。{close}{rest}次の文。"
    assert split_sentences(paragraph) == [f"{before}{open_}詳細は検討中。{close}{rest}", "次の文。"]
    norm = unicodedata.normalize("NFKC", paragraph)
    assert len(split_sentences(norm)) == 2


@pytest.mark.parametrize("paragraph", [
    "会議は終了した。（資料は後日公開する。）",  # opened after a full stop
    "\u3000 （資料は後日公開する。）次に進む。",  # opened the paragraph, after its indent
    "「了解。」彼はそう答えた。",  # the quote opened the sentence
    "対象は都民とする（学生を除く。）。次に進む。",  # the 。 after the bracket ends it
    "料金は無料です（一部を除く。）次に進む。",  # after a predicate: its clause was a sentence
    "市長は「全力で取り組む。」強い口調で語った。",  # a quote is speech, not an aside
])
def test_near_misses_still_end_where_they_did(paragraph: str) -> None:
    assert len(split_sentences(paragraph)) == 2


def test_an_aside_after_a_noun_spans_a_space_and_a_nested_quote() -> None:
    p = "建築基準法 （昭和二十五年法律第二百一号。以下「法」という。） 第六条による。次。"
    assert split_sentences(p) == ["建築基準法 （昭和二十五年法律第二百一号。以下「法」という。） 第六条による。", "次。"]


def test_asides_in_a_long_paragraph_stay_linear() -> None:
    p = "申請書（様式。）" * 50_000 + "を出す。"
    assert sentence_spans(p) == [(0, len(p))]
    q = "申請書" + " " * 50_000 + "（様式。）" * 50_000
    _check_invariant(q, sentence_spans(q))
    # where the sentence begins is found once, not again at every bracket
    r = "次。" + " " * 50_000 + "申請書（様式。）" * 50_000
    assert len(sentence_spans(r)) == 2


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
    # a run of quotes is decided once, on the word after the last one
    run = "「A。」" * 50_000
    assert len(sentence_spans(run + "の二点。")) == 1
    assert len(sentence_spans(run)) == 50_000


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
