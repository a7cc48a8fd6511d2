"""TranslatedDocument → the output folder, crash-safely and resumably.

documents.jsonl is the run's journal: each finished document is appended as one complete
line in one write, so whatever is in it survives a SIGKILL; it is fsynced at least every
SYNC_SECONDS and at the end, so a power cut costs at most that much work (one fsync per
document would cost more than the rest of ja2en on a slow disk). On the next run with the
same settings the journal is read back: a torn last line (a write cut short) is truncated
away, and the documents already in it (same id, same source bytes) are skipped. What the
run knows of each document (resume keys, offsets, order) is kept in a RunIndex on disk
(index.py), so memory does not grow with the corpus. When the run completes, the journal is put in input order if a resume
changed it, and the derived files are written from it through temporary files and
renames: sentences.jsonl, errors.jsonl, then manifest.json with status "complete".
So a resumed run ends with the same files as an uninterrupted one.

The manifest is written first with status "running" and the run's fingerprint (models,
revisions, decoding settings); a later run with another fingerprint is refused instead of
mixing two runs' results in one folder, unless it is told to start afresh (`force`).

Which documents a folder ends with is planned before any model loads (`plan_folder`): the
documents of this run's inputs, plus, with `append`, those already there from other
inputs. A run given other inputs than the run that made the folder, which would drop
documents, is refused; with the same inputs the folder mirrors them, and a document whose
input is gone is removed and counted.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, OutputError, display_path
from .index import FileSet, RunIndex
from .records import TranslatedDocument, sentence_rows
from .writers import DOCUMENTS_FILE, MANIFEST_FILE, REPORT_FILE, SENTENCES_FILE, dump_line, prepare_output_dir, write_json_atomic
from .writers import check_target, is_ja2en_manifest, is_ja2en_report

ERRORS_FILE = "errors.jsonl"
PARTIAL_ERRORS_FILE = ".errors.jsonl.partial"  # hidden, so an output folder inside an input folder never reads it
ERRORS_KEPT = 20  # errors a run keeps in memory, lists in its manifest and returns; errors.jsonl has all
_OUTPUT_FILES = (DOCUMENTS_FILE, SENTENCES_FILE, ERRORS_FILE, MANIFEST_FILE)
SYNC_SECONDS = 1.0  # how often appended documents are fsynced (and always at the end)



def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two fingerprints: 'translation.beams 4 → 1'."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key} {a} → {b}")
    return found


def input_roots(inputs: Iterable[Path | str]) -> list[str]:
    """The real paths of a run's inputs: what says whether two runs read the same inputs."""
    return [os.path.realpath(path) for path in inputs]


def check_output_files(folder: Path, reads: Container[str]) -> None:
    """Refuse, before anything is cut or removed, a folder whose output files ja2en must not touch.

    That is any of them this run reads (an input inside the folder), and any non-empty one
    in a folder without a ja2en manifest: those are the user's own files, which not even
    --force replaces. A report.html that is not ja2en's is only left alone (--force keeps it).
    """
    owned = is_ja2en_manifest(folder / MANIFEST_FILE)
    for name in (*_OUTPUT_FILES, REPORT_FILE):
        check_target(
            folder / name,
            reads=reads,
            ja2en_wrote=None if name == REPORT_FILE else (lambda path: owned or _is_empty(path)),
            instead=f"move it out of {display_path(folder)}, or use another -o (--force replaces only what ja2en wrote)",
        )


def _is_empty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class FolderPlan:
    """What a run does with the documents already in its output folder."""

    kept: int  # documents from other inputs kept (--append), placed before this run's
    removed: int  # documents in the folder this run drops (their inputs are gone)
    clashes: tuple[tuple[str, InputError], ...]  # (id, error) of this run's documents whose id another source holds (--append)
    inputs: tuple[str, ...]  # the inputs the manifest records (with --append, the earlier ones too)
    roots: tuple[str, ...]
    append: bool = False
    earlier_errors: Path | None = None  # errors.jsonl of the earlier runs whose documents are kept (--append)
    reread: tuple[str, ...] = ()  # this run's inputs: their earlier errors are this run's to report (or not)

    def kept_errors(self) -> Iterator[dict[str, str]]:
        """The earlier runs' errors the folder keeps (--append), read as they are needed."""
        if self.earlier_errors is not None:
            yield from (e for e in read_errors(self.earlier_errors) if not e["message"].startswith(self.reread))


def plan_folder(
    output_dir: Path,
    inputs: Sequence[str],
    index: RunIndex,
    *,
    append: bool = False,
    force: bool = False,
) -> FolderPlan:
    """Decide, before any model loads, which documents the folder keeps; refuse silent drops.

    `index` holds this run's planned documents; the folder's journal is read into it here.
    Raises OutputError when the folder was made from other inputs and this run would drop
    some of its documents without `append` or `force`.
    """
    if append and force:
        raise InputError("--append keeps a folder's documents and --force replaces them; use one of them")
    check_output_files(output_dir, FileSet(index))  # before any advice to --force
    roots = input_roots(inputs)
    try:
        previous = json.loads((output_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    previous = previous if isinstance(previous, dict) else {}
    index.read_journal(output_dir / DOCUMENTS_FILE)
    others = index.count_others()
    old_inputs = [str(p) for p in previous.get("inputs") or []]
    old_roots = [str(p) for p in previous.get("input_roots") or input_roots(old_inputs)]
    if not append:
        if others and not force and sorted(set(old_roots)) != sorted(set(roots)):
            raise OutputError(
                f"{display_path(output_dir)} holds {others} documents from other inputs "
                f"({', '.join(old_inputs) or 'unknown'}) that this run would drop; add --append to keep them and "
                "add these inputs' documents, or --force to replace them"
            )
        return FolderPlan(0, others, (), tuple(inputs), tuple(roots))
    clashes = tuple(
        (
            doc_id,
            InputError(
                f"{source}: document id '{doc_id}' is already in {display_path(output_dir)} from "
                f"{existing}; give it another id, or run without --append to replace that folder's inputs"
            ),
        )
        for doc_id, source, existing in index.shared_ids()
        if not _same_source(existing, source)
    )
    new = [(path, root) for path, root in zip(inputs, roots, strict=True) if root not in old_roots]
    return FolderPlan(
        kept=others + len(clashes),
        removed=0,
        clashes=clashes,
        inputs=tuple(old_inputs + [path for path, _ in new]),
        roots=tuple(old_roots + [root for _, root in new]),
        append=True,
        earlier_errors=output_dir / ERRORS_FILE,
        reread=tuple(inputs),
    )


def _same_source(a: str, b: str) -> bool:
    """Whether two `source` values name the same file (or JSONL line), however the path was given."""
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def read_errors(path: Path) -> Iterator[dict[str, str]]:
    """The records of an errors.jsonl, one at a time; none when it cannot be read."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "message" in record:
                    yield {"error": str(record.get("error", "")), "message": str(record["message"])}
    except OSError:
        return


class ErrorLog:
    """A run's errors, written to a hidden file in its output folder as they are found, so
    that memory holds only their number, their number by kind and the first ERRORS_KEPT,
    however many inputs fail.

    It stands in for a list of errors (`append`, `extend`, `len`). Journal.finish makes
    errors.jsonl from it; leaving its `with` block, however the run ends, removes the file
    (a killed run's is emptied by the next run's ErrorLog).
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / PARTIAL_ERRORS_FILE
        self.count = 0
        self.by_kind: dict[str, int] = {}
        self.first: list[dict[str, str]] = []
        self.first_error: Exception | None = None  # raised as it is when it is a run's only error
        try:
            # backslashreplace: a message never fails to be written, whatever bytes a file name holds.
            # Line-buffered: a full disk shows at the error that meets it, not at the end of the run.
            self._handle = self.path.open("w", encoding="utf-8", errors="backslashreplace", buffering=1)
        except OSError as exc:
            raise OutputError(self._failure("cannot be created", exc)) from None

    def _failure(self, what: str, exc: OSError) -> str:
        return f"{display_path(self.path)}: the run's error list {what} ({exc.strerror}); free space or choose another -o"

    def __len__(self) -> int:
        return self.count

    def append(self, error: Exception | dict[str, str]) -> None:
        """Record one error: on disk at once, in memory only as counts (and the first few)."""
        if isinstance(error, dict):
            record = {"error": str(error.get("error", "")), "message": str(error["message"])}
        else:
            record = {"error": type(error).__name__, "message": str(error)}
            self.first_error = self.first_error or error
        try:
            self._handle.write(dump_line(record))
        except OSError as exc:
            raise OutputError(self._failure("cannot be written", exc)) from None
        self._count(record)

    def extend(self, errors: Iterable[Exception | dict[str, str]]) -> None:
        for error in errors:
            self.append(error)

    def _count(self, record: dict[str, str]) -> None:
        self.count += 1
        self.by_kind[record["error"]] = self.by_kind.get(record["error"], 0) + 1
        if len(self.first) < ERRORS_KEPT:
            self.first.append(record)

    def lines(self, earlier: Iterable[dict[str, str]] = ()) -> Iterator[bytes]:
        """errors.jsonl's lines: `earlier` (the earlier runs' errors the folder keeps), then
        this run's. The counts take the earlier ones in as they pass, and come first."""
        own_first, self.first = self.first, []
        for record in earlier:
            self._count(record)
            yield dump_line(record).encode("utf-8", "backslashreplace")
        self.first = (self.first + own_first)[:ERRORS_KEPT]
        try:
            self._handle.flush()
        except OSError as exc:
            raise OutputError(self._failure("cannot be written", exc)) from None
        with self.path.open("rb") as handle:
            yield from handle

    def manifest_fields(self) -> dict[str, Any]:
        """What the manifest says of the errors: the first few, the number by kind, where the rest are."""
        fields: dict[str, Any] = {
            "errors": [e["message"] for e in self.first],
            "errors_by_kind": dict(sorted(self.by_kind.items())),  # sorted: a resumed run's manifest is the same
        }
        if self.count > len(self.first):
            fields["errors_note"] = f"the first {len(self.first)} of {self.count} errors; {ERRORS_FILE} lists them all"
        return fields

    def close(self) -> None:
        """Close and remove the file (errors.jsonl has its lines once the run finished)."""
        try:
            self._handle.close()
        except OSError:
            pass  # it is removed anyway
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ErrorLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def saved_documents(folder: Path) -> int:
    """How many complete document lines a folder's journal holds now (all of them resumable)."""
    try:
        with (folder / DOCUMENTS_FILE).open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def encode_document(document: TranslatedDocument) -> bytes:
    """A finished document's journal line."""
    return dump_line(document.to_dict()).encode("utf-8", "surrogatepass")


class ShardWriter:
    """One worker's file of finished documents (Ray): the worker writes, the driver copies.

    A batch's lines go out in one write and one fsync (which a shared filesystem needs to
    show them to the driver) before the worker reports them, so a receipt only ever names
    complete lines; what a killed worker was writing is named by none. Each worker process
    writes its own file, so a restarted worker never appends to a torn line.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        self._fd = -1
        self._size = 0

    def write(self, lines: Sequence[bytes]) -> int:
        """Append these lines durably; the byte offset where the first one starts."""
        if self._fd < 0:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.folder / self.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o666)
        offset = self._size
        view = memoryview(b"".join(lines))
        while view:
            written = os.write(self._fd, view)
            self._size += written
            view = view[written:]
        os.fsync(self._fd)
        return offset


def read_shard_lines(folder: Path, shard: str, spans: Sequence[tuple[int, int]]) -> list[bytes | None]:
    """The lines at these (offset, length) spans of a shard, read at once; None where a line is
    not complete there (a shard cut short)."""
    start, end = min(o for o, _ in spans), max(o + n for o, n in spans)
    try:
        with open(folder / shard, "rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except OSError:
        data = b""
    lines: list[bytes | None] = []
    for offset, length in spans:
        line = data[offset - start : offset - start + length]
        lines.append(line if len(line) == length and line.endswith(b"\n") else None)
    return lines


class Journal:
    """The output folder of one run: resume state in, finished documents out.

    `index` is the run's RunIndex (plan_folder has read the journal into it); without one,
    the journal makes its own and deletes it when closed.
    """

    def __init__(
        self, output_dir: Path | str, fingerprint: dict[str, Any], *, force: bool = False, index: RunIndex | None = None
    ) -> None:
        self.folder = prepare_output_dir(output_dir)
        self.fingerprint = fingerprint
        self.path = self.folder / DOCUMENTS_FILE
        self._own_index = index is None
        self.index = RunIndex(self.folder) if index is None else index
        self._fd = -1
        try:
            if self._check_previous_run(force):
                self.index.forget_journal()
            elif not self.index.journal_read:
                self.index.read_journal(self.path)
            self._cut_torn_tail()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            self._close_index()
            raise OutputError(f"{self.path}: cannot be opened for writing ({exc.strerror}); choose another -o") from None
        except BaseException:
            self._close_index()
            raise
        self._size = os.fstat(self._fd).st_size
        self._synced_at = time.monotonic()
        self._unsynced = False

    @property
    def duplicate_lines(self) -> int:
        """Lines repeating a document already in the journal: dropped at finish."""
        return self.index.duplicate_lines

    def is_done(self, doc_id: str, sha256: str) -> bool:
        """Whether the journal holds this document with these source bytes."""
        return self.index.is_done(doc_id, sha256)

    def _check_previous_run(self, force: bool) -> bool:
        """Refuse a folder of another run; with `force`, remove its outputs. Whether they were removed.

        Whatever the settings, nothing here or later writes over an input of this run or a
        file ja2en did not write (check_output_files).
        """
        check_output_files(self.folder, FileSet(self.index))
        manifest_path = self.folder / MANIFEST_FILE
        existing = [name for name in _OUTPUT_FILES if (self.folder / name).exists()]
        if not existing:
            return False
        try:
            previous = json.loads(manifest_path.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous == self.fingerprint:
            return False
        if not force:
            if previous is None:
                why = "outputs ja2en cannot resume (no fingerprint in its manifest)"
            else:
                why = "a run made with other settings (" + "; ".join(_differences(previous, self.fingerprint)) + ")"
            raise OutputError(
                f"{self.folder} holds {why}; use another -o, or --force to replace it with a fresh run"
            )
        for name in existing:
            (self.folder / name).unlink()
        if is_ja2en_report(self.folder / REPORT_FILE):  # it showed the run being replaced
            (self.folder / REPORT_FILE).unlink()
        return True

    def _cut_torn_tail(self) -> None:
        """Cut off what follows the journal's last complete line (a write cut short)."""
        if self.path.exists() and self.index.journal_end < self.path.stat().st_size:
            os.truncate(self.path, self.index.journal_end)

    def start(self, manifest: dict[str, Any]) -> None:
        """Record that a run with this fingerprint is under way."""
        write_json_atomic(self.folder / MANIFEST_FILE, {**manifest, "status": "running", "fingerprint": self.fingerprint})

    def append(self, document: TranslatedDocument) -> None:
        """Append one finished document."""
        self.append_line(document.id, document.sha256, document.source, encode_document(document))

    def append_line(self, doc_id: str, sha256: str, source: str, line: bytes) -> None:
        """Append one finished document's record, already a JSON line, in one write."""
        offset = self._size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
            self._size += len(line)
            self._unsynced = True
            if time.monotonic() - self._synced_at >= SYNC_SECONDS:
                self.sync()
        except OSError as exc:
            # Leave no partial line behind: the next run would cut it anyway.
            try:
                os.truncate(self.path, offset)
            except OSError:
                pass
            raise OutputError(
                f"{self.path}: writing failed ({exc.strerror}); free space and re-run the same command: "
                f"the {self.index.lines} documents finished so far are kept"
            ) from None
        self.index.add_line(doc_id, sha256, source, offset)

    def sync(self) -> None:
        """Make every line appended so far durable."""
        if self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False
        self._synced_at = time.monotonic()

    def close(self) -> None:
        """Make the journal durable and close it (finish does; so does leaving a `with` block however it ends)."""
        if self._fd >= 0:
            try:
                self.sync()
            except OSError:
                pass  # the lines are written; only a power cut could lose them now
            os.close(self._fd)
            self._fd = -1
        self._close_index()

    def _close_index(self) -> None:
        if self._own_index:
            self.index.close()
            self._own_index = False

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def saved(self) -> int:
        """How many complete document lines the journal holds now (all of them resumable).

        Read from the file, not from the index: a Ctrl-C can land after a line is written and
        before it is recorded.
        """
        return saved_documents(self.folder)

    def finish(
        self,
        errors: ErrorLog,
        manifest: dict[str, Any],
        this_run: Callable[[], dict[str, Any]],
        *,
        keep_others: bool = False,
        earlier_errors: Iterable[dict[str, str]] = (),
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        """Put the journal in its final order, write the derived files, mark the run complete.

        The final order: with `keep_others` (--append), the documents of other inputs first,
        in the folder's order; then this run's, in input order. errors.jsonl lists
        `earlier_errors` (those of the documents kept), then this run's `errors`. Returns the
        files and the final manifest, whose counts cover every document and error in the
        folder (resumed ones included); `this_run()` adds what only this run saw.
        """
        try:
            self.sync()
        except OSError as exc:
            raise OutputError(f"{self.path}: writing failed ({exc.strerror}); free space and re-run") from None
        self.index.build_final(keep_others)
        if not self.index.journal_is_final():
            self._rewrite_in_order()
        counts = {"documents": 0, "paragraphs": 0, "sentences": 0}

        def rows() -> Iterator[str]:
            for doc in self.records():
                counts["documents"] += 1
                counts["paragraphs"] += doc["num_paragraphs"]
                counts["sentences"] += doc["num_sentences"]
                yield from (dump_line(row) for row in sentence_rows(doc))

        try:
            self._write_lines(self.folder / SENTENCES_FILE, rows())
            self._write_lines(self.folder / ERRORS_FILE, errors.lines(earlier_errors), binary=True)
        except OSError as exc:
            raise OutputError(f"{self.folder}: writing failed ({exc.strerror}); free space and re-run") from None
        final = {
            **manifest,
            "counts": {**manifest.get("counts", {}), "errors": errors.count, **counts},
            **errors.manifest_fields(),
            "status": "complete",
            "fingerprint": self.fingerprint,
            "this_run": this_run(),
        }
        write_json_atomic(self.folder / MANIFEST_FILE, final)
        self.close()
        return {name.split(".")[0]: self.folder / name for name in _OUTPUT_FILES}, final

    def records(self) -> Iterator[dict[str, Any]]:
        """The journal's document records, in file order."""
        with self.path.open(encoding="utf-8", errors="surrogatepass") as handle:
            for line in handle:
                yield json.loads(line)

    def _rewrite_in_order(self) -> None:
        # Only the final documents, in order, one line each; others (inputs since removed
        # or changed, copies written twice) are dropped, as an uninterrupted run would never
        # have written them.
        def lines() -> Iterator[bytes]:
            with self.path.open("rb") as source:
                for offset in self.index.final_offsets():
                    source.seek(offset)
                    yield source.readline()

        try:
            self._write_lines(self.path, lines(), binary=True)
        except OSError as exc:
            raise OutputError(f"{self.path}: rewriting failed ({exc.strerror}); free space and re-run") from None

    @staticmethod
    def _write_lines(path: Path, lines: Iterator[Any], *, binary: bool = False) -> None:
        temporary = path.with_name(path.name + ".tmp")
        try:
            with temporary.open("wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
