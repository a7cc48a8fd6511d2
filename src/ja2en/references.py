"""Reference translations → ReferenceSet: the inputs of `ja2en eval`.

Three layouts are read:

- `.jsonl`: one object per line with `ja` and `en` strings, optional `id` and `summary`
  (a reference summary of the row's English, for ROUGE);
- `.tsv`: `ja<TAB>en` per line; blank lines and lines starting with `#` are skipped;
- a folder: `NAME.txt` (Japanese) beside `NAME.en.txt` (its English reference), line N of
  one translating line N of the other (blank lines ignored), and optionally
  `NAME.summary.txt`; subfolders are read, hidden files skipped, anything else refused.

Files are decoded as readers.py decodes documents (or with a forced encoding), and the
Japanese is NFKC-normalized as it is for `ja2en translate`; the English is used as given.
Anything unusable raises InputError naming the file (and line) and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .readers import LONE_SURROGATE, decode_bytes, json_type_name, normalize_text
from .segment import split_paragraphs

FORMATS = ("jsonl", "tsv", "folder")
_JSONL_SHAPE = '{"ja": ..., "en": ...}'
_FOLDER_SHAPE = "put NAME.txt (Japanese) beside NAME.en.txt (its English reference)"


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference document: aligned (Japanese, English) segments and maybe a reference summary."""

    id: str
    source: str  # the file it came from (":LINE" for a JSONL or TSV line)
    pairs: tuple[tuple[str, str], ...]  # Japanese NFKC-normalized, English as given (stripped)
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceSet:
    """The references read from one file or folder."""

    path: str
    format: str  # one of FORMATS
    documents: tuple[Reference, ...]

    @property
    def summaries(self) -> int:
        """How many documents carry a reference summary."""
        return sum(doc.summary is not None for doc in self.documents)


def read_references(path: Path | str, *, encoding: str | None = None) -> ReferenceSet:
    """Read a .jsonl, a .tsv or a folder of references; raise InputError on anything unusable."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        kind, documents = "folder", list(_read_folder(path, encoding))
        empty = _FOLDER_SHAPE
    elif not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path")
    elif suffix == ".jsonl":
        kind, documents = "jsonl", list(_read_jsonl(path, encoding))
        empty = f"each line must be an object like {_JSONL_SHAPE}"
    elif suffix == ".tsv":
        kind, documents = "tsv", list(_read_tsv(path, encoding))
        empty = "each line must be ja<TAB>en"
    else:
        raise InputError(
            f"{path}: not a reference set ja2en reads ({suffix or 'no suffix'}); use a .jsonl with "
            '"ja" and "en" fields, a .tsv of ja<TAB>en lines, or a folder of NAME.txt + NAME.en.txt'
        )
    if not documents:
        raise InputError(f"{path}: no references; {empty}")
    return ReferenceSet(path.as_posix(), kind, tuple(documents))


def _read_text(path: Path, encoding: str | None) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    text, _ = decode_bytes(data, path=path, encoding=encoding)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _lines(path: Path, encoding: str | None) -> Iterator[tuple[str, str]]:
    """(path:line, line) for every non-blank line."""
    for number, line in enumerate(_read_text(path, encoding).split("\n"), start=1):
        if line.strip():
            yield f"{path}:{number}", line


def _read_jsonl(path: Path, encoding: str | None) -> Iterator[Reference]:
    for where, line in _lines(path, encoding):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg}); fix or remove the line") from None
        if not isinstance(record, dict):
            raise InputError(f"{where}: not an object; each line must be an object like {_JSONL_SHAPE}")
        ja, en = _text_field(record, "ja", where), _text_field(record, "en", where)
        summary = _text_field(record, "summary", where) if record.get("summary") is not None else None
        raw_id = record.get("id")
        doc_id = str(raw_id) if raw_id not in (None, "") else where
        pair = (normalize_text(ja).strip(), en.strip())
        yield Reference(doc_id, where, (pair,), None if summary is None else summary.strip())


def _text_field(record: dict[str, Any], key: str, where: str) -> str:
    if key not in record:
        raise InputError(f'{where}: no "{key}" field; each line must be an object like {_JSONL_SHAPE}')
    value = record[key]
    if not isinstance(value, str):
        raise InputError(f'{where}: "{key}" must be a string, not {json_type_name(value)}')
    if LONE_SURROGATE.search(value):
        # JSON can escape half a character (\ud83d); no model can read it and no file can hold it.
        raise InputError(f'{where}: "{key}" holds a lone surrogate escape (half an emoji?); fix the escape')
    if not value.strip():
        raise InputError(f'{where}: empty "{key}"; remove the line or add text')
    return value


def _read_tsv(path: Path, encoding: str | None) -> Iterator[Reference]:
    for where, line in _lines(path, encoding):
        if line.startswith("#"):  # comments, like the header of tests/data/corpus.tsv
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise InputError(
                f"{where}: expected ja<TAB>en, found {len(fields)} tab-separated fields; fix or remove the line"
            )
        ja, en = normalize_text(fields[0]).strip(), fields[1].strip()
        if not ja or not en:
            raise InputError(f"{where}: empty {'Japanese' if not ja else 'English'}; remove the line or add text")
        yield Reference(where, where, ((ja, en),))


def _read_folder(folder: Path, encoding: str | None) -> Iterator[Reference]:
    sources: dict[str, Path] = {}
    english: dict[str, Path] = {}
    summaries: dict[str, Path] = {}
    files = (p for p in folder.rglob("*") if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for file in sorted(p for p in files if not p.is_dir()):
        name = file.relative_to(folder).as_posix()
        lowered = name.lower()
        for suffix, kind in ((".summary.txt", summaries), (".en.txt", english), (".txt", sources)):
            if lowered.endswith(suffix):
                kind[name[: -len(suffix)]] = file
                break
        else:
            raise InputError(
                f"{file}: not part of a reference folder; name files NAME.txt, NAME.en.txt or "
                "NAME.summary.txt, or move it out"
            )
    for stem, file in {**english, **summaries}.items():
        if stem not in sources:
            raise InputError(f"{file}: no Japanese source beside it; add {folder / stem}.txt or remove it")
    for stem, ja_file in sources.items():
        if stem not in english:
            raise InputError(f"{ja_file}: no reference translation; add {folder / stem}.en.txt or move it out")
        ja_text = normalize_text(_read_text(ja_file, encoding))
        ja = [ja_text[s:e] for s, e in split_paragraphs(ja_text)]
        en = [line.strip() for line in _read_text(english[stem], encoding).split("\n") if line.strip()]
        if not ja:
            raise InputError(f"{ja_file}: empty document; remove it or add text")
        if len(ja) != len(en):
            raise InputError(
                f"{ja_file}: {len(ja)} paragraphs but {len(en)} in {english[stem]}; put one paragraph per "
                "line in both files, line N of one translating line N of the other"
            )
        summary = None
        if stem in summaries:
            summary = _read_text(summaries[stem], encoding).strip()
            if not summary:
                raise InputError(f"{summaries[stem]}: empty summary; remove it or add text")
        yield Reference(stem, ja_file.as_posix(), tuple(zip(ja, en, strict=True)), summary)
