from __future__ import annotations

import pytest

from ja2en.quality import detect_flags, has_repetition, has_text


@pytest.mark.parametrize(
    "text",
    [
        "the the the the city",
        "of the city of the city of the city",
        "Tokyo will Tokyo will Tokyo will promote DX.",
        "はははははははは",  # a character loop with no spaces
        "abcabcabcabc",
    ],
)
def test_loops_are_repetition(text: str) -> None:
    assert has_repetition(text)


@pytest.mark.parametrize(
    "text",
    [
        "The meeting was postponed.",
        "Tokyo and Microsoft signed an agreement; Tokyo will train 40,000 staff.",
        "It was very, very hot.",  # a word twice is ordinary English
        "1,000,000 yen",
    ],
)
def test_ordinary_english_is_not_repetition(text: str) -> None:
    assert not has_repetition(text)


@pytest.mark.parametrize(
    ("ja", "en", "flags"),
    [
        ("会議は延期された。", "The meeting was postponed.", ()),
        ("会議は延期された。", "", ("empty",)),
        ("東京都は新たな経済対策を閣議決定した。", "The the the the the.", ("repetition",)),
        ("東京都は新たな経済対策を閣議決定した。", "Tokyo.", ("length_ratio",)),
        ("会議は延期された。", "The 会議 was postponed.", ("untranslated",)),
        ("東京都は新たな経済対策を閣議決定した。", "Thank you.", ("stock_phrase",)),
        ("ありがとうございます。", "Thank you.", ()),
        ("すみません。", "I'm sorry.", ()),
        ("市長は会見で述べた。", "I'm sorry.", ("stock_phrase",)),
    ],
)
def test_flags_name_what_went_wrong(ja: str, en: str, flags: tuple[str, ...]) -> None:
    assert detect_flags(ja, en) == flags


def test_length_cap_and_split_are_recorded() -> None:
    assert detect_flags("会議は延期された。", "The meeting was", hit_max_length=True, split=True) == (
        "hit_max_length",
        "split",
    )


def test_the_fixture_corpus_raises_no_flags(corpus) -> None:
    # Real translations of every length must pass: the checks may not cry wolf.
    assert {ja: detect_flags(ja, en) for ja, en in corpus if detect_flags(ja, en)} == {}


@pytest.mark.parametrize("text", ["……。", "※", "！！", "★★★", "😀😀", "―――", "「」", "", "　"])
def test_punctuation_symbols_and_emoji_are_not_text(text: str) -> None:
    assert not has_text(text)


@pytest.mark.parametrize("text", ["はい。", "カ", "漢", "々", "Tokyo", "１", "〇", "①", "★1"])
def test_kana_kanji_latin_and_digits_are_text(text: str) -> None:
    assert has_text(text)
