"""A run's output folder → one self-contained HTML page to review it in a browser.

The page needs nothing but itself: its styles and script are inlined from the files next
to this module (report_template.html, report.css, report.js), and the run's data travels
in it as JSON in `<script type="application/json">` blocks, which browsers never run.
Every string from the documents reaches the page through that JSON, with `<`, `>` and `&`
escaped, and the script builds the DOM with `textContent` only, so a source sentence
holding `<script>` shows as text. A Content-Security-Policy allows only the page's own
script (by its hash) and no network access at all.

documents.jsonl is streamed into the page one record at a time, as RunOutput reads it, so a
report of a large run does not hold the corpus in memory. The run is read without its
lock (RunOutput, not open_run): a report of a run that is still going, or was
interrupted, shows what is done and says so.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import re
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import IO, Any

from ..errors import OutputError, display_path
from ..journal import ERRORS_FILE
from ..writers import REPORT_FILE, REPORT_TITLE, RunFiles, check_target, is_ja2en_report, process_running
from ..models.presets import hub_id, license_of
from .output import RunOutput


# What must not appear raw in JSON inside <script>: tag delimiters and "&" (HTML parsing),
# the two line separators older JavaScript parsers reject, and lone surrogates (not UTF-8).
_UNSAFE_IN_SCRIPT = re.compile("[<>&\u2028\u2029\ud800-\udfff]")

_PAIR_KEYS = ("paragraph", "sentence", "start", "end", "ja", "en", "score", "flags", "locator")
_DOCUMENT_KEYS = ("id", "source", "format", "title", "meta", "num_paragraphs", "num_sentences")
_SUMMARY_KEYS = ("summary_en", "summary_ja", "summary_ja_en")
REPORT_ERRORS = 2000  # errors the page lists; errors.jsonl has them all
_MODEL_KEYS = ("revision", "device", "dtype", "backend", "quantization", "beams")


def write_report(run_dir: Path | str, path: Path | str | None = None, *, overwrite: bool = False) -> Path:
    """Write the HTML review page of the run in `run_dir` (default RUN/report.html); returns its path.

    Works on a finished run and on one still running or interrupted (it shows what is done).
    `path` may be a folder (then FOLDER/report.html). It is never one of the run's own files
    or inputs, and an existing file there that is not a ja2en report is replaced only with
    `overwrite`.
    """
    run = RunOutput(run_dir, partial=True)
    target = run.folder / REPORT_FILE if path is None else Path(path)
    if target.is_dir():
        target = target / REPORT_FILE
    check_target(
        target, reads=RunFiles(run.folder, run.manifest), ja2en_wrote=is_ja2en_report, overwrite=overwrite,
        instead="choose another file with -o",
    )  # fmt: skip
    remove_abandoned_temporaries(target)
    # Hidden, beside the target: os.replace is atomic within a folder, and readers skip dot files.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _write_page(run, temporary, target)
    except OSError as exc:
        _discard(temporary)
        if exc.filename not in (None, str(temporary), str(target)):
            raise  # reading the run failed, not writing the page
        raise OutputError(
            f"{display_path(target)}: cannot be written ({exc.strerror or exc}); free space, or choose another file with -o"
        ) from None
    except BaseException:
        _discard(temporary)
        raise
    return target


def _discard(temporary: Path) -> None:
    try:
        temporary.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only folder (EROFS even for a missing file): nothing was left there


def _write_page(run: RunOutput, temporary: Path, target: Path) -> None:
    """The page into `temporary`, then renamed to `target`; the temporary file stays locked until
    then, which tells remove_abandoned_temporaries that its writer is alive."""
    import fcntl

    head, tail = _page(title=f"{REPORT_TITLE}{run.folder.resolve().name}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with open(fd, "w", encoding="utf-8", newline="\n") as out:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out.write(head)
        _write_documents(run, out)
        out.write('<script type="application/json" id="ja2en-run">')
        out.write(script_json(_run_view(run)))
        out.write("</script>\n")
        out.write(tail)
        out.flush()
        os.replace(temporary, target)


def remove_abandoned_temporaries(target: Path) -> None:
    """Delete the `.NAME.PID.tmp` files that killed reports of `target` left behind.

    Only those whose writer is gone: its pid is not running here, and no process holds the
    file's lock (a report writing it from another machine over NFS keeps it).
    """
    prefix = f".{target.name}."
    try:
        names = [name for name in os.listdir(target.parent) if name.startswith(prefix) and name.endswith(".tmp")]
    except OSError:
        return  # the write itself will say what is wrong with the folder
    for name in names:
        pid = name[len(prefix) : -len(".tmp")]
        if pid.isdigit() and not process_running(int(pid)) and _unlocked(target.parent / name):
            (target.parent / name).unlink(missing_ok=True)


def _unlocked(path: Path) -> bool:
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def script_json(value: Any) -> str:
    """`value` as JSON that is safe inside an HTML <script> element (no `</script>`, no `<!--`)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _UNSAFE_IN_SCRIPT.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _write_documents(run: RunOutput, out: IO[str]) -> None:
    out.write('<script type="application/json" id="ja2en-documents">[\n')
    for number, document in enumerate(run.documents()):
        if number:
            out.write(",\n")
        out.write(script_json(_document_view(document)))
    out.write("\n]</script>\n")


def _document_view(document: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a document: its full texts are left out (the pairs hold them),
    and each pair is a list in _PAIR_KEYS order, which keeps a large report small."""
    view = {key: document.get(key) for key in _DOCUMENT_KEYS + _SUMMARY_KEYS}
    view["pairs"] = [[_finite(pair.get(key)) if key == "score" else pair.get(key) for key in _PAIR_KEYS]
                     for pair in document.get("pairs") or []]  # fmt: skip
    return view


def _finite(score: Any) -> float | None:
    # A NaN score would make the JSON invalid; the page shows it as "no score", as publish counts it.
    return score if isinstance(score, (int, float)) and math.isfinite(score) else None


def _run_view(run: RunOutput) -> dict[str, Any]:
    manifest = run.manifest
    return {
        "folder": str(run.folder),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": manifest.get("status"),
        "finished": run.finished,
        "documents_planned": run.documents_planned,
        "ja2en_version": manifest.get("ja2en_version"),
        "inputs": manifest.get("inputs") or [],
        "settings": manifest.get("settings") or {},
        "models": _models(manifest.get("models") or {}),
        "counts": manifest.get("counts") or {},
        "this_run": manifest.get("this_run") or {},
        **_errors(run),
    }


def _models(models: dict[str, Any]) -> list[dict[str, Any]]:
    """Each model the run used, with its license ("unknown" for local folders and other Hub ids)."""
    described = []
    for role, settings in models.items():
        if not isinstance(settings, dict) or not settings.get("name"):
            continue
        name = str(settings["name"])
        described.append(
            {"role": role, "name": hub_id(name), "license": license_of(name) or "unknown"}
            | {key: settings.get(key) for key in _MODEL_KEYS if key in settings}
        )
    return described


def _errors(run: RunOutput) -> dict[str, Any]:
    """The first REPORT_ERRORS of errors.jsonl's records and how many it holds; while a run is
    going it may not exist yet (then the manifest's messages). A page cannot usefully list
    millions of errors, and holding them would make the report's memory grow with them."""
    path = run.folder / ERRORS_FILE
    if not path.is_file():
        listed = [{"error": "", "message": str(message)} for message in run.manifest.get("errors") or []]
        total = (run.manifest.get("counts") or {}).get("errors")
        return {"errors": listed, "errors_total": total if isinstance(total, int) and total >= len(listed) else len(listed)}
    errors, total = [], 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn line of a run being written: the next report will have it
            if isinstance(record, dict):
                total += 1
                if len(errors) < REPORT_ERRORS:
                    errors.append({"error": str(record.get("error") or ""), "message": str(record.get("message") or "")})
    return {"errors": errors, "errors_total": total}


def _page(*, title: str) -> tuple[str, str]:
    """The page before and after the data blocks, with its style and script inlined."""
    files = resources.files(__package__)
    template = (files / "report_template.html").read_text(encoding="utf-8")
    style = (files / "report.css").read_text(encoding="utf-8")
    script = (files / "report.js").read_text(encoding="utf-8")
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    head, tail = template.split("{{data}}")
    # The title last, so nothing in a folder's name is read as a placeholder.
    head = (
        head.replace("{{style}}", style)
        .replace("{{script_hash}}", f"sha256-{script_hash}")
        .replace("{{title}}", html.escape(title))
    )
    return head, tail.replace("{{script}}", script)
