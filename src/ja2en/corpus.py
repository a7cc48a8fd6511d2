"""A finished run's output folder read back as a corpus, and the pair filters that publish
and export share (minimum score, flagged pairs, duplicates), with counts of what each
filter dropped.

Everything streams from documents.jsonl, the one complete record of a run, so a corpus of
millions of pairs is never held in memory (only 16-byte digests of the pairs kept, when
de-duplicating).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .writers import DOCUMENTS_FILE, MANIFEST_FILE


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


class RunOutput:
    """A run's output folder: its manifest and a stream of its document records."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.documents_path = self.folder / DOCUMENTS_FILE
        if not self.documents_path.is_file():
            raise InputError(
                f"{self.folder}: no {DOCUMENTS_FILE} here; run `ja2en translate INPUT -o {self.folder}` first"
            )
        manifest_path = self.folder / MANIFEST_FILE
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                f"{self.folder}: no {MANIFEST_FILE}, so the run did not finish; re-run `ja2en translate` into it"
            ) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{manifest_path}: not valid JSON ({exc.msg}); re-run `ja2en translate` into it") from None

    def documents(self) -> Iterator[dict[str, Any]]:
        """Each document record of documents.jsonl, in order."""
        with self.documents_path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
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
