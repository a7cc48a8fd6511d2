"""The file-level writing every output shares: JSON lines, atomic JSON, output folders.

What is written when, and how a run resumes, is journal.py's business.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import OutputError

DOCUMENTS_FILE = "documents.jsonl"
SENTENCES_FILE = "sentences.jsonl"
MANIFEST_FILE = "manifest.json"


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
