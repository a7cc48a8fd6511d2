"""TranslatedDocument → documents.jsonl, sentences.jsonl and manifest.json.

Lines are written to `*.jsonl.partial` files, flushed after each document, and renamed
over the final names only when the run completes; the manifest is written last, through
a temporary file and a rename. So a crashed run never leaves a half-written file under a
final name, and a previous run's complete outputs stay intact until a new run replaces
them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .errors import OutputError
from .records import TranslatedDocument

DOCUMENTS_FILE = "documents.jsonl"
SENTENCES_FILE = "sentences.jsonl"
MANIFEST_FILE = "manifest.json"
_PARTIAL = ".partial"


def dump_line(record: dict[str, Any]) -> str:
    """One JSON object on one line: UTF-8 text, key order as given."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def prepare_output_dir(path: Path | str) -> Path:
    """Create the output folder and check it is writable before any model work starts."""
    output = Path(path)
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / ".ja2en-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{output}: cannot write the output folder ({exc.strerror}); choose another with -o") from None
    return output


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


class CorpusWriter:
    """Writes each finished document to both JSONL views; `commit()` publishes the run."""

    def __init__(self, output_dir: Path | str) -> None:
        self.output_dir = prepare_output_dir(output_dir)
        self._handles: dict[str, IO[str]] = {}
        try:
            for name in (DOCUMENTS_FILE, SENTENCES_FILE):
                self._handles[name] = (self.output_dir / (name + _PARTIAL)).open("w", encoding="utf-8")
        except OSError as exc:
            self._close()
            raise OutputError(f"{self.output_dir}: cannot create output files ({exc.strerror})") from None
        self.documents = 0
        self.paragraphs = 0
        self.sentences = 0

    def write(self, document: TranslatedDocument) -> None:
        """Append one document to documents.jsonl and its pairs to sentences.jsonl."""
        try:
            self._handles[DOCUMENTS_FILE].write(dump_line(document.to_dict()))
            self._handles[SENTENCES_FILE].writelines(dump_line(row) for row in document.sentence_rows())
            for handle in self._handles.values():
                handle.flush()
        except OSError as exc:
            raise OutputError(f"{self.output_dir}: writing failed ({exc.strerror}); free space or choose another -o") from None
        self.documents += 1
        self.paragraphs += document.num_paragraphs
        self.sentences += len(document.pairs)

    def commit(self, manifest: dict[str, Any]) -> dict[str, Path]:
        """Make the run's files final: JSONL renamed into place, then the manifest."""
        for handle in self._handles.values():
            handle.flush()
            os.fsync(handle.fileno())
        self._close()
        files = {}
        for name in (DOCUMENTS_FILE, SENTENCES_FILE):
            final = self.output_dir / name
            os.replace(self.output_dir / (name + _PARTIAL), final)
            files[name.split(".")[0]] = final
        files["manifest"] = self.output_dir / MANIFEST_FILE
        write_json_atomic(files["manifest"], manifest)
        return files

    def _close(self) -> None:
        for handle in self._handles.values():
            handle.close()

    def __enter__(self) -> CorpusWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        # On failure the .partial files stay for inspection; final files are untouched.
        self._close()
