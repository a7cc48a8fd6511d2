"""The file-level writing every output shares: JSON lines, atomic JSON, output folders and
their locks, Parquet.

What is written when, and how a run resumes, is journal.py's business.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import OutputError, display_path

DOCUMENTS_FILE = "documents.jsonl"
SENTENCES_FILE = "sentences.jsonl"
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.html"  # the page to review a run (corpus/report.py)
LOCK_FILE = ".ja2en.lock"  # hidden, so an output folder inside an input folder never reads it


def dump_line(record: dict[str, Any]) -> str:
    """One JSON object on one line: UTF-8 text, key order as given."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def prepare_output_dir(path: Path | str) -> Path:
    """Create the output folder and check it is writable before any model work starts."""
    output = Path(path)
    try:
        output.mkdir(parents=True, exist_ok=True)
        # A name of its own: two processes probing one folder must not delete each other's probe.
        handle, probe = tempfile.mkstemp(prefix=".ja2en-write-test.", dir=output)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{display_path(output)}: cannot write the output folder ({exc.strerror}); choose another with -o"
        ) from None
    return output


@contextmanager
def claim_output_dir(path: Path | str) -> Iterator[Path]:
    """Create (if needed) and lock the output folder for one run; OutputError if another run holds it.

    A folder this call created is removed again when the run fails before writing into
    it, so a wrong option never leaves an empty folder behind.
    """
    output = Path(path)
    created = not output.exists()
    folder = prepare_output_dir(output)
    had_lock_file = (folder / LOCK_FILE).exists()
    lock = OutputLock(folder).acquire()
    try:
        yield folder
    except BaseException:
        lock.release()
        if not had_lock_file:  # leave the user's folder as it was (a lock file marks an output folder)
            (folder / LOCK_FILE).unlink(missing_ok=True)
        if created:
            try:
                folder.rmdir()  # only when empty: anything written stays
            except OSError:
                pass
        raise
    finally:
        lock.release()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as pretty JSON via a temporary file and a rename."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot be written ({exc.strerror}); free space or choose another -o") from None


def write_parquet(jsonl: Path, *, rows_per_group: int = 1000) -> Path:
    """Write a JSONL output beside itself as Parquet (`documents.jsonl` → `documents.parquet`).

    The schema is inferred from every record (two passes), so a field that is null in the
    first thousand documents and set later still gets its real type. Atomic, like the JSONL.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    def chunks() -> Iterator[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = []
        with jsonl.open(encoding="utf-8", errors="surrogatepass") as handle:
            for line in handle:
                chunk.append(json.loads(line))
                if len(chunk) == rows_per_group:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    schemas = [pa.Table.from_pylist(chunk).schema for chunk in chunks()]
    target = jsonl.with_suffix(".parquet")
    temporary = target.with_name(target.name + ".tmp")
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
        with pq.ParquetWriter(temporary, schema) as writer:
            for chunk in chunks():
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot be written ({exc.strerror}); free space or choose another -o") from None
    return target


class OutputLock:
    """An OS file lock on an output folder: exclusive while a run writes it, shared while
    publish or export read it.

    The kernel drops the lock with the process, so a run killed with kill -9 never leaves
    a folder locked; the writer's pid in the lock file only serves the message.
    """

    def __init__(self, folder: Path | str, *, shared: bool = False) -> None:
        self.folder = Path(folder)
        self.shared = shared
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        """Take the lock now or raise OutputError naming who holds it; never waits."""
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no locking
            return self
        path = self.folder / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            if not self.shared or not path.exists():
                # A folder nobody can create a lock file in is one no ja2en run is writing.
                return self
            fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            holder = self._holder(fd)
            os.close(fd)
            raise OutputError(self._busy(holder)) from None
        if not self.shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    @staticmethod
    def _holder(fd: int) -> str:
        """The pid a writer put in the lock file; empty for readers, who write none.

        A writer writes its pid just after it takes the lock, so an empty file is read
        again for a moment before it is taken to mean readers.
        """
        for _ in range(20):
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            if holder:
                return holder
            time.sleep(0.01)
        return ""

    def _busy(self, holder: str) -> str:
        folder = display_path(self.folder)
        if not holder.isdigit():
            return (
                f"{folder} is in use by another ja2en command (publish or export reading it); "
                "wait for it to finish, or use another -o"
            )
        if self.shared:
            return f"{folder} is being written by another ja2en run (pid {holder}); wait for it to finish, then try again"
        return f"{folder} is being written by another ja2en run (pid {holder}); wait for it or use another -o"

    def release(self) -> None:
        """Let go of the lock (closing the file descriptor releases it)."""
        if self._fd is None:
            return
        if not self.shared:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.release()
