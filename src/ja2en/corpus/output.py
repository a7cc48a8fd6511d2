"""A run's output folder read back as a corpus, and the pair filters that publish and
export share (minimum score, flagged pairs, duplicates), with counts of what each filter
dropped.

Everything streams from documents.jsonl, the one complete record of a run, so a corpus of
millions of pairs is never held in memory (only 16-byte digests of the pairs kept, when
de-duplicating). `open_run` holds a shared lock on the folder while it is read, so no
`ja2en translate` can write it meanwhile; an unfinished run is refused unless the caller
accepts a partial corpus. What may leave the machine (sources, model names) is made
relative here: published data never carries the user's folders.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InputError
from ..writers import DOCUMENTS_FILE, MANIFEST_FILE, OutputLock


@dataclass(frozen=True, slots=True)
class PairRow:
    """One aligned pair as published or exported."""

    doc_id: str
    paragraph: int
    sentence: int
    ja: str
    en: str
    score: float | None = None  # mean token log-probability, when the run recorded one
    flags: tuple[str, ...] = ()  # quality flags, when the run recorded them
    locator: str | None = None  # where its paragraph is in the source (page, element, cell, row), when known


@dataclass(frozen=True, slots=True)
class PairFilter:
    """Which pairs to keep. The default keeps every pair."""

    min_score: float | None = None
    drop_flagged: bool = False
    dedup: bool = False  # keep only the first of identical (ja, en) pairs


@dataclass(slots=True)
class FilterCounts:
    """How many pairs were seen, kept, and dropped by each filter."""

    pairs: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(
        default_factory=lambda: {"below_min_score": 0, "no_score": 0, "flagged": 0, "duplicate": 0}
    )

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "kept": self.kept, "dropped": dict(self.dropped)}


def _count_documents(count: int) -> str:
    return f"{count} document{'' if count == 1 else 's'}"


class RunOutput:
    """A run's output folder: its manifest and a stream of its document records.

    A run still "running" (interrupted, or not yet resumed) is refused with a way to finish
    it, unless `partial`: then its finished documents are read, and a last line cut short
    by the interruption is skipped.
    """

    def __init__(self, folder: Path | str, *, partial: bool = False) -> None:
        self.folder = Path(folder)
        self.documents_path = self.folder / DOCUMENTS_FILE
        _check_is_run(self.folder)
        manifest_path = self.folder / MANIFEST_FILE
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                f"{self.folder}: no {MANIFEST_FILE}, so the run did not finish; re-run `ja2en translate` into it"
            ) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{manifest_path}: not valid JSON ({exc.msg}); re-run `ja2en translate` into it") from None
        self.finished = self.manifest.get("status") != "running"
        if not self.finished and not partial:
            raise InputError(
                f"{self.folder} is not finished ({self.progress()}); re-run the same "
                f"`ja2en translate ... -o {self.folder}` command to finish it, or pass --partial"
            )

    @property
    def documents_planned(self) -> int | None:
        """How many documents an unfinished run set out to write, when its manifest says."""
        planned = (self.manifest.get("counts") or {}).get("documents_planned")
        return planned if isinstance(planned, int) else None

    def progress(self) -> str:
        """How far an unfinished run got: '4 of 20 documents', or '4 documents so far'."""
        done = sum(1 for _ in self._lines())
        if self.documents_planned is None:
            return f"{_count_documents(done)} so far"
        return f"{done} of {_count_documents(self.documents_planned)}"

    def _lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) of each non-blank record line; an unfinished run's torn last line is left out."""
        with self.documents_path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n") and not self.finished:
                    return  # a write cut short, maybe inside a character: the run drops it when it resumes
                # surrogatepass: as the journal writes them
                line = raw.decode("utf-8", "surrogatepass")
                if line.strip():
                    yield number, line

    def documents(self) -> Iterator[dict[str, Any]]:
        """Each document record of documents.jsonl, in order."""
        for number, line in self._lines():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{self.documents_path}:{number}: not valid JSON ({exc.msg}); "
                    "re-run `ja2en translate` to rewrite the outputs"
                ) from None

    def has_scores(self) -> bool:
        """Whether any pair carries a score (runs record one per pair when they can)."""
        return any(pair.get("score") is not None for doc in self.documents() for pair in doc["pairs"])


def _check_is_run(folder: Path) -> None:
    if not (folder / DOCUMENTS_FILE).is_file():
        raise InputError(f"{folder}: no {DOCUMENTS_FILE} here; run `ja2en translate INPUT -o {folder}` first")


@contextmanager
def open_run(folder: Path | str, *, partial: bool = False) -> Iterator[RunOutput]:
    """The run in `folder`, read under a shared lock: OutputError at once while a run writes it."""
    folder = Path(folder)
    _check_is_run(folder)  # before the lock, which would leave a lock file in any folder
    with OutputLock(folder, shared=True):
        yield RunOutput(folder, partial=partial)


_LINE_NUMBER = re.compile(r":[0-9]+$")


def published_source(source: str, inputs: Sequence[str]) -> str:
    """A document's source as published: relative to the input it was read from.

    A folder input's files become their path inside it ("news/a.txt"), a file given
    directly its name, a JSONL record keeps its ":LINE". Never a path outside the inputs,
    such as the user's home folder.
    """
    line = _LINE_NUMBER.search(source)
    candidates = [(source, "")] + ([(source[: line.start()], line.group())] if line else [])
    for path, suffix in candidates:
        for given in inputs:
            root = PurePosixPath(given).as_posix()
            if path == root:
                return PurePosixPath(path).name + suffix
            prefix = root if root.endswith("/") else root + "/"
            if root != "." and path.startswith(prefix):
                return path[len(prefix) :] + suffix
    path, suffix = candidates[-1]
    return (_file_name(path) if _outside(path) else path) + suffix


def published_model(name: str | None) -> str | None:
    """A model as published: its Hub id, or a local folder's name (never the path to it)."""
    if name is not None and (_outside(name) or name.startswith(".") or name.count("/") > 1):
        return _file_name(name)  # a local folder, as resolve_model tells them from Hub ids
    return name


def published_input(given: str) -> str:
    """An input as the dataset card names it: the file's or folder's name."""
    return _file_name(given)


def _outside(path: str) -> bool:
    """Whether a path can lead outside where it was used from: absolute, home-relative, or with '..'."""
    pure = PurePosixPath(path.replace("\\", "/"))
    return pure.is_absolute() or path.startswith("~") or ".." in pure.parts or re.match(r"^[A-Za-z]:", path) is not None


def _file_name(path: str) -> str:
    return PurePosixPath(path.replace("\\", "/")).name or path.strip("/\\") or path


def pairs_of(documents: Iterable[dict[str, Any]], where: Path | str = "documents.jsonl") -> Iterator[PairRow]:
    """Every aligned pair of the given document records, in order."""
    for number, doc in enumerate(documents, start=1):
        try:
            for pair in doc["pairs"]:
                yield PairRow(
                    doc_id=doc["id"],
                    paragraph=pair["paragraph"],
                    sentence=pair["sentence"],
                    ja=pair["ja"],
                    en=pair["en"],
                    score=pair.get("score"),
                    flags=tuple(pair.get("flags") or ()),
                    locator=pair.get("locator"),
                )
        except (KeyError, TypeError) as exc:
            raise InputError(
                f"{where}: record {number} is missing {exc} or malformed; re-run `ja2en translate` to rewrite it"
            ) from None


def _pair_digest(row: PairRow) -> bytes:
    # Length-prefixed so no two different pairs share a key; surrogatepass because a JSON
    # file may hold lone surrogates that plain UTF-8 cannot encode.
    key = f"{len(row.ja)}:{row.ja}{row.en}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(key, digest_size=16).digest()


def select_pairs(output: RunOutput, pair_filter: PairFilter, counts: FilterCounts) -> Iterator[PairRow]:
    """The pairs of `output` that pass `pair_filter`; `counts` is filled in as they stream.

    Checks the filter against the run at once (not at the first pair), so a caller can
    rely on a bad filter failing before it creates any file.
    """
    if pair_filter.min_score is not None and not output.has_scores():
        raise InputError(
            f"{output.folder}: its pairs have no scores, so --min-score cannot filter them; "
            "drop --min-score, or re-translate with a ja2en version that records scores"
        )
    return _filtered(output, pair_filter, counts)


def _filtered(output: RunOutput, pair_filter: PairFilter, counts: FilterCounts) -> Iterator[PairRow]:
    seen: set[bytes] = set()
    for row in pairs_of(output.documents(), output.documents_path):
        counts.pairs += 1
        if pair_filter.min_score is not None:
            if row.score is None or math.isnan(row.score):
                counts.dropped["no_score"] += 1
                continue
            if row.score < pair_filter.min_score:
                counts.dropped["below_min_score"] += 1
                continue
        if pair_filter.drop_flagged and row.flags:
            counts.dropped["flagged"] += 1
            continue
        if pair_filter.dedup:
            digest = _pair_digest(row)
            if digest in seen:
                counts.dropped["duplicate"] += 1
                continue
            seen.add(digest)
        counts.kept += 1
        yield row
