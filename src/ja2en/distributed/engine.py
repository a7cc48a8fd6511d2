"""The same run on a Ray cluster: reading and segmentation as Ray tasks, translation and
summaries in a pool of actors that each load the models once.

Workers write, the driver coordinates: each actor appends the documents it finishes to its
own shard file (one write and one fsync per batch) and sends back only receipts (id, hash,
shard, offset, length, or the error). The driver copies each receipted line, unparsed, into
the same Journal as a single-process run, keeps its per-document state in the same RunIndex
on disk, and finishes the folder the same way, so the outputs, their schema and the resume
keys (document id, SHA-256 of its source bytes) are the same, and a run can be resumed by
either engine. The shards live in the output folder (`.ja2en-shards/`), or under
`shard_dir`, which on a cluster of several machines must be a path every worker and the
driver can reach; they are removed when the run finishes. The Ray-side code (what runs in tasks and actors)
lives in tasks.py; Ray itself is imported only when a run starts (`pip install
'ja2en[ray]'`).

Failures: Ray restarts an actor whose process dies (`max_restarts=-1`) and tries each of
its batches `task_retries + 1` times; reading tasks likewise. A batch that fails in every
try is dropped for the moment (Ray Data's `max_errored_blocks`) and its documents are tried
again one per batch, so one document that kills its worker cannot take others with it;
one that fails in every try is reported as a DocumentError, like any bad input, and the
run goes on.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors as errors_module
from ..errors import DocumentError, InputError, Ja2enError, display_path
from ..index import RunIndex
from ..journal import ErrorLog, FolderPlan, Journal, plan_folder, read_shard_lines
from ..models.load import check_device_names
from ..backends import check_backend_name, check_workers
from ..run import (
    FailureWatch,
    ProbeFailed,
    Progress,
    ProgressCallback,
    RunOptions,
    RunResult,
    check_inputs,
    drop_clashes,
    list_inputs,
    finish_run,
    nothing_to_translate,
    now,
    repeated_id,
    reporting_interrupts,
    run_manifest,
    versions,
)
from .session import actor_retry_options, connected, get, import_ray, ray_data_execution, task_retry_options
from .tasks import (
    Loaders,
    TranslateBatch,
    describe_loaders,
    keep_ids,
    model_loaders,
    read_files,
    segment_documents,
)
from ..writers import claim_output_dir

if TYPE_CHECKING:
    import ray.data

TASK_RETRIES = 2  # so each batch, and each file read, is tried 3 times
DOCS_PER_BATCH = 32  # documents per actor call; the translator batches their sentences by tokens
FILES_PER_READ_TASK = 16
# Ray Data keeps ~0.1 MB on the driver for every block of an execution, so a run's memory
# would grow with its documents if blocks had a fixed size: the number of blocks is capped
# instead, and past the cap a block holds several batches (one actor call each).
MAX_BLOCKS = 512
_META = ["file", "item", "id", "source", "sha256", "num_sentences", "error_type", "error"]
SHARDS_FOLDER = ".ja2en-shards"


def translate_on_ray(
    inputs: Sequence[Path | str] | Path | str,
    *,
    output_dir: Path | str = "outputs",
    options: RunOptions | None = None,
    loaders: Loaders | None = None,
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float = 1.0,
    docs_per_batch: int = DOCS_PER_BATCH,
    task_retries: int = TASK_RETRIES,
    shard_dir: Path | str | None = None,
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> RunResult:
    """`translate_documents` on a Ray cluster: the same options and outputs, plus the engine's.

    Files are listed here, then read and segmented by Ray tasks, so on a real cluster the
    input paths must be readable on the workers (a shared filesystem). `loaders` replaces
    the model names with callables that build the models in each actor (the options'
    model settings are then refused). The engine's options are those of `translate_dataset`.
    """
    started, started_at = time.perf_counter(), now()
    options = RunOptions.build(options, **settings)
    paths = check_inputs(inputs)
    ray = import_ray()
    engine = _Engine(address, actors, gpus_per_actor, cpus_per_actor, docs_per_batch, task_retries, shard_dir)
    loaders = _loaders(loaders, options)
    # A typo in a path or an unwritable -o must fail in milliseconds, not after Ray starts.
    with claim_output_dir(output_dir) as output, reporting_interrupts(output), RunIndex(output) as index:
        files, unlisted = [], []
        for found in list_inputs(paths, output, index.file_set()):
            if isinstance(found, InputError):
                unlisted.append((len(files), found))
            else:
                files.append(found)
        if not files:
            raise nothing_to_translate([error for _, error in unlisted], paths)
        with connected(ray, address):
            import pyarrow as pa

            # As bytes: a file name that is not valid UTF-8 cannot be an Arrow string.
            table = pa.table({
                "file": list(range(len(files))),
                "path": [os.fsencode(path) for path, _ in files],
                "root": [os.fsencode(root) for _, root in files],
            })  # fmt: skip
            del files
            source = ray.data.from_arrow(table).repartition(_blocks(table.num_rows, FILES_PER_READ_TASK))
            with ray_data_execution(source.context):
                rows = source.map_batches(
                    read_files, batch_format="pyarrow", batch_size=FILES_PER_READ_TASK,
                    fn_kwargs={"options": options.reading()}, **task_retry_options(task_retries),
                ).materialize()  # fmt: skip
            run = _RayRun(ray, rows, loaders, engine, options, output, index, progress, started, started_at)
            return run.execute([display_path(p) for p in paths], table.num_rows, unlisted)


def translate_dataset(
    documents: ray.data.Dataset,
    *,
    output_dir: Path | str = "outputs",
    options: RunOptions | None = None,
    loaders: Loaders | None = None,
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float = 1.0,
    docs_per_batch: int = DOCS_PER_BATCH,
    task_retries: int = TASK_RETRIES,
    shard_dir: Path | str | None = None,
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> RunResult:
    """Translate a Ray Dataset of documents and write the corpus files to `output_dir`.

    Rows need the Document fields `id`, `source`, `sha256`, `encoding` and `text` (other
    columns are ignored); with `id`, `sha256` is the resume key, so make it a digest of the
    source. Documents are segmented by Ray tasks and translated by `actors` actors with
    `gpus_per_actor` GPUs (a fraction shares a GPU) and `cpus_per_actor` CPUs each, in
    batches of `docs_per_batch` documents, each tried `task_retries + 1` times. The actors
    write finished documents to shard files under `shard_dir` (default: the output
    folder), which must be reachable from every worker and the driver.
    `address` is the cluster to join if Ray is not initialized yet (None: `RAY_ADDRESS`,
    else Ray starts on this machine). `options` (and its fields as keywords) are as for
    `translate_documents`; `loaders` (callables that build the models in each actor)
    replace its model names.
    """
    started, started_at = time.perf_counter(), now()
    options = RunOptions.build(options, **settings)
    ray = import_ray()
    engine = _Engine(address, actors, gpus_per_actor, cpus_per_actor, docs_per_batch, task_retries, shard_dir)
    loaders = _loaders(loaders, options)
    missing = {"id", "source", "sha256", "encoding", "text"} - set(documents.schema().names)
    if missing:
        raise InputError(
            f"the dataset has no {', '.join(sorted(missing))} column; rows need id, source, sha256, encoding and text"
        )
    with (
        claim_output_dir(output_dir) as output,
        reporting_interrupts(output),
        RunIndex(output) as index,
        connected(ray, address),
    ):
        with ray_data_execution(documents.context, preserve_order=True):  # the dataset's order is the output's
            rows = documents.map_batches(
                segment_documents, batch_format="pyarrow", **task_retry_options(task_retries)
            ).materialize()
        run = _RayRun(ray, rows, loaders, engine, options, output, index, progress, started, started_at)
        return run.execute([f"ray.data.Dataset {documents.name or ''}".strip()], 0, [])


def _loaders(loaders: Loaders | None, options: RunOptions) -> Loaders:
    """The given loaders (then the options name no models), else loaders from the options' names."""
    if loaders is not None:
        options.refuse_ignored(loaders.translator, loaders.summarizer, loaders.ja_summarizer)
        return loaders
    check_backend_name(options.backend)
    check_workers(options.backend, options.workers)
    check_device_names(options.device, options.dtype)
    return model_loaders(options)


@dataclass(frozen=True, slots=True)
class _Engine:
    """How a run uses the cluster."""

    address: str | None
    actors: int
    gpus_per_actor: float
    cpus_per_actor: float
    docs_per_batch: int
    task_retries: int
    shard_dir: Path | str | None = None

    def __post_init__(self) -> None:
        if self.actors < 1 or self.docs_per_batch < 1:
            raise InputError("actors and docs_per_batch must be at least 1")
        if self.task_retries < 0 or self.gpus_per_actor < 0 or self.cpus_per_actor < 0:
            raise InputError("task_retries, gpus_per_actor and cpus_per_actor cannot be negative")


class _RayRun:
    """The driver's side of a run on Ray: from read-and-segmented rows to a finished folder.

    Planning, the journal, the index, the manifest and the report are run.py's, as for a
    local run; only the translation happens in the actors, which write the documents.
    """

    def __init__(
        self,
        ray: Any,
        rows: ray.data.Dataset,
        loaders: Loaders,
        engine: _Engine,
        options: RunOptions,
        output: Path,
        index: RunIndex,
        progress: ProgressCallback | None,
        started: float,
        started_at: str,
    ) -> None:
        self.ray, self.rows, self.loaders, self.engine, self.options = ray, rows, loaders, engine, options
        self.output, self.index, self.progress, self.started, self.started_at = output, index, progress, started, started_at
        self.timings: dict[str, float] = {}
        self.errors = ErrorLog(output)  # closed by execute, however it ends
        self.last_probe = ""  # what the one-sentence test raised in the actor of the last failed document
        self.documents_done = self.sentences_done = self.documents_total = self.sentences_total = 0
        # A folder of this run's own: a retried or restarted actor never appends to another run's shard.
        base = Path(engine.shard_dir) if engine.shard_dir else output / SHARDS_FOLDER
        self.shards = base / f"run-{uuid.uuid4().hex[:12]}" if engine.shard_dir else base
        if not engine.shard_dir:
            shutil.rmtree(self.shards, ignore_errors=True)  # a killed run's: its documents are redone

    def report(self, stage: str) -> None:
        if self.progress:
            self.progress(
                Progress(stage, self.documents_done, self.documents_total, self.sentences_done, self.sentences_total)
            )

    def execute(self, inputs: list[str], input_files: int, unlisted: list[tuple[int, InputError]]) -> RunResult:
        """Plan against the folder, describe the models, translate what is left, finish."""
        try:
            return self._execute(inputs, input_files, unlisted)
        finally:
            self.errors.close()
            shutil.rmtree(self.shards, ignore_errors=True)

    def _execute(self, inputs: list[str], input_files: int, unlisted: list[tuple[int, InputError]]) -> RunResult:
        self.plan_rows(unlisted)
        if not self.index.planned_count()[0]:
            raise nothing_to_translate(self.errors, inputs)
        plan = plan_folder(self.output, inputs, self.index, append=self.options.append, force=self.options.force)
        drop_clashes(plan, self.index, self.errors, self.options.fail_fast)
        self.documents_total, self.sentences_total = self.index.planned_count()
        self.timings["read_s"] = time.perf_counter() - self.started
        self.report("loading")
        journal, manifest = self.open_journal(plan)
        with journal:
            resumed, self.sentences_done = self.index.planned_done()
            self.documents_done = resumed
            work = time.perf_counter()
            cache_hits = self.translate(journal)
            self.timings["translate_and_summarize_s"] = time.perf_counter() - work
            result = finish_run(
                journal, plan, manifest, self.errors, parquet=self.options.parquet, report=self.options.report,
                input_files=input_files,
                resumed=resumed, cache_hits=cache_hits, timings=self.timings, started=self.started,
                started_at=self.started_at,
            )  # fmt: skip
        self.report("done")
        return result

    def plan_rows(self, unlisted: list[tuple[int, InputError]]) -> None:
        """Plan what was read, in input order (file, then place in the file); bad ones become errors.

        The errors are held in the index, not in memory, until all is read, then reported in
        input order (a dataset's rows, all at one place, keep theirs).
        """
        hold = self.index.hold_error
        for file, error in unlisted:
            hold((file, -1), type(error).__name__, str(error))
        with ray_data_execution(self.rows.context, preserve_order=True):
            for batch in self.rows.select_columns(_META).iter_batches(batch_format="pyarrow"):
                for meta in batch.to_pylist():
                    place = (meta["file"], meta["item"])
                    if meta["error"]:
                        hold(place, meta["error_type"], meta["error"])
                        continue
                    first = self.index.plan(meta["id"], meta["sha256"], meta["source"], meta["num_sentences"])
                    if first is not None:
                        hold(place, "InputError", str(repeated_id(meta["source"], meta["id"], first)))
        self.index.commit()
        for kind, message in self.index.held_errors():
            if self.options.fail_fast:
                raise _rebuild(kind, message)
            self.errors.append(_rebuild(kind, message))

    def open_journal(self, plan: FolderPlan) -> tuple[Journal, dict[str, Any]]:
        """Describe the models as an actor loads them, then open the journal with that fingerprint."""
        # The fingerprint must be the one the actors will have (device, dtype, backend), so a
        # task with an actor's resources loads the models once to describe them. (Ray ends a
        # GPU task's worker process after it, freeing the GPU; a CPU one stays, torch imported.)
        loading, engine = time.perf_counter(), self.engine
        describe = self.ray.remote(describe_loaders).options(
            num_gpus=engine.gpus_per_actor, num_cpus=engine.cpus_per_actor, **task_retry_options(engine.task_retries)
        )
        described = get(self.ray, describe.remote(self.loaders))
        self.timings["load_s"] = time.perf_counter() - loading
        fingerprint = {"ja2en": versions()["ja2en"], **self.options.input_fingerprint(), **described["fingerprint"]}
        journal = Journal(self.output, fingerprint, force=self.options.force, index=self.index)
        engine_settings = {k: v for k, v in dataclasses.asdict(engine).items() if k != "shard_dir"}
        manifest = run_manifest(
            plan, dataclasses.replace(self.options, summary=self.loaders.summary),
            summarized=self.loaders.summarizes, models=described["settings"],
            engine={"name": "ray", "ray": self.ray.__version__, **engine_settings},
        )  # fmt: skip
        journal.start({**manifest, "counts": {"documents_planned": plan.kept + self.documents_total}})
        return journal, manifest

    def translate(self, journal: Journal) -> int:
        """Translate the planned documents the journal lacks in the actors, journaling each; return the cache hits."""
        hits = 0
        watch = FailureWatch(self.probe, self.output, journal.saved)
        batches = [self.engine.docs_per_batch, 1]  # then again, each alone: only a document that fails by itself is reported
        for per_batch in batches:
            left = list(self.index.todo_ids(failed=False))
            if not left:
                break
            selected = _select(self.rows, left, per_batch)
            del left
            for receipts in _translate(selected, self.loaders, self.engine, per_batch, self.shards):
                hits += self.take(receipts, journal, watch)
        tries = 2 * (self.engine.task_retries + 1)
        for doc_id in self.index.todo_ids():  # in input order; the failures are held in the index, not in memory
            message = self.index.failure(doc_id)
            if message is None:
                failure = RuntimeError(f"the Ray worker died or failed in each of {tries} tries")
                planned = self.index.planned(doc_id)
                lost = DocumentError.failed(planned.source if planned else doc_id, "translation", failure)
                if self.options.fail_fast:
                    raise lost
                message = str(lost)
            self.errors.append(DocumentError(message))
        return hits

    def probe(self) -> None:
        """FailureWatch's test of the models: the one the actor of the last failed document ran
        after its batch (the driver has no models to test)."""
        if self.last_probe:
            raise ProbeFailed(self.last_probe)

    def take(self, receipts: Any, journal: Journal, watch: FailureWatch) -> int:
        """One actor batch's receipts: copy each finished document's line into the journal, or
        record its failure; `watch` sees each. Returns the batch's cache hits."""
        rows = receipts.to_pylist()
        lines: dict[int, bytes | None] = {}
        by_shard: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            if row["shard"]:
                by_shard.setdefault(row["shard"], []).append(i)
        for shard, members in by_shard.items():
            spans = [(rows[i]["offset"], rows[i]["length"]) for i in members]
            lines.update(zip(members, read_shard_lines(self.shards, shard, spans), strict=True))
        for i, row in enumerate(rows):
            planned = self.index.planned(row["id"])
            # A retried batch may deliver a document twice, a duplicate id once too often.
            if planned is None or planned.sha256 != row["sha256"] or self.index.failure(row["id"]) is not None:
                continue
            if journal.is_done(row["id"], row["sha256"]):
                continue
            if row["error"]:
                if self.options.fail_fast:
                    raise _rebuild(row["error_type"], row["error"])
                self.index.fail(row["id"], row["error"])
                error = DocumentError(row["error"])
                error.cause, self.last_probe = row["cause"], row["probe"]
                watch.see(error)
            elif lines.get(i) is None:
                continue  # its shard was cut short (a worker lost with its disk): translated again
            else:
                watch.see(row)
                journal.append_line(row["id"], row["sha256"], planned.source, lines[i])
            self.documents_done += 1
            self.sentences_done += planned.sentences
            self.report("translating")
        return sum(row["cache_hits"] for row in rows)


def _translate(
    documents: ray.data.Dataset, loaders: Loaders, engine: _Engine, batch: int, shards: Path
) -> Iterator[Any]:
    """Stream the receipts from the actor pool, a table per batch; batches lost in every try are left out."""
    from ray.data import ActorPoolStrategy

    with ray_data_execution(documents.context, max_errored_blocks=-1):
        # One document per batch (the second pass): one batch per actor at a time, so a
        # document that kills its actor takes no queued batch down with it.
        queue = {"max_tasks_in_flight_per_actor": 1} if batch == 1 else {}
        # No more actors than batches: each one loads the models, for nothing if idle.
        size = min(engine.actors, documents.num_blocks())
        results = documents.map_batches(
            TranslateBatch,
            fn_constructor_kwargs={"loaders": loaders, "shard_dir": str(shards)},
            compute=ActorPoolStrategy(size=size, **queue),
            batch_size=batch,
            batch_format="pyarrow",
            num_cpus=engine.cpus_per_actor,
            num_gpus=engine.gpus_per_actor or None,
            **actor_retry_options(engine.task_retries),
        )
        yield from results.iter_batches(batch_format="pyarrow", batch_size=None)


def _select(rows: ray.data.Dataset, ids: list[str], per_batch: int) -> ray.data.Dataset:
    """The rows of these documents in blocks of `per_batch` (more past MAX_BLOCKS blocks), for the actors.

    Materialized here: filter tasks left in the plan would compete with the actors for CPUs.
    """
    with ray_data_execution(rows.context):
        import pyarrow as pa

        wanted = pa.array(ids, type=pa.string())
        selected = rows.map_batches(keep_ids, batch_format="pyarrow", fn_kwargs={"ids": wanted})
        return selected.repartition(_blocks(len(ids), per_batch)).materialize()


def _blocks(rows: int, per_block: int) -> int:
    """How many blocks `rows` rows take at `per_block` each, at most MAX_BLOCKS."""
    return max(1, min(math.ceil(rows / per_block), MAX_BLOCKS))


def _rebuild(error_type: str, message: str) -> Ja2enError:
    """A reader's error, sent through Ray as its class name and message, as an exception again."""
    cls = getattr(errors_module, error_type, InputError)
    if not (isinstance(cls, type) and issubclass(cls, Ja2enError)):
        cls = InputError
    return cls(message)
