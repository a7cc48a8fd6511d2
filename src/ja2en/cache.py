"""A persistent sentence → translation cache in SQLite, shared by runs on this machine.

Keyed by the normalized Japanese sentence and everything that decides its English (model
id and revision, beams, input limit, dtype), so a re-run, a resumed run, or boilerplate
repeated across thousands of press releases is translated once. Lives in
`$JA2EN_CACHE_DIR` (default `~/.cache/ja2en/`); `--no-cache` bypasses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import OutputError
from .records import Translation

CACHE_FILE = "translations.sqlite3"
_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds


def default_cache_dir() -> Path:
    """`$JA2EN_CACHE_DIR`, else `$XDG_CACHE_HOME/ja2en`, else `~/.cache/ja2en`."""
    if os.environ.get("JA2EN_CACHE_DIR"):
        return Path(os.environ["JA2EN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ja2en"


class TranslationCache:
    """Get and put translations under a namespace (a fingerprint of the decoding setup)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_cache_dir() / CACHE_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Several runs may share the cache: WAL lets readers go on while one writes.
            # One thread at a time uses it, but not always the one that opened it: a Ray
            # actor is built in one thread and called in another.
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS entries "
                "(key BLOB PRIMARY KEY, en TEXT NOT NULL, score REAL, flags TEXT NOT NULL) WITHOUT ROWID"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(
                f"{self.path}: cannot open the translation cache ({exc}); "
                "set JA2EN_CACHE_DIR to a writable folder or pass --no-cache"
            ) from None
        self.hits = 0

    @staticmethod
    def _key(namespace: str, sentence: str) -> bytes:
        data = f"{len(namespace)}:{namespace}{sentence}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=20).digest()

    def get_many(self, namespace: str, sentences: Iterable[str]) -> dict[str, Translation]:
        """The cached translations of those `sentences` that have one."""
        keys = {self._key(namespace, s): s for s in sentences}
        found: dict[str, Translation] = {}
        key_list = list(keys)
        for first in range(0, len(key_list), _CHUNK):
            chunk = key_list[first : first + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, en, score, flags FROM entries WHERE key IN ({marks})"
            for key, en, score, flags in self._db.execute(query, chunk):
                found[keys[key]] = Translation(en, score, tuple(json.loads(flags)))
        self.hits += len(found)
        return found

    def put_many(self, namespace: str, translations: Mapping[str, Translation]) -> None:
        """Store translations; a failure to store never fails the run, it only costs speed."""
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO entries (key, en, score, flags) VALUES (?, ?, ?, ?)",
                (
                    (self._key(namespace, s), t.en, t.score, json.dumps(list(t.flags)))
                    for s, t in translations.items()
                ),
            )
            self._db.commit()
        except sqlite3.Error:
            self._db.rollback()

    def close(self) -> None:
        self._db.close()
