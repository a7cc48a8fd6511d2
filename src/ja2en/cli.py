"""The `ja2en` command: parse options, call the library, draw progress, print one result line.

Library errors become one `error: ...` line on stderr and an exit code (2 bad input,
3 model/device, 4 output); set JA2EN_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from . import __version__
from .errors import InputError, Ja2enError, Ja2enWarning, PagesWithoutTextError, RunInterrupted, display_path, first_line
from .backends import AUTO_BACKEND, BACKENDS
from .models.load import DEVICES, DTYPES
from .corpus.output import FilterCounts, PairFilter
from .journal import read_errors
from .run import Progress, RunOptions, RunResult, translate_documents
from .corpus.export import FORMATS, export_corpus
from .models.presets import DEFAULT_JA_SUMMARIZER, DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL, license_warning
from .corpus.publish import publish
from .corpus.report import write_report
from .readers import MAX_INPUT_MB, SUFFIXES
from .models.store import QUANTIZATIONS, convert_model, download_model, list_models
from .evaluate import evaluate
from .references import read_references
from .summarize import Summarizer
from .translate import Translator

app = typer.Typer(
    name="ja2en",
    help="Japanese documents → sentence-aligned Japanese-English JSONL with English summaries.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Shared option types, so the same option reads the same in every command.
ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="Translation model: a preset (`ja2en models list`), Hub id or local folder.")
]
SummarizerOption = Annotated[
    str, typer.Option("--summarizer", help="Summarization model: a preset, Hub id or local folder.")
]
DeviceOption = Annotated[str, typer.Option("--device", help=f"One of {', '.join(DEVICES)} (or cuda:N).")]
DtypeOption = Annotated[str, typer.Option("--dtype", help=f"One of {', '.join(DTYPES)}.")]
BatchOption = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Most sentences per batch.")]
BatchTokensOption = Annotated[
    int | None,
    typer.Option(
        "--batch-tokens",
        min=1,
        help="Most source tokens per batch, padding included, times beams; default: chosen by device and beams.",
    ),
]
EarlyStoppingOption = Annotated[
    bool,
    typer.Option(
        "--early-stopping",
        help="End beam search once --beams translations have finished: about 1.5x faster, "
        "but some sentences differ from the full search.",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, help="Batches run at once on CPU (ct2 backend); default: one per thread."
    ),
]
BackendOption = Annotated[
    str, typer.Option("--backend", help=f"Inference backend: auto ({AUTO_BACKEND}), {', '.join(BACKENDS)}.")
]
BeamsOption = Annotated[int, typer.Option("--beams", min=1, help="Beam size (1 = greedy).")]
EncodingOption = Annotated[
    str | None, typer.Option("--encoding", help="Force an input encoding (e.g. cp932); default: detect.")
]
TrustRemoteCodeOption = Annotated[
    bool, typer.Option("--trust-remote-code", help="Allow models that run their own Python code.")
]

# translate's options, named here so the command reads as a list of what it takes.
NoSummaryOption = Annotated[bool, typer.Option("--no-summary", help="Skip the summaries (--summary none).")]
SummaryOption = Annotated[
    str,
    typer.Option(
        "--summary",
        help="en: summarize the English translation; ja: summarize the Japanese (--ja-summarizer), "
        "then translate that summary; both; none.",
    ),
]
JaSummarizerOption = Annotated[
    str, typer.Option("--ja-summarizer", help="Model that summarizes Japanese, for --summary ja/both.")
]
FailFastOption = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first bad document.")]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the translation cache (~/.cache/ja2en).")
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Replace outputs of a run with other settings or other inputs instead of refusing."),
]
AppendOption = Annotated[
    bool,
    typer.Option("--append", help="Keep the documents already in the output folder and add these inputs' documents."),
]
EngineOption = Annotated[
    str, typer.Option("--engine", help="local: this process; ray: a Ray cluster (needs the ray extra).")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="--engine ray: the cluster (ray://HEAD:10001, HEAD:6379, auto); default $RAY_ADDRESS, else local.",
    ),
]
ActorsOption = Annotated[int, typer.Option("--actors", min=1, help="--engine ray: model replicas (Ray actors).")]
GpusPerActorOption = Annotated[
    float, typer.Option("--gpus-per-actor", min=0, help="--engine ray: GPUs per actor (0.5: two share a GPU).")
]
CpusPerActorOption = Annotated[
    float, typer.Option("--cpus-per-actor", min=0, help="--engine ray: CPUs per actor (its model threads).")
]
TextFieldOption = Annotated[
    str, typer.Option("--text-field", help="The column (CSV, TSV, Parquet, datasets) or JSONL key holding the text.")
]
IdFieldOption = Annotated[
    str,
    typer.Option(
        "--id-field", help="The column or JSONL key holding the document id; without an 'id' column, the row number."
    ),
]
MaxInputOption = Annotated[
    int,
    typer.Option(
        "--max-input-mb",
        min=1,
        help="The most one input document may take: a file read whole, what a .docx/.epub unpacks to, "
        "one JSONL line or CSV row.",
    ),
]
ShardDirOption = Annotated[
    Path | None,
    typer.Option(
        "--shard-dir",
        help="--engine ray: where actors write finished documents before the driver copies them "
        "(default: inside the output folder; on several machines, a path all of them reach).",
    ),
]
ReportOption = Annotated[
    bool, typer.Option("--report", help="Also write report.html, a page to review the run in a browser.")
]
ParquetOption = Annotated[bool, typer.Option("--parquet", help="Also write documents.parquet and sentences.parquet.")]
# An LLM behind an OpenAI-compatible server (--model openai:NAME): see the README, "Translating with an LLM".
ApiBaseOption = Annotated[
    list[str] | None,
    typer.Option(
        "--api-base",
        help="openai: models: the server's URL, e.g. http://localhost:8000/v1 "
        "(repeat for several; default $OPENAI_BASE_URL).",
    ),
]
ApiKeyEnvOption = Annotated[
    str, typer.Option("--api-key-env", help="openai: models: the environment variable that holds the API key.")
]
LlmApiOption = Annotated[
    str | None, typer.Option("--llm-api", help="openai: models: chat (default) or completions (base models, PLaMo).")
]
PromptTemplateOption = Annotated[
    Path | None, typer.Option("--prompt-template", help="openai: models: a prompt template file (JSON).")
]
ConcurrencyOption = Annotated[int, typer.Option("--concurrency", help="openai: models: requests in flight at once.")]
RpmOption = Annotated[float | None, typer.Option("--rpm", help="openai: models: most requests per minute.")]
TpmOption = Annotated[float | None, typer.Option("--tpm", help="openai: models: most tokens per minute.")]
FallbackModelOption = Annotated[
    str | None,
    typer.Option(
        "--fallback-model",
        help="openai: models: a seq2seq model (preset, Hub id or folder) for the "
        "sentences the LLM fails.",
    ),
]
LlmDryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="openai: models: print the requests and estimated tokens of the run; send nothing.")
]
TokenBudgetOption = Annotated[
    int | None,
    typer.Option(
        "--token-budget",
        help="openai: models: send no more requests once this many tokens are spent "
        "(resumable).",
    ),
]

# Pair filters shared by publish and export.
MinScoreOption = Annotated[
    float | None, typer.Option("--min-score", help="Drop pairs scored below this (mean token log-probability).")
]
DropFlaggedOption = Annotated[bool, typer.Option("--drop-flagged", help="Drop pairs with quality flags.")]
DedupOption = Annotated[bool, typer.Option("--dedup", help="Keep only the first of identical (ja, en) pairs.")]
PartialOption = Annotated[
    bool,
    typer.Option("--partial", help="Use a run that has not finished: only its finished documents, marked as partial."),
]

F = TypeVar("F", bound=Callable[..., Any])


def _dropped(counts: FilterCounts) -> str:
    """' (3 dropped: 2 duplicate, 1 flagged)', or '' when nothing was."""
    reasons = [f"{n} {why.replace('_', ' ')}" for why, n in counts.dropped.items() if n]
    return f" ({sum(counts.dropped.values())} dropped: {', '.join(reasons)})" if reasons else ""


def _echo_error(message: str) -> None:
    # Messages carry file names, which can hold anything: never fail to print one.
    typer.echo(f"error: {message}".encode("utf-8", "backslashreplace").decode("utf-8"), err=True)


def _report_errors(command: F) -> F:
    """Turn library errors into one line on stderr and the error's exit code.

    Anything else is a bug: one line that says so (the work done so far is kept), and the
    traceback with JA2EN_DEBUG=1.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", Ja2enWarning)
                warnings.showwarning = _show_warning
                return command(*args, **kwargs)
        except Ja2enError as error:
            if os.environ.get("JA2EN_DEBUG"):
                raise
            _echo_error(str(error))
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt as interrupt:
            # A command other than a run is only ever half-done in hidden folders or temporary
            # files, which the next one clears or resumes.
            if isinstance(interrupt, RunInterrupted):
                message = f"{interrupt} — run the same command to resume"
            else:
                message = "interrupted; re-run the same command (a download or a push resumes where it stopped)"
            typer.echo(message, err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            if os.environ.get("JA2EN_DEBUG"):
                raise
            detail = first_line(error, empty="")
            _echo_error(
                f"unexpected {type(error).__name__}: {detail}; what was finished is saved. This is a bug: "
                "re-run with JA2EN_DEBUG=1 to see the traceback and report it"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """The library's warnings as one `warning: ...` line each; others as Python shows them."""
    if issubclass(category, Ja2enWarning):
        typer.echo(f"warning: {message}".encode("utf-8", "backslashreplace").decode("utf-8"), err=True)
    else:
        _PYTHON_SHOWWARNING(message, category, *args, **kwargs)


_PYTHON_SHOWWARNING = warnings.showwarning


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ja2en {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Japanese documents → sentence-aligned Japanese-English JSONL with English summaries."""


class _Tracker:
    """Remembers how many documents are done, for the line printed on Ctrl-C; draws the bar on a terminal."""

    def __init__(self, bar: _ProgressBar | None) -> None:
        self.bar = bar
        self.documents = 0

    def __call__(self, event: Progress) -> None:
        self.documents = event.documents_done
        if self.bar:
            self.bar(event)


class _ProgressBar:
    """Renders library Progress events as a rich progress bar over sentences."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sentences · {task.fields[docs]} docs"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("loading", total=None, docs="0/0")

    def __call__(self, event: Progress) -> None:
        self.bar.update(
            self.task,
            description=event.stage,
            completed=event.sentences_done,
            total=event.sentences_total or None,  # None: not known yet (inputs still being read)
            docs=f"{event.documents_done}/{event.documents_total}" if event.documents_total else f"{event.documents_done}",
        )

    def __enter__(self) -> _ProgressBar:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


@app.command("translate")
@_report_errors
def translate_cli(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help=f"Folders and files: {' '.join(SUFFIXES)}, or a saved Hugging Face dataset folder."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("outputs"),
    model: ModelOption = DEFAULT_TRANSLATION_MODEL,
    summarizer: SummarizerOption = DEFAULT_SUMMARY_MODEL,
    no_summary: NoSummaryOption = False,
    summary: SummaryOption = "en",
    ja_summarizer: JaSummarizerOption = DEFAULT_JA_SUMMARIZER,
    batch_size: BatchOption = 64,
    batch_tokens: BatchTokensOption = None,
    workers: WorkersOption = None,
    early_stopping: EarlyStoppingOption = False,
    beams: BeamsOption = 4,
    backend: BackendOption = "auto",
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    encoding: EncodingOption = None,
    text_field: TextFieldOption = "text",
    id_field: IdFieldOption = "id",
    max_input_mb: MaxInputOption = MAX_INPUT_MB,
    fail_fast: FailFastOption = False,
    no_cache: NoCacheOption = False,
    force: ForceOption = False,
    append: AppendOption = False,
    trust_remote_code: TrustRemoteCodeOption = False,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    actors: ActorsOption = 1,
    gpus_per_actor: GpusPerActorOption = 0.0,
    cpus_per_actor: CpusPerActorOption = 1.0,
    shard_dir: ShardDirOption = None,
    parquet: ParquetOption = False,
    report: ReportOption = False,
    api_base: ApiBaseOption = None,
    api_key_env: ApiKeyEnvOption = "OPENAI_API_KEY",
    llm_api: LlmApiOption = None,
    prompt_template: PromptTemplateOption = None,
    concurrency: ConcurrencyOption = 8,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    token_budget: TokenBudgetOption = None,
    dry_run: LlmDryRunOption = False,
    fallback_model: FallbackModelOption = None,
) -> None:
    """Translate Japanese documents and write documents.jsonl, sentences.jsonl and manifest.json.

    Re-running the same command resumes: documents already finished in the output folder are skipped.
    """
    if engine not in ("local", "ray"):
        raise InputError(f"unknown engine '{engine}'; use local or ray")
    if engine == "local" and (ray_address or actors != 1 or gpus_per_actor or cpus_per_actor != 1 or shard_dir):
        raise InputError("--ray-address, --actors, --gpus-per-actor, --cpus-per-actor and --shard-dir need --engine ray")
    options = RunOptions(
        model=model, summary="none" if no_summary else summary, summarizer_model=summarizer,
        ja_summarizer_model=ja_summarizer, beams=beams, batch_size=batch_size, batch_tokens=batch_tokens,
        early_stopping=early_stopping or None, workers=workers, backend=backend, device=device, dtype=dtype, cache=not no_cache, trust_remote_code=trust_remote_code,
        encoding=encoding, text_field=text_field, id_field=id_field, max_input_mb=max_input_mb, force=force, append=append, fail_fast=fail_fast,
        parquet=parquet, report=report, api_base=tuple(api_base or ()) or None, api_key_env=api_key_env,
        llm_api=llm_api, prompt_template=prompt_template, concurrency=concurrency, rpm=rpm, tpm=tpm,
        token_budget=token_budget, fallback_model=fallback_model,
    )  # fmt: skip
    if dry_run:
        _print_estimate(inputs, output, options)
        return
    if engine == "ray" and options.uses_llm:
        raise InputError("--engine ray does not take openai: models yet; use --engine local (requests already run in parallel)")
    for name in options.model_names():
        if warning := license_warning(name):
            typer.echo(f"warning: {warning}", err=True)
    if engine == "ray":
        from .distributed.engine import translate_on_ray

        run = functools.partial(
            translate_on_ray, address=ray_address, actors=actors, gpus_per_actor=gpus_per_actor,
            cpus_per_actor=cpus_per_actor, shard_dir=shard_dir,
        )  # fmt: skip
    else:
        run = translate_documents
    result = _run_with_progress(run, inputs, output, options)
    # Every error, read back from errors.jsonl one at a time: the result holds only the first few.
    # Pages without text do not fail their document, which is translated less those pages; the
    # run warned of each as it read it, so they are counted here, not repeated as errors.
    pages_left_out = 0
    for record in read_errors(result.files["errors"]):
        if record["error"] == PagesWithoutTextError.__name__:
            pages_left_out += 1
        else:
            _echo_error(record["message"])
    failed = f", {result.error_count - pages_left_out} failed (see above)" if result.error_count > pages_left_out else ""
    if pages_left_out:
        failed += f", {pages_left_out} with pages left out (see errors.jsonl)"
    notes = "".join(f", {note}" for note in result.notes())
    written = ", ".join(path.name for name, path in result.files.items() if name != "report")
    report_at = f"; review it in {display_path(result.files['report'])}" if "report" in result.files else ""
    usage = result.manifest.get("llm_usage")
    tokens = (
        f", {usage['requests']} requests, {usage['prompt_tokens']} prompt tokens + {usage['completion_tokens']} completion tokens"
        if usage else ""
    )  # fmt: skip
    typer.echo(
        f"Translated {result.documents} documents, {result.sentences} sentences in {result.seconds:.1f} s"
        f"{tokens}{failed}{notes} → {display_path(result.output_dir)}/ ({written}){report_at}"
    )
    if result.error_count:
        raise typer.Exit(2)


def _print_estimate(inputs: list[Path], output: Path, options: RunOptions) -> None:
    if not options.uses_llm:
        raise InputError("--dry-run estimates the requests to an LLM server; it needs --model openai:NAME")
    from .backends.openai import estimate_run

    documents, usage = estimate_run(inputs, options, output)
    typer.echo(
        f"Dry run: {documents} documents would take {usage.requests} requests, about {usage.prompt_tokens} prompt tokens "
        f"and at most {usage.completion_tokens} completion tokens (estimates); nothing was sent"
    )


def _run_with_progress(run: Callable[..., RunResult], inputs: list[Path], output: Path, options: RunOptions) -> RunResult:
    """Run with a progress bar on a terminal; on Ctrl-C say what is saved and exit 130."""
    bar = _ProgressBar() if sys.stderr.isatty() else None
    tracker = _Tracker(bar)
    with bar or contextlib.nullcontext():
        try:
            return run(inputs, output_dir=output, options=options, progress=tracker)
        except KeyboardInterrupt as interrupt:
            saved = interrupt.saved if isinstance(interrupt, RunInterrupted) else tracker.documents
            message = f"interrupted; {saved} documents are saved in {display_path(output)} — run the same command to resume"
    typer.echo(message, err=True)  # after the bar is gone, so the line stays on the screen
    raise typer.Exit(130)


@app.command("publish")
@_report_errors
def publish_cli(
    output_dir: Annotated[Path, typer.Argument(help="A finished `ja2en translate` output folder.")],
    repo_id: Annotated[str | None, typer.Option("--repo-id", help="Hub dataset to push to: ORG/NAME.")] = None,
    local_dir: Annotated[
        Path | None, typer.Option("--local-dir", help="Where to build it (default OUTPUT_DIR/hf-dataset).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build locally, push nothing.")] = False,
    public: Annotated[bool, typer.Option("--public", help="Make the Hub dataset public (default private).")] = False,
    license: Annotated[
        str | None, typer.Option("--license", help="Dataset license (default: derived from the models').")
    ] = None,
    pretty_name: Annotated[str | None, typer.Option("--pretty-name", help="Title of the dataset card.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="Where the source documents come from, for the card.")
    ] = None,
    min_score: MinScoreOption = None,
    drop_flagged: DropFlaggedOption = False,
    dedup: DedupOption = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Build into a --local-dir that holds other files: they are moved aside to DIR.replaced-<time>, "
            "never deleted (never allowed for the run folder).",
        ),
    ] = False,
    partial: PartialOption = False,
) -> None:
    """Build a Hugging Face dataset (configs `sentences`, `documents`) from a run and push it to the Hub."""
    result = publish(
        output_dir,
        repo_id=repo_id,
        local_dir=local_dir,
        dry_run=dry_run,
        public=public,
        license=license,
        pretty_name=pretty_name,
        description=description,
        pair_filter=PairFilter(min_score=min_score, drop_flagged=drop_flagged, dedup=dedup),
        overwrite=overwrite,
        partial=partial,
    )
    build = result.build
    where = "dry run, nothing pushed" if result.url is None else f"pushed to {result.url} ({'public' if public else 'private'})"
    typer.echo(
        f"Built {build.rows['documents']} documents and {build.rows['sentences']} sentence pairs"
        f"{_dropped(build.filter_counts)} in {display_path(build.local_dir)}/ (license {build.license}); {where}"
    )


@app.command("export")
@_report_errors
def export_cli(
    output_dir: Annotated[Path, typer.Argument(help="A finished `ja2en translate` output folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")] = "tmx",
    destination: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="File to write (a prefix for moses), or a folder for corpus.<format> in it; "
            "default OUTPUT_DIR/corpus.<format>.",
        ),
    ] = None,
    min_score: MinScoreOption = None,
    drop_flagged: DropFlaggedOption = False,
    dedup: DedupOption = False,
    partial: PartialOption = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace existing files at --to that an export did not write (never the run's own files or inputs).",
        ),
    ] = False,
) -> None:
    """Export the aligned pairs for CAT and MT tools: TMX 1.4b, Moses text files, or JParaCrawl-style TSV."""
    result = export_corpus(
        output_dir,
        format=format,
        destination=destination,
        pair_filter=PairFilter(min_score=min_score, drop_flagged=drop_flagged, dedup=dedup),
        partial=partial,
        overwrite=overwrite,
    )
    replaced = f", {result.replaced_characters} unwritable characters replaced by U+FFFD" if result.replaced_characters else ""
    typer.echo(
        f"Exported {result.counts.kept} pairs{_dropped(result.counts)}{replaced} → "
        + ", ".join(str(path) for path in result.files)
    )


@app.command("report")
@_report_errors
def report_cli(
    output_dir: Annotated[Path, typer.Argument(help="A `ja2en translate` output folder, finished or not.")],
    destination: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="The HTML file to write, or a folder for report.html in it; default OUTPUT_DIR/report.html."
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing file at -o that is not a ja2en report (never the run's own files or inputs).",
        ),
    ] = False,
) -> None:
    """Write one self-contained HTML page to review a run: scores, flags, documents side by side, errors."""
    path = write_report(output_dir, destination, overwrite=overwrite)
    typer.echo(f"Report → {display_path(path)} (open it in a browser; it needs no network)")


@app.command("eval")
@_report_errors
def eval_cli(
    references: Annotated[
        Path,
        typer.Argument(
            help="A .jsonl (ja, en, optional summary per line), a .tsv (ja<TAB>en), "
            "or a folder of NAME.txt + NAME.en.txt (+ NAME.summary.txt)."
        ),
    ],
    model: ModelOption = DEFAULT_TRANSLATION_MODEL,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Hub revision of --model: a branch, tag or commit.")
    ] = None,
    summarizer: SummarizerOption = DEFAULT_SUMMARY_MODEL,
    no_summary: Annotated[
        bool, typer.Option("--no-summary", help="Skip ROUGE even when the references carry summaries.")
    ] = False,
    batch_size: BatchOption = 64,
    batch_tokens: BatchTokensOption = None,
    workers: WorkersOption = None,
    early_stopping: EarlyStoppingOption = False,
    beams: BeamsOption = 4,
    backend: BackendOption = "auto",
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="Force the references' encoding (e.g. cp932); default: detect.")
    ] = None,
    trust_remote_code: TrustRemoteCodeOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Score a translation model against reference translations: BLEU, chrF, flagged sentences (and ROUGE)."""
    if model.startswith("openai:"):
        raise InputError("ja2en eval does not take openai: models yet; give it a seq2seq model (a preset, Hub id or folder)")
    refs = read_references(references, encoding=encoding)
    translator = Translator(
        model, revision=revision, beams=beams, batch_size=batch_size, batch_tokens=batch_tokens,
        early_stopping=early_stopping or None, workers=workers, backend=backend, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
    )  # fmt: skip
    summary_model = None
    if refs.summaries and not no_summary:
        summary_model = Summarizer(
            summarizer, backend=backend, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
            workers=workers,
        )  # fmt: skip
    bar = _ProgressBar() if sys.stderr.isatty() else None
    with bar or contextlib.nullcontext():
        report = evaluate(refs, translator=translator, summarizer=summary_model, progress=bar)
    typer.echo(json.dumps(report.to_dict(), ensure_ascii=False) if as_json else report.to_table())


models_app = typer.Typer(
    help="Model presets and the local models/ store (for offline use).", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@models_app.command("list")
@_report_errors
def models_list_cli(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per preset.")] = False,
) -> None:
    """Show the presets: Hub id, size, license, purpose, and whether they are in models/."""
    rows = list_models()
    if as_json:
        for preset, stored in rows:
            typer.echo(json.dumps({**preset.to_dict(), "stored": stored.to_dict() if stored else None}))
        return
    table = [("name", "task", "hub id", "size", "license", "in models/", "purpose")]
    for preset, stored in rows:
        where = stored.revision[:10] if stored else "-"
        task = f"{preset.task} ({preset.language})" if preset.task == "summarization" else preset.task
        table.append((preset.name, task, preset.hub_id, preset.download, preset.license, where, preset.purpose))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


@models_app.command("download")
@_report_errors
def models_download_cli(
    names: Annotated[list[str], typer.Argument(help="Presets (see `ja2en models list`) or Hub ids.")],
    revision: Annotated[
        str | None, typer.Option("--revision", help="A branch, tag or commit (default: the latest).")
    ] = None,
) -> None:
    """Download models into models/ at a pinned commit; an interrupted download resumes."""
    for name in names:
        stored = download_model(name, revision=revision, progress=True)
        typer.echo(f"Downloaded {name} ({stored.hub_id} at {stored.revision}) → {stored.path}/")
        if warning := license_warning(name):
            typer.echo(f"warning: {warning}", err=True)


@models_app.command("convert")
@_report_errors
def models_convert_cli(
    name: Annotated[str, typer.Argument(help="A preset, Hub id or local model folder.")],
    to: Annotated[str, typer.Option("--to", help="Target format: ct2 (CTranslate2).")] = "ct2",
    quantization: Annotated[
        str, typer.Option("--quantization", help=f"One of {', '.join(QUANTIZATIONS)}; int8 for CPUs, int8_float16 for GPUs.")
    ] = "int8",
) -> None:
    """Convert a model for the ct2 backend ahead of time, into models/ct2/."""
    path = convert_model(name, to=to, quantization=quantization)
    typer.echo(f"Converted {name} for {to} ({quantization}) → {path}/")


def main() -> None:
    """Entry point of the `ja2en` console script."""
    app()
