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
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors as errors_module
from ..errors import DocumentError, InputError, Ja2enError, Ja2enWarning, display_path
from ..journal import Journal, plan_folder
from ..models.load import DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL, check_device_names
from ..models.presets import DEFAULT_JA_SUMMARIZER
from ..backends import check_backend_name
from ..run import (
    Progress,
    ProgressCallback,
    RunResult,
    check_inputs,
    drop_clashes,
    finish_run,
    folder_order,
    now,
    run_manifest,
    versions,
)
from .session import actor_retry_options, connected, get, import_ray, quiet, task_retry_options
from .tasks import (
    Loaders,
    TranslateBatch,
    describe_loaders,
    keep_ids,
    model_loaders,
    read_files,
    segment_documents,
)
from ..readers import list_input_files
from ..writers import claim_output_dir, write_parquet

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
    model: str = DEFAULT_TRANSLATION_MODEL,
    summarizer_model: str | None = DEFAULT_SUMMARY_MODEL,
    summary: str = "en",
    ja_summarizer_model: str = DEFAULT_JA_SUMMARIZER,
    beams: int = 4,
    batch_size: int = 64,
    batch_tokens: int = 4096,
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    encoding: str | None = None,
    cache: bool | Path | str = True,
    trust_remote_code: bool = False,
    loaders: Loaders | None = None,
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float = 1.0,
    docs_per_batch: int = DOCS_PER_BATCH,
    task_retries: int = TASK_RETRIES,
    parquet: bool = False,
    force: bool = False,
    append: bool = False,
    fail_fast: bool = False,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """`translate_documents` on a Ray cluster: the same arguments and outputs, plus the engine's.

    Files are listed here, then read and segmented by Ray tasks, so on a real cluster the
    input paths must be readable on the workers (a shared filesystem). `loaders` replaces
    the model names with callables that build the models in each actor. The engine's
    options are those of `translate_dataset`.
    """
    started, started_at = time.perf_counter(), now()
    paths = check_inputs(inputs)
    ray = import_ray()
    engine = _Engine(address, actors, gpus_per_actor, cpus_per_actor, docs_per_batch, task_retries)
    if loaders is None:
        check_backend_name(backend)
        check_device_names(device, dtype)
        loaders = model_loaders(
            model=model, summarizer_model=summarizer_model, summary=summary, ja_summarizer_model=ja_summarizer_model,
            beams=beams, batch_size=batch_size, batch_tokens=batch_tokens, backend=backend, device=device,
            dtype=dtype, cache=cache, trust_remote_code=trust_remote_code,
        )  # fmt: skip
    skipped: list[str] = []
    found = list_input_files(paths, exclude=[output_dir], skipped=skipped)
    if skipped:
        warnings.warn(f"not reading {', '.join(skipped)}: it holds ja2en outputs, not inputs", Ja2enWarning, stacklevel=2)
    files = [(i, item) for i, item in enumerate(found) if not isinstance(item, InputError)]
    unlisted = [
        {"file": i, "item": 0, "error_type": type(item).__name__, "error": str(item)}
        for i, item in enumerate(found)
        if isinstance(item, InputError)
    ]
    # A typo in a path or an unwritable -o must fail in milliseconds, not after Ray starts.
    if not files:
        raise _nothing_to_translate([{"error": u["error_type"], "message": u["error"]} for u in unlisted], paths)
    with claim_output_dir(output_dir) as output, connected(ray, address):
        import pyarrow as pa

        # As bytes: a file name that is not valid UTF-8 cannot be an Arrow string.
        table = pa.table({
            "file": [i for i, _ in files],
            "path": [os.fsencode(path) for _, (path, _) in files],
            "root": [os.fsencode(root) for _, (_, root) in files],
        })  # fmt: skip
        source = ray.data.from_arrow(table).repartition(math.ceil(len(files) / FILES_PER_READ_TASK))
        with quiet(source.context):
            rows = source.map_batches(
                read_files, batch_format="pyarrow", fn_kwargs={"encoding": encoding},
                **task_retry_options(task_retries),
            ).materialize()  # fmt: skip
        return _run(
            ray, rows, loaders, engine, inputs=[display_path(p) for p in paths], input_files=len(files),
            unlisted=unlisted, encoding=encoding, output_dir=output, parquet=parquet, force=force, append=append,
            fail_fast=fail_fast, progress=progress, started=started, started_at=started_at,
        )  # fmt: skip


def translate_dataset(
    documents: ray.data.Dataset,
    *,
    loaders: Loaders,
    output_dir: Path | str = "outputs",
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float = 1.0,
    docs_per_batch: int = DOCS_PER_BATCH,
    task_retries: int = TASK_RETRIES,
    parquet: bool = False,
    force: bool = False,
    append: bool = False,
    fail_fast: bool = False,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Translate a Ray Dataset of documents and write the corpus files to `output_dir`.

    Rows need the Document fields `id`, `source`, `sha256`, `encoding` and `text` (other
    columns are ignored); with `id`, `sha256` is the resume key, so make it a digest of the
    source. Documents are segmented by Ray tasks and translated by `actors` actors with
    `gpus_per_actor` GPUs (a fraction shares a GPU) and `cpus_per_actor` CPUs each, in
    batches of `docs_per_batch` documents, each tried `task_retries + 1` times.
    `loaders` builds the models in each actor (`model_loaders(...)` from names).
    `address` is the cluster to join if Ray is not initialized yet (None: `RAY_ADDRESS`,
    else Ray starts on this machine). `parquet=True` also writes documents.parquet and
    sentences.parquet. `force`, `append`, `fail_fast` and `progress` are as for `translate_documents`.
    """
    started, started_at = time.perf_counter(), now()
    ray = import_ray()
    engine = _Engine(address, actors, gpus_per_actor, cpus_per_actor, docs_per_batch, task_retries)
    missing = {"id", "source", "sha256", "encoding", "text"} - set(documents.schema().names)
    if missing:
        raise InputError(
            f"the dataset has no {', '.join(sorted(missing))} column; rows need id, source, sha256, encoding and text"
        )
    with claim_output_dir(output_dir) as output, connected(ray, address):
        with quiet(documents.context, preserve_order=True):  # the dataset's order is the output's
            rows = documents.map_batches(
                segment_documents, batch_format="pyarrow", **task_retry_options(task_retries)
            ).materialize()
        return _run(
            ray, rows, loaders, engine, inputs=[f"ray.data.Dataset {documents.name or ''}".strip()], input_files=0,
            unlisted=[], encoding=None, output_dir=output, parquet=parquet, force=force, append=append,
            fail_fast=fail_fast, progress=progress, started=started, started_at=started_at,
        )  # fmt: skip


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


def _run(
    ray: Any,
    rows: ray.data.Dataset,
    loaders: Loaders,
    engine: _Engine,
    *,
    inputs: list[str],
    input_files: int,
    unlisted: list[dict[str, Any]],
    encoding: str | None,
    output_dir: Path,
    parquet: bool,
    force: bool,
    append: bool,
    fail_fast: bool,
    progress: ProgressCallback | None,
    started: float,
    started_at: str,
) -> RunResult:
    """From read-and-segmented rows to a finished output folder; the driver's side of a run."""
    timings: dict[str, float] = {}
    # What was read, in input order (file, then place in the file); the texts stay in Ray.
    meta = sorted([*_meta_rows(rows), *unlisted], key=lambda m: (m["file"], m["item"]))
    documents, errors = _documents_and_errors(meta, fail_fast)
    if not documents:
        raise _nothing_to_translate(errors, inputs)
    plan = plan_folder(output_dir, inputs, [(d["id"], d["source"]) for d in documents], append=append, force=force)
    documents = drop_clashes(plan, documents, lambda d: d["id"], fail_fast)
    errors.extend({"error": type(error).__name__, "message": str(error)} for _, error in plan.clashes)
    total_sentences = sum(d["num_sentences"] for d in documents)
    timings["read_s"] = time.perf_counter() - started
    if progress:
        progress(Progress("loading", 0, len(documents), 0, total_sentences))

    # The fingerprint must be the one the actors will have (device, dtype, engine), so a
    # task with an actor's resources loads the models once to describe them. (Ray ends a
    # GPU task's worker process after it, freeing the GPU; a CPU one stays, torch imported.)
    loading = time.perf_counter()
    describe = ray.remote(describe_loaders).options(
        num_gpus=engine.gpus_per_actor, num_cpus=engine.cpus_per_actor, **task_retry_options(engine.task_retries)
    )
    described = get(ray, describe.remote(loaders))
    timings["load_s"] = time.perf_counter() - loading
    fingerprint = {"ja2en": versions()["ja2en"], "encoding": encoding, **described["fingerprint"]}
    journal = Journal(output_dir, fingerprint, force=force)
    wanted = {(d["id"], d["sha256"]): d for d in documents if (d["id"], d["sha256"]) not in journal.done}
    resumed = len(documents) - len(wanted)
    manifest = run_manifest(
        plan, encoding, loaders.summary if loaders.summarizes else None, described["settings"],
        engine={"name": "ray", "ray": ray.__version__, **dataclasses.asdict(engine)},
    )  # fmt: skip
    journal.start({**manifest, "counts": {"documents_planned": len(plan.keep) + len(documents)}})

    state = {"documents": resumed, "sentences": total_sentences - sum(d["num_sentences"] for d in wanted.values())}
    cache_hits = 0
    document_errors: dict[tuple[str, str], DocumentError] = {}

    def take(row: dict[str, Any]) -> None:
        nonlocal cache_hits
        cache_hits += row["cache_hits"]
        key = (row["id"], row["sha256"])
        # A retried batch may deliver a document twice, a duplicate id once too often.
        if key not in wanted or key in journal.done or key in document_errors:
            return
        if row["error"]:
            if fail_fast:
                raise _rebuild(row["error_type"], row["error"])
            document_errors[key] = DocumentError(row["error"])
        else:
            journal.append(pickle.loads(row["document"]))
        state["documents"] += 1
        state["sentences"] += wanted[key]["num_sentences"]
        if progress:
            progress(Progress("translating", state["documents"], len(documents), state["sentences"], total_sentences))

    work = time.perf_counter()
    if wanted:
        for row in _translate(_select(rows, wanted, engine.docs_per_batch), loaders, engine, engine.docs_per_batch):
            take(row)
    # Documents of batches that failed in every try: again, each alone, so that only a
    # document that fails by itself is reported.
    left = {key: wanted[key] for key in wanted if key not in journal.done and key not in document_errors}
    if left:
        for row in _translate(_select(rows, left, 1), loaders, engine, 1):
            take(row)
    for key in wanted:
        if key not in journal.done and key not in document_errors:
            tries = 2 * (engine.task_retries + 1)
            failure = RuntimeError(f"the Ray worker died or failed in each of {tries} tries")
            document_errors[key] = DocumentError.failed(wanted[key]["source"], "translation", failure)
            if fail_fast:
                raise document_errors[key]
    timings["translate_and_summarize_s"] = time.perf_counter() - work

    # Errors in input order, as a single-process run lists them.
    errors += [{"error": "DocumentError", "message": str(document_errors[k])} for k in wanted if k in document_errors]
    order = folder_order(journal, plan, ((d["id"], d["sha256"]) for d in documents))
    result = finish_run(
        journal, order, plan, manifest, errors, input_files=input_files, resumed=resumed, cache_hits=cache_hits,
        timings=timings, started=started, started_at=started_at,
    )  # fmt: skip
    if parquet:
        result.files.update({f"{name}_parquet": write_parquet(result.files[name]) for name in ("documents", "sentences")})
    if progress:
        progress(Progress("done", state["documents"], len(documents), state["sentences"], total_sentences))
    return result


def _nothing_to_translate(errors: list[dict[str, str]], inputs: Sequence[Path | str]) -> Ja2enError:
    """The error of a run without a single readable document, as translate_documents words it."""
    if len(errors) == 1:
        return _rebuild(errors[0]["error"], errors[0]["message"])
    if errors:
        return InputError(f"nothing to translate: all {len(errors)} inputs failed; the first: {errors[0]['message']}")
    return InputError(f"{', '.join(map(str, inputs))}: no .txt, .md or .jsonl documents found; check the path")


def _documents_and_errors(
    meta: list[dict[str, Any]], fail_fast: bool
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Split what was read into documents and errors (a repeated id is one), as translate_documents does."""
    documents: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    for m in meta:
        if not m["error"] and m["id"] in seen:
            repeated = f"document id '{m['id']}' is already used by {seen[m['id']]}; give each document a unique id"
            m = {**m, "error_type": "InputError", "error": f"{m['source']}: {repeated}"}
        if m["error"]:
            if fail_fast:
                raise _rebuild(m["error_type"], m["error"])
            errors.append({"error": m["error_type"], "message": m["error"]})
            continue
        seen[m["id"]] = m["source"]
        documents.append(m)
    return documents, errors


def _translate(documents: ray.data.Dataset, loaders: Loaders, engine: _Engine, batch: int) -> Iterator[dict[str, Any]]:
    """Stream one result row per document from the actor pool; batches lost in every try are left out."""
    from ray.data import ActorPoolStrategy

    with quiet(documents.context, max_errored_blocks=-1):
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
    with quiet(rows.context):
        selected = rows.map_batches(keep_ids, batch_format="pyarrow", fn_kwargs={"ids": sorted({k[0] for k in keys})})
        return selected.repartition(math.ceil(len(keys) / per_batch)).materialize()


def _meta_rows(rows: ray.data.Dataset) -> list[dict[str, Any]]:
    with quiet(rows.context, preserve_order=True):
        return [dict(row) for row in rows.select_columns(_META).iter_rows()]


def _rebuild(error_type: str, message: str) -> Ja2enError:
    """A reader's error, sent through Ray as its class name and message, as an exception again."""
    cls = getattr(errors_module, error_type, InputError)
    if not (isinstance(cls, type) and issubclass(cls, Ja2enError)):
        cls = InputError
    return cls(message)
