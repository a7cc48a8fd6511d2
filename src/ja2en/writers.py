"""The file-level writing every output shares: JSON lines, atomic JSON, output folders and
their locks, Parquet, and the one check before ja2en writes over or removes a file
(`check_target`): never a file the command reads, never a file ja2en did not write.

What is written when, and how a run resumes, is journal.py's business.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import time
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import OutputError, display_path

DOCUMENTS_FILE = "documents.jsonl"
SENTENCES_FILE = "sentences.jsonl"
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.html"  # the page to review a run (corpus/report.py)
REPORT_TITLE = "ja2en report: "  # how every report page's <title> starts: what marks a page as ja2en's
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
    try:
        lock = OutputLock(folder).acquire()
    except OutputError:
        if created:
            _remove_if_empty(folder)
        raise
    try:
        yield folder
    except BaseException:
        lock.release()
        if not had_lock_file:  # leave the user's folder as it was (a lock file marks an output folder)
            (folder / LOCK_FILE).unlink(missing_ok=True)
        if created:
            _remove_if_empty(folder)
        raise
    finally:
        lock.release()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only when empty: anything written stays
    except OSError:
        pass


def is_ja2en_manifest(path: Path) -> bool:
    """Whether `path` is a manifest.json that ja2en wrote (it names its version or fingerprint).

    What tells a folder of ja2en outputs from a folder holding a user's own files of the
    same names: without such a manifest, none of the folder's files are ja2en's.
    """
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and ("ja2en_version" in manifest or isinstance(manifest.get("fingerprint"), dict))


def is_ja2en_report(path: Path) -> bool:
    """Whether `path` is a review page ja2en wrote: its <title>, near the top, says so."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return f"<title>{REPORT_TITLE}".encode() in head


class RunFiles(Container[str]):
    """The real paths a command reading a finished run must never write over: the run's own
    files, and its inputs (a file inside an input folder too: the next run would read it)."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        from .index import INDEX_FILE  # here: both modules import this one
        from .journal import ERRORS_FILE

        names = (DOCUMENTS_FILE, SENTENCES_FILE, ERRORS_FILE, MANIFEST_FILE, LOCK_FILE, INDEX_FILE)
        names += tuple(name.replace(".jsonl", ".parquet") for name in (DOCUMENTS_FILE, SENTENCES_FILE))
        self.folder = os.path.realpath(folder)
        self.files = {os.path.join(self.folder, name) for name in names}
        roots = manifest.get("input_roots") or manifest.get("inputs") or []
        self.inputs = {os.path.realpath(root) for root in roots if isinstance(root, str)} if isinstance(roots, list) else set()

    def __contains__(self, real: object) -> bool:
        if not isinstance(real, str):
            return False
        if real in self.files or real in self.inputs:
            return True
        # The run folder may lie inside an input folder: the walk never reads it.
        if real.startswith(self.folder + os.sep):
            return False
        return any(real.startswith(root + os.sep) for root in self.inputs)


def check_target(
    path: Path,
    *,
    reads: Container[str] = (),
    ja2en_wrote: Callable[[Path], bool] | None = None,
    overwrite: bool | None = None,
    instead: str,
) -> None:
    """The check before ja2en writes over or removes `path`: OutputError if it must not.

    `reads`: the real paths this command reads (its inputs, the run's own files): never
    written over. `ja2en_wrote`: tells whether an existing file is one ja2en wrote; any
    other file is left alone, unless `overwrite` (None: the command has no --overwrite).
    `instead`: what the user can do, ending the message.
    """
    if os.path.realpath(path) in reads:
        raise OutputError(
            f"{display_path(path)}: is an input, inside an input folder, or one of the run's own files, and ja2en "
            f"never writes over what it reads; {instead}"
        )
    if ja2en_wrote is None or overwrite or not os.path.lexists(path) or ja2en_wrote(path):
        return
    if os.path.isdir(path):
        raise OutputError(f"{display_path(path)}: is a folder, not a file ja2en wrote; {instead}")
    hint = "" if overwrite is None else ", or pass --overwrite to replace it"
    raise OutputError(f"{display_path(path)}: exists and was not written by ja2en; {instead}{hint}")


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

    target = jsonl.with_suffix(".parquet")
    try:  # the run's finished manifest, naming its inputs: a Parquet input in the folder is never replaced
        manifest = json.loads((jsonl.parent / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    inputs = RunFiles(jsonl.parent, manifest if isinstance(manifest, dict) else {}).inputs
    check_target(target, reads=inputs, instead="the JSONL files are written; run again without --parquet, or use another -o")
    schemas = [pa.Table.from_pylist(chunk).schema for chunk in chunks()]
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


def process_running(pid: int) -> bool:
    """Whether process `pid` runs on this machine: what tells a leftover of a killed ja2en
    command (a temporary file, a staging folder named with its pid) from one still at work."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a number no pid can be
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def lock_holder(fd: int, *, tries: int) -> str:
    """The pid in a lock file whose lock another process holds; empty if it wrote none.

    The holder writes its pid just after it takes the lock, so an empty file is read again
    for a moment (`tries` times 10 ms) before it is taken to hold none.
    """
    for _ in range(tries):
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if holder:
            return holder
        time.sleep(0.01)
    return ""


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
        """Take the lock now or raise OutputError naming who holds it, or why it cannot be taken; never waits.

        A writer never goes on unlocked: two runs appending at once would lose documents. A
        reader goes on unlocked only where there is no lock file and none can be made (a
        finished run on a read-only archive): no writer can be in such a folder, as no
        writer works without the lock file.
        """
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no locking
            return self
        path = self.folder / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if not self.shared:
                raise OutputError(self._cannot_lock(path, exc)) from None
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return self
            except OSError as again:
                raise OutputError(self._cannot_lock(path, again)) from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as exc:
            holder = self._holder(fd) if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
            os.close(fd)
            raise OutputError(self._cannot_lock(path, exc) if holder is None else self._busy(holder)) from None
        if not self.shared:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            except OSError:
                pass  # the pid only serves the message of a run refused meanwhile; the lock is held
        self._fd = fd
        return self

    def _cannot_lock(self, path: Path, exc: OSError) -> str:
        folder = display_path(self.folder)
        then = "then try again" if self.shared else "or use another -o"
        return (
            f"{display_path(path)}: cannot lock {folder} ({exc.strerror or exc}), and ja2en never uses a folder "
            f"another run could be writing at the same time; make the file readable and writable (or delete it "
            f"when no ja2en command is using {folder}), {then}"
        )

    @staticmethod
    def _holder(fd: int) -> str:
        """The pid a writer put in the lock file; empty for readers, who write none."""
        return lock_holder(fd, tries=20)

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
