"""The Ray engine writes what a single-process run writes, survives killed workers, resumes,
and without Ray says how to install it. One local Ray instance (2 CPUs) serves the module."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en import EngineError, ModelError, Summarizer, Translator, read_documents, translate_documents
from ja2en.cli import app
from ja2en.distributed.engine import translate_dataset, translate_on_ray
from ja2en.distributed.tasks import Loaders

# float32 torch, like the session `translator` and `summarizer` fixtures the outputs are compared with
TRANSLATOR = {"beams": 1, "batch_size": 4, "device": "cpu", "backend": "torch", "quantize": False}
SUMMARIZER = {"device": "cpu", "backend": "torch", "quantize": False}
runner = CliRunner()


@pytest.fixture(scope="module")
def ray():
    try:
        import ray
    except ImportError:
        # CI installs the ray extra (make test): there a missing Ray is a broken install that
        # would silently drop every Ray test, so it fails, as the browser tests do.
        why = "Ray is not installed (pip install -e '.[ray]')"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the Ray tests")
        pytest.skip(why)
    # Functions of this module (the dying translator) go to the workers by value: the
    # workers cannot import a test module.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # Ray runs its workers at nice 15; on a busy shared machine that starves them for minutes.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _system_config={"worker_niceness": 0})
    yield ray
    ray.shutdown()


def make_inputs(folder: Path, corpus: list[tuple[str, str]], count: int) -> Path:
    """`count` documents of two paragraphs, each sentence used by one document only."""
    (folder / "news").mkdir(parents=True)
    sentences = [ja for ja, _ in corpus]
    for i in range(count):
        first, second, third = (sentences[(3 * i + k) % len(sentences)] for k in range(3))
        (folder / "news" / f"{i:02d}.txt").write_text(f"{first}{second}\n\n{third}\n", encoding="utf-8")
    return folder


def dying_translator(marker: str | None, *, poison: str | None = None, kill_on_call: int = 2, **settings) -> Translator:
    """A Translator whose process SIGKILLs itself: once (the first time it reaches its
    `kill_on_call`th batch, leaving `marker` behind), and on any batch holding `poison`."""
    translator = Translator(**settings)
    translate_detailed = translator.translate_detailed
    calls = 0

    def dying(sentences, **kwargs):
        nonlocal calls
        calls += 1
        if poison is not None and poison in sentences:
            os.kill(os.getpid(), signal.SIGKILL)
        if marker is not None and calls >= kill_on_call and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)
        return translate_detailed(sentences, **kwargs)

    translator.translate_detailed = dying
    return translator


def torn_shard_translator(marker: str, **settings) -> Translator:
    """A Translator whose process, the first time it writes finished documents to its
    shard, writes half of them and SIGKILLs itself (leaving `marker` behind)."""
    from ja2en.journal import ShardWriter

    write = ShardWriter.write

    def half_then_die(self, lines):
        if Path(marker).exists():
            return write(self, lines)
        data = b"".join(lines)
        write(self, [data[: len(data) // 2]])
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)

    ShardWriter.write = half_then_die
    return Translator(**settings)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def files(folder: Path) -> dict[str, object]:
    """A run's files, for comparing two runs: exact, but for each score, which is compared to
    1e-3: batches of another composition round floats differently (see the README's Output)."""
    documents = read_jsonl(folder / "documents.jsonl")
    for document in documents:
        for pair in document["pairs"]:
            if pair["score"] is not None:
                pair["score"] = pytest.approx(pair["score"], abs=1e-3)
    return {
        "documents.jsonl": documents,
        **{name: (folder / name).read_bytes() for name in ("sentences.jsonl", "errors.jsonl")},
    }


def test_ray_writes_exactly_what_a_single_process_run_writes(
    ray, tmp_path: Path, corpus, translator, summarizer, tiny_marian: Path, tiny_bart: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 6)
    (inputs / "news" / "03.txt").write_bytes((inputs / "news" / "03.txt").read_text(encoding="utf-8").encode("cp932"))
    (inputs / "logo.png").write_bytes(b"\x89PNG")  # reported in errors.jsonl by both
    (inputs / "press.jsonl").write_text(
        json.dumps({"id": "press-1", "text": corpus[20][0]}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "news/01", "text": corpus[21][0]}, ensure_ascii=False) + "\n",  # a duplicate id
        encoding="utf-8",
    )  # fmt: skip
    single = translate_documents(inputs, output_dir=tmp_path / "single", translator=translator, summarizer=summarizer)

    loaders = Loaders(
        functools.partial(Translator, str(tiny_marian), **TRANSLATOR),
        functools.partial(Summarizer, str(tiny_bart), **SUMMARIZER),
    )
    # Two actors, one document per batch: batching as unlike the single-process run as it gets.
    result = translate_on_ray(
        inputs, output_dir=tmp_path / "ray", loaders=loaders, actors=2, docs_per_batch=1, parquet=True
    )

    assert files(tmp_path / "ray") == files(tmp_path / "single")
    assert [d["id"] for d in read_jsonl(result.files["documents"])][:2] == ["news/00", "news/01"]
    assert (result.documents, result.sentences, result.errors) == (single.documents, single.sentences, single.errors)
    assert len(result.errors) == 2  # the PNG and the duplicate id
    for key in ("fingerprint", "counts", "errors", "models", "settings"):
        assert result.manifest[key] == single.manifest[key], key
    assert result.manifest["engine"]["actors"] == 2
    assert result.manifest["this_run"]["documents_translated"] == 7

    import pyarrow.parquet as pq

    parquet = pq.read_table(result.files["documents_parquet"]).to_pylist()
    assert parquet == read_jsonl(result.files["documents"])
    assert pq.read_table(result.files["sentences_parquet"]).to_pylist() == read_jsonl(result.files["sentences"])


def test_a_killed_actor_is_restarted_and_every_document_written_once(
    ray, tmp_path: Path, corpus, expected, tiny_marian: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 8)
    marker = tmp_path / "killed"
    loaders = Loaders(functools.partial(dying_translator, str(marker), model=str(tiny_marian), **TRANSLATOR))

    # Four batches of two documents: the actor dies in the second, after the first was written.
    result = translate_on_ray(inputs, output_dir=tmp_path / "out", loaders=loaders, docs_per_batch=2)

    assert marker.exists()  # a worker really was killed
    documents = read_jsonl(result.files["documents"])
    assert [d["id"] for d in documents] == [f"news/{i:02d}" for i in range(8)]
    assert all(p["en"] == expected[p["ja"]] for d in documents for p in d["pairs"])
    assert result.errors == ()
    assert result.manifest["engine"]["task_retries"] == 2
    assert not (tmp_path / "out" / ".ja2en-shards").exists()  # the actors' shards are gone with the run


def test_past_max_blocks_a_block_holds_several_batches_and_a_killed_actor_still_writes_each_document_once(
    ray, tmp_path: Path, corpus, expected, tiny_marian: Path, monkeypatch
) -> None:
    import ja2en.distributed.engine

    monkeypatch.setattr(ja2en.distributed.engine, "MAX_BLOCKS", 2)  # the driver's memory cap, as on a huge run
    inputs = make_inputs(tmp_path / "in", corpus, 8)
    marker = tmp_path / "killed"
    loaders = Loaders(functools.partial(dying_translator, str(marker), model=str(tiny_marian), **TRANSLATOR))

    # Two blocks of four documents, two actor calls each; the actor dies in its second call.
    result = translate_on_ray(inputs, output_dir=tmp_path / "out", loaders=loaders, docs_per_batch=2)

    assert marker.exists()
    documents = read_jsonl(result.files["documents"])
    assert [d["id"] for d in documents] == [f"news/{i:02d}" for i in range(8)]
    assert all(p["en"] == expected[p["ja"]] for d in documents for p in d["pairs"])
    assert result.errors == ()


def test_an_actor_killed_while_writing_its_shard_leaves_no_half_document(
    ray, tmp_path: Path, corpus, translator, tiny_marian: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 6)
    marker = tmp_path / "torn"
    loaders = Loaders(functools.partial(torn_shard_translator, str(marker), model=str(tiny_marian), **TRANSLATOR))
    shared = tmp_path / "shared"  # where a cluster's actors would write: a folder every machine reaches
    shared.mkdir()

    result = translate_on_ray(inputs, output_dir=tmp_path / "out", loaders=loaders, docs_per_batch=2, shard_dir=shared)

    assert marker.exists()  # a worker really died half-way through writing its shard
    translate_documents(inputs, output_dir=tmp_path / "single", translator=translator, summarizer_model=None)
    assert files(tmp_path / "out") == files(tmp_path / "single")
    assert result.errors == ()
    assert list(shared.iterdir()) == []  # this run's shards are removed, the folder itself is the user's


def test_a_document_that_kills_every_worker_is_reported_and_a_rerun_resumes(
    ray, tmp_path: Path, corpus, translator, tiny_marian: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 5)
    poison = corpus[3 * 2][0]  # the first sentence of news/02
    dying = Loaders(functools.partial(dying_translator, None, poison=poison, model=str(tiny_marian), **TRANSLATOR))

    # No retries, to keep the test short: a death in the first pass, then one alone. Two
    # actors, so that the others' batches need not wait for the dead one to restart.
    first = translate_on_ray(
        inputs, output_dir=tmp_path / "out", loaders=dying, actors=2, docs_per_batch=1, task_retries=0
    )

    assert first.errors == (
        f"{(inputs / 'news' / '02.txt').as_posix()}: translation failed (RuntimeError: the Ray worker died or "
        "failed in each of 2 tries); the other documents were written, re-run the same command to retry this one",
    )
    assert [d["id"] for d in read_jsonl(first.files["documents"])] == ["news/00", "news/01", "news/03", "news/04"]
    assert read_jsonl(first.files["errors"]) == [{"error": "DocumentError", "message": first.errors[0]}]

    healthy = Loaders(functools.partial(Translator, str(tiny_marian), **TRANSLATOR))
    second = translate_on_ray(inputs, output_dir=tmp_path / "out", loaders=healthy)

    assert (second.manifest["this_run"]["documents_resumed"], second.manifest["this_run"]["documents_translated"]) == (
        4,
        1,
    )
    translate_documents(inputs, output_dir=tmp_path / "single", translator=translator, summarizer_model=None)
    assert files(tmp_path / "out") == files(tmp_path / "single")


def test_model_names_load_in_each_actor_with_the_translation_cache_a_local_run_filled(
    ray, tmp_path: Path, corpus, expected, tiny_marian
) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 3)
    settings = {"model": str(tiny_marian), "summarizer_model": None, "beams": 1, "backend": "torch", "device": "cpu"}
    cache = tmp_path / "cache.sqlite3"

    local = translate_documents(inputs, output_dir=tmp_path / "local", cache=cache, **settings)
    on_ray = translate_on_ray(inputs, output_dir=tmp_path / "ray", cache=cache, **settings)

    # Same fingerprint, so the same cache entries: the actors translated nothing themselves.
    assert on_ray.manifest["this_run"]["sentences_from_cache"] == on_ray.sentences == 9
    assert on_ray.manifest["fingerprint"] == local.manifest["fingerprint"]
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    documents = read_jsonl(on_ray.files["documents"])
    assert all(p["en"] == expected[p["ja"]] for d in documents for p in d["pairs"])


def test_a_ray_dataset_of_documents_is_translated_like_the_files_it_came_from(
    ray, tmp_path: Path, corpus, translator, tiny_marian: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 4)
    rows = [dataclasses.asdict(d) for d in read_documents([inputs])]
    healthy = Loaders(functools.partial(Translator, str(tiny_marian), **TRANSLATOR))

    result = translate_dataset(ray.data.from_items(rows), loaders=healthy, output_dir=tmp_path / "ray")

    translate_documents(inputs, output_dir=tmp_path / "single", translator=translator, summarizer_model=None)
    assert files(tmp_path / "ray") == files(tmp_path / "single")
    assert result.manifest["inputs"] == ["ray.data.Dataset"]


def test_a_model_that_cannot_load_fails_as_in_a_single_process_run(ray, tmp_path: Path, corpus) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 1)
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ModelError) as single:
        translate_documents(inputs, output_dir=tmp_path / "single", model=missing, summarizer_model=None)
    with pytest.raises(ModelError) as on_ray:
        translate_on_ray(inputs, output_dir=tmp_path / "ray", model=missing, summarizer_model=None)
    assert str(on_ray.value) == str(single.value)


def test_the_cli_runs_the_same_job_on_ray(ray, tmp_path: Path, corpus, tiny_marian: Path) -> None:
    import pyarrow.parquet as pq

    inputs = make_inputs(tmp_path / "in", corpus, 3)
    common = ["translate", str(inputs), "-m", str(tiny_marian), "--no-summary", "--beams", "1", "--no-cache"]
    common += ["--backend", "torch", "--device", "cpu", "--parquet"]

    local = runner.invoke(app, [*common, "-o", str(tmp_path / "local")])
    on_ray = runner.invoke(app, [*common, "-o", str(tmp_path / "ray"), "--engine", "ray", "--actors", "2"])

    assert (local.exit_code, on_ray.exit_code) == (0, 0), on_ray.output
    assert on_ray.stdout.startswith("Translated 3 documents, 9 sentences in ")
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    for folder in ("local", "ray"):
        assert pq.read_table(tmp_path / folder / "sentences.parquet").num_rows == 9


def test_the_engine_options_need_engine_ray(tmp_path: Path) -> None:
    result = runner.invoke(app, ["translate", str(tmp_path), "--actors", "4"])
    assert result.exit_code == 2
    assert result.stderr == "error: --ray-address, --actors, --gpus-per-actor, --cpus-per-actor and --shard-dir need --engine ray\n"


MISSING_RAY = "--engine ray needs Ray, which is not installed; install it with `pip install 'ja2en[ray]'`"


def test_without_ray_the_engine_says_how_to_install_it(no_ray, tmp_path: Path) -> None:
    with pytest.raises(EngineError) as caught:
        translate_on_ray(tmp_path, output_dir=tmp_path / "out")
    assert str(caught.value) == MISSING_RAY
    assert caught.value.exit_code == 3


def test_without_ray_the_cli_prints_one_line_with_the_install_command(no_ray, tmp_path: Path) -> None:
    result = runner.invoke(app, ["translate", str(tmp_path), "--engine", "ray"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", f"error: {MISSING_RAY}\n")


def test_tables_web_pages_and_word_files_read_in_ray_tasks_as_in_a_single_process(
    ray, tmp_path: Path, corpus, translator, tiny_marian: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    sentences = [ja for ja, _ in corpus]
    (inputs / "rows.csv").write_text(
        "id,body,url\n" + "".join(f"r{i},{sentences[i]},https://example.jp/{i}\n" for i in range(3)), encoding="utf-8"
    )
    (inputs / "page.html").write_text(
        f'<html lang="ja"><head><title>お知らせ</title></head><body><nav><a href="/">トップ</a></nav>'
        f"<article><h1>{sentences[3]}</h1><p>{sentences[4]}</p><p>{sentences[5]}</p></article></body></html>",
        encoding="utf-8",
    )
    healthy = Loaders(functools.partial(Translator, str(tiny_marian), **TRANSLATOR))

    result = translate_on_ray(inputs, output_dir=tmp_path / "ray", loaders=healthy, text_field="body")

    translate_documents(inputs, output_dir=tmp_path / "single", translator=translator, summary="none", text_field="body")
    assert files(tmp_path / "ray") == files(tmp_path / "single")
    documents = read_jsonl(result.files["documents"])
    assert [d["format"] for d in documents] == ["html", "csv", "csv", "csv"]
    assert [d["pairs"][0]["locator"] for d in documents[1:]] == ["row 1", "row 2", "row 3"]
    assert documents[1]["meta"] == {"url": "https://example.jp/0"}
    assert all(p["locator"] for d in documents for p in d["pairs"])


def failing_translator(*, fail_after: int = 0, poison: str | None = None, **settings) -> Translator:
    """A Translator whose model calls fail: all of them after the first `fail_after` (a GPU
    that dies), or only those holding `poison` (bad documents on a healthy model)."""
    translator = Translator(**settings)
    generate = translator.backend.generate
    calls = 0

    def failing(texts, decoding):
        nonlocal calls
        calls += 1
        if poison is not None and any(poison in text for text in texts):
            raise ValueError("index out of range in self")
        if poison is None and calls > fail_after:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return generate(texts, decoding)

    translator.backend.generate = failing
    return translator


def test_on_ray_a_model_that_dies_stops_the_run_once_and_ctrl_c_counts_the_journal(
    ray, tmp_path: Path, corpus, translator, tiny_marian: Path
) -> None:
    from ja2en import RunInterrupted

    inputs = make_inputs(tmp_path / "in", corpus, 10)
    out = tmp_path / "out"
    dies = Loaders(functools.partial(failing_translator, fail_after=3, model=str(tiny_marian), **TRANSLATOR))

    # One actor, one document per call: three documents are written, then every one fails.
    with pytest.raises(ModelError) as error:
        translate_on_ray(inputs, output_dir=out, loaders=dies, docs_per_batch=1, task_retries=0)

    assert str(error.value) == (
        "stopped: 5 documents in a row failed (RuntimeError: CUDA error: an illegal memory access was encountered) "
        f"and so does a one-sentence test (RuntimeError), so no document can succeed; 3 documents are saved in {out}: "
        "fix the cause, then re-run the same command to resume"
    )
    assert (out / "documents.jsonl").read_bytes().count(b"\n") == 3

    # Ctrl-C while the models load: the journal's 3 documents, not the 0 done so far by this run.
    def ctrl_c_while_loading(event) -> None:
        if event.stage == "loading":
            raise KeyboardInterrupt

    healthy = Loaders(functools.partial(Translator, str(tiny_marian), **TRANSLATOR))
    with pytest.raises(KeyboardInterrupt) as interrupted:
        translate_on_ray(inputs, output_dir=out, loaders=healthy, progress=ctrl_c_while_loading)
    assert isinstance(interrupted.value, RunInterrupted)
    assert (interrupted.value.saved, str(interrupted.value)) == (3, f"interrupted; 3 documents are saved in {out}")

    resumed = translate_on_ray(inputs, output_dir=out, loaders=healthy)
    assert resumed.manifest["this_run"]["documents_resumed"] == 3
    translate_documents(inputs, output_dir=tmp_path / "single", translator=translator, summarizer_model=None)
    assert files(out) == files(tmp_path / "single")


def test_on_ray_documents_that_fail_alone_are_reported_and_the_run_goes_on(
    ray, tmp_path: Path, corpus, tiny_marian: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", corpus, 9)
    for i in range(1, 8):  # seven bad documents in a row, more than the streak that triggers the check
        (inputs / "news" / f"{i:02d}.txt").write_text("毒の文。\n", encoding="utf-8")
    poisoned = Loaders(functools.partial(failing_translator, poison="毒", model=str(tiny_marian), **TRANSLATOR))

    result = translate_on_ray(inputs, output_dir=tmp_path / "out", loaders=poisoned)

    assert (result.documents, len(result.errors)) == (2, 7)
    assert all("translation failed (ValueError: index out of range in self)" in e for e in result.errors)
