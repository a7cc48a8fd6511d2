"""A persistent sentence → translation cache in SQLite, shared by runs on this machine.

Keyed by the normalized Japanese sentence and everything that decides its English (model
id and revision, beams, input limit, dtype), so a re-run, a resumed run, or boilerplate
repeated across thousands of press releases is translated once. Lives in
`$JA2EN_CACHE_DIR` (default `~/.cache/ja2en/`); `--no-cache` bypasses it.

The cache only saves time, so it never fails a run. A file SQLite finds broken (corrupt
pages, not a database, another schema) is moved aside as `<name>.broken-<UTC time>` and
a new one started; a cache that cannot be used at all (an unwritable folder, a full disk)
is left alone and the run goes on without one. Either way a `Ja2enWarning` says so, once.

One object may be called from several threads (a Ray actor is built in one thread and
called in others, a caller may translate from a pool): one lock serializes every use of
the connection and of the hit counter.

Runs on one machine share the file. Renaming an SQLite file while another process has it
open corrupts the new file (SQLite deletes the `-wal` and `-shm` it knows by name when
it closes), so each cache holds a shared lock on `<name>.lock` while open, and a broken
file is only moved aside by a run that can take that lock exclusively, that is, by the
only run using it. A run that finds it broken while others use it goes on without a cache
and leaves the file for a later run to move.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from .errors import Ja2enWarning, display_path
from .records import Translation

CACHE_FILE = "translations.sqlite3"
_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds
_COMPANIONS = ("-wal", "-shm")  # SQLite's files beside a WAL-mode database, named after it
_LOCK_WAIT_S = 10.0  # a run moving a broken file aside holds the lock for milliseconds

# SQLite result codes that say nothing about the file itself: the place, the disk or
# another process is the problem, and a new file would fare no better. Any other SQLite
# error (corrupt, not a database, a table of another shape) means the file is unusable.
_NOT_THE_FILE = {
    3,  # SQLITE_PERM
    5,  # SQLITE_BUSY
    6,  # SQLITE_LOCKED
    7,  # SQLITE_NOMEM
    8,  # SQLITE_READONLY
    9,  # SQLITE_INTERRUPT
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    23,  # SQLITE_AUTH
}


def default_cache_dir() -> Path:
    """`$JA2EN_CACHE_DIR`, else `$XDG_CACHE_HOME/ja2en`, else `~/.cache/ja2en`."""
    if os.environ.get("JA2EN_CACHE_DIR"):
        return Path(os.environ["JA2EN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ja2en"


class TranslationCache:
    """Get and put translations under a namespace (a fingerprint of the decoding setup).

    Never raises for the state of its file: see the module docstring.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_cache_dir() / CACHE_FILE
        self.hits = 0
        self._db: sqlite3.Connection | None = None
        self._guard = threading.Lock()  # the connection and `hits`; see the module docstring
        self._lock = _SharedLock(self.path.with_name(self.path.name + ".lock"))
        self._moved_aside = False
        try:
            self._open()
        except (OSError, sqlite3.Error) as exc:
            self._recover(exc)

    @property
    def active(self) -> bool:
        """Whether translations are still read and stored (False after the cache was given up)."""
        return self._db is not None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        # Several runs may share the cache: WAL lets readers go on while one writes.
        # Threads of this process take turns through self._guard, so the connection may
        # be used from threads other than the one that opened it.
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries "
                "(key BLOB PRIMARY KEY, en TEXT NOT NULL, score REAL, flags TEXT NOT NULL) WITHOUT ROWID"
            )
            db.commit()
        except BaseException:
            db.close()
            raise
        self._db = db

    @staticmethod
    def _key(namespace: str, sentence: str) -> bytes:
        data = f"{len(namespace)}:{namespace}{sentence}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=20).digest()

    def get_many(self, namespace: str, sentences: Iterable[str]) -> dict[str, Translation]:
        """The cached translations of those `sentences` that have one."""
        keys = {self._key(namespace, s): s for s in sentences}
        with self._guard:
            return self._get_many(keys)

    def _get_many(self, keys: dict[bytes, str]) -> dict[str, Translation]:
        if self._db is None:
            return {}
        found: dict[str, Translation] = {}
        key_list = list(keys)
        try:
            for first in range(0, len(key_list), _CHUNK):
                chunk = key_list[first : first + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, en, score, flags FROM entries WHERE key IN ({marks})"
                for key, en, score, flags in self._db.execute(query, chunk):
                    found[keys[key]] = Translation(en, score, tuple(json.loads(flags)))
        except sqlite3.Error as exc:
            self._recover(exc)
            return {}  # a new cache holds nothing; no cache, likewise
        self.hits += len(found)
        return found

    def put_many(self, namespace: str, translations: Mapping[str, Translation]) -> None:
        """Store translations; a failure to store never fails the run, it only costs speed."""
        rows = [(self._key(namespace, s), t.en, t.score, json.dumps(list(t.flags))) for s, t in translations.items()]
        with self._guard:
            self._put_many(rows)

    def _put_many(self, rows: list[tuple[bytes, str, float | None, str]]) -> None:
        while self._db is not None:
            try:
                self._db.executemany("INSERT OR REPLACE INTO entries (key, en, score, flags) VALUES (?, ?, ?, ?)", rows)
                self._db.commit()
                return
            except sqlite3.Error as exc:
                try:
                    self._db.rollback()
                except sqlite3.Error:
                    pass
                if not self._recover(exc):  # True once at most: then store them in the new file
                    return

    def close(self) -> None:
        with self._guard:
            self._close()

    def _close(self) -> None:
        self._close_db()
        self._lock.release()

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _recover(self, exc: OSError | sqlite3.Error) -> bool:
        """After `exc`: move a broken file aside and start a new one (True), or go on without a cache (False)."""
        if not _file_is_broken(exc) or self._moved_aside:
            self._give_up(exc)
            return False
        self._close_db()
        if not self._lock.try_exclusive():
            self._close()
            _warn(
                f"{display_path(self.path)}: the translation cache is broken ({_detail(exc)}) but another ja2en run "
                "has it open, so it was left in place; going on without a cache (a later run will move it aside)"
            )
            return False
        self._moved_aside = True
        try:
            aside = self._move_aside()
        except OSError as move_exc:
            self._give_up(move_exc)
            return False
        moved = (
            f"{display_path(self.path)}: the translation cache is broken ({_detail(exc)}); "
            f"moved it aside to {display_path(aside)}"
        )
        try:
            self._open()
        except (OSError, sqlite3.Error) as new_exc:
            self._close()
            _warn(f"{moved}; a new one cannot be made ({_detail(new_exc)}), {_WITHOUT}")
            return False
        _warn(f"{moved} and started a new one")
        return True

    def _move_aside(self) -> Path:
        """Rename the file and its companions to `<name>.broken-<UTC time>[-N]`; returns the new path."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        number = 1
        while any(Path(f"{aside}{suffix}").exists() for suffix in ("", *_COMPANIONS)):
            number += 1
            aside = self.path.with_name(f"{self.path.name}.broken-{stamp}-{number}")
        # Companions first: a stale -wal left beside a new file of the same name would be
        # replayed into it.
        for suffix in (*_COMPANIONS, ""):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, f"{aside}{suffix}")
        return aside

    def _give_up(self, exc: BaseException) -> None:
        self._close()
        _warn(f"{display_path(self.path)}: cannot use the translation cache ({_detail(exc)}); {_WITHOUT}")


_WITHOUT = (
    "going on without it, which only costs speed; "
    "set JA2EN_CACHE_DIR to a writable folder, or pass --no-cache to skip it"
)


def _file_is_broken(exc: BaseException) -> bool:
    """Whether SQLite blames the file itself (as opposed to the place, the disk or another process)."""
    code = getattr(exc, "sqlite_errorcode", None)  # absent on errors that Python's sqlite3 raises itself
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF not in _NOT_THE_FILE


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if exc.filename is None else f"{exc.strerror}: {display_path(exc.filename)}"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _warn(message: str) -> None:
    """Warn on behalf of the first caller outside this module (the Translator, or whoever opened the cache)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        level, frame = level + 1, frame.f_back
    warnings.warn(message, Ja2enWarning, stacklevel=level)


class _SharedLock:
    """A shared OS lock on a file next to the cache, held while the cache is open; taken
    exclusively only to move a broken cache aside. A no-op where there is no `fcntl`
    (Windows, where an open file cannot be renamed anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Hold the lock shared, waiting a little for a run that is moving a broken cache aside."""
        try:
            import fcntl
        except ImportError:
            return
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # back from exclusive: nobody else holds it
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    held = f"{display_path(self.path)} stayed locked by another run for {_LOCK_WAIT_S:.0f} s"
                    raise TimeoutError(held) from None
                time.sleep(0.05)
        self._fd = fd

    def try_exclusive(self) -> bool:
        """Take the lock exclusively if no other run holds it; never waits."""
        try:
            import fcntl
        except ImportError:
            return True
        if self._fd is None:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
