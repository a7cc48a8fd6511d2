"""Several batches at once: CTranslate2 workers on CPU, the automatic token budget, and what
a run records of both. Outputs must not move: a batch gives the same English whatever runs
beside it, and the threads never enter a fingerprint (cache, resume)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ja2en import Summarizer, Translator, translate_documents
from ja2en.backends import generate_batches
from ja2en.translate import auto_batch_tokens


class _Backend:
    name = "fake"

    def __init__(self, workers: int) -> None:
        self.workers = workers


def test_batches_run_side_by_side_and_come_back_in_order() -> None:
    # The first two batches each wait for the other: run one at a time, they would time out.
    both_running = threading.Barrier(2, timeout=10)
    threads: set[str] = set()

    def work(batch: int) -> int:
        threads.add(threading.current_thread().name)
        if batch < 2:
            both_running.wait()
        return batch * 10

    results = list(generate_batches(_Backend(2), range(9), work))
    assert results == [(b, b * 10) for b in range(9)]
    assert len(threads) == 2 and threading.current_thread().name not in threads


def test_one_worker_runs_each_batch_in_the_callers_thread() -> None:
    seen = []
    results = list(generate_batches(_Backend(1), [1, 2, 3], lambda b: seen.append(threading.current_thread()) or b))
    assert results == [(1, 1), (2, 2), (3, 3)]
    assert set(seen) == {threading.current_thread()}


def test_a_failed_batch_is_raised_in_its_turn_and_the_queue_is_dropped() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(batch: int) -> int:
        with lock:
            started.append(batch)
        if batch == 3:
            raise ValueError("batch 3 cannot be decoded")
        return batch

    before = threading.active_count()
    yielded = []
    with pytest.raises(ValueError, match="batch 3"):
        for batch, _ in generate_batches(_Backend(2), range(100), work):
            yielded.append(batch)
    assert yielded == [0, 1, 2]  # everything before the failure, in order, and nothing after
    assert max(started) < 3 + 2 * 2 + 1  # at most twice the workers were queued past it
    assert threading.active_count() == before  # the pool is gone, not left running


@pytest.mark.parametrize("beams", [1, 4])
def test_two_ct2_workers_translate_exactly_as_one(ct2_home, tiny_marian: Path, corpus, expected, beams: int) -> None:
    sources = [ja for ja, _ in corpus][::-1]
    # The same batches for both (an explicit budget), so only the threads differ.
    made = {
        workers: Translator(str(tiny_marian), beams=beams, batch_size=5, batch_tokens=600, device="cpu",
                            backend="ct2", workers=workers)  # fmt: skip
        for workers in (1, 2)
    }
    one, two = (made[w].translate_detailed(sources) for w in (1, 2))
    assert [t.en for t in two] == [expected[ja] for ja in sources] == [t.en for t in one]
    assert [t.flags for t in two] == [t.flags for t in one]
    # Scores: the same batch on one thread or two; GEMM may sum in another order, nothing more.
    assert max(abs(a.score - b.score) for a, b in zip(one, two, strict=True)) < 1e-3
    assert made[2].backend.describe()["workers"] == 2 and made[1].backend.describe()["workers"] == 1
    # Threads decide nothing: the cache namespace and a folder's fingerprint stay the same.
    assert made[1].fingerprint() == made[2].fingerprint()


def test_the_automatic_budget_is_recorded_and_an_explicit_one_kept(ct2_home, tiny_marian: Path) -> None:
    auto = Translator(str(tiny_marian), beams=4, device="cpu", backend="ct2")
    assert auto.settings()["batch_tokens"] == max(auto_batch_tokens("cpu", 4), auto.max_input_tokens)
    assert auto.settings()["batch_tokens_by"] == "auto"
    assert auto_batch_tokens("cpu", 1) < auto_batch_tokens("cpu", 4)  # greedy packs fewer tokens (measured)
    mine = Translator(str(tiny_marian), beams=4, batch_tokens=3000, device="cpu", backend="ct2")
    assert (mine.settings()["batch_tokens"], mine.settings()["batch_tokens_by"]) == (3000, "user")
    assert auto.fingerprint() == mine.fingerprint()  # batching decides nothing either


def test_a_small_call_is_spread_so_every_worker_has_a_batch(ct2_home, tiny_marian: Path, corpus) -> None:
    sources = [ja for ja, _ in corpus]
    auto = Translator(str(tiny_marian), beams=1, device="cpu", backend="ct2", workers=2)
    lengths = dict(zip(sources, auto._count_many(sources), strict=True))
    assert sum(lengths.values()) < auto.batch_tokens  # the whole call would fit in one batch
    batches = auto._batches(sources, lengths)
    assert len(batches) >= 2 and sorted(u for b in batches for u in b) == sorted(sources)
    # An explicit budget is the user's: not lowered.
    mine = Translator(str(tiny_marian), beams=1, device="cpu", backend="ct2", workers=2, batch_tokens=4096)
    assert len(mine._batches(sources, lengths)) == 1


def test_summaries_spread_over_workers_are_the_same_summaries(ct2_home, tiny_mt5: Path, corpus) -> None:
    # The tiny mT5 summarizes a document as its first sentence, exactly, batched or not.
    japanese = [ja for ja, _ in corpus]
    documents = [japanese[i : i + 2] for i in range(0, 40, 2)]
    made = {
        workers: Summarizer(str(tiny_mt5), language="ja", device="cpu", backend="ct2", compute_type="float32",
                            workers=workers, batch_size=8)  # fmt: skip
        for workers in (1, 2)
    }
    calls: list[int] = []
    generate = made[2].backend.generate
    made[2].backend.generate = lambda texts, decoding: calls.append(len(texts)) or generate(texts, decoding)  # type: ignore[method-assign]
    two = made[2].summarize_many(documents)
    assert [s.text for s in two] == [d[0] for d in documents]
    assert two == made[1].summarize_many(documents)
    assert calls == [5, 5, 5, 5]  # 20 chunks, batches of at most 8: as many as workers (x2), even


def _corpus_folder(root: Path, corpus, documents: int) -> Path:
    folder = root / "in"
    folder.mkdir()
    japanese = [ja for ja, _ in corpus]
    for i in range(documents):
        (folder / f"doc{i}.txt").write_text("".join(japanese[i * 3 : i * 3 + 3]) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("documents", [1, 2])
def test_a_lone_document_is_summarized_on_every_thread(
    ct2_home, tmp_path: Path, corpus, tiny_marian: Path, tiny_bart: Path, documents: int
) -> None:
    import torch

    folder = _corpus_folder(tmp_path, corpus, documents)
    translate_documents(
        folder, output_dir=tmp_path / "out", model=str(tiny_marian), summarizer_model=str(tiny_bart),
        backend="ct2", device="cpu", cache=False,
    )  # fmt: skip
    models = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))["models"]
    # One document: one chunk at a time, so one worker with every thread; more: one worker per thread.
    assert models["summarization"]["workers"] == (1 if documents == 1 else torch.get_num_threads())
    assert models["translation"]["workers"] == torch.get_num_threads()
    assert models["translation"]["batch_tokens_by"] == "auto"


def test_workers_given_to_a_run_go_to_every_model(ct2_home, tmp_path: Path, corpus, tiny_marian: Path, tiny_bart: Path) -> None:
    folder = _corpus_folder(tmp_path, corpus, 2)
    translate_documents(
        folder, output_dir=tmp_path / "out", model=str(tiny_marian), summarizer_model=str(tiny_bart),
        backend="ct2", device="cpu", cache=False, workers=3, batch_tokens=2000,
    )  # fmt: skip
    models = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))["models"]
    assert models["summarization"]["workers"] == models["translation"]["workers"] == 3
    assert (models["translation"]["batch_tokens"], models["translation"]["batch_tokens_by"]) == (2000, "user")


def test_loading_ct2_workers_leaves_torch_its_threads(ct2_home, tiny_marian: Path) -> None:
    # CT2 sets the loading thread's OpenMP count to a worker's share (1); torch reads the same
    # setting, and every model loaded after it ran on one thread.
    import torch

    before = torch.get_num_threads()
    Translator(str(tiny_marian), beams=1, device="cpu", backend="ct2", workers=max(2, before))
    assert torch.get_num_threads() == before


def test_workers_with_torch_or_below_one_are_refused_before_anything_is_made(tmp_path: Path, corpus, tiny_marian: Path) -> None:
    from typer.testing import CliRunner

    from ja2en.cli import app

    folder = _corpus_folder(tmp_path, corpus, 1)
    out = tmp_path / "new" / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["translate", str(folder), "-m", str(tiny_marian), "--backend", "torch", "--workers", "2", "-o", str(out)])
    assert (result.exit_code, result.stderr) == (
        3,
        "error: 2 workers need the ct2 backend (torch runs one batch at a time on every thread); "
        "drop --workers or use --backend ct2\n",
    )
    assert not out.exists()
    result = runner.invoke(app, ["translate", str(folder), "-m", str(tiny_marian), "--workers", "0", "-o", str(out)])
    assert result.exit_code == 2 and "--workers" in result.stderr and not out.exists()
    with pytest.raises(ValueError, match="workers must be at least 1, not 0"):
        Translator(str(tiny_marian), device="cpu", backend="torch", workers=0)


def test_early_stopping_reaches_both_engines_and_the_fingerprint(ct2_home, tiny_marian: Path, monkeypatch) -> None:
    # Beam search that stops at the first `beams` finished outputs: CT2 patience 1,
    # transformers early_stopping=True. The default leaves it to the model's config.
    import ctranslate2
    from transformers import MarianMTModel

    seen: dict[str, list] = {"ct2": [], "torch": []}
    translate_batch = ctranslate2.Translator.translate_batch
    generate = MarianMTModel.generate

    def ct2_spy(self, *args, **kwargs):
        seen["ct2"].append(kwargs["patience"])
        return translate_batch(self, *args, **kwargs)

    def torch_spy(self, *args, **kwargs):
        seen["torch"].append(kwargs.get("early_stopping"))
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(ctranslate2.Translator, "translate_batch", ct2_spy)
    monkeypatch.setattr(MarianMTModel, "generate", torch_spy)
    sentence = ["会議は延期された。"]
    fingerprints = {}
    for backend in ("ct2", "torch"):
        for early in (None, True):
            made = Translator(str(tiny_marian), beams=4, device="cpu", backend=backend, quantize=False, early_stopping=early)
            assert made.translate(sentence) == ["The meeting was postponed."]
            fingerprints[backend, early] = made.fingerprint()
    assert seen == {"ct2": [4, 1], "torch": [None, True]}  # opus-mt-style config: no early stopping
    assert "early_stopping" not in json.dumps(fingerprints["ct2", None])  # old folders and caches still match
    assert fingerprints["ct2", None] != fingerprints["ct2", True]  # other outputs: another cache namespace
    greedy = [Translator(str(tiny_marian), beams=1, device="cpu", backend="ct2", early_stopping=e).fingerprint() for e in (None, True)]
    assert greedy[0] == greedy[1]  # nothing to stop early without beams: the same outputs, the same cache


def test_the_early_stopping_option_is_recorded_in_the_manifest(ct2_home, tmp_path: Path, corpus, tiny_marian: Path) -> None:
    from typer.testing import CliRunner

    from ja2en.cli import app

    folder = _corpus_folder(tmp_path, corpus, 1)
    result = CliRunner().invoke(
        app, ["translate", str(folder), "-m", str(tiny_marian), "--no-summary", "--early-stopping", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.stderr
    models = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))["models"]
    assert models["translation"]["early_stopping"] is True
