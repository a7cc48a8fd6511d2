from __future__ import annotations

from pathlib import Path

import pytest

from ja2en import Translator
from ja2en.backends import Decoding, Generation
from ja2en.translate import _split_point, target_language_token


ENGINES = {
    "torch-fp32": {"backend": "torch", "quantize": False},
    "torch-int8": {"backend": "torch", "quantize": True},
    "ct2-int8": {"backend": "ct2"},  # the default on CPU
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("beams", "batch_size"), [(1, 1), (1, 3), (1, 64), (4, 5)])
def test_every_sentence_gets_its_own_translation_whatever_the_batching(
    tiny_marian: Path, corpus, beams: int, batch_size: int, engine: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))  # where ct2 keeps its conversion
    translator = Translator(str(tiny_marian), beams=beams, batch_size=batch_size, device="cpu", **ENGINES[engine])
    # Reverse order and interleave lengths so length-sorting must really be undone.
    sources = [ja for ja, _ in corpus][::-1]
    english = translator.translate(sources)
    assert english == [dict(corpus)[ja] for ja in sources]


def test_token_budget_bounds_every_batch(translator: Translator, corpus, monkeypatch) -> None:
    budget = Translator.__new__(Translator)
    budget.__dict__.update(translator.__dict__)
    budget.batch_size, budget.batch_tokens = 64, 120
    sources = [ja for ja, _ in corpus]
    lengths = dict(zip(sources, budget._count_many(sources), strict=True))
    batches = budget._batches(sources, lengths)
    assert sorted(u for b in batches for u in b) == sorted(sources)
    assert all(len(b) * lengths[b[0]] <= 120 or len(b) == 1 for b in batches)
    assert all(lengths[b[0]] == max(lengths[u] for u in b) for b in batches)
    assert len(batches) < len(sources)  # short sentences do share batches


def test_the_token_budget_counts_beams(translator: Translator, corpus) -> None:
    # Each beam is a row of decoder state: at beam 4 a batch holds a quarter of the sentences.
    sources = [ja for ja, _ in corpus]
    lengths = dict(zip(sources, translator._count_many(sources), strict=True))
    longest = max(lengths.values())
    for beams in (1, 4):
        budget = Translator.__new__(Translator)
        budget.__dict__.update(translator.__dict__)
        budget.batch_size, budget.batch_tokens, budget.beams = 64, 600, beams
        batches = budget._batches(sources, lengths)
        assert all(len(b) * lengths[b[0]] * beams <= 600 or len(b) == 1 for b in batches)
        assert len(batches[0]) == 600 // (longest * beams)  # the longest sentences: as many as fit


def test_torch_int8_does_not_keep_the_float32_weights(tiny_marian: Path, expected) -> None:
    int8 = Translator(str(tiny_marian), beams=1, device="cpu", backend="torch", quantize=True)
    assert not int8.loaded.weights_loaded  # quantized in place, on a copy nobody else holds
    assert int8.translate(list(expected)[:5]) == list(expected.values())[:5]


def test_scores_and_flags_come_with_each_translation(translator: Translator, corpus) -> None:
    details = translator.translate_detailed([ja for ja, _ in corpus])
    assert all(d.score is not None and -1.0 < d.score <= 0.0 for d in details)  # a model that learnt its corpus is sure
    assert [d.flags for d in details] == [()] * len(corpus)


def test_duplicates_are_translated_once_and_returned_everywhere(translator: Translator, expected) -> None:
    short, long = "会議は延期された。", "政府は2023年2月10日に新たな経済対策を閣議決定した。"
    calls: list[int] = []
    english = translator.translate([short, long, short, short], progress=calls.append)
    assert english == [expected[short], expected[long], expected[short], expected[short]]
    assert sum(calls) == 4  # progress counts input sentences, duplicates included


def test_same_input_and_settings_give_the_same_output(translator: Translator, tiny_marian: Path, corpus) -> None:
    sources = [ja for ja, _ in corpus]
    # Another instance, the sentences in reverse order (so in other batches): the same English,
    # which for the overfit float32 model is exactly the corpus's.
    again = Translator(str(tiny_marian), beams=1, batch_size=4, device="cpu", backend="torch", quantize=False)
    assert translator.translate(sources) == again.translate(sources[::-1])[::-1] == [en for _, en in corpus]


def test_empty_input_gives_empty_output(translator: Translator) -> None:
    assert translator.translate([]) == []


def test_sentence_longer_than_the_input_limit_is_split_not_truncated(tiny_marian: Path, expected) -> None:
    first, second = "大会は予定通り開催される。", "株価は大幅に下落した。"
    probe = Translator(str(tiny_marian), beams=1, device="cpu", backend="torch")
    limit = max(len(probe.loaded.tokenizer(s)["input_ids"]) for s in (first, second))
    assert len(probe.loaded.tokenizer(first + second)["input_ids"]) > limit
    translator = Translator(str(tiny_marian), beams=1, device="cpu", max_input_tokens=limit, backend="torch")
    calls: list[int] = []
    [detail] = translator.translate_detailed([first + second], progress=calls.append)
    assert detail.en == f"{expected[first]} {expected[second]}"
    assert detail.flags == ("split",)
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
    assert (settings["backend"], settings["quantization"]) == ("torch", None)


class NllbTokenizerFast:
    src_lang = None


class M2M100Tokenizer:
    src_lang = None


def test_multilingual_models_get_japanese_source_and_forced_english() -> None:
    nllb, m2m = NllbTokenizerFast(), M2M100Tokenizer()
    assert target_language_token(nllb) == "eng_Latn"
    assert nllb.src_lang == "jpn_Jpan"
    assert target_language_token(m2m) == "__en__"
    assert m2m.src_lang == "ja"


def test_marian_models_need_no_language_codes(translator: Translator) -> None:
    assert target_language_token(translator.loaded.tokenizer) is None


SYMBOLS_ONLY = ["……。", "※", "！！", "★★★", "😀😀", "―――", "「」", "（　）"]


def test_sentences_without_letters_or_digits_are_copied_without_a_model_call(
    translator: Translator, corpus, monkeypatch
) -> None:
    received: list[str] = []
    generate = translator.backend.generate

    def counting(texts, decoding):
        received.extend(texts)
        return generate(texts, decoding)

    monkeypatch.setattr(translator.backend, "generate", counting)
    sources = [ja for ja, _ in corpus[:6]]
    mixed = [sources[0], *SYMBOLS_ONLY[:4], *sources[1:4], *SYMBOLS_ONLY[4:], *sources[4:], "※"]
    progress: list[int] = []
    details = translator.translate_detailed(mixed, progress=progress.append)
    by_source = dict(zip(mixed, details, strict=True))
    assert [(by_source[s].en, by_source[s].score, by_source[s].flags) for s in SYMBOLS_ONLY] == [
        (s, None, ("copied",)) for s in SYMBOLS_ONLY
    ]
    assert [by_source[s].en for s in sources] == [dict(corpus)[s] for s in sources]
    assert all(by_source[s].flags == () for s in sources)
    assert sorted(received) == sorted(sources)  # the model saw the corpus sentences and nothing else
    assert sum(progress) == len(mixed)


@pytest.mark.parametrize("text", ["１２３。", "〇。", "①", "ＡＢＣ", "はい。", "々"])
def test_any_letter_or_digit_is_something_to_translate(translator: Translator, text: str, monkeypatch) -> None:
    received: list[str] = []
    generate = translator.backend.generate

    def counting(texts, decoding):
        received.extend(texts)
        return generate(texts, decoding)

    monkeypatch.setattr(translator.backend, "generate", counting)
    [detail] = translator.translate_detailed([text])
    assert set(received) == {text}  # (twice, when the guard decodes a dubious output again)
    assert "copied" not in detail.flags


@pytest.mark.parametrize("method", ["translate", "translate_detailed"])
@pytest.mark.parametrize(
    ("sentences", "error", "message"),
    [
        ("一文。", TypeError, "{method}() takes a list of sentences, not a str; wrap it: {method}([text])"),
        (b"text", TypeError, "{method}() takes a list of sentences, not bytes; wrap it: {method}([text])"),
        ([None], TypeError, "{method}(): sentence 0 is None (NoneType), not a str"),
        (["会議は延期された。", 5], TypeError, "{method}(): sentence 1 is 5 (int), not a str"),
        (
            ["会議は延期された。", "顔\ud83d。"],
            ValueError,
            "{method}(): sentence 1 holds a lone surrogate ('\\ud83d' at character 1, half an emoji?), "
            "which is not text; fix the text or the escape it came from",
        ),
    ],
)
def test_what_is_not_a_list_of_sentences_is_refused_with_how_to_fix_it(
    translator: Translator, method: str, sentences, error: type[Exception], message: str, monkeypatch
) -> None:
    def no_model(texts, decoding):
        raise AssertionError(f"the model was asked to translate {texts}")

    monkeypatch.setattr(translator.backend, "generate", no_model)
    with pytest.raises(error) as raised:
        getattr(translator, method)(sentences)
    assert str(raised.value) == message.format(method=method)


def test_any_iterable_of_sentences_is_translated_in_full(translator: Translator, expected) -> None:
    sources = list(expected)[:3]
    assert translator.translate(iter(sources)) == [expected[s] for s in sources]
    assert translator.translate(tuple(sources)) == [expected[s] for s in sources]


@pytest.fixture(scope="module")
def guarded(tiny_marian: Path) -> Translator:
    """A float32 Translator of this module's own, whose backend tests may wrap."""
    return Translator(str(tiny_marian), beams=1, batch_size=8, device="cpu", backend="torch", quantize=False)


LOOP = Generation("the the the the the", -0.05, 6, hit_max_length=False)  # flagged `repetition`, and sure of itself


def _script(
    translator: Translator, target: str, first: Generation, second: Generation | None, monkeypatch
) -> list[tuple[list[str], Decoding]]:
    """Replace the model's output for `target`: `first` on its first decoding, `second` (None:
    the model's own) on the re-decoding with repetition controls. Returns the re-decodings asked for."""
    generate, retries = translator.backend.generate, []

    def scripted(texts, decoding):
        real = generate(texts, decoding)
        again = decoding.no_repeat_ngram_size > 0 or decoding.repetition_penalty != 1.0
        if again:
            retries.append((list(texts), decoding))
        replacement = second if again else first
        return [replacement if text == target and replacement else g for text, g in zip(texts, real, strict=True)]

    monkeypatch.setattr(translator.backend, "generate", scripted)
    return retries


def _redecoded(guarded: Translator, corpus, first: Generation, second: Generation | None, monkeypatch):
    sources = [ja for ja, _ in corpus[:8]]
    target = sources[4]
    retries = _script(guarded, target, first, second, monkeypatch)
    details = guarded.translate_detailed(sources)
    others = [(d.en, d.flags) for s, d in zip(sources, details, strict=True) if s != target]
    assert others == [(dict(corpus)[s], ()) for s in sources if s != target]  # untouched
    [(texts, decoding)] = retries  # the flagged sentence alone, decoded once more with loops blocked
    assert texts == [target]
    assert decoding.no_repeat_ngram_size > 0 and decoding.repetition_penalty > 1.0
    return target, details[4]


def test_a_degenerate_translation_is_decoded_again_and_the_better_one_kept(
    guarded: Translator, corpus, expected, monkeypatch
) -> None:
    target, detail = _redecoded(guarded, corpus, LOOP, None, monkeypatch)
    assert (detail.en, detail.flags) == (expected[target], ())
    assert detail.score is not None and detail.score != LOOP.score  # the score of the output kept


def test_a_second_decoding_that_is_worse_is_not_kept(guarded: Translator, corpus, expected, monkeypatch) -> None:
    first = Generation("The the the the meeting.", -1.5, 7, hit_max_length=False)  # repetition
    worse = Generation("会議 会議 会議 会議", -0.1, 5, hit_max_length=False)  # repetition and Japanese left in
    _, detail = _redecoded(guarded, corpus, first, worse, monkeypatch)
    assert (detail.en, detail.score, detail.flags) == (first.text, first.score, ("repetition",))


def test_between_two_equally_flawed_decodings_the_more_confident_is_kept(
    guarded: Translator, corpus, monkeypatch
) -> None:
    unsure = Generation("the the the the the", -2.0, 6, hit_max_length=False)
    surer = Generation("of the of the of the", -0.5, 7, hit_max_length=False)
    _, detail = _redecoded(guarded, corpus, unsure, surer, monkeypatch)
    assert (detail.en, detail.score, detail.flags) == (surer.text, surer.score, ("repetition",))


def test_out_of_memory_halves_the_batch_and_keeps_the_order(guarded: Translator, corpus, expected, monkeypatch) -> None:
    import torch

    backend, sources = guarded.backend, [ja for ja, _ in corpus[:7]]
    decoding = Decoding(beams=1, max_new_tokens=64)
    whole = backend.generate(sources, decoding)
    real, ran = backend._generate, []

    def at_most_two_rows(texts, decoding):
        if len(texts) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        ran.append(list(texts))
        return real(texts, decoding)

    monkeypatch.setattr(backend, "_generate", at_most_two_rows)
    halved = backend.generate(sources, decoding)
    assert [row for batch in ran for row in batch] == sources and all(len(batch) <= 2 for batch in ran)
    assert [g.text for g in halved] == [g.text for g in whole] == [expected[s] for s in sources]
    # Another batch composition pads differently: scores agree to float32 rounding, not bit for bit.
    assert [g.score for g in halved] == pytest.approx([g.score for g in whole], abs=1e-4)
    assert [(g.tokens, g.hit_max_length) for g in halved] == [(g.tokens, g.hit_max_length) for g in whole]


def test_out_of_memory_on_a_single_sentence_is_raised(guarded: Translator, corpus, monkeypatch) -> None:
    import torch

    attempts: list[int] = []

    def never_fits(texts, decoding):
        attempts.append(len(texts))
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(guarded.backend, "_generate", never_fits)
    with pytest.raises(torch.OutOfMemoryError):
        guarded.backend.generate([ja for ja, _ in corpus[:3]], Decoding(beams=1))
    assert attempts == [3, 1]  # halved down to one sentence, which has nowhere left to go


def test_bfloat16_on_cpu_is_not_quantized_to_int8_and_translates(tiny_marian, expected) -> None:
    # Dynamic int8 quantization takes float32 Linear layers only; on a bfloat16 model it
    # failed at the first batch ("expected scalar type Float but found BFloat16").
    translator = Translator(str(tiny_marian), device="cpu", dtype="bfloat16", backend="torch", beams=1)
    assert translator.backend.describe()["quantization"] is None
    sentences = list(expected)[:8]
    got = translator.translate(sentences)
    # bfloat16 moves logits by up to ~0.5; the overfit model's margin is 3, so it stays exact here.
    assert got == [expected[s] for s in sentences]
