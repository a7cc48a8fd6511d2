from __future__ import annotations

from pathlib import Path

import pytest

from ja2en import Translator
from ja2en.translate import _split_point, language_generate_kwargs


@pytest.mark.parametrize(("beams", "batch_size"), [(1, 1), (1, 3), (1, 64), (4, 5)])
def test_every_sentence_gets_its_own_translation_whatever_the_batching(
    tiny_marian: Path, corpus, beams: int, batch_size: int
) -> None:
    translator = Translator(str(tiny_marian), beams=beams, batch_size=batch_size, device="cpu")
    # Reverse order and interleave lengths so length-sorting must really be undone.
    sources = [ja for ja, _ in corpus][::-1]
    english = translator.translate(sources)
    assert english == [dict(corpus)[ja] for ja in sources]


def test_duplicates_are_translated_once_and_returned_everywhere(translator: Translator, expected) -> None:
    short, long = "会議は延期された。", "政府は2023年2月10日に新たな経済対策を閣議決定した。"
    calls: list[int] = []
    english = translator.translate([short, long, short, short], progress=calls.append)
    assert english == [expected[short], expected[long], expected[short], expected[short]]
    assert sum(calls) == 4  # progress counts input sentences, duplicates included


def test_same_input_and_settings_give_the_same_output(translator: Translator, corpus) -> None:
    sources = [ja for ja, _ in corpus]
    assert translator.translate(sources) == translator.translate(sources)


def test_empty_input_gives_empty_output(translator: Translator) -> None:
    assert translator.translate([]) == []


def test_sentence_longer_than_the_input_limit_is_split_not_truncated(tiny_marian: Path, expected) -> None:
    first, second = "大会は予定通り開催される。", "株価は大幅に下落した。"
    probe = Translator(str(tiny_marian), beams=1, device="cpu")
    limit = max(len(probe.loaded.tokenizer(s)["input_ids"]) for s in (first, second))
    assert len(probe.loaded.tokenizer(first + second)["input_ids"]) > limit
    translator = Translator(str(tiny_marian), beams=1, device="cpu", max_input_tokens=limit)
    calls: list[int] = []
    assert translator.translate([first + second], progress=calls.append) == [f"{expected[first]} {expected[second]}"]
    assert sum(calls) == 1


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("「はい。」と言った", 4),  # after the sentence mark inside the quote
        ("東京都は、発表した", 5),  # after the clause mark
        ("abc def", 4),  # at the space
        ("あいうえお", 2),  # nothing better: the middle
    ],
)
def test_long_sentences_are_cut_at_the_most_natural_point(text: str, cut: int) -> None:
    assert _split_point(text) == cut


def test_settings_record_what_determines_the_output(translator: Translator, tiny_marian: Path) -> None:
    settings = translator.settings()
    assert settings["name"] == str(tiny_marian)
    assert settings["revision"].startswith("local-")
    assert (settings["beams"], settings["batch_size"], settings["device"], settings["dtype"]) == (1, 4, "cpu", "float32")


class _FakeNllbTokenizer:
    src_lang = None

    def convert_tokens_to_ids(self, token: str) -> int:
        return {"eng_Latn": 256047}[token]


class _FakeM2M100Tokenizer:
    src_lang = None

    def get_lang_id(self, code: str) -> int:
        return {"en": 128022}[code]


def test_multilingual_models_get_japanese_source_and_forced_english() -> None:
    nllb, m2m = _FakeNllbTokenizer(), _FakeM2M100Tokenizer()
    assert language_generate_kwargs(nllb) == {"forced_bos_token_id": 256047}
    assert nllb.src_lang == "jpn_Jpan"
    assert language_generate_kwargs(m2m) == {"forced_bos_token_id": 128022}
    assert m2m.src_lang == "ja"


def test_marian_models_need_no_language_codes(translator: Translator) -> None:
    assert language_generate_kwargs(translator.loaded.tokenizer) == {}
