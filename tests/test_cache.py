from __future__ import annotations

from pathlib import Path

import pytest

from ja2en import OutputError, Translator, translate_documents
from ja2en.cache import TranslationCache


@pytest.fixture
def cache(tmp_path: Path) -> TranslationCache:
    return TranslationCache(tmp_path / "cache.sqlite3")


def _forbid_model(translator: Translator, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(texts, decoding):
        raise AssertionError(f"the model was asked to translate {texts}")

    monkeypatch.setattr(translator.backend, "generate", no_model)


def test_cached_sentences_are_not_translated_again(tiny_marian: Path, cache, expected, monkeypatch) -> None:
    sources = ["会議は延期された。", "株価は大幅に下落した。"]
    Translator(str(tiny_marian), beams=1, device="cpu", backend="torch", cache=cache).translate(sources)
    again = Translator(str(tiny_marian), beams=1, device="cpu", backend="torch", cache=TranslationCache(cache.path))
    _forbid_model(again, monkeypatch)
    progress: list[int] = []
    details = again.translate_detailed(sources + sources[:1], progress=progress.append)
    assert [d.en for d in details] == [expected[s] for s in sources + sources[:1]]
    assert all(d.score is not None and d.flags == () for d in details)  # scores and flags are cached too
    assert sum(progress) == 3
    assert again.cache.hits == 2


def test_other_decoding_settings_do_not_share_entries(tiny_marian: Path, cache) -> None:
    Translator(str(tiny_marian), beams=1, device="cpu", backend="torch", cache=cache).translate(["会議は延期された。"])
    beam = Translator(str(tiny_marian), beams=3, device="cpu", backend="torch", cache=cache)
    beam.translate(["会議は延期された。"])
    assert cache.hits == 0


def test_runs_use_the_cache_unless_told_not_to(tmp_path: Path, tiny_marian: Path, monkeypatch) -> None:
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "a.txt").write_text("会議は延期された。会議は延期された。\n", encoding="utf-8")
    first = translate_documents(tmp_path / "a.txt", output_dir=tmp_path / "o1", model=str(tiny_marian), summarizer_model=None, device="cpu")
    assert (tmp_path / "cache" / "translations.sqlite3").is_file()
    assert first.manifest["this_run"]["sentences_from_cache"] == 0
    second = translate_documents(tmp_path / "a.txt", output_dir=tmp_path / "o2", model=str(tiny_marian), summarizer_model=None, device="cpu")
    assert second.manifest["this_run"]["sentences_from_cache"] == 1  # one unique sentence
    assert second.files["documents"].read_bytes() == first.files["documents"].read_bytes()

    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "unused"))
    translate_documents(tmp_path / "a.txt", output_dir=tmp_path / "o3", model=str(tiny_marian), summarizer_model=None, device="cpu", cache=False)
    assert not (tmp_path / "unused").exists()


def test_unusable_cache_location_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError) as error:
        TranslationCache(tmp_path / "file" / "cache.sqlite3")
    assert str(error.value).startswith(f"{tmp_path / 'file' / 'cache.sqlite3'}: cannot open the translation cache (")
    assert str(error.value).endswith("); set JA2EN_CACHE_DIR to a writable folder or pass --no-cache")
