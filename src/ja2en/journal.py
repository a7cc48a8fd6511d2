"""TranslatedDocument → the output folder, crash-safely and resumably.

documents.jsonl is the run's journal: each finished document is appended as one complete
line, flushed and fsynced, so whatever is in it survives a SIGKILL or a power cut. On the
next run with the same settings the journal is read back: a torn last line (a write cut
short) is truncated away, and the documents already in it (same id, same source bytes)
are skipped. When the run completes, the journal is put in input order if a resume
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import InputError, OutputError, display_path
from .records import TranslatedDocument, sentence_rows
from .writers import DOCUMENTS_FILE, MANIFEST_FILE, SENTENCES_FILE, dump_line, prepare_output_dir, write_json_atomic

ERRORS_FILE = "errors.jsonl"
_OUTPUT_FILES = (DOCUMENTS_FILE, SENTENCES_FILE, ERRORS_FILE, MANIFEST_FILE)

DocumentKey = tuple[str, str]  # (document id, sha256 of its source bytes)


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


@dataclass(frozen=True, slots=True)
class FolderPlan:
    """What a run does with the documents already in its output folder."""

    keep: tuple[str, ...]  # ids of documents from other inputs to keep (--append), in folder order
    removed: int  # documents in the folder this run drops (their inputs are gone)
    clashes: tuple[tuple[str, InputError], ...]  # (id, error) of this run's documents whose id another source holds (--append)
    inputs: tuple[str, ...]  # the inputs the manifest records (with --append, the earlier ones too)
    roots: tuple[str, ...]
    errors: tuple[dict[str, str], ...] = ()  # errors.jsonl of the earlier runs whose documents are kept (--append)


def _folder_index(path: Path) -> dict[str, tuple[str, str]]:
    """id → (sha256, source) of the last complete record of each document in a journal."""
    index: dict[str, tuple[str, str]] = {}
    if not path.is_file():
        return index
    with path.open("rb") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                index[record["id"]] = (record["sha256"], record["source"])
            except (ValueError, KeyError, TypeError):
                break  # a torn tail: the journal cuts it off when it opens
    return index


def plan_folder(
    output_dir: Path,
    inputs: Sequence[str],
    documents: Sequence[tuple[str, str]],
    *,
    append: bool = False,
    force: bool = False,
) -> FolderPlan:
    """Decide, before any model loads, which documents the folder keeps; refuse silent drops.

    `documents` are (id, source) of this run's readable documents. Raises OutputError when
    the folder was made from other inputs and this run would drop some of its documents
    without `append` or `force`.
    """
    if append and force:
        raise InputError("--append keeps a folder's documents and --force replaces them; use one of them")
    roots = input_roots(inputs)
    try:
        previous = json.loads((output_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    previous = previous if isinstance(previous, dict) else {}
    existing = _folder_index(output_dir / DOCUMENTS_FILE)
    ids = {doc_id for doc_id, _ in documents}
    others = [doc_id for doc_id in existing if doc_id not in ids]
    old_inputs = [str(p) for p in previous.get("inputs") or []]
    old_roots = [str(p) for p in previous.get("input_roots") or input_roots(old_inputs)]
    if not append:
        if others and not force and sorted(set(old_roots)) != sorted(set(roots)):
            raise OutputError(
                f"{display_path(output_dir)} holds {len(others)} documents from other inputs "
                f"({', '.join(old_inputs) or 'unknown'}) that this run would drop; add --append to keep them and "
                "add these inputs' documents, or --force to replace them"
            )
        return FolderPlan((), len(others), (), tuple(inputs), tuple(roots))
    clashes = tuple(
        (
            doc_id,
            InputError(
                f"{source}: document id '{doc_id}' is already in {display_path(output_dir)} from "
                f"{existing[doc_id][1]}; give it another id, or run without --append to replace that folder's inputs"
            ),
        )
        for doc_id, source in documents
        if doc_id in existing and not _same_source(existing[doc_id][1], source)
    )
    new = [(path, root) for path, root in zip(inputs, roots, strict=True) if root not in old_roots]
    clashing = {doc_id for doc_id, _ in clashes}
    return FolderPlan(
        keep=tuple(doc_id for doc_id in existing if doc_id not in ids or doc_id in clashing),
        removed=0,
        clashes=clashes,
        inputs=tuple(old_inputs + [path for path, _ in new]),
        roots=tuple(old_roots + [root for _, root in new]),
        # Earlier errors of inputs this run reads again are this run's to report (or not).
        errors=tuple(e for e in _read_errors(output_dir / ERRORS_FILE) if not e["message"].startswith(tuple(inputs))),
    )


def _same_source(a: str, b: str) -> bool:
    """Whether two `source` values name the same file (or JSONL line), however the path was given."""
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _read_errors(path: Path) -> Iterator[dict[str, str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "message" in record:
                    yield {"error": str(record.get("error", "")), "message": str(record["message"])}
    except OSError:
        return


class Journal:
    """The output folder of one run: resume state in, finished documents out."""

    def __init__(self, output_dir: Path | str, fingerprint: dict[str, Any], *, force: bool = False) -> None:
        self.folder = prepare_output_dir(output_dir)
        self.fingerprint = fingerprint
        self.path = self.folder / DOCUMENTS_FILE
        self._check_previous_run(force)
        self.done: dict[DocumentKey, int] = {}  # key → byte offset of its last complete line
        self.latest: dict[str, DocumentKey] = {}  # id → key of its last complete line
        self.duplicate_lines = 0  # lines repeating a document already in the journal: dropped at finish
        self._recover()
        try:
            self._handle: IO[bytes] = self.path.open("ab")
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot be opened for writing ({exc.strerror}); choose another -o") from None

    def _check_previous_run(self, force: bool) -> None:
        manifest_path = self.folder / MANIFEST_FILE
        existing = [name for name in _OUTPUT_FILES if (self.folder / name).exists()]
        if not existing:
            return
        try:
            previous = json.loads(manifest_path.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            previous = None
        if previous == self.fingerprint:
            return
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

    def _recover(self) -> None:
        """Index the complete lines of an existing journal and cut off a torn tail."""
        if not self.path.exists():
            return
        good_end = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                    key = (record["id"], record["sha256"])
                except (ValueError, KeyError, TypeError):
                    break  # appends are sequential: only the tail can be torn
                if key in self.done:
                    self.duplicate_lines += 1  # a document written twice: the last copy wins
                self.done[key] = good_end
                self.latest[record["id"]] = key
                good_end += len(line)
        if good_end < self.path.stat().st_size:
            os.truncate(self.path, good_end)

    def start(self, manifest: dict[str, Any]) -> None:
        """Record that a run with this fingerprint is under way."""
        write_json_atomic(self.folder / MANIFEST_FILE, {**manifest, "status": "running", "fingerprint": self.fingerprint})

    def append(self, document: TranslatedDocument) -> None:
        """Append one finished document and make it durable before going on."""
        data = dump_line(document.to_dict()).encode("utf-8", "surrogatepass")
        offset = self._handle.tell()
        try:
            self._handle.write(data)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            # Leave no partial line behind: the next run would cut it anyway.
            try:
                self._handle.truncate(offset)
            except OSError:
                pass
            raise OutputError(
                f"{self.path}: writing failed ({exc.strerror}); free space and re-run the same command: "
                f"the {len(self.done)} documents finished so far are kept"
            ) from None
        self.done[(document.id, document.sha256)] = offset
        self.latest[document.id] = (document.id, document.sha256)

    def close(self) -> None:
        """Close the journal file (finish does; so does leaving a `with` block however it ends)."""
        self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def saved(self) -> int:
        """How many complete document lines the journal holds now (all of them resumable).

        Read from the file, not from `done`: a Ctrl-C can land after a line is written and
        before it is recorded.
        """
        with self.path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))

    def finish(
        self,
        order: Sequence[DocumentKey],
        errors: Sequence[dict[str, str]],
        manifest: dict[str, Any],
        this_run: Callable[[], dict[str, Any]],
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        """Put the journal in `order`, write the derived files, mark the run complete.

        Returns the files and the final manifest, whose counts cover every document in
        the folder (resumed ones included); `this_run()` adds what only this run saw.
        """
        self._handle.close()
        if self.duplicate_lines or list(self.done) != list(order):
            self._rewrite_in_order(order)
        counts = {"documents": 0, "paragraphs": 0, "sentences": 0}

        def rows() -> Iterator[str]:
            for doc in self.records():
                counts["documents"] += 1
                counts["paragraphs"] += doc["num_paragraphs"]
                counts["sentences"] += doc["num_sentences"]
                yield from (dump_line(row) for row in sentence_rows(doc))

        try:
            self._write_lines(self.folder / SENTENCES_FILE, rows())
            self._write_lines(self.folder / ERRORS_FILE, (dump_line(error) for error in errors))
        except OSError as exc:
            raise OutputError(f"{self.folder}: writing failed ({exc.strerror}); free space and re-run") from None
        final = {
            **manifest,
            "counts": {**manifest.get("counts", {}), **counts},
            "status": "complete",
            "fingerprint": self.fingerprint,
            "this_run": this_run(),
        }
        write_json_atomic(self.folder / MANIFEST_FILE, final)
        return {name.split(".")[0]: self.folder / name for name in _OUTPUT_FILES}, final

    def records(self) -> Iterator[dict[str, Any]]:
        """The journal's document records, in file order."""
        with self.path.open(encoding="utf-8", errors="surrogatepass") as handle:
            for line in handle:
                yield json.loads(line)

    def _rewrite_in_order(self, order: Sequence[DocumentKey]) -> None:
        # Only the planned documents, in order, one line each; others (inputs since removed
        # or changed, copies written twice) are dropped, as an uninterrupted run would never
        # have written them.
        def lines() -> Iterator[bytes]:
            with self.path.open("rb") as source:
                for key in order:
                    source.seek(self.done[key])
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
