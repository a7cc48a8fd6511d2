"""A run's output folder → a Hugging Face dataset (Parquet shards + card) → the Hub.

The build streams documents.jsonl into size-bounded Parquet shards per config, in the
layout the Hub serves (`data/<config>/train-NNNNN-of-NNNNN.parquet`), with the features
embedded so `load_dataset` gives back exactly the declared types. It is built in a
staging folder and swapped into place whole. The push is separate: when it fails
(offline, no token, refused), the local build stays and the error says how to retry.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .card import card_body, card_metadata, dataset_license
from .corpus import FilterCounts, PairFilter, RunOutput, select_pairs
from .errors import InputError, OutputError, PublishError

DEFAULT_SHARD_BYTES = 256 * 1024 * 1024  # the Hub's viewer and loaders prefer shards well under 1 GB
_BATCH_ROWS = 1_000
_ROW_BYTES_GUESS = 512  # a sentence pair in Arrow; sizes batches so one never spans many shards


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a dataset build wrote."""

    local_dir: Path
    license: str
    rows: dict[str, int]  # config → rows
    shards: dict[str, int]  # config → Parquet files
    filter_counts: FilterCounts


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
    documents = {
        name: Value("string")
        for name in ["doc_id", "source", "sha256", "encoding", "ja", "en", "summary_en"]
        + (["summary_ja", "summary_ja_en"] if with_summary_ja else [])
        + ["translation_model", "translation_revision", "summarization_model", "summarization_revision"]
        + (["ja_summarization_model", "ja_summarization_revision"] if with_summary_ja else [])
    }
    return {"sentences": Features(sentences), "documents": Features(documents)}


def _document_row(doc: dict[str, Any], with_summary_ja: bool) -> dict[str, Any]:
    models = doc.get("models", {})
    row = {
        "doc_id": doc["id"],
        "source": doc["source"],
        "sha256": doc["sha256"],
        "encoding": doc["encoding"],
        "ja": doc["ja"],
        "en": doc["en"],
        "summary_en": doc.get("summary_en"),
    }
    if with_summary_ja:
        row["summary_ja"] = doc.get("summary_ja")
        row["summary_ja_en"] = doc.get("summary_ja_en")
    for role in ("translation", "summarization") + (("ja_summarization",) if with_summary_ja else ()):
        row[f"{role}_model"] = models.get(role)
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

    for batch in batches():
        table = pa.Table.from_pylist([features.encode_example(r) for r in batch], schema=schema)
        if writer is None or shard_size >= shard_bytes:
            if writer:
                writer.close()
            shards.append(folder / f"part-{len(shards):05d}.parquet")
            writer, shard_size = pq.ParquetWriter(shards[-1], schema), 0
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
) -> BuildResult:
    """Build the `sentences` and `documents` configs and the card into `local_dir`."""
    from huggingface_hub import DatasetCard

    output = RunOutput(output_dir)
    local = Path(local_dir)
    models = [info["name"] for info in output.manifest.get("models", {}).values() if info]
    license_id = dataset_license(models, license)

    columns: set[str] = set()
    with_summary_ja = False
    for doc in output.documents():
        with_summary_ja = with_summary_ja or doc.get("summary_ja") is not None
        for pair in doc["pairs"]:
            columns.update(key for key in ("score", "flags") if pair.get(key) is not None)
    features = _features(columns, with_summary_ja)

    staging = local.with_name(local.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        counts = FilterCounts()
        sentence_rows = (
            {
                "doc_id": row.doc_id,
                "paragraph": row.paragraph,
                "sentence": row.sentence,
                "translation": {"ja": row.ja, "en": row.en},
                **({"score": row.score} if "score" in columns else {}),
                **({"flags": list(row.flags)} if "flags" in columns else {}),
            }
            for row in select_pairs(output, pair_filter, counts)
        )
        n_sentences, s_shards = _write_shards(sentence_rows, features["sentences"], staging / "data" / "sentences", shard_bytes)
        document_rows = (_document_row(doc, with_summary_ja) for doc in output.documents())
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
        )
        # DatasetCard parses the YAML back: a card the Hub would reject fails here, not there.
        DatasetCard("---\n" + _yaml(metadata) + "---\n\n" + body).save(staging / "README.md")
        shutil.rmtree(local, ignore_errors=True)
        local.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(local)
    except OSError as exc:
        raise OutputError(f"{local}: cannot write the dataset ({exc.strerror}); choose another --local-dir") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuildResult(
        local_dir=local,
        license=license_id,
        rows={"sentences": n_sentences, "documents": n_documents},
        shards={"sentences": s_shards, "documents": d_shards},
        filter_counts=counts,
    )


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
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        # Both calls resume an interrupted upload when re-run: upload_large_folder (1.x)
        # keeps its progress under the folder; upload_folder (2.x, with hf_xet) skips
        # committed files and deduplicates uploaded data.
        if hasattr(api, "upload_large_folder"):
            api.upload_large_folder(repo_id=repo_id, folder_path=local, repo_type="dataset", private=private)
        else:
            api.upload_folder(repo_id=repo_id, folder_path=local, repo_type="dataset", commit_message="Upload with ja2en")
    except HfHubHTTPError as exc:
        # Only the status: response texts can echo request details, and the token must never be printed.
        status = getattr(exc.response, "status_code", "?")
        raise PublishError(
            f"the Hugging Face Hub refused the push to {repo_id} (HTTP {status}); check that your token can write "
            f"to it (`hf auth whoami`); {kept}"
        ) from None
    except Exception as exc:
        if isinstance(exc, OSError) or type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3")):
            raise PublishError(f"cannot reach the Hugging Face Hub; {kept}, re-run to push (it resumes)") from None
        raise
    return f"https://huggingface.co/datasets/{repo_id}"


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
) -> PublishResult:
    """Build the dataset (default: `<output_dir>/hf-dataset/`) and, unless `dry_run`, push it."""
    if not dry_run and not repo_id:
        raise InputError("--repo-id ORG/NAME is needed to push; add --dry-run to only build the dataset locally")
    if repo_id and repo_id.count("/") != 1:
        raise InputError(f"--repo-id must look like ORG/NAME, not '{repo_id}'")
    build = build_dataset(
        output_dir,
        local_dir or Path(output_dir) / "hf-dataset",
        repo_id=repo_id,
        pretty_name=pretty_name,
        description=description,
        license=license,
        pair_filter=pair_filter,
        shard_bytes=shard_bytes,
    )
    if dry_run:
        return PublishResult(build, repo_id, None)
    url = push_dataset(build.local_dir, repo_id, private=not public)  # type: ignore[arg-type]
    return PublishResult(build, repo_id, url)
