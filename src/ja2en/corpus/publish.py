"""A run's output folder → a Hugging Face dataset (Parquet shards + card) → the Hub.

The build streams documents.jsonl into size-bounded Parquet shards per config, in the
layout the Hub serves (`data/<config>/train-NNNNN-of-NNNNN.parquet`), with the features
embedded so `load_dataset` gives back exactly the declared types. Sources and model
names are published relative to the inputs (corpus.published_*): never a home folder.

The build is written into a fresh hidden staging folder beside the target, marked with
`.ja2en-dataset.json` (the files it wrote), and only then swapped into place. ja2en never
deletes what it did not write: the target must be new, empty, or a previous ja2en build
holding nothing else; it may never be the run folder or hold it. A previous build is
renamed aside, the new one renamed in, and only then the old one deleted, so a crash
midway never loses both. With `overwrite`, a folder of other files is renamed aside to
`NAME.replaced-<time>`, not deleted. The push is separate: when it fails (offline, no
token, refused), the local build stays and the error says how to retry.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .card import card_body, card_metadata, dataset_license
from .output import FilterCounts, PairFilter, RunOutput, open_run, published_model, published_source, select_pairs
from ..errors import InputError, Ja2enWarning, OutputError, PublishError, display_path
from ..models.hub import call_hub, describe_hub_failure, is_network_error
from ..writers import lock_holder, process_running

DEFAULT_SHARD_BYTES = 256 * 1024 * 1024  # the Hub's viewer and loaders prefer shards well under 1 GB
_BATCH_ROWS = 1_000
_ROW_BYTES_GUESS = 512  # a sentence pair in Arrow; sizes batches so one never spans many shards
DATASET_MARKER = ".ja2en-dataset.json"  # in every folder ja2en builds: the files it wrote there
_HUB_UPLOAD_STATE = ".cache/huggingface"  # what huggingface_hub leaves in a pushed folder to resume


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a dataset build wrote."""

    local_dir: Path
    license: str
    rows: dict[str, int]  # config → rows
    shards: dict[str, int]  # config → Parquet files
    filter_counts: FilterCounts
    partial: bool = False  # built from an unfinished run
    moved_aside: Path | None = None  # where `overwrite` moved the folder's previous contents


@dataclass(frozen=True, slots=True)
class PublishResult:
    """A build, and where it was pushed (None for a dry run)."""

    build: BuildResult
    repo_id: str | None
    url: str | None


def _features(columns: set[str], with_summary_ja: bool) -> dict[str, Any]:
    from datasets import Features, List, Translation, Value

    sentences = {
        "doc_id": Value("string"),
        "paragraph": Value("int32"),
        "sentence": Value("int32"),
        "translation": Translation(languages=["ja", "en"]),
    }
    if "score" in columns:
        sentences["score"] = Value("float64")
    if "flags" in columns:
        sentences["flags"] = List(Value("string"))
    if "locator" in columns:
        sentences["locator"] = Value("string")
    documents = {
        name: Value("string")
        for name in ["doc_id", "source", "format", "title", "sha256", "encoding", "meta", "ja", "en", "summary_en"]
        + (["summary_ja", "summary_ja_en"] if with_summary_ja else [])
        + ["translation_model", "translation_revision", "summarization_model", "summarization_revision"]
        + (["ja_summarization_model", "ja_summarization_revision"] if with_summary_ja else [])
    }
    return {"sentences": Features(sentences), "documents": Features(documents)}


def _document_row(doc: dict[str, Any], with_summary_ja: bool, inputs: list[str]) -> dict[str, Any]:
    models = doc.get("models", {})
    row = {
        "doc_id": doc["id"],
        "source": published_source(doc["source"], inputs),
        "format": doc.get("format", "txt"),
        "title": doc.get("title"),
        "sha256": doc["sha256"],
        "encoding": doc["encoding"],
        # A JSON object as text: each table's own columns, which no one schema can hold.
        "meta": json.dumps(doc["meta"], ensure_ascii=False) if doc.get("meta") is not None else None,
        "ja": doc["ja"],
        "en": doc["en"],
        "summary_en": doc.get("summary_en"),
    }
    if with_summary_ja:
        row["summary_ja"] = doc.get("summary_ja")
        row["summary_ja_en"] = doc.get("summary_ja_en")
    for role in ("translation", "summarization") + (("ja_summarization",) if with_summary_ja else ()):
        row[f"{role}_model"] = published_model(models.get(role))
        row[f"{role}_revision"] = models.get(f"{role}_revision")
    return row


def _write_shards(rows: Iterable[dict[str, Any]], features: Any, folder: Path, shard_bytes: int) -> tuple[int, int]:
    """Stream rows into Parquet files of about `shard_bytes` each; return (rows, shards)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    batch_rows = max(1, min(_BATCH_ROWS, shard_bytes // _ROW_BYTES_GUESS))
    schema = features.arrow_schema  # carries the `datasets` features as schema metadata
    written, shards, shard_size = 0, [], 0
    writer: pq.ParquetWriter | None = None

    def batches() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == batch_rows:
                yield batch
                batch = []
        if batch or not written:
            yield batch

    with contextlib.ExitStack() as files:
        for batch in batches():
            table = pa.Table.from_pylist([features.encode_example(r) for r in batch], schema=schema)
            if writer is None or shard_size >= shard_bytes:
                if writer:
                    writer.close()
                shards.append(folder / f"part-{len(shards):05d}.parquet")
                # A file object, not the path: pyarrow cannot open a path that is not valid UTF-8.
                sink = files.enter_context(shards[-1].open("wb"))
                writer, shard_size = pq.ParquetWriter(sink, schema), 0
            writer.write_table(table)
            shard_size += table.nbytes
            written += len(batch)
        if writer:
            writer.close()
    for index, path in enumerate(shards):
        path.rename(folder / f"train-{index:05d}-of-{len(shards):05d}.parquet")
    return written, len(shards)


def build_dataset(
    output_dir: Path | str,
    local_dir: Path | str,
    *,
    repo_id: str | None = None,
    pretty_name: str | None = None,
    description: str | None = None,
    license: str | None = None,
    pair_filter: PairFilter = PairFilter(),
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    overwrite: bool = False,
    partial: bool = False,
) -> BuildResult:
    """Build the `sentences` and `documents` configs and the card into `local_dir`.

    `overwrite`: build even into a folder of other files, which is moved aside (never
    deleted). `partial`: accept a run that has not finished; the card says so.
    """
    local = Path(local_dir)
    _check_local_dir(Path(output_dir), local, overwrite)  # before any reading: a wrong path fails at once
    with _publish_lock(local):
        return _build_locked(
            output_dir, local, repo_id=repo_id, pretty_name=pretty_name, description=description, license=license,
            pair_filter=pair_filter, shard_bytes=shard_bytes, overwrite=overwrite, partial=partial,
        )  # fmt: skip


def _build_locked(output_dir: Path | str, local: Path, *, license: str | None, partial: bool, **settings: Any) -> BuildResult:
    """`build_dataset`, once `local` is locked: clear what stopped publishes left, build, swap in."""
    overwrite = settings.pop("overwrite")
    _clear_leftovers(local)
    with open_run(output_dir, partial=partial) as output:
        models = [info["name"] for info in output.manifest.get("models", {}).values() if info]
        license_id = dataset_license(models, license)
        staging: Path | None = None
        try:
            staging = _make_staging(local)
            rows, shards, counts = _write_build(output, staging, license_id=license_id, **settings)
            moved_aside = _swap_in(staging, output.folder, local, overwrite)
        except OSError as exc:
            raise OutputError(f"{local}: cannot write the dataset ({exc.strerror}); choose another --local-dir") from None
        finally:
            if staging is not None:  # ours, by its fresh random name; gone once swapped in
                shutil.rmtree(staging, ignore_errors=True)
    return BuildResult(
        local_dir=local,
        license=license_id,
        rows=rows,
        shards=shards,
        filter_counts=counts,
        partial=not output.finished,
        moved_aside=moved_aside,
    )


def _write_build(
    output: RunOutput,
    staging: Path,
    *,
    repo_id: str | None,
    pretty_name: str | None,
    description: str | None,
    license_id: str,
    pair_filter: PairFilter,
    shard_bytes: int,
) -> tuple[dict[str, int], dict[str, int], FilterCounts]:
    """Write both configs, the card and the marker into `staging`; return (rows, shards, filter counts)."""
    from huggingface_hub import DatasetCard

    columns: set[str] = set()
    with_summary_ja = False
    for doc in output.documents():
        with_summary_ja = with_summary_ja or doc.get("summary_ja") is not None
        for pair in doc["pairs"]:
            columns.update(key for key in ("score", "flags", "locator") if pair.get(key) is not None)
    features = _features(columns, with_summary_ja)

    counts = FilterCounts()
    sentence_rows = (
        {
            "doc_id": row.doc_id,
            "paragraph": row.paragraph,
            "sentence": row.sentence,
            "translation": {"ja": row.ja, "en": row.en},
            **({"score": row.score} if "score" in columns else {}),
            **({"flags": list(row.flags)} if "flags" in columns else {}),
            **({"locator": row.locator} if "locator" in columns else {}),
        }
        for row in select_pairs(output, pair_filter, counts)
    )
    n_sentences, s_shards = _write_shards(sentence_rows, features["sentences"], staging / "data" / "sentences", shard_bytes)
    inputs = [str(given) for given in output.manifest.get("inputs", [])]
    document_rows = (_document_row(doc, with_summary_ja, inputs) for doc in output.documents())
    n_documents, d_shards = _write_shards(document_rows, features["documents"], staging / "data" / "documents", shard_bytes)

    name = pretty_name or (repo_id.split("/")[-1] if repo_id else f"ja2en corpus ({output.folder.name})")
    metadata = card_metadata(license_id=license_id, pretty_name=name, sentence_rows=n_sentences, features=features)
    body = card_body(
        pretty_name=name,
        repo_id=repo_id,
        description=description,
        manifest=output.manifest,
        license_id=license_id,
        counts={"documents": n_documents, "filter": counts.to_dict(), "columns": columns},
        partial=None if output.finished else (n_documents, output.documents_planned),
    )
    # DatasetCard parses the YAML back: a card the Hub would reject fails here, not there.
    DatasetCard("---\n" + _yaml(metadata) + "---\n\n" + body).save(staging / "README.md")
    _write_marker(staging)
    return (
        {"sentences": n_sentences, "documents": n_documents},
        {"sentences": s_shards, "documents": d_shards},
        counts,
    )


def _write_marker(folder: Path) -> None:
    """Mark `folder` as a ja2en build, listing its files: the only ones a rebuild may delete."""
    from .. import __version__  # here, not at import time: the package imports this module

    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    marker = {"created_by": "ja2en", "ja2en_version": __version__, "files": files}
    (folder / DATASET_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _check_local_dir(run: Path, local: Path, overwrite: bool) -> str:
    """What `local` is now ("new", "empty", "build" or "foreign"); OutputError where ja2en must not build."""
    target, run_folder = local.resolve(), run.resolve()
    suggestion = f"choose another folder, such as {run / 'hf-dataset'}"
    if target == run_folder:
        raise OutputError(
            f"--local-dir {local} is the run folder; building the dataset there would replace the run's own files; "
            + suggestion
        )
    if run_folder.is_relative_to(target):
        raise OutputError(
            f"--local-dir {local} holds the run folder {run}; building the dataset there would replace it; " + suggestion
        )
    if not target.exists():
        return "new"
    if not target.is_dir():
        raise OutputError(f"--local-dir {local} is a file, not a folder; choose another folder")
    foreign = _foreign_entries(target)
    if not foreign:
        return "build" if any(target.iterdir()) else "empty"
    if not overwrite:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutputError(
            f"--local-dir {local} holds files ja2en did not write ({shown}); choose an empty or new folder, "
            f"or pass --overwrite to move it aside to {local}.replaced-<time> and build there"
        )
    return "foreign"


def _foreign_entries(folder: Path) -> list[str]:
    """What in `folder` no ja2en build wrote, as relative paths (top-level names if it is no build at all)."""
    ours = _build_files(folder)
    if ours is None:
        # Not a build of ours: name what is there, without walking what may be a whole home folder.
        return sorted(entry.name for entry in folder.iterdir())
    folders = {parent.as_posix() for name in ours for parent in Path(name).parents}
    foreign = []
    for here, subfolders, files in os.walk(folder):
        relative = Path(here).relative_to(folder)
        descend = []
        for name in sorted(subfolders):
            path = (relative / name).as_posix()
            if path in folders or path == ".cache":
                descend.append(name)
            elif not _is_upload_state(path):
                foreign.append(path)
        subfolders[:] = descend
        foreign += [
            path
            for path in ((relative / name).as_posix() for name in sorted(files))
            if path not in ours and not _is_upload_state(path)
        ]
    return sorted(foreign)


def _build_files(folder: Path) -> set[str] | None:
    """The files a ja2en build wrote in `folder` (its marker's list), or None if it is no ja2en build.

    A build by ja2en 0.1.0, which wrote no marker, is recognized by its exact layout: a
    README.md tagged ja2en and nothing but `data/{sentences,documents}/train-*.parquet`.
    """
    try:
        listed = json.loads((folder / DATASET_MARKER).read_text(encoding="utf-8"))["files"]
        return {str(name) for name in listed} | {DATASET_MARKER}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not {entry.name for entry in folder.iterdir()} <= {"README.md", "data", ".cache"}:
        return None
    try:
        readme = (folder / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not readme.startswith("---\n") or "\n- ja2en\n" not in readme.split("\n---\n", 1)[0]:
        return None
    files = {"README.md"}
    for config in ("sentences", "documents"):
        files |= {path.relative_to(folder).as_posix() for path in (folder / "data" / config).glob("train-*.parquet")}
    return files


def _is_upload_state(path: str) -> bool:
    # huggingface_hub keeps an interrupted push's progress here: ja2en's push wrote it.
    return path == _HUB_UPLOAD_STATE or path.startswith(_HUB_UPLOAD_STATE + "/")


_LEFTOVER = "ja2en-"  # `.D.ja2en-building-PID-XXXX`, `.D.ja2en-old-PID-XXXX`: beside D while a publish works


@contextmanager
def _publish_lock(local: Path) -> Iterator[None]:
    """Hold `.D.ja2en-publish.lock` beside `local` (D) while building or pushing it; OutputError if another publish does.

    The file is removed on release; a process that locked a file removed meanwhile
    opens it again, so two publishes never hold locks on two different files.
    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no locking
        yield
        return
    target = local.resolve()
    path = target.with_name(f".{target.name}.{_LEFTOVER}publish.lock")
    while True:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"{local}: cannot write the dataset ({exc.strerror}); choose another --local-dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = lock_holder(fd, tries=50) or "unknown"
            os.close(fd)
            raise OutputError(
                f"--local-dir {display_path(local)} is being built or pushed by another ja2en publish (pid {holder}); "
                "wait for it to finish, then try again"
            ) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # its holder removed it as we opened it: take the new one
    try:
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked, so no one locks the old file after this
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), path.stat())
    except OSError:
        return False


def _clear_leftovers(local: Path) -> None:
    """Remove, or restore, what publishes of `local` (D) that were stopped left beside it, with a warning.

    Runs under D's lock, so no publish of D is under way; a leftover whose owner pid is
    still alive is kept all the same (a ja2en older than the lock may be building).
    A previous build left aside while D is missing (a kill inside the swap) is put back.
    """
    target = local.resolve()
    prefix = f".{target.name}.{_LEFTOVER}"
    try:
        entries = [e for e in target.parent.iterdir() if e.name.startswith(prefix) and e.is_dir() and not e.is_symlink()]
    except OSError:
        return
    stale = {"building": [], "old": []}  # type: dict[str, list[Path]]
    for entry in sorted(entries):
        kind, _, owner = entry.name[len(prefix) :].partition("-")
        if kind in stale and not _owner_alive(owner):
            stale[kind].append(entry)
    kept = [entry for entry in stale["old"] if _foreign_entries(entry)]
    for entry in kept:
        warnings.warn(Ja2enWarning(
            f"left {display_path(entry.name)} beside --local-dir {display_path(local)}: a stopped publish left it, "
            "but it holds files ja2en did not write"
        ), stacklevel=4)  # fmt: skip
    old = [entry for entry in stale["old"] if entry not in kept]
    if old and not os.path.lexists(target):
        newest = max(old, key=lambda entry: entry.stat().st_mtime)
        with contextlib.suppress(OSError):
            newest.rename(target)
            old.remove(newest)
            warnings.warn(Ja2enWarning(
                f"--local-dir {display_path(local)} was missing, as a publish was stopped while replacing it; "
                f"restored the previous build from {display_path(newest.name)}"
            ), stacklevel=4)  # fmt: skip
    removed = stale["building"] + old
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True)
    if removed:
        names = sorted(display_path(entry.name) for entry in removed)
        warnings.warn(Ja2enWarning(
            f"removed what a stopped publish left beside --local-dir {display_path(local)}: {', '.join(names)}"
        ), stacklevel=4)  # fmt: skip


def _owner_alive(owner: str) -> bool:
    """Whether the publish named in a leftover (`PID-XXXX`) still runs; a name without a pid has none."""
    pid, _, rest = owner.partition("-")
    if not (pid.isdigit() and rest) or int(pid) == os.getpid():
        return False
    return process_running(int(pid))


def _make_staging(local: Path) -> Path:
    """A fresh, hidden folder beside `local` (same file system, so it can be renamed into place)."""
    target = local.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{_LEFTOVER}building-{os.getpid()}-{secrets.token_hex(4)}")
    staging.mkdir()  # not mkdtemp: its mode 0700 would become the dataset folder's
    return staging


def _swap_in(staging: Path, run: Path, local: Path, overwrite: bool) -> Path | None:
    """Put the finished build in place of `local`; returns where a folder of other files went."""
    target = local.resolve()
    state = _check_local_dir(run, local, overwrite)  # again: the folder may have changed during the build
    if state == "new":
        staging.rename(target)
        return None
    if state == "empty":
        target.rmdir()
        staging.rename(target)
        return None
    if state == "build":
        aside = target.with_name(f".{target.name}.{_LEFTOVER}old-{os.getpid()}-{secrets.token_hex(4)}")
    else:
        aside = _unused(target.with_name(f"{target.name}.replaced-{datetime.now():%Y%m%d-%H%M%S}"))
    target.rename(aside)
    try:
        staging.rename(target)
    except OSError:
        aside.rename(target)
        raise
    if state == "build":
        shutil.rmtree(aside, ignore_errors=True)  # only files a ja2en build wrote: checked above
        return None
    shown = local.parent / aside.name if local.parent.resolve() == target.parent else aside
    warnings.warn(Ja2enWarning(f"--local-dir {local} held files ja2en did not write; they are now in {shown}"), stacklevel=3)
    return shown


def _unused(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`... whichever does not exist yet."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def push_dataset(local_dir: Path | str, repo_id: str, *, private: bool = True, token: str | None = None) -> str:
    """Upload a built dataset folder to the Hub; resumable. Returns the dataset's URL."""
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.errors import HfHubHTTPError

    local = Path(local_dir)
    kept = f"the dataset is built in {local}/"
    if constants.HF_HUB_OFFLINE:
        raise PublishError(f"cannot push while offline (HF_HUB_OFFLINE=1); {kept}, push it when online")
    token = token or get_token()
    if not token:
        raise PublishError(f"no Hugging Face token: run `hf auth login` or set HF_TOKEN; {kept}")
    api = HfApi(token=token)
    try:
        call_hub(lambda: _upload(api, local, repo_id, private))
    except HfHubHTTPError as exc:
        # Only the status: response texts can echo request details, and the token must never be printed.
        status = getattr(exc.response, "status_code", "?")
        raise PublishError(
            f"the Hugging Face Hub refused the push to {repo_id} (HTTP {status}); check that your token can write "
            f"to it (`hf auth whoami`); {kept}"
        ) from None
    except Exception as exc:
        if isinstance(exc, OSError) or is_network_error(exc):
            raise PublishError(f"{describe_hub_failure(exc)}; {kept}, re-run to push (it resumes)") from None
        raise
    return f"https://huggingface.co/datasets/{repo_id}"


def _upload(api: Any, local: Path, repo_id: str, private: bool) -> None:
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    # Both calls resume an interrupted upload when re-run: upload_large_folder (1.x)
    # keeps its progress under the folder; upload_folder (2.x, with hf_xet) skips
    # committed files and deduplicates uploaded data.
    # The marker is ja2en's local bookkeeping, not part of the dataset.
    if hasattr(api, "upload_large_folder"):
        api.upload_large_folder(
            repo_id=repo_id, folder_path=local, repo_type="dataset", private=private, ignore_patterns=[DATASET_MARKER]
        )
    else:
        api.upload_folder(
            repo_id=repo_id, folder_path=local, repo_type="dataset", commit_message="Upload with ja2en",
            ignore_patterns=[DATASET_MARKER],
        )  # fmt: skip


def publish(
    output_dir: Path | str,
    *,
    repo_id: str | None,
    local_dir: Path | str | None = None,
    dry_run: bool = False,
    public: bool = False,
    license: str | None = None,
    pretty_name: str | None = None,
    description: str | None = None,
    pair_filter: PairFilter = PairFilter(),
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    overwrite: bool = False,
    partial: bool = False,
) -> PublishResult:
    """Build the dataset (default: `<output_dir>/hf-dataset/`) and, unless `dry_run`, push it.

    `overwrite` and `partial` are build_dataset's.
    """
    if not dry_run and not repo_id:
        raise InputError("--repo-id ORG/NAME is needed to push; add --dry-run to only build the dataset locally")
    if repo_id and repo_id.count("/") != 1:
        raise InputError(f"--repo-id must look like ORG/NAME, not '{repo_id}'")
    local = Path(local_dir or Path(output_dir) / "hf-dataset")
    _check_local_dir(Path(output_dir), local, overwrite)  # before any reading: a wrong path fails at once
    with _publish_lock(local):  # through the push: another publish must not swap the folder being uploaded
        build = _build_locked(
            output_dir, local, repo_id=repo_id, pretty_name=pretty_name, description=description, license=license,
            pair_filter=pair_filter, shard_bytes=shard_bytes, overwrite=overwrite, partial=partial,
        )  # fmt: skip
        if dry_run:
            return PublishResult(build, repo_id, None)
        url = push_dataset(build.local_dir, repo_id, private=not public)  # type: ignore[arg-type]
    return PublishResult(build, repo_id, url)
