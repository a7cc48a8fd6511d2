"""A run's per-document state, on disk: what keeps a run's memory flat at any corpus size.

To resume, order and check a corpus, a run must know for every document whether the
journal already holds it, whether an earlier document of the run had its id, and where it
goes in the final files. For ten million documents that is gigabytes as Python objects,
so it lives in a SQLite file in the output folder (`.ja2en-index.sqlite3`, hidden), with a
small page cache. The index is never a second source of truth: each run rebuilds it from
documents.jsonl and the inputs, and deletes it at the end, so a stale or missing one costs
nothing. The run holds the folder's lock, so no one else opens it.

Tables:
- `lines`: every complete line of the journal, in file order (n, id, sha256, offset).
- `done`: (id, sha256) → byte offset of the last line with that key: what can be resumed.
- `latest`: id → sha256 and source of its last line, and the number of its first line
  (the folder's order of the documents kept with --append).
- `planned`: this run's readable documents, in input order, one per id (with the message of
  their failure, on Ray, until it is reported).
- `final`: the order the folder ends with, built when the run finishes.
- `files`: real paths of the input files listed so far (a file reached twice is read once).
- `held_errors`: errors found out of input order (Ray's reading tasks), to be reported in it.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, MutableSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import OutputError, display_path

INDEX_FILE = ".ja2en-index.sqlite3"
_CACHE_KIB = 16 * 1024  # SQLite's page cache: the index's whole share of memory
T = TypeVar("T")
_COMMIT_EVERY = 20_000  # writes per transaction (no journal, no fsync: the index is rebuilt after a crash)

_SCHEMA = """
CREATE TABLE lines (n INTEGER PRIMARY KEY, id TEXT NOT NULL, sha256 TEXT NOT NULL, offset INTEGER NOT NULL);
CREATE TABLE done (id TEXT NOT NULL, sha256 TEXT NOT NULL, offset INTEGER NOT NULL, PRIMARY KEY (id, sha256)) WITHOUT ROWID;
CREATE TABLE latest (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, source TEXT NOT NULL, first INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE planned (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, source TEXT NOT NULL,
    sentences INTEGER NOT NULL, handled INTEGER NOT NULL DEFAULT 0, failure BLOB
);
CREATE TABLE final (n INTEGER PRIMARY KEY, id TEXT NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE files (path BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE held_errors (seq INTEGER PRIMARY KEY, file INTEGER NOT NULL, item INTEGER NOT NULL, kind TEXT NOT NULL, message BLOB NOT NULL);
"""


def _disk_errors(method: Callable[..., T]) -> Callable[..., T]:
    """A SQLite failure of the index (a full disk, a vanished folder) as one OutputError that says what to do."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            path = self.path if isinstance(self, RunIndex) else self.index.path
            raise OutputError(
                f"{display_path(path)}: the run's index cannot be written ({exc}); free space and re-run the same "
                "command: the documents finished so far are kept"
            ) from None

    return guarded


# planned.handled: whether the translating pass found the document as planned.
UNSEEN, SEEN, CHANGED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Planned:
    """One document of this run, as the planning pass read it."""

    sha256: str
    source: str
    sentences: int


class RunIndex:
    """The per-document state of one run in the output folder; a context manager that deletes it."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / INDEX_FILE
        self.journal_read = False  # whether read_journal has run
        self.lines = 0  # complete lines in the journal
        self.duplicate_lines = 0  # lines repeating a key an earlier line has: the last copy wins
        self.journal_end = 0  # where the journal's complete lines end
        self._writes = 0
        try:
            self._remove()  # a killed run's index: rebuilt from scratch
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{_CACHE_KIB}", "temp_store=FILE"):
                self.db.execute(f"PRAGMA {pragma}")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(
                f"{display_path(self.path)}: cannot create the run's index ({exc}); free space or choose another -o"
            ) from None

    def _remove(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        """Close and delete the index (a run's state is in its journal and manifest)."""
        self.db.close()
        self._remove()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes >= _COMMIT_EVERY:
            self.commit()

    @_disk_errors
    def commit(self) -> None:
        self.db.commit()
        self._writes = 0

    # The journal: documents.jsonl, as read at the start and appended to during the run.

    @_disk_errors
    def read_journal(self, path: Path) -> None:
        """Index the complete lines of a journal; where they end is `journal_end` (a torn tail follows)."""
        self.forget_journal()
        self.journal_read = True
        if not path.is_file():
            return
        offset = 0
        with path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                    doc_id, sha256 = record["id"], record["sha256"]
                    source = str(record.get("source", ""))
                except (ValueError, KeyError, TypeError):
                    break  # appends are sequential: only the tail can be torn
                self.add_line(doc_id, sha256, source, offset)
                offset += len(line)
        self.journal_end = offset
        self.journal_read = True
        self.commit()

    @_disk_errors
    def forget_journal(self) -> None:
        """The journal is gone (a fresh run replaces the folder's outputs)."""
        self.db.executescript("DELETE FROM lines; DELETE FROM done; DELETE FROM latest;")
        self.lines = self.duplicate_lines = self.journal_end = 0

    @_disk_errors
    def add_line(self, doc_id: str, sha256: str, source: str, offset: int) -> None:
        """A complete journal line of this document, starting at byte `offset`."""
        if self.is_done(doc_id, sha256):
            self.duplicate_lines += 1
        execute = self.db.execute
        execute("INSERT INTO lines VALUES (?, ?, ?, ?)", (self.lines, doc_id, sha256, offset))
        execute(
            "INSERT INTO done VALUES (?, ?, ?) ON CONFLICT (id, sha256) DO UPDATE SET offset = excluded.offset",
            (doc_id, sha256, offset),
        )
        execute(
            "INSERT INTO latest VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256, source = excluded.source",
            (doc_id, sha256, source, self.lines),
        )
        self.lines += 1
        self._wrote()

    @_disk_errors
    def is_done(self, doc_id: str, sha256: str) -> bool:
        """Whether the journal holds this document with these source bytes."""
        found = self.db.execute("SELECT 1 FROM done WHERE id = ? AND sha256 = ?", (doc_id, sha256)).fetchone()
        return found is not None

    # This run's documents.

    @_disk_errors
    def plan(self, doc_id: str, sha256: str, source: str, sentences: int) -> str | None:
        """Add a document of this run, in input order; None, or the source of an earlier document with its id."""
        try:
            self.db.execute(
                "INSERT INTO planned (id, sha256, source, sentences) VALUES (?, ?, ?, ?)", (doc_id, sha256, source, sentences)
            )
        except sqlite3.IntegrityError:
            return self.db.execute("SELECT source FROM planned WHERE id = ?", (doc_id,)).fetchone()[0]
        self._wrote()
        return None

    @_disk_errors
    def planned(self, doc_id: str) -> Planned | None:
        row = self.db.execute("SELECT sha256, source, sentences FROM planned WHERE id = ?", (doc_id,)).fetchone()
        return Planned(*row) if row else None

    @_disk_errors
    def mark(self, doc_id: str, state: int) -> None:
        """Record what the translating pass found of a planned document (SEEN or CHANGED)."""
        self.db.execute("UPDATE planned SET handled = ? WHERE id = ?", (state, doc_id))
        self._wrote()

    @_disk_errors
    def unplan(self, ids: Iterable[str]) -> None:
        """Drop these documents from this run (their ids clash with the folder's)."""
        self.db.executemany("DELETE FROM planned WHERE id = ?", ((doc_id,) for doc_id in ids))
        self.commit()

    @_disk_errors
    def planned_count(self) -> tuple[int, int]:
        """(documents, sentences) this run has planned."""
        documents, sentences = self.db.execute("SELECT COUNT(*), TOTAL(sentences) FROM planned").fetchone()
        return documents, int(sentences)

    @_disk_errors
    def planned_done(self) -> tuple[int, int]:
        """(documents, sentences) of this run the journal already holds."""
        documents, sentences = self.db.execute(
            "SELECT COUNT(*), TOTAL(p.sentences) FROM planned p JOIN done d ON d.id = p.id AND d.sha256 = p.sha256"
        ).fetchone()
        return documents, int(sentences)

    def not_found(self) -> Iterator[tuple[str, int]]:
        """(source, state) of the planned documents the translating pass did not find as planned."""
        yield from self.db.execute(f"SELECT source, handled FROM planned WHERE handled != {SEEN} ORDER BY seq")

    def todo_ids(self, *, failed: bool = True) -> Iterator[str]:
        """Ids of the planned documents the journal does not hold yet, in input order (without
        those that failed, with `failed=False`)."""
        rows = self.db.execute(
            "SELECT p.id FROM planned p LEFT JOIN done d ON d.id = p.id AND d.sha256 = p.sha256 "
            f"WHERE d.id IS NULL {'' if failed else 'AND p.failure IS NULL'} ORDER BY p.seq"
        )
        yield from (doc_id for (doc_id,) in rows)

    @_disk_errors
    def fail(self, doc_id: str, message: str) -> None:
        """Record that a planned document failed, and why (on disk: there may be millions)."""
        encoded = message.encode("utf-8", "surrogatepass")
        self.db.execute("UPDATE planned SET failure = ? WHERE id = ?", (encoded, doc_id))
        self._wrote()

    @_disk_errors
    def failure(self, doc_id: str) -> str | None:
        """The message of a planned document's failure; None if it has not failed."""
        row = self.db.execute("SELECT failure FROM planned WHERE id = ?", (doc_id,)).fetchone()
        return row[0].decode("utf-8", "surrogatepass") if row and row[0] is not None else None

    # The folder: this run's documents against those already there.

    @_disk_errors
    def count_others(self) -> int:
        """How many documents the journal holds that this run does not plan."""
        return self.db.execute("SELECT COUNT(*) FROM latest WHERE id NOT IN (SELECT id FROM planned)").fetchone()[0]

    def shared_ids(self) -> Iterator[tuple[str, str, str]]:
        """(id, this run's source, the folder's source) of the ids this run plans that the journal holds from another source."""
        yield from self.db.execute(
            "SELECT p.id, p.source, l.source FROM planned p JOIN latest l ON l.id = p.id "
            "WHERE p.source != l.source ORDER BY p.seq"
        )

    @_disk_errors
    def build_final(self, keep_others: bool) -> int:
        """The order the folder ends with: with `keep_others`, the journal's other documents first
        (in the folder's order), then this run's finished ones in input order. Returns how many."""
        self.commit()
        self.db.execute("DELETE FROM final")
        if keep_others:
            self.db.execute(
                "INSERT INTO final (id, sha256) SELECT id, sha256 FROM latest "
                "WHERE id NOT IN (SELECT id FROM planned) ORDER BY first"
            )
        self.db.execute(
            "INSERT INTO final (id, sha256) SELECT p.id, p.sha256 FROM planned p "
            "JOIN done d ON d.id = p.id AND d.sha256 = p.sha256 ORDER BY p.seq"
        )
        self.commit()
        return self.db.execute("SELECT COUNT(*) FROM final").fetchone()[0]

    @_disk_errors
    def journal_is_final(self) -> bool:
        """Whether the journal already holds exactly the final documents, in order, once each."""
        total = self.db.execute("SELECT COUNT(*) FROM final").fetchone()[0]
        if total != self.lines:
            return False
        matching = self.db.execute(
            "SELECT COUNT(*) FROM final f JOIN lines l ON l.n = f.n - 1 AND l.id = f.id AND l.sha256 = f.sha256"
        ).fetchone()[0]
        return matching == total

    def final_offsets(self) -> Iterator[int]:
        """Where each final document's line starts in the journal, in final order."""
        rows = self.db.execute("SELECT d.offset FROM final f JOIN done d ON d.id = f.id AND d.sha256 = f.sha256 ORDER BY f.n")
        yield from (offset for (offset,) in rows)

    # Errors to report in input order, found in another.

    @_disk_errors
    def hold_error(self, place: tuple[int, int], kind: str, message: str) -> None:
        """Keep an error (its class name and message) found at `place`, (file, item) in input order."""
        encoded = message.encode("utf-8", "surrogatepass")  # a file name's stray bytes included
        self.db.execute("INSERT INTO held_errors (file, item, kind, message) VALUES (?, ?, ?, ?)", (*place, kind, encoded))
        self._wrote()

    def held_errors(self) -> Iterator[tuple[str, str]]:
        """(class name, message) of the errors held, in input order (those at one place as held)."""
        rows = self.db.execute("SELECT kind, message FROM held_errors ORDER BY file, item, seq")
        yield from ((kind, message.decode("utf-8", "surrogatepass")) for kind, message in rows)

    @_disk_errors
    def file_set(self) -> FileSet:
        """An empty set of real paths on disk, for one walk of the inputs."""
        self.db.execute("DELETE FROM files")
        return FileSet(self)


class FileSet(MutableSet[str]):
    """The input files a walk has reached, by real path, kept in the index instead of memory."""

    def __init__(self, index: RunIndex) -> None:
        self.index = index

    @_disk_errors
    def __contains__(self, path: object) -> bool:
        found = self.index.db.execute("SELECT 1 FROM files WHERE path = ?", (os.fsencode(str(path)),)).fetchone()
        return found is not None

    @_disk_errors
    def add(self, path: str) -> None:
        self.index.db.execute("INSERT OR IGNORE INTO files VALUES (?)", (os.fsencode(path),))
        self.index._wrote()

    @_disk_errors
    def discard(self, path: str) -> None:
        self.index.db.execute("DELETE FROM files WHERE path = ?", (os.fsencode(path),))

    def __iter__(self) -> Iterator[str]:
        yield from (os.fsdecode(path) for (path,) in self.index.db.execute("SELECT path FROM files"))

    @_disk_errors
    def __len__(self) -> int:
        return self.index.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
