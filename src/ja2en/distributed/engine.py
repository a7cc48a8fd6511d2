"""The same run on a Ray cluster: reading and segmentation as Ray tasks, translation and
summaries in a pool of actors that each load the models once.

The driver (the process that calls `translate_on_ray`) stays the one writer: results stream
back to it and go through the same Journal as a single-process run, so the outputs, their
schema and the resume keys (document id, SHA-256 of its source bytes) are the same, and a
run can be resumed by either engine. The Ray-side code (what runs in tasks and actors)
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
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors as errors_module
from ..errors import DocumentError, InputError, Ja2enError, display_path
from ..journal import FolderPlan, Journal, plan_folder
from ..models.load import check_device_names
from ..backends import check_backend_name
from ..run import (
    Progress,
    ProgressCallback,
    RunOptions,
    RunResult,
    check_inputs,
    drop_clashes,
    list_inputs,
    finish_run,
    folder_order,
    nothing_to_translate,
    now,
    repeated_id,
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
_META = ["file", "item", "id", "source", "sha256", "num_sentences", "error_type", "error"]


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
    engine = _Engine(address, actors, gpus_per_actor, cpus_per_actor, docs_per_batch, task_retries)
    loaders = _loaders(loaders, options)
    found = list_inputs(paths, output_dir)
    files = [(i, item) for i, item in enumerate(found) if not isinstance(item, InputError)]
    unlisted = [(i, 0, item) for i, item in enumerate(found) if isinstance(item, InputError)]
    # A typo in a path or an unwritable -o must fail in milliseconds, not after Ray starts.
    if not files:
        raise nothing_to_translate([error for _, _, error in unlisted], paths)
    with claim_output_dir(output_dir) as output, connected(ray, address):
        import pyarrow as pa

        # As bytes: a file name that is not valid UTF-8 cannot be an Arrow string.
        table = pa.table({
            "file": [i for i, _ in files],
            "path": [os.fsencode(path) for _, (path, _) in files],
            "root": [os.fsencode(root) for _, (_, root) in files],
        })  # fmt: skip
        source = ray.data.from_arrow(table).repartition(math.ceil(len(files) / FILES_PER_READ_TASK))
        with ray_data_execution(source.context):
            rows = source.map_batches(
                read_files, batch_format="pyarrow", fn_kwargs={"encoding": options.encoding},
                **task_retry_options(task_retries),
            ).materialize()  # fmt: skip
        run = _RayRun(ray, rows, loaders, engine, options, output, progress, started, started_at)
        return run.execute([display_path(p) for p in paths], len(files), unlisted)


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
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> RunResult:
    """Translate a Ray Dataset of documents and write the corpus files to `output_dir`.

    Rows need the Document fields `id`, `source`, `sha256`, `encoding` and `text` (other
    columns are ignored); with `id`, `sha256` is the resume key, so make it a digest of the
    source. Documents are segmented by Ray tasks and translated by `actors` actors with
    `gpus_per_actor` GPUs (a fraction shares a GPU) and `cpus_per_actor` CPUs each, in
    batches of `docs_per_batch` documents, each tried `task_retries + 1` times.
    `address` is the cluster to join if Ray is not initialized yet (None: `RAY_ADDRESS`,
    else Ray starts on this machine). `options` (and its fields as keywords) are as for
    `translate_documents`; `loaders` (callables that build the models in each actor)
    replace its model names.
    """
    started, started_at = time.perf_counter(), now()
    options = RunOptions.build(options, **settings)
    ray = import_ray()
    engine = _Engine(address, actors, gpus_per_actor, cpus_per_actor, docs_per_batch, task_retries)
    loaders = _loaders(loaders, options)
    missing = {"id", "source", "sha256", "encoding", "text"} - set(documents.schema().names)
    if missing:
        raise InputError(
            f"the dataset has no {', '.join(sorted(missing))} column; rows need id, source, sha256, encoding and text"
        )
    with claim_output_dir(output_dir) as output, connected(ray, address):
        with ray_data_execution(documents.context, preserve_order=True):  # the dataset's order is the output's
            rows = documents.map_batches(
                segment_documents, batch_format="pyarrow", **task_retry_options(task_retries)
            ).materialize()
        run = _RayRun(ray, rows, loaders, engine, options, output, progress, started, started_at)
        return run.execute([f"ray.data.Dataset {documents.name or ''}".strip()], 0, [])


def _loaders(loaders: Loaders | None, options: RunOptions) -> Loaders:
    """The given loaders (then the options name no models), else loaders from the options' names."""
    if loaders is not None:
        options.refuse_ignored(loaders.translator, loaders.summarizer, loaders.ja_summarizer)
        return loaders
    check_backend_name(options.backend)
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

    def __post_init__(self) -> None:
        if self.actors < 1 or self.docs_per_batch < 1:
            raise InputError("actors and docs_per_batch must be at least 1")
        if self.task_retries < 0 or self.gpus_per_actor < 0 or self.cpus_per_actor < 0:
            raise InputError("task_retries, gpus_per_actor and cpus_per_actor cannot be negative")


class _RayRun:
    """The driver's side of a run on Ray: from read-and-segmented rows to a finished folder.

    Planning, the journal, the manifest and the report are run.py's, as for a local run;
    only the translation happens in the actors.
    """

    def __init__(
        self,
        ray: Any,
        rows: ray.data.Dataset,
        loaders: Loaders,
        engine: _Engine,
        options: RunOptions,
        output: Path,
        progress: ProgressCallback | None,
        started: float,
        started_at: str,
    ) -> None:
        self.ray, self.rows, self.loaders, self.engine, self.options = ray, rows, loaders, engine, options
        self.output, self.progress, self.started, self.started_at = output, progress, started, started_at
        self.timings: dict[str, float] = {}
        self.errors: list[Ja2enError] = []
        self.documents_done = self.sentences_done = self.total_sentences = 0
        self.documents: list[dict[str, Any]] = []

    def report(self, stage: str) -> None:
        if self.progress:
            self.progress(
                Progress(stage, self.documents_done, len(self.documents), self.sentences_done, self.total_sentences)
            )

    def execute(self, inputs: list[str], input_files: int, unlisted: list[tuple[int, int, InputError]]) -> RunResult:
        """Plan against the folder, describe the models, translate what is left, finish."""
        self.documents = self.read(unlisted)
        if not self.documents:
            raise nothing_to_translate(self.errors, inputs)
        plan = plan_folder(
            self.output, inputs, [(d["id"], d["source"]) for d in self.documents],
            append=self.options.append, force=self.options.force,
        )  # fmt: skip
        self.documents = drop_clashes(plan, self.documents, lambda d: d["id"], self.errors, self.options.fail_fast)
        self.total_sentences = sum(d["num_sentences"] for d in self.documents)
        self.timings["read_s"] = time.perf_counter() - self.started
        self.report("loading")
        journal, manifest = self.open_journal(plan)
        with journal:
            wanted = {(d["id"], d["sha256"]): d for d in self.documents if (d["id"], d["sha256"]) not in journal.done}
            resumed = len(self.documents) - len(wanted)
            self.documents_done = resumed
            self.sentences_done = self.total_sentences - sum(d["num_sentences"] for d in wanted.values())
            work = time.perf_counter()
            cache_hits = self.translate(journal, wanted)
            self.timings["translate_and_summarize_s"] = time.perf_counter() - work
            order = folder_order(journal, plan, ((d["id"], d["sha256"]) for d in self.documents))
            result = finish_run(
                journal, order, plan, manifest, self.errors, parquet=self.options.parquet, input_files=input_files,
                resumed=resumed, cache_hits=cache_hits, timings=self.timings, started=self.started,
                started_at=self.started_at,
            )  # fmt: skip
        self.report("done")
        return result

    def read(self, unlisted: list[tuple[int, int, InputError]]) -> list[dict[str, Any]]:
        """What was read, in input order (file, then place in the file); bad ones become errors."""
        with ray_data_execution(self.rows.context, preserve_order=True):
            meta = [dict(row) for row in self.rows.select_columns(_META).iter_rows()]
        found = [((m["file"], m["item"]), m) for m in meta] + [((f, i), error) for f, i, error in unlisted]
        documents: list[dict[str, Any]] = []
        seen: dict[str, str] = {}
        for _, item in sorted(found, key=lambda pair: pair[0]):
            if isinstance(item, dict) and item["error"]:
                item = _rebuild(item["error_type"], item["error"])
            elif isinstance(item, dict) and item["id"] in seen:
                item = repeated_id(item["source"], item["id"], seen[item["id"]])
            if isinstance(item, Ja2enError):
                if self.options.fail_fast:
                    raise item
                self.errors.append(item)
                continue
            seen[item["id"]] = item["source"]
            documents.append(item)
        return documents

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
        fingerprint = {"ja2en": versions()["ja2en"], "encoding": self.options.encoding, **described["fingerprint"]}
        journal = Journal(self.output, fingerprint, force=self.options.force)
        manifest = run_manifest(
            plan, dataclasses.replace(self.options, summary=self.loaders.summary),
            summarized=self.loaders.summarizes, models=described["settings"],
            engine={"name": "ray", "ray": self.ray.__version__, **dataclasses.asdict(engine)},
        )  # fmt: skip
        journal.start({**manifest, "counts": {"documents_planned": len(plan.keep) + len(self.documents)}})
        return journal, manifest

    def translate(self, journal: Journal, wanted: dict[tuple[str, str], dict[str, Any]]) -> int:
        """Translate the wanted documents in the actors, journaling each; return the cache hits."""
        failed: dict[tuple[str, str], DocumentError] = {}
        hits = 0
        batches = [self.engine.docs_per_batch, 1]  # then again, each alone: only a document that fails by itself is reported
        for per_batch in batches:
            left = {key: wanted[key] for key in wanted if key not in journal.done and key not in failed}
            if not left:
                break
            for row in _translate(_select(self.rows, left, per_batch), self.loaders, self.engine, per_batch):
                hits += row["cache_hits"]
                self.take(row, wanted, journal, failed)
        for key in wanted:
            if key not in journal.done and key not in failed:
                tries = 2 * (self.engine.task_retries + 1)
                failure = RuntimeError(f"the Ray worker died or failed in each of {tries} tries")
                failed[key] = DocumentError.failed(wanted[key]["source"], "translation", failure)
                if self.options.fail_fast:
                    raise failed[key]
        self.errors.extend(failed[key] for key in wanted if key in failed)  # in input order
        return hits

    def take(
        self, row: dict[str, Any], wanted: dict[tuple[str, str], Any], journal: Journal, failed: dict[tuple[str, str], DocumentError]
    ) -> None:
        """One actor result: journal the document, or record its failure."""
        key = (row["id"], row["sha256"])
        # A retried batch may deliver a document twice, a duplicate id once too often.
        if key not in wanted or key in journal.done or key in failed:
            return
        if row["error"]:
            if self.options.fail_fast:
                raise _rebuild(row["error_type"], row["error"])
            failed[key] = DocumentError(row["error"])
        else:
            journal.append(pickle.loads(row["document"]))
        self.documents_done += 1
        self.sentences_done += wanted[key]["num_sentences"]
        self.report("translating")


def _translate(documents: ray.data.Dataset, loaders: Loaders, engine: _Engine, batch: int) -> Iterator[dict[str, Any]]:
    """Stream one result row per document from the actor pool; batches lost in every try are left out."""
    from ray.data import ActorPoolStrategy

    with ray_data_execution(documents.context, max_errored_blocks=-1):
        # One document per batch (the second pass): one batch per actor at a time, so a
        # document that kills its actor takes no queued batch down with it.
        queue = {"max_tasks_in_flight_per_actor": 1} if batch == 1 else {}
        # No more actors than batches: each one loads the models, for nothing if idle.
        size = min(engine.actors, documents.num_blocks())
        results = documents.map_batches(
            TranslateBatch,
            fn_constructor_kwargs={"loaders": loaders},
            compute=ActorPoolStrategy(size=size, **queue),
            batch_size=batch,
            batch_format="pyarrow",
            num_cpus=engine.cpus_per_actor,
            num_gpus=engine.gpus_per_actor or None,
            **actor_retry_options(engine.task_retries),
        )
        yield from results.iter_rows()


def _select(rows: ray.data.Dataset, keys: dict[tuple[str, str], Any], per_batch: int) -> ray.data.Dataset:
    """The rows of these documents in blocks of `per_batch`, one actor call each.

    Materialized here: filter tasks left in the plan would compete with the actors for CPUs.
    """
    with ray_data_execution(rows.context):
        selected = rows.map_batches(keep_ids, batch_format="pyarrow", fn_kwargs={"ids": sorted({k[0] for k in keys})})
        return selected.repartition(math.ceil(len(keys) / per_batch)).materialize()


def _rebuild(error_type: str, message: str) -> Ja2enError:
    """A reader's error, sent through Ray as its class name and message, as an exception again."""
    cls = getattr(errors_module, error_type, InputError)
    if not (isinstance(cls, type) and issubclass(cls, Ja2enError)):
        cls = InputError
    return cls(message)
