from __future__ import annotations

import dataclasses
import os
import random
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from ja2en import Translator
from ja2en.backends import Decoding, Generation
from ja2en.backends.torch import TorchBackend
from ja2en.backends.ct2 import CONVERSION_VERSION, CT2Backend
from ja2en.errors import DeviceError, Ja2enWarning, ModelError
from ja2en.models.load import LoadedModel, ResolvedModel, load_seq2seq


@pytest.fixture(scope="module")
def marian(tiny_marian: Path) -> LoadedModel:
    return load_seq2seq(str(tiny_marian), role="translation", device="cpu")


@pytest.fixture(scope="module")
def bart(tiny_bart: Path) -> LoadedModel:
    return load_seq2seq(str(tiny_bart), role="summary", device="cpu")


@pytest.fixture(scope="module")
def marian_fp32(ct2_home, marian: LoadedModel) -> CT2Backend:
    return CT2Backend(marian, compute_type="float32")


def _mixed_batches(corpus: list[tuple[str, str]]) -> list[list[str]]:
    """Every source once, shuffled, in batches of 1, 7 and 16 rows: short and long rows share batches."""
    sources = [ja for ja, _ in corpus]
    random.Random(7).shuffle(sources)
    batches, sizes = [], [1, 7, 16]
    while sources:
        size = sizes[len(batches) % len(sizes)]
        batches.append(sources[:size])
        sources = sources[size:]
    return batches


def _run(backend, batches: list[list[str]], decoding: Decoding) -> dict[str, Generation]:
    return {text: g for batch in batches for text, g in zip(batch, backend.generate(batch, decoding), strict=True)}


@pytest.mark.parametrize("beams", [1, 4])
def test_float32_translates_every_sentence_as_torch_does(marian, marian_fp32, corpus, expected, beams: int) -> None:
    batches = _mixed_batches(corpus)
    decoding = Decoding(beams=beams, max_new_tokens=128)
    ct2 = _run(marian_fp32, batches, decoding)
    torch = _run(TorchBackend(marian), batches, decoding)
    assert {ja: g.text for ja, g in ct2.items()} == expected
    assert {ja: g.text for ja, g in torch.items()} == expected
    assert {ja: g.tokens for ja, g in ct2.items()} == {ja: g.tokens for ja, g in torch.items()}
    assert max(abs(ct2[ja].score - torch[ja].score) for ja in expected) < 1e-3
    assert not any(g.hit_max_length for g in ct2.values())


def test_int8_on_cpu_still_reproduces_the_corpus(ct2_home, marian, marian_fp32, corpus, expected) -> None:
    int8 = CT2Backend(marian)  # compute_type="auto"
    # stored already quantized, beside the float32 copy, not quantized again at every load
    assert int8.path == marian_fp32.path.with_name(marian_fp32.path.name.replace("-float32-", "-int8-"))
    assert int8.describe() == {
        "backend": "ct2", "compute_type": "int8", "converted": int8.path.as_posix(),
        "workers": torch.get_num_threads(), "threads_per_worker": 1,  # one batch per thread, by default
    }  # fmt: skip
    ct2 = _run(int8, _mixed_batches(corpus), Decoding(beams=1, max_new_tokens=128))
    assert {ja: g.text for ja, g in ct2.items()} == expected


def test_bart_summaries_match_torch(ct2_home, bart, corpus) -> None:
    # BART must start with <s> (forced_bos_token_id in its generation config), which CT2
    # only does when told; the min_length shift and banned words must carry over too.
    english = [en for _, en in corpus]
    texts = [english[3], " ".join(english[10:13]), " ".join(english[20:24]), english[40]]
    decoding = Decoding(beams=1, max_new_tokens=20, min_length=5)
    ct2 = CT2Backend(bart, compute_type="float32").generate(texts, decoding)
    torch = TorchBackend(bart).generate(texts, decoding)
    assert [g.text for g in ct2] == [g.text for g in torch]
    assert all(g.text for g in ct2)
    assert [g.tokens for g in ct2] == [g.tokens for g in torch]
    # Scores are the model's own, forced <s> included, not CT2's view with banned words removed.
    assert max(abs(a.score - b.score) for a, b in zip(ct2, torch)) < 1e-3


def test_a_forced_first_token_is_honoured(ct2_home, bart, corpus, monkeypatch) -> None:
    texts = [en for _, en in corpus[10:14]]
    # Tokens the tiny model never starts with, so only forcing puts them first.
    the = bart.tokenizer.convert_tokens_to_ids("The")
    monkeypatch.setattr(bart.generation_config, "forced_bos_token_id", the)
    forced = Decoding(beams=1, max_new_tokens=20, min_length=5)
    ct2 = CT2Backend(bart, compute_type="float32").generate(texts, forced)
    torch = TorchBackend(bart).generate(texts, forced)
    assert [g.text for g in ct2] == [g.text for g in torch]
    assert all(g.text.startswith("The") for g in ct2)
    assert max(abs(a.score - b.score) for a, b in zip(ct2, torch)) < 1e-3  # the unlikely forced token counts
    # A target token (a language code for NLLB) takes the place of the configured one.
    target = Decoding(beams=1, max_new_tokens=20, min_length=5, target_token="P")
    ct2 = CT2Backend(bart, compute_type="float32").generate(texts, target)
    assert [g.text for g in ct2] == [g.text for g in TorchBackend(bart).generate(texts, target)]
    assert all(g.text.startswith("P") for g in ct2)


@pytest.mark.parametrize(
    ("decoding", "length_penalty"),
    [
        (Decoding(repetition_penalty=1.3, no_repeat_ngram_size=2, max_new_tokens=128), 1.0),
        (Decoding(beams=4, max_new_tokens=128), 2.0),
    ],
)
def test_scores_are_mean_log_probabilities_whatever_the_decoding(
    ct2_home, marian, corpus, monkeypatch, decoding: Decoding, length_penalty: float
) -> None:
    # Penalties reshape what CT2 scores with, and a length penalty divides by length ** 2:
    # --min-score must still mean the same as with torch.
    monkeypatch.setattr(marian.generation_config, "length_penalty", length_penalty)
    sources = [ja for ja, _ in corpus[::3]]
    ct2 = CT2Backend(marian, compute_type="float32").generate(sources, decoding)
    torch = TorchBackend(marian).generate(sources, decoding)
    assert [g.text for g in ct2] == [g.text for g in torch]
    assert max(abs(a.score - b.score) for a, b in zip(ct2, torch)) < 1e-3


def test_min_length_counts_as_torch_does(marian, marian_fp32, corpus, expected) -> None:
    for ja, _ in corpus[:4]:
        natural = marian_fp32.generate([ja], Decoding(max_new_tokens=128))[0]
        # torch's min_length includes the decoder start token: min_length=n still allows
        # an n-token output (end-of-sentence included), n + 1 does not.
        same = marian_fp32.generate([ja], Decoding(max_new_tokens=128, min_length=natural.tokens))[0]
        assert (same.text, same.tokens) == (expected[ja], natural.tokens)
        longer = marian_fp32.generate([ja], Decoding(max_new_tokens=128, min_length=natural.tokens + 1))[0]
        assert longer.tokens > natural.tokens


def test_length_cap_is_reported(marian, marian_fp32, corpus, expected) -> None:
    sources = [ja for ja, _ in corpus[:6]]
    capped = marian_fp32.generate(sources, Decoding(beams=1, max_new_tokens=3))
    assert [g.hit_max_length for g in capped] == [True] * len(sources)
    assert [g.tokens for g in capped] == [3] * len(sources)
    torch = TorchBackend(marian).generate(sources, Decoding(beams=1, max_new_tokens=3))
    assert [g.tokens for g in torch] == [3] * len(sources)
    assert all(expected[ja].startswith(g.text) and g.text for ja, g in zip(sources, capped, strict=True))
    full = marian_fp32.generate(sources, Decoding(beams=1, max_new_tokens=128))
    assert [g.hit_max_length for g in full] == [False] * len(sources)
    # The end-of-sentence token counts, as with torch: a 7-piece "Thank you." is 8 tokens.
    assert [g.tokens for g in full] == [len(marian.tokenizer(text_target=expected[ja])["input_ids"]) for ja in sources]


def test_conversion_is_cached_per_revision_and_quantization_and_silent(
    marian, tiny_marian, tmp_path, monkeypatch, capfd
) -> None:
    # A model outside the local store: its conversion is kept in the user cache.
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))
    capfd.readouterr()
    first = CT2Backend(marian, compute_type="float32")
    assert capfd.readouterr() == ("", "")  # the library never prints, not even progress bars
    stem = f"{tiny_marian.parent.name}--{tiny_marian.name}-{marian.resolved.revision}"
    version = f"c{CONVERSION_VERSION}"
    assert first.path == tmp_path / "ct2" / f"{stem}-float32-{version}"
    assert not (tmp_path / "models").exists()
    assert [p.name for p in (tmp_path / "ct2").iterdir()] == [first.path.name]  # no staging folder left
    assert {k: v for k, v in first.describe().items() if "worker" not in k} == {
        "backend": "ct2", "compute_type": "float32", "converted": first.path.as_posix()
    }  # fmt: skip

    from ctranslate2.converters import TransformersConverter

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    with monkeypatch.context() as patch:
        patch.setattr(TransformersConverter, "convert", no_second_conversion)
        second = CT2Backend(marian, compute_type="float32")
    assert second.path == first.path
    assert second.generate(["会議は延期された。"], Decoding())[0].text == "The meeting was postponed."
    int8 = CT2Backend(marian, compute_type="int8")  # another quantization: a copy of its own
    assert int8.path == tmp_path / "ct2" / f"{stem}-int8-{version}"
    kept = sorted(p.name for p in (tmp_path / "ct2").iterdir())
    assert kept == [f"{stem}-float32-{version}", f"{stem}-int8-{version}"]
    assert int8.generate(["会議は延期された。"], Decoding())[0].text == "The meeting was postponed."


def test_a_crash_mid_conversion_leaves_nothing_that_looks_converted(marian, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path))
    from ctranslate2.converters import TransformersConverter

    def crash(self, output_dir, **kwargs):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "model.bin").write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(TransformersConverter, "convert", crash)
    with pytest.raises(ModelError) as error:
        CT2Backend(marian)
    assert str(error.value) == (
        f"model '{marian.resolved.name}' (marian) cannot be converted for the ct2 backend "
        "(No space left on device); use --backend torch"
    )
    assert list((tmp_path / "ct2").iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path))
    retried = CT2Backend(marian)  # the next run converts from scratch
    assert retried.generate(["会議は延期された。"], Decoding())[0].text == "The meeting was postponed."


def test_two_conversions_at_once_keep_one_whole_folder(marian, tiny_marian, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path))
    from ctranslate2.converters import TransformersConverter

    name = f"{tiny_marian.parent.name}--{tiny_marian.name}-{marian.resolved.revision}-int8-c{CONVERSION_VERSION}"
    target = tmp_path / "ct2" / name
    convert = TransformersConverter.convert

    def other_process_finishes_first(self, output_dir, **kwargs):
        convert(self, output_dir, **kwargs)
        shutil.copytree(output_dir, target)  # as if another process renamed its copy in place just now
        (target / "winner").touch()

    monkeypatch.setattr(TransformersConverter, "convert", other_process_finishes_first)
    backend = CT2Backend(marian)
    assert backend.path == target
    assert [p.name for p in (tmp_path / "ct2").iterdir()] == [target.name]
    assert (target / "winner").exists()  # the first folder in place is kept, not overwritten
    assert backend.generate(["会議は延期された。"], Decoding())[0].text == "The meeting was postponed."


def test_a_model_ct2_cannot_convert_names_the_fix(tmp_path, monkeypatch) -> None:
    from transformers import LEDConfig

    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    LEDConfig(d_model=16, encoder_layers=1, decoder_layers=1).save_pretrained(tmp_path / "led")
    config = LEDConfig.from_pretrained(tmp_path / "led")
    loaded = LoadedModel(ResolvedModel("tiny-led", tmp_path / "led", "local-0"), None, config, "cpu", "float32")
    with pytest.raises(ModelError) as error:
        CT2Backend(loaded)
    assert str(error.value) == (
        "model 'tiny-led' (led) cannot be converted for the ct2 backend "
        "(No conversion is registered for the model configuration LEDConfig); use --backend torch"
    )
    assert list((tmp_path / "cache" / "ct2").iterdir()) == []


def test_ct2_never_loads_the_torch_weights(ct2_home, tiny_marian, corpus, expected) -> None:
    # The torch copy would sit in memory beside CT2's own for nothing (300 MB for FuguMT).
    loaded = load_seq2seq(str(tiny_marian), role="translation", device="cpu")
    backend = CT2Backend(loaded)
    ja = corpus[1][0]
    assert backend.generate([ja], Decoding())[0].text == expected[ja]
    assert not loaded.weights_loaded


def test_devices_and_compute_types_ct2_lacks_are_refused(ct2_home, marian) -> None:
    with pytest.raises(DeviceError) as error:
        CT2Backend(dataclasses.replace(marian, device="mps"))
    assert str(error.value) == "the ct2 backend runs on cpu or cuda, not mps; use --device cpu or --backend torch"
    refusal = r"^compute type 'int8_float16' is not supported on cpu; use one of .*int8.* or auto$"
    with pytest.raises(DeviceError, match=refusal):
        CT2Backend(marian, compute_type="int8_float16")


def _unwritable(folder: Path) -> str:
    """Make `folder` a place no folder can be made or written in; returns the reason the OS gives.

    Permissions stop nobody running as root (as test containers often do), so there a file
    takes the folder's place, where mkdir fails just the same.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("", encoding="utf-8")
        return "File exists"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    return "Permission denied"


def _ja2en_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, Ja2enWarning)]


def test_a_read_only_current_folder_does_not_stop_the_ct2_backend(tiny_marian, expected, tmp_path, monkeypatch) -> None:
    # The conversion used to go to ./models/ct2/ and crashed with "Read-only file system: 'models'".
    monkeypatch.delenv("JA2EN_MODELS_DIR", raising=False)  # the default store: ./models
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    here = tmp_path / "read-only"
    here.mkdir()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        _unwritable(here / "models")  # root writes anywhere: make ./models impossible instead
    else:
        here.chmod(0o555)
    monkeypatch.chdir(here)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            translator = Translator(str(tiny_marian), beams=1, device="cpu", backend="ct2")
        sources = list(expected)[:5]
        assert translator.translate(sources) == [expected[ja] for ja in sources]
    finally:
        here.chmod(0o755)
    assert _ja2en_warnings(caught) == []  # nothing to warn about: a conversion is a cache
    assert translator.backend.path.parent == tmp_path / "cache" / "ct2"
    assert sorted(p.name for p in here.iterdir()) == (["models"] if (here / "models").is_file() else [])


def test_a_store_model_keeps_its_conversion_beside_it_or_else_in_the_cache(
    tiny_marian, expected, tmp_path, monkeypatch
) -> None:
    store, cache = tmp_path / "models", tmp_path / "cache"
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(store))
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(cache))
    shutil.copytree(tiny_marian, store / "staka" / "fugumt-ja-en")
    loaded = load_seq2seq("staka/fugumt-ja-en", role="translation", device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        beside = CT2Backend(loaded, compute_type="int8")
    assert _ja2en_warnings(caught) == []
    assert beside.path.parent == store / "ct2"  # where `ja2en models convert` puts it, as before
    assert not (cache / "ct2").exists()

    # Another store whose ct2/ folder cannot be written: the cache takes the conversion, and says so.
    other = tmp_path / "other-store"
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(other))
    shutil.copytree(tiny_marian, other / "staka" / "fugumt-ja-en")
    reason = _unwritable(other / "ct2")
    loaded = load_seq2seq("staka/fugumt-ja-en", role="translation", device="cpu")
    try:
        with pytest.warns(Ja2enWarning) as caught:
            fallback = CT2Backend(loaded, compute_type="int8")
    finally:
        (other / "ct2").chmod(0o755)
    assert [str(w.message) for w in caught] == [
        f"{other / 'ct2'}: not writable ({reason}); keeping the ct2 conversion in {cache / 'ct2'} instead"
    ]
    assert fallback.path.parent == cache / "ct2"
    ja = list(expected)[0]
    assert fallback.generate([ja], Decoding())[0].text == expected[ja]
    # The next run finds it there, quietly.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = CT2Backend(loaded, compute_type="int8")
    assert (again.path, _ja2en_warnings(caught)) == (fallback.path, [])


def test_nowhere_to_keep_a_conversion_says_what_to_do(marian, tmp_path, monkeypatch) -> None:
    store, cache = tmp_path / "models", tmp_path / "cache"
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(store))
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(cache))
    reason = _unwritable(cache / "ct2")
    assert _unwritable(store / "ct2") == reason
    try:
        with pytest.raises(ModelError) as error:
            CT2Backend(marian)
    finally:
        for folder in (cache / "ct2", store / "ct2"):
            folder.chmod(0o755)
    assert str(error.value) == (
        f"cannot store the ct2 conversion of model '{marian.resolved.name}': neither {cache / 'ct2'} ({reason}) "
        f"nor {store / 'ct2'} ({reason}) is writable; set JA2EN_CACHE_DIR to a writable folder, or use --backend torch"
    )


def test_a_conversion_from_before_the_mt5_fix_is_not_reused(
    marian, tiny_marian, expected, tmp_path, monkeypatch
) -> None:
    # Folders named as before CONVERSION_VERSION, in both places: old mT5 conversions there
    # scale the logits wrongly, so none may be picked up (here, broken ones would not load).
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    old = f"{tiny_marian.parent.name}--{tiny_marian.name}-{marian.resolved.revision}-float32"
    for place in (tmp_path / "models" / "ct2", tmp_path / "cache" / "ct2"):
        (place / old).mkdir(parents=True)
        (place / old / "model.bin").write_bytes(b"converted by an older ja2en")
    backend = CT2Backend(marian, compute_type="float32")
    assert backend.path.name == f"{old}-c{CONVERSION_VERSION}"
    ja = list(expected)[1]
    assert backend.generate([ja], Decoding())[0].text == expected[ja]
