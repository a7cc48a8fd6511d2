"""The run driver: plan, resume, fingerprint, translate, write and report a run.

read → segment → process (translate, summarize: process.py) → journal. A run reads its
inputs twice, so its memory does not depend on how many documents it is given: a planning
pass reads and segments each document and keeps only its id, hash, source and sentence
count in a RunIndex on disk (index.py); after the models load, a translating pass reads
them again one file at a time, and each group of documents is translated, written to the
journal and dropped. A crash costs at most the group in flight (journal.py); a document
whose translation or summary fails is reported and the run goes on. Both engines plan,
fingerprint, write and report a run through the functions here; the Ray engine
(distributed/) differs only in where documents are processed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import signal
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, MutableSet, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .backends import Decoding, check_backend_name, check_workers
from .cache import TranslationCache
from .errors import (
    DocumentError,
    InputError,
    Ja2enError,
    Ja2enWarning,
    ModelError,
    OutputError,
    PagesWithoutTextError,
    RunInterrupted,
    display_path,
)
from .index import CHANGED, SEEN, RunIndex
from .journal import ErrorLog, FolderPlan, Journal, plan_folder, saved_documents
from .process import DocumentProcessor
from .models.presets import DEFAULT_JA_SUMMARIZER, DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL
from .readers import MAX_INPUT_MB, ReadOptions, iter_input_files, read_file
from .records import Document, Sentence, TranslatedDocument
from .segment import segment_document
from .summarize import Summarizer
from .translate import Translator
from .writers import claim_output_dir, write_parquet

SUMMARY_MODES = ("en", "ja", "both", "none")

# After this many documents in a row fail with the same kind of error, the run checks its
# models on one short sentence; if that fails too, nothing else can succeed: it stops.
FAILURE_STREAK = 5
READING_STEP = 1000  # documents between two progress reports while the inputs are read
_PROBE = "これはテストです。"
# Tests only: the run stops itself (SIGSTOP) once this many documents are in its journal, so
# a kill or Ctrl-C test acts at a known point instead of racing a poll of the journal.
_TEST_STOP_AFTER = "JA2EN_TEST_STOP_AFTER"


def stop_for_test(documents_done: int) -> None:
    """Stop this process when JA2EN_TEST_STOP_AFTER names `documents_done` (the parent waits
    for the stop, then kills, interrupts or continues it)."""
    if os.environ.get(_TEST_STOP_AFTER) == str(documents_done):
        os.kill(os.getpid(), signal.SIGSTOP)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run stands; passed to the `progress` callback after every step."""

    stage: str  # "reading", "loading", "translating", "summarizing", "writing", "done"
    documents_done: int
    documents_total: int
    sentences_done: int
    sentences_total: int


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run produced."""

    output_dir: Path
    files: dict[str, Path]
    documents: int
    sentences: int
    errors: tuple[str, ...]  # the first ERRORS_KEPT messages; files["errors"] (errors.jsonl) lists them all
    seconds: float
    manifest: dict[str, Any] = field(repr=False)
    removed: int = 0  # documents dropped from the folder because their inputs are gone
    kept: int = 0  # documents of other inputs kept in the folder (append)
    repaired: int = 0  # duplicate lines removed from documents.jsonl
    error_count: int = 0  # how many errors errors.jsonl lists

    def notes(self) -> list[str]:
        """What the run changed besides translating, in words: removed, kept, repaired."""
        notes = []
        if self.kept:
            notes.append(f"kept {self.kept} documents of earlier inputs")
        if self.removed:
            notes.append(f"removed {self.removed} documents whose inputs are gone")
        if self.repaired:
            notes.append(f"removed {self.repaired} duplicate lines from documents.jsonl")
        return notes


ProgressCallback = Callable[[Progress], None]

# The options each ready model decides itself; a run given the model refuses them rather
# than ignore them. The loading options (backend, device, dtype...) are refused only when
# no model of the run is loaded by name.
_TRANSLATOR_SETTINGS = ("model", "beams", "batch_size", "batch_tokens", "early_stopping", "cache")
_LOADING_SETTINGS = ("backend", "device", "dtype", "trust_remote_code", "workers")
_SEQ2SEQ_SETTINGS = ("beams", "batch_size", "batch_tokens", "early_stopping") + _LOADING_SETTINGS
_LLM_SETTINGS = ("api_base", "api_key_env", "llm_api", "prompt_template", "concurrency", "rpm", "tpm", "token_budget")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run is made, but for its inputs and output folder: the one object the CLI, the
    library and both engines pass around.

    `summary`: "en" summarizes the English translation with `summarizer_model`; "ja"
    summarizes the Japanese with `ja_summarizer_model`, then translates that summary;
    "both"; "none". `cache`: True for the default translation cache, a path for another,
    False for none. `text_field` and `id_field` name the text and id columns of tables
    (CSV, TSV, Parquet, saved datasets) and keys of JSONL records; an `id_field` other than
    "id" must exist. `max_input_mb` caps what one input document may take (a file read whole,
    what a .docx/.epub unpacks to, one JSONL line or CSV row); it is no part of the
    fingerprint, so raising it resumes the same folder. `force` replaces a
    folder made with other settings or inputs;
    `append` keeps a folder's documents and adds this run's; `fail_fast` stops at the
    first bad document; `parquet` also writes documents.parquet and sentences.parquet;
    `report` also writes report.html, the page to review the run in a browser.
    `early_stopping` True ends beam search once `beams` translations have finished (faster;
    some sentences differ). `batch_tokens` None picks the budget by device and beams.
    `workers` None runs one batch per CPU thread with the ct2 backend (summaries of a lone
    document: one batch on every thread).
    """

    model: str = DEFAULT_TRANSLATION_MODEL
    summary: str = "en"
    summarizer_model: str = DEFAULT_SUMMARY_MODEL
    ja_summarizer_model: str = DEFAULT_JA_SUMMARIZER
    beams: int = 4
    batch_size: int = 64
    batch_tokens: int | None = None
    early_stopping: bool | None = None
    workers: int | None = None
    backend: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    cache: bool | Path | str = True
    trust_remote_code: bool = False
    encoding: str | None = None
    text_field: str = "text"
    id_field: str = "id"
    max_input_mb: int = MAX_INPUT_MB
    force: bool = False
    append: bool = False
    fail_fast: bool = False
    parquet: bool = False
    report: bool = False
    # An "openai:NAME" model (an LLM behind an OpenAI-compatible server): see backends/openai.py.
    api_base: tuple[str, ...] | str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    llm_api: str | None = None
    prompt_template: Path | str | None = None
    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    token_budget: int | None = None
    fallback_model: str | None = None  # a seq2seq model for the sentences an openai: model fails

    def __post_init__(self) -> None:
        if self.summary not in SUMMARY_MODES:
            raise InputError(f"unknown summary mode '{self.summary}'; use one of {', '.join(SUMMARY_MODES)}")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"workers must be at least 1, not {self.workers}")
        if self.max_input_mb < 1:
            raise InputError(f"max_input_mb must be at least 1, not {self.max_input_mb}")
        if self.append and self.force:
            raise InputError("--append keeps a folder's documents and --force replaces them; use one of them")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        # The options of the other kind of model would be silently ignored: refuse them.
        # (with a fallback model, the seq2seq settings are the fallback's)
        if self.uses_llm:
            unused = () if self.fallback_model else _SEQ2SEQ_SETTINGS
        else:
            unused = _LLM_SETTINGS + ("fallback_model",)
        given = [f"--{name.replace('_', '-')}" for name in unused if getattr(self, name) != defaults[name]]
        named, one = ", ".join(given), len(given) == 1
        if given and self.uses_llm:
            raise InputError(
                f"{named} {'does' if one else 'do'} not apply to {self.model}, an LLM behind a server; "
                f"drop {'it' if one else 'them'}"
            )
        if given:
            raise InputError(f"{named} {'needs' if one else 'need'} an openai:NAME model (--model openai:NAME), not {self.model}")

    @classmethod
    def build(cls, options: RunOptions | None = None, **settings: Any) -> RunOptions:
        """`options` (default: the defaults) with `settings` replaced, by field name.

        `summarizer_model=None` is the older spelling of "no English summary".
        """
        if "summarizer_model" in settings and settings["summarizer_model"] is None:
            del settings["summarizer_model"]
            summary = settings.get("summary", (options or cls()).summary)
            settings["summary"] = {"en": "none", "both": "ja"}.get(summary, summary)
        unknown = set(settings) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown run option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(options or cls(), **settings)

    @property
    def uses_llm(self) -> bool:
        """Whether the translation model is an LLM behind an OpenAI-compatible server."""
        return self.model.startswith("openai:")

    def llm_settings(self) -> dict[str, Any]:
        """The OpenAITranslator's settings (an openai: model), beside the cache."""
        return {name: getattr(self, name) for name in _LLM_SETTINGS}

    @property
    def summarizes_english(self) -> bool:
        return self.summary in ("en", "both")

    @property
    def summarizes_japanese(self) -> bool:
        return self.summary in ("ja", "both")

    def model_names(self) -> list[str]:
        """The models this run loads by name: the translator and the summarizers its summary mode needs."""
        return [self.model] + [self.summarizer_model] * self.summarizes_english + [
            self.ja_summarizer_model
        ] * self.summarizes_japanese

    def reading(self) -> ReadOptions:
        """How the inputs are read."""
        return ReadOptions(
            encoding=self.encoding, text_field=self.text_field, id_field=self.id_field, max_input_mb=self.max_input_mb
        )

    def input_fingerprint(self) -> dict[str, Any]:
        """The reading settings that decide outputs, for the fingerprint (the fields only when not the default,
        so folders made before they existed still resume)."""
        defaults = RunOptions()
        fields = {"text_field": self.text_field, "id_field": self.id_field}
        return {"encoding": self.encoding, **{k: v for k, v in fields.items() if v != getattr(defaults, k)}}

    def loading(self) -> dict[str, Any]:
        """What every model of the run is loaded with."""
        return {
            "backend": self.backend,
            "device": self.device,
            "dtype": self.dtype,
            "trust_remote_code": self.trust_remote_code,
            "workers": self.workers,
        }

    def translator_settings(self) -> dict[str, Any]:
        """The Translator's own settings, beside `loading()`."""
        return {
            "beams": self.beams,
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens,
            "early_stopping": self.early_stopping,
        }

    def refuse_ignored(self, translator: object, summarizer: object = None, ja_summarizer: object = None) -> None:
        """InputError when a setting is given beside the ready model that would ignore it."""
        defaults = RunOptions()
        ready = {
            _TRANSLATOR_SETTINGS: translator is not None,
            ("summarizer_model",): summarizer is not None,
            ("ja_summarizer_model",): ja_summarizer is not None,
            _LOADING_SETTINGS: translator is not None
            and (summarizer is not None or not self.summarizes_english)
            and (ja_summarizer is not None or not self.summarizes_japanese),
        }
        ignored = [name for names, is_ready in ready.items() if is_ready for name in names]
        changed = [name for name in ignored if getattr(self, name) != getattr(defaults, name)]
        if changed:
            raise InputError(
                f"{', '.join(changed)} cannot be used with ready models, which have their own; "
                "set them on Translator(...)/Summarizer(...) instead"
            )


def describe_models(
    translator: Translator, summarizer: Summarizer | None, ja_summarizer: Summarizer | None
) -> dict[str, Any]:
    """The models' part of a run's fingerprint (what decides outputs) and of its manifest."""
    return {
        "fingerprint": {
            "translation": translator.fingerprint(),
            "summarization": summarizer.fingerprint() if summarizer else None,
            **({"ja_summarization": ja_summarizer.fingerprint()} if ja_summarizer else {}),
        },
        "settings": {
            "translation": translator.settings(),
            "summarization": summarizer.settings() if summarizer else None,
            "ja_summarization": ja_summarizer.settings() if ja_summarizer else None,
        },
    }


def versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("ja2en", "torch", "transformers", "tokenizers", "sentencepiece", "huggingface_hub"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def plan_inputs(
    inputs: Sequence[Path | str],
    output: Path,
    index: RunIndex,
    options: RunOptions,
    errors: ErrorLog,
    progress: ProgressCallback | None = None,
) -> int:
    """The planning pass: read and segment every input once, keeping only each readable
    document's id, hash, source and sentence count (in the index, not in memory).

    Returns the number of input files; the errors (bad inputs, repeated ids) go into
    `errors`, or with fail_fast the first is raised. The output folder, and any folder
    holding ja2en outputs, is not read (a warning says so). `progress` hears of every
    READING_STEP documents, with the totals still unknown (0).
    """
    files = planned = 0
    for found in list_inputs(inputs, output, index.file_set()):
        if not isinstance(found, InputError):
            files += 1
        for item in [found] if isinstance(found, InputError) else read_file(*found, options=options.reading()):
            if isinstance(item, Document):
                first = index.plan(item.id, item.sha256, item.source, len(segment_document(item)))
                item = repeated_id(item.source, item.id, first) if first is not None else item
                planned += 1
                if progress and planned % READING_STEP == 0:
                    progress(Progress("reading", planned, 0, 0, 0))
            if isinstance(item, InputError):
                if options.fail_fast:
                    raise item
                if isinstance(item, PagesWithoutTextError):  # its document is translated: say so now
                    warnings.warn(str(item), Ja2enWarning, stacklevel=2)
                errors.append(item)
    index.commit()
    return files


def read_planned(
    inputs: Sequence[Path | str], output: Path, index: RunIndex, options: RunOptions, errors: ErrorLog | list[Ja2enError]
) -> Iterator[tuple[Document, list[Sentence]]]:
    """The translating pass: the planned documents the journal does not hold yet, read again
    and segmented one at a time, in input order.

    Documents the planning pass reported (bad inputs, repeated or clashing ids) are passed
    over without a second error; a planned document whose file changed or vanished since is
    reported in `errors` (or raised with fail_fast): the next run translates its new text.
    """
    for found in list_inputs(inputs, output, index.file_set(), warn=False):
        if isinstance(found, InputError):
            continue
        for item in read_file(*found, options=options.reading()):
            if not isinstance(item, Document):
                continue
            planned = index.planned(item.id)
            if planned is None or planned.source != item.source:
                continue  # not planned: a repeated or clashing id, or a file new since the planning pass
            index.mark(item.id, SEEN if planned.sha256 == item.sha256 else CHANGED)
            if planned.sha256 == item.sha256 and not index.is_done(item.id, item.sha256):
                yield item, segment_document(item)
    for source, state in list(index.not_found()):
        how = "changed" if state == CHANGED else "vanished"
        error = InputError(f"{source}: {how} while ja2en was translating; re-run the same command to translate it")
        if options.fail_fast:
            raise error
        errors.append(error)


def list_inputs(
    inputs: Sequence[Path | str], output_dir: Path | str, seen: MutableSet[str] | None = None, *, warn: bool = True
) -> Iterator[tuple[Path, Path] | InputError]:
    """The input files of a run, lazily, less its output folder and any folder of ja2en outputs (a warning says so)."""
    skipped: list[str] = []
    yield from iter_input_files(inputs, exclude=[output_dir], skipped=skipped, seen=seen)
    if skipped and warn:
        warnings.warn(f"not reading {', '.join(skipped)}: it holds ja2en outputs, not inputs", Ja2enWarning, stacklevel=3)


def repeated_id(source: str, doc_id: str, first: str) -> InputError:
    """The error of a document whose id an earlier document of the same run has."""
    return InputError(f"{source}: document id '{doc_id}' is already used by {first}; give each document a unique id")


def nothing_to_translate(errors: ErrorLog | Sequence[Ja2enError], inputs: Sequence[Path | str]) -> Ja2enError:
    """The error of a run without a single readable document: why, before any model loads."""
    first = errors.first_error if isinstance(errors, ErrorLog) else next(iter(errors), None)
    if len(errors) == 1 and isinstance(first, Ja2enError):
        return first
    if errors:
        return InputError(f"nothing to translate: all {len(errors)} inputs failed; the first: {first}")
    shown = ", ".join(display_path(p) for p in inputs)
    from .readers import SUFFIXES

    return InputError(f"{shown}: no documents ja2en reads found ({' '.join(SUFFIXES)}); check the path")


def check_inputs(inputs: Sequence[Path | str] | Path | str) -> list[Path | str]:
    """The input paths as a list; InputError when there are none."""
    paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if not paths:
        raise InputError("no input paths given; pass at least one file or folder")
    return paths


def drop_clashes(plan: FolderPlan, index: RunIndex, errors: ErrorLog | list[Ja2enError], fail_fast: bool) -> None:
    """Take out of this run the documents whose id the folder holds from another source
    (--append); their errors go into `errors`."""
    if plan.clashes and fail_fast:
        raise plan.clashes[0][1]
    errors.extend(error for _, error in plan.clashes)
    index.unplan(clash_id for clash_id, _ in plan.clashes)


class ProbeFailed(Exception):
    """A one-sentence test that failed where the models are (a Ray actor), by the name of what it raised."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class FailureWatch:
    """Stops a run whose every document fails the same way (a dead GPU, a bug), not after each one.

    After FAILURE_STREAK documents in a row fail with the same kind of error, `probe` runs
    the models on one short sentence (or raises ProbeFailed for one that failed elsewhere):
    if that fails too, the run stops with one line that names the cause; if it works, the
    documents themselves are at fault and the run goes on.
    """

    def __init__(self, probe: Callable[[], None], output_dir: Path, saved: Callable[[], int]) -> None:
        self.probe, self.output_dir, self.saved = probe, output_dir, saved
        self.kind, self.count = "", 0

    def see(self, item: object) -> None:
        """Take in one document's outcome: a DocumentError, or anything else for a success."""
        if not isinstance(item, DocumentError) or not item.cause:
            self.kind, self.count = "", 0
            return
        kind = item.cause.split(":", 1)[0]
        self.count = self.count + 1 if kind == self.kind else 1
        self.kind = kind
        if self.count < FAILURE_STREAK:
            return
        self.count = 0
        try:
            self.probe()
        except Exception as exc:
            error = OutputError if isinstance(exc, (OSError, sqlite3.Error)) else ModelError
            kind = exc.kind if isinstance(exc, ProbeFailed) else type(exc).__name__
            raise error(
                f"stopped: {FAILURE_STREAK} documents in a row failed ({item.cause}) and so does a one-sentence test "
                f"({kind}), so no document can succeed; {self.saved()} documents are saved in "
                f"{display_path(self.output_dir)}: fix the cause, then re-run the same command to resume"
            ) from None


def probe_models(translator: Translator, *summarizers: Summarizer | None) -> None:
    """Run each model on one short sentence, past every cache: raises what a dead model raises."""
    test = Decoding(beams=1, max_new_tokens=8, score=False)
    translator.probe()
    for summarizer in summarizers:
        if summarizer:
            summarizer.backend.generate([_PROBE], test)


@contextlib.contextmanager
def reporting_interrupts(output: Path) -> Iterator[None]:
    """Ctrl-C anywhere in a run as RunInterrupted, with the documents its journal really holds
    (resumed ones too), for the line the CLI prints; both engines run inside one."""
    try:
        yield
    except RunInterrupted:
        raise
    except KeyboardInterrupt:
        try:
            saved = saved_documents(output)
        except OSError:
            raise KeyboardInterrupt from None  # no number rather than a wrong one
        raise RunInterrupted(saved, output) from None


def check_device_options(device: str, dtype: str, backend: str, workers: int | None = None) -> None:
    """Refuse a device, dtype, backend or worker count that cannot work, before anything is created."""
    from .models.load import resolve_device, resolve_dtype

    resolve_dtype(dtype, resolve_device(device))
    check_backend_name(backend)
    check_workers(backend, workers)


def translate_documents(
    inputs: Sequence[Path | str] | Path | str,
    *,
    output_dir: Path | str = "outputs",
    options: RunOptions | None = None,
    translator: Translator | None = None,
    summarizer: Summarizer | None = None,
    ja_summarizer: Summarizer | None = None,
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> RunResult:
    """Translate every document under `inputs` and write the corpus files to `output_dir`.

    How: `options` (a RunOptions), with any of its fields given as keywords on top
    (`translate_documents("news/", beams=1, summary="none")`). Ready `translator`,
    `summarizer` and `ja_summarizer` objects replace loading models by name; the model
    settings are then theirs, and giving them here too is refused. Re-running into the same
    `output_dir` resumes: documents already finished there with the same settings are
    skipped; other settings, or other inputs that would drop documents, are refused unless
    `force` (start afresh) or `append` (keep them, add these). A bad input document is
    reported in errors.jsonl and skipped (raised with `fail_fast`); the others are still
    written (`RunResult.errors` holds the first ERRORS_KEPT messages, `error_count` how
    many). The output folder is locked for the run: a second run into it fails at once.
    """
    started = time.perf_counter()
    options = RunOptions.build(options, **settings)
    inputs = check_inputs(inputs)
    options.refuse_ignored(translator, summarizer, ja_summarizer)
    if translator is None:
        check_device_options(options.device, options.dtype, options.backend, options.workers)

    # Inputs and output first: a typo in a path must fail in milliseconds, not after
    # a model has loaded.
    with (
        claim_output_dir(output_dir) as output,
        reporting_interrupts(output),
        RunIndex(output) as index,
        ErrorLog(output) as errors,
    ):
        input_files = plan_inputs(inputs, output, index, options, errors, progress)
        if not index.planned_count()[0]:
            raise nothing_to_translate(errors, inputs)
        plan = plan_folder(
            output, [display_path(p) for p in inputs], index, append=options.append, force=options.force
        )
        drop_clashes(plan, index, errors, options.fail_fast)
        run = _LocalRun(started, options, inputs, input_files, index, errors, plan, progress)
        try:
            models = run.load(translator, summarizer, ja_summarizer)
            return run.execute(output, *models)
        finally:
            if run.translation_cache:  # the cache this run opened, however the run ends
                run.translation_cache.close()


class _LocalRun:
    """One run in this process, once its inputs are planned and its folder is claimed.

    Documents are read a second time, one file at a time, as the models need them, so
    nothing of a document stays in memory once it is written.
    """

    def __init__(
        self,
        started: float,
        options: RunOptions,
        inputs: Sequence[Path | str],
        input_files: int,
        index: RunIndex,
        errors: ErrorLog,
        plan: FolderPlan,
        progress: ProgressCallback | None,
    ) -> None:
        self.started, self.started_at = started, now()
        self.options, self.inputs, self.input_files, self.index = options, inputs, input_files, index
        self.errors, self.plan, self.progress = errors, plan, progress
        self.timings: dict[str, float] = {"read_s": time.perf_counter() - started}
        self.documents_total, self.sentences_total = index.planned_count()
        self.translation_cache: TranslationCache | None = None
        self.stage, self.documents_done, self.sentences_done = "loading", 0, 0
        self.report()

    def report(self, stage: str | None = None) -> None:
        self.stage = stage or self.stage
        if self.progress:
            self.progress(
                Progress(self.stage, self.documents_done, self.documents_total, self.sentences_done, self.sentences_total)
            )

    def advance(self, sentences: int) -> None:
        self.sentences_done += sentences
        self.report()

    def load(
        self, translator: Translator | None, summarizer: Summarizer | None, ja_summarizer: Summarizer | None
    ) -> tuple[Translator, Summarizer | None, Summarizer | None]:
        """The models the summary mode needs: the ready ones given, else loaded by name."""
        loading, options = time.perf_counter(), self.options
        if translator is None:
            if options.cache:
                self.translation_cache = TranslationCache(None if options.cache is True else options.cache)
            seq2seq = options.translator_settings() | options.loading()
            if options.uses_llm:
                fallback = None
                if options.fallback_model:
                    fallback = Translator(options.fallback_model, cache=self.translation_cache, **seq2seq)
                translator = Translator(
                    options.model, cache=self.translation_cache, fallback=fallback, **options.llm_settings()
                )
            else:
                translator = Translator(options.model, cache=self.translation_cache, **seq2seq)
        # Several documents: one summary batch per thread (workers=None). One document is
        # summarized one chunk at a time, which only every thread on one batch speeds up.
        summary_workers = {"workers": options.workers or (1 if self.documents_total == 1 else None)}
        if not options.summarizes_english:
            summarizer = None
        elif summarizer is None:
            summarizer = Summarizer(options.summarizer_model, **(options.loading() | summary_workers))
        if not options.summarizes_japanese:
            ja_summarizer = None
        elif ja_summarizer is None:
            ja_summarizer = Summarizer(options.ja_summarizer_model, language="ja", **(options.loading() | summary_workers))
        self.timings["load_s"] = time.perf_counter() - loading
        return translator, summarizer, ja_summarizer

    def execute(
        self, output: Path, translator: Translator, summarizer: Summarizer | None, ja_summarizer: Summarizer | None
    ) -> RunResult:
        """Resume, translate what is left, and finish the folder."""
        options = self.options
        described = describe_models(translator, summarizer, ja_summarizer)
        fingerprint = {"ja2en": versions()["ja2en"], **options.input_fingerprint(), **described["fingerprint"]}
        with Journal(output, fingerprint, force=options.force, index=self.index) as journal:
            resumed, self.sentences_done = self.index.planned_done()
            manifest = run_manifest(self.plan, options, summarized=bool(summarizer or ja_summarizer), models=described["settings"])
            journal.start({**manifest, "counts": {"documents_planned": self.plan.kept + self.documents_total}})
            self.documents_done = resumed
            self.report("translating")
            work = time.perf_counter()
            hits_before = translator.cache.hits if translator.cache else 0
            usage_mark = translator.usage_mark() if translator.translates_documents else 0
            processor = DocumentProcessor(
                translator, summarizer, ja_summarizer, on_sentences=self.advance, on_stage=self.report
            )
            watch = FailureWatch(lambda: probe_models(translator, summarizer, ja_summarizer), output, journal.saved)
            documents = read_planned(self.inputs, output, self.index, options, self.errors)
            write_seconds = self.journal_documents(journal, processor.process(documents), watch)
            self.timings["translate_and_summarize_s"] = time.perf_counter() - work - write_seconds
            self.timings["write_s"] = write_seconds
            cache_hits = translator.cache.hits - hits_before if translator.cache else 0
            if translator.translates_documents:  # an LLM: the tokens this run spent
                manifest["llm_usage"] = translator.usage_since(usage_mark)
            result = finish_run(
                journal, self.plan, manifest, self.errors, parquet=options.parquet, report=options.report,
                input_files=self.input_files, resumed=resumed, cache_hits=cache_hits, timings=self.timings,
                started=self.started, started_at=self.started_at,
            )  # fmt: skip
            self.report("done")
            return result

    def journal_documents(
        self, journal: Journal, results: Iterable[TranslatedDocument | DocumentError], watch: FailureWatch
    ) -> float:
        """Append each finished document to the journal, report each failed one; the seconds spent writing."""
        write_seconds = 0.0
        for item in results:
            watch.see(item)
            if isinstance(item, DocumentError):
                if self.options.fail_fast:
                    raise item
                self.errors.append(item)
                continue
            tick = time.perf_counter()
            journal.append(item)
            write_seconds += time.perf_counter() - tick
            self.documents_done += 1
            stop_for_test(self.documents_done)
            self.report("writing")
        return write_seconds


def run_manifest(
    plan: FolderPlan, options: RunOptions, *, summarized: bool, models: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """The manifest of a run, as both engines write it (before the fingerprint and counts)."""
    return {
        "ja2en_version": versions()["ja2en"],
        "inputs": list(plan.inputs),
        "input_roots": list(plan.roots),
        "settings": {
            "encoding": options.encoding, "text_field": options.text_field, "id_field": options.id_field,
            "summary": options.summary if summarized else None,
        },  # fmt: skip
        "models": models,
        "versions": versions(),
        **extra,
    }


def finish_run(
    journal: Journal,
    plan: FolderPlan,
    manifest: dict[str, Any],
    errors: ErrorLog,
    *,
    parquet: bool,
    report: bool = False,
    input_files: int,
    resumed: int,
    cache_hits: int,
    timings: dict[str, float],
    started: float,
    started_at: str,
) -> RunResult:
    """Write the folder's final files and the run's report; the end of a run for both engines."""
    finishing = time.perf_counter()
    manifest["counts"] = {"input_files": input_files}
    current = journal.index.planned_done()[0]
    duplicate_lines = journal.duplicate_lines

    def this_run() -> dict[str, Any]:
        # What differs between an interrupted-and-resumed run and an uninterrupted one.
        end = time.perf_counter()
        return {
            "started_at": started_at,
            "finished_at": now(),
            "documents_resumed": resumed,
            "documents_translated": current - resumed,
            "documents_kept": plan.kept,
            "documents_removed": plan.removed,
            "duplicate_lines_removed": duplicate_lines,
            "sentences_from_cache": cache_hits,
            "timings": {k: round(v, 3) for k, v in {**timings, "finish_s": end - finishing, "total_s": end - started}.items()},
        }

    # With --append, the earlier runs' errors stay listed before this run's.
    files, final = journal.finish(errors, manifest, this_run, keep_others=plan.append, earlier_errors=plan.kept_errors())
    if parquet:
        files |= {f"{name}_parquet": write_parquet(files[name]) for name in ("documents", "sentences")}
    if report:
        from .corpus.report import write_report

        files["report"] = write_report(journal.folder)
    return RunResult(
        output_dir=journal.folder,
        files=files,
        documents=final["counts"]["documents"],
        sentences=final["counts"]["sentences"],
        errors=tuple(final["errors"]),
        seconds=time.perf_counter() - started,
        manifest=final,
        removed=plan.removed,
        kept=plan.kept,
        repaired=duplicate_lines,
        error_count=errors.count,
    )
