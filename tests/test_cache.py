from __future__ import annotations

import sqlite3
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ja2en import Translator, translate_documents
from ja2en.cache import TranslationCache
from ja2en.errors import Ja2enWarning
from ja2en.records import Translation


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
    assert not (tmp_path / "unused" / "translations.sqlite3").exists()  # (ct2 may keep its conversion there)


def _filled_cache(path: Path) -> None:
    """A real cache, closed cleanly, with enough entries to span many pages."""
    cache = TranslationCache(path)
    cache.put_many("filler", {f"文{i}。": Translation(f"Sentence {i}.", -0.1, ()) for i in range(3000)})
    cache.close()


def _corrupt_pages(path: Path) -> None:
    """Overwrite every page but the first (the header and the schema) and the last, as a
    failing disk or a torn copy would, so the file opens but queries find it malformed."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 8 * page
    data[page:-page] = b"\xff" * (len(data) - 2 * page)
    path.write_bytes(bytes(data))
    with pytest.raises(sqlite3.DatabaseError, match="^database disk image is malformed$"):
        sqlite3.connect(path).execute("SELECT en FROM entries WHERE key = ?", (b"x" * 20,)).fetchall()


def _broken_copies(path: Path) -> list[Path]:
    copies = path.parent.glob(f"{path.name}.broken-*")
    return sorted(copy for copy in copies if not copy.name.endswith(("-wal", "-shm")))


def _messages(record: list[warnings.WarningMessage]) -> list[str]:
    assert all(issubclass(w.category, Ja2enWarning) for w in record)
    return [str(w.message) for w in record]


def test_a_cache_with_corrupt_pages_is_moved_aside_and_translations_are_the_same(
    tmp_path: Path, tiny_marian: Path, translator: Translator, expected, monkeypatch
) -> None:
    path = tmp_path / "translations.sqlite3"
    _filled_cache(path)
    _corrupt_pages(path)
    sources = list(expected)[:12]
    cache = TranslationCache(path)  # opens: the schema page is intact
    cached = Translator(str(tiny_marian), beams=1, batch_size=4, device="cpu", backend="torch", quantize=False, cache=cache)
    with pytest.warns(Ja2enWarning) as record:
        details = cached.translate_detailed(sources)
    [aside] = _broken_copies(path)
    assert _messages(record) == [
        f"{path}: the translation cache is broken (database disk image is malformed); "
        f"moved it aside to {aside} and started a new one"
    ]
    assert [d.en for d in details] == [expected[s] for s in sources]
    uncached = translator.translate_detailed(sources)  # the same settings, no cache
    assert [(d.en, d.flags) for d in details] == [(d.en, d.flags) for d in uncached]
    # The new cache took this run's translations, and the next run reads them back.
    cache.close()
    again = Translator(str(tiny_marian), beams=1, device="cpu", backend="torch", quantize=False, cache=TranslationCache(path))
    _forbid_model(again, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert again.translate(sources) == [expected[s] for s in sources]


def test_corruption_found_while_storing_moves_the_file_aside_and_stores_in_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "translations.sqlite3"
    _filled_cache(path)
    _corrupt_pages(path)
    cache = TranslationCache(path)
    entry = {"会議は延期された。": Translation("The meeting was postponed.", -0.01, ())}
    with pytest.warns(Ja2enWarning) as record:
        cache.put_many("ns", entry)
    [aside] = _broken_copies(path)
    assert _messages(record) == [
        f"{path}: the translation cache is broken (database disk image is malformed); "
        f"moved it aside to {aside} and started a new one"
    ]
    assert cache.get_many("ns", entry) == entry


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        ("junk", "file is not a database"),
        ("truncated", "database disk image is malformed"),
    ],
)
def test_an_unreadable_cache_file_is_moved_aside_not_blamed_on_the_folder(tmp_path: Path, damage: str, detail: str) -> None:
    path = tmp_path / "translations.sqlite3"
    _filled_cache(path)
    if damage == "junk":
        path.write_bytes(b"this is not SQLite " * 300)
    else:
        with path.open("r+b") as handle:
            handle.truncate(path.stat().st_size // 2)
    before = path.read_bytes()
    with pytest.warns(Ja2enWarning) as record:
        cache = TranslationCache(path)
    [aside] = _broken_copies(path)
    assert _messages(record) == [
        f"{path}: the translation cache is broken ({detail}); moved it aside to {aside} and started a new one"
    ]
    assert aside.read_bytes() == before  # kept as it was, for whoever wants to look
    cache.put_many("ns", {"はい。": Translation("Yes.", -0.1, ())})
    assert cache.get_many("ns", ["はい。"]) == {"はい。": Translation("Yes.", -0.1, ())}


def test_a_cache_that_cannot_be_made_is_skipped_with_a_warning(tmp_path: Path, tiny_marian: Path, expected) -> None:
    (tmp_path / "file").write_text("not a folder")
    path = tmp_path / "file" / "cache.sqlite3"
    with pytest.warns(Ja2enWarning) as record:
        cache = TranslationCache(path)
    assert _messages(record) == [
        f"{path}: cannot use the translation cache (File exists: {tmp_path / 'file'}); going on without it, "
        "which only costs speed; set JA2EN_CACHE_DIR to a writable folder, or pass --no-cache to skip it"
    ]
    assert not cache.active
    translator = Translator(str(tiny_marian), beams=1, device="cpu", backend="torch", cache=cache)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not once per call
        sources = list(expected)[:3]
        assert translator.translate(sources) == [expected[s] for s in sources]


def test_a_broken_cache_another_run_has_open_is_left_for_a_later_run(tmp_path: Path) -> None:
    # Two TranslationCache objects on one file lock it as two processes would.
    path = tmp_path / "translations.sqlite3"
    _filled_cache(path)
    other_run = TranslationCache(path)
    _corrupt_pages(path)
    this_run = TranslationCache(path)
    with pytest.warns(Ja2enWarning) as record:
        assert this_run.get_many("ns", ["はい。"]) == {}
    assert _messages(record) == [
        f"{path}: the translation cache is broken (database disk image is malformed) but another ja2en run "
        "has it open, so it was left in place; going on without a cache (a later run will move it aside)"
    ]
    assert _broken_copies(path) == [] and not this_run.active
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        this_run.put_many("ns", {"はい。": Translation("Yes.", -0.1, ())})
        assert this_run.get_many("ns", ["はい。"]) == {}
    other_run.close()
    later = TranslationCache(path)
    with pytest.warns(Ja2enWarning, match="moved it aside to"):
        assert later.get_many("ns", ["はい。"]) == {}
    assert len(_broken_copies(path)) == 1 and later.active


def test_runs_go_on_when_the_cache_is_corrupt(tmp_path: Path, tiny_marian: Path, expected, monkeypatch) -> None:
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "cache" / "translations.sqlite3"
    _filled_cache(path)
    _corrupt_pages(path)
    first, second = list(expected)[:2]
    (tmp_path / "a.txt").write_text(f"{first}{second}\n", encoding="utf-8")
    settings = {"model": str(tiny_marian), "summarizer_model": None, "device": "cpu"}
    with pytest.warns(Ja2enWarning, match="the translation cache is broken"):
        result = translate_documents(tmp_path / "a.txt", output_dir=tmp_path / "o1", **settings)
    english = result.files["documents"].read_text(encoding="utf-8")
    assert expected[first] in english and expected[second] in english
    with warnings.catch_warnings():
        warnings.simplefilter("error", Ja2enWarning)  # repaired once, for good
        again = translate_documents(tmp_path / "a.txt", output_dir=tmp_path / "o2", **settings)
    assert again.manifest["this_run"]["sentences_from_cache"] == 2
    assert again.files["documents"].read_bytes() == result.files["documents"].read_bytes()


def test_threads_sharing_one_cache_get_every_translation_back_and_exact_hits(cache: TranslationCache) -> None:
    # A Ray actor calls its cache from threads other than the one that built it; the
    # counter and the connection must not lose updates or mix transactions.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to make a race show
    threads, rounds, per_round = 8, 100, 25
    start = threading.Barrier(threads)

    def work(worker: int) -> int:
        start.wait()
        found = 0
        for round_number in range(rounds):
            batch = {
                f"文{worker}-{round_number}-{i}。": Translation(f"Sentence {worker}.{round_number}.{i}.", -0.5, ("split",))
                for i in range(per_round)
            }
            cache.put_many("ns", batch)
            got = cache.get_many("ns", list(batch) + [f"未知{worker}-{round_number}。"])
            assert got == batch  # every one back, its own, and nothing for the unknown one
            shared = cache.get_many("ns", [f"文{(worker + 1) % threads}-0-{i}。" for i in range(per_round)])
            found += len(got) + len(shared)
        return found

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Ja2enWarning)  # a mixed-up connection would be given up with a warning
            with ThreadPoolExecutor(threads) as pool:
                found = sum(pool.map(work, range(threads)))
    finally:
        sys.setswitchinterval(previous)
    assert cache.active
    assert found >= threads * rounds * per_round
    assert cache.hits == found
