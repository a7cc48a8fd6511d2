"""A finished run's pairs → the files MT toolkits read: TMX 1.4b, Moses plain text, TSV.

- tmx: one `<tu>` per pair with `x-doc-id`, `x-paragraph`, `x-sentence` (and `x-score`,
  `x-flags` when the run recorded them) props, then the `ja` and `en` segments. Characters
  XML 1.0 cannot hold are replaced by U+FFFD and counted; a CR is written as `&#13;` so
  that it survives parsing.
- moses: `<prefix>.ja` and `<prefix>.en`, one segment per line, line N of one the
  translation of line N of the other. Every line break inside a segment (anything
  `str.splitlines()` splits on, CRLF counting as one) becomes a single space, so the two
  files can never fall out of step.
- tsv: JParaCrawl's layout, `doc_id<TAB>score<TAB>en<TAB>ja` (score empty when the run has
  none), with no header line, as JParaCrawl has none. Tabs and line breaks inside a field
  become a single space.

Pairs stream from documents.jsonl to `.partial` files that are renamed into place only when
everything, including the `<stem>.export.json` report of what was kept and dropped, is
written: a crash never leaves a half file under a final name, nor a full disk a `.partial` one.
A destination is never one of the run's own files or inputs, and an existing file that no
export wrote (its `.export.json` names the files an export wrote) is replaced only with
`overwrite`. The run folder is read under a shared lock (no `ja2en translate` can write it
meanwhile); an unfinished run is exported only when asked (`partial`), and the report and
the TMX header then say so.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .output import FilterCounts, PairFilter, PairRow, RunOutput, open_run, select_pairs
from ..errors import InputError, OutputError
from ..writers import RunFiles, check_target

FORMATS = ("tmx", "moses", "tsv")
_PARTIAL = ".partial"

# XML 1.0 Char excludes C0 controls other than TAB/LF/CR, surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Lone surrogates (possible in JSON, as \ud800 escapes) cannot be encoded as UTF-8 at all.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Exactly what str.splitlines() treats as a line boundary.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LINE_BREAK_OR_TAB = re.compile("\r\n|[\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote and which pairs it kept."""

    format: str
    files: tuple[Path, ...]  # the data files, then the report
    counts: FilterCounts
    replaced_characters: int  # characters that cannot be written (in XML 1.0, or at all), now U+FFFD
    partial: bool = False  # exported from an unfinished run


def export_corpus(
    output_dir: Path | str,
    *,
    format: str,
    destination: Path | str | None = None,
    pair_filter: PairFilter = PairFilter(),
    partial: bool = False,
    overwrite: bool = False,
) -> ExportResult:
    """Write the pairs of the run in `output_dir` that pass `pair_filter` as `format`.

    `destination` is the file for tmx and tsv, the prefix of `.ja`/`.en` for moses; by
    default `corpus.<format>` (or the prefix `corpus`) inside `output_dir`, and inside a
    folder given as `destination`. It never replaces the run's own files or inputs; an
    existing file that an export did not write is replaced only with `overwrite`.
    `partial` accepts a run that has not finished (its finished documents are exported).
    """
    if format not in FORMATS:
        raise InputError(f"unknown export format '{format}'; use one of {', '.join(FORMATS)}")
    with open_run(output_dir, partial=partial) as output:
        return _export(output, format, destination, pair_filter, overwrite)


def _export(
    output: RunOutput, format: str, destination: Path | str | None, pair_filter: PairFilter, overwrite: bool
) -> ExportResult:
    target, data_paths, report_path = _destination(Path(output.folder if destination is None else destination), format)
    reads = RunFiles(output.folder, output.manifest)
    for path in (*data_paths, report_path):
        check_target(
            path, reads=reads, ja2en_wrote=lambda existing: _exported(existing, report_path), overwrite=overwrite,
            instead="choose another destination with --to",
        )  # fmt: skip

    counts = FilterCounts()
    rows: Iterator[PairRow] = select_pairs(output, pair_filter, counts)
    # select_pairs is a generator: its checks (--min-score on a run without scores) run on
    # the first next(), so start it before any folder or file is created.
    rows = itertools.chain(list(itertools.islice(rows, 1)), rows)
    note = None if output.finished else f"partial: exported from a ja2en run that had not finished ({output.progress()})"
    try:
        with _atomic_files([*data_paths, report_path]) as handles:
            replaced = _WRITERS[format](rows, handles[:-1], note)
            report = {
                "format": format,
                "source": str(output.folder),
                "files": [path.name for path in data_paths],
                "filter": {
                    "min_score": pair_filter.min_score,
                    "drop_flagged": pair_filter.drop_flagged,
                    "dedup": pair_filter.dedup,
                },
                "counts": counts.to_dict(),
                "replaced_characters": replaced,
                "partial": not output.finished,
            }
            handles[-1].write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    except OSError as exc:
        names = ", ".join(path.name for path in data_paths)
        raise OutputError(
            f"{target.parent}: cannot write {names} there ({exc.strerror or exc}); "
            "check the folder's permissions and free space, or choose another destination"
        ) from None
    return ExportResult(
        format=format,
        files=(*data_paths, report_path),
        counts=counts,
        replaced_characters=replaced,
        partial=not output.finished,
    )


def _destination(target: Path, format: str) -> tuple[Path, list[Path], Path]:
    """The file (or moses prefix), the data files and the report an export to `target` writes;
    a folder means corpus.<format> (or the prefix corpus) in it."""
    if target.is_dir():
        target = target / ("corpus" if format == "moses" else f"corpus.{format}")
    if format == "moses":
        data = [target.with_name(target.name + ".ja"), target.with_name(target.name + ".en")]
        return target, data, target.with_name(target.name + ".export.json")
    return target, [target], target.with_name(target.stem + ".export.json")


def _exported(path: Path, report_path: Path) -> bool:
    """Whether an export wrote `path`: its `.export.json` report names it (or it is that report),
    or it is a TMX whose header names ja2en as its creation tool."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = None
    if isinstance(report, dict) and report.get("format") in FORMATS and isinstance(report.get("files"), list):
        if path == report_path or path.name in report["files"]:
            return True
    try:
        with path.open("rb") as handle:
            return b'<header creationtool="ja2en"' in handle.read(1024)
    except OSError:
        return False


@contextmanager
def _atomic_files(paths: Sequence[Path]) -> Iterator[list[TextIO]]:
    """Open a `.partial` file beside each path; rename them all into place only if the block succeeds."""
    partials = [path.with_name(path.name + _PARTIAL) for path in paths]
    handles: list[TextIO] = []
    try:
        for partial in partials:
            partial.parent.mkdir(parents=True, exist_ok=True)
            # newline="": no platform newline translation, so a line is exactly what was written.
            handles.append(partial.open("w", encoding="utf-8", newline=""))
        yield handles
        for handle in handles:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        # The report comes last, so a report on disk means its data files are complete.
        for partial, path in zip(partials, paths):
            os.replace(partial, path)
    finally:
        for handle in handles:
            try:
                handle.close()
            except OSError:
                pass  # a full disk fails the close's flush again; the file must still go
        for partial in partials:
            try:
                partial.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only folder, where nothing was written: keep the first error


def _write_tmx(rows: Iterable[PairRow], handles: Sequence[TextIO], note: str | None) -> int:
    """TMX 1.4b, one `<tu>` per pair, `note` in the header; returns how many characters were replaced."""
    from .. import __version__  # here, not at import time: the package imports this module

    out = handles[0]
    replaced = 0

    def text(value: str) -> str:
        nonlocal replaced
        value, count = _NOT_XML.subn("\ufffd", value)
        replaced += count
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")

    out.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE tmx SYSTEM "tmx14.dtd">\n'
        '<tmx version="1.4">\n'
        f'  <header creationtool="ja2en" creationtoolversion="{_attribute(__version__)}" datatype="plaintext"'
        ' segtype="sentence" adminlang="en" srclang="ja" o-tmf="ja2en"'
        + (f">\n    <note>{text(note)}</note>\n  </header>\n" if note else "/>\n")
        + "  <body>\n"
    )
    for row in rows:
        props = [("x-doc-id", row.doc_id), ("x-paragraph", str(row.paragraph)), ("x-sentence", str(row.sentence))]
        if row.score is not None:
            props.append(("x-score", repr(float(row.score))))
        if row.flags:
            props.append(("x-flags", ",".join(row.flags)))
        out.write("    <tu>\n")
        out.writelines(f'      <prop type="{kind}">{text(value)}</prop>\n' for kind, value in props)
        out.write(f'      <tuv xml:lang="ja"><seg>{text(row.ja)}</seg></tuv>\n')
        out.write(f'      <tuv xml:lang="en"><seg>{text(row.en)}</seg></tuv>\n')
        out.write("    </tu>\n")
    out.write("  </body>\n</tmx>\n")
    return replaced


def _attribute(value: str) -> str:
    """An XML attribute value; whitespace as character references, which attribute parsing keeps."""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return value.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


def _write_moses(rows: Iterable[PairRow], handles: Sequence[TextIO], note: str | None) -> int:
    """`.ja` and `.en`, one segment per line (no room for `note`); returns how many characters were replaced."""
    ja_out, en_out = handles
    clean = _Cleaner(_LINE_BREAK)
    for row in rows:
        ja_out.write(clean(row.ja) + "\n")
        en_out.write(clean(row.en) + "\n")
    return clean.replaced


def _write_tsv(rows: Iterable[PairRow], handles: Sequence[TextIO], note: str | None) -> int:
    """JParaCrawl-style `doc_id, score, en, ja` lines (no room for `note`); returns how many characters were replaced."""
    clean = _Cleaner(_LINE_BREAK_OR_TAB)
    for row in rows:
        score = "" if row.score is None else repr(float(row.score))
        handles[0].write("\t".join((clean(row.doc_id), score, clean(row.en), clean(row.ja))) + "\n")
    return clean.replaced


class _Cleaner:
    """Makes a field safe for a line-based file: separators → one space, lone surrogates → U+FFFD."""

    def __init__(self, separators: re.Pattern[str]) -> None:
        self.separators = separators
        self.replaced = 0

    def __call__(self, value: str) -> str:
        value, count = _SURROGATE.subn("\ufffd", value)
        self.replaced += count
        return self.separators.sub(" ", value)


_WRITERS: dict[str, Callable[[Iterable[PairRow], Sequence[TextIO], str | None], int]] = {
    "tmx": _write_tmx,
    "moses": _write_moses,
    "tsv": _write_tsv,
}
