"""One huge or hostile input file is one error, never a run killed for memory.

A file read whole (.txt, .md, .html, .pdf, .docx, .epub) and what a .docx or .epub
unpacks to are capped by --max-input-mb; JSON Lines, CSV and TSV are streamed a record at
a time, so memory follows the largest record, not the file. Peak memory is measured in a
child process (resource.getrusage), on files kept small enough to stay fast.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

measures_memory = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from Linux's /proc")
from typer.testing import CliRunner

from ja2en import InputError
from ja2en.cli import app
from ja2en.readers import ReadOptions, read_file

MB = 1024 * 1024
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
SENTENCE = "会議は延期された。"


def errors_and_ids(path: Path, root: Path, **options) -> tuple[list[str], list[str]]:
    items = list(read_file(path, root, options=ReadOptions(**options)))
    return [str(i) for i in items if isinstance(i, InputError)], [i.id for i in items if not isinstance(i, InputError)]


def peak_mb_of_reading(path: Path, **options) -> tuple[int, int]:
    """(documents read, how many MB the peak RSS grew while reading `path`), in a fresh process.

    The peak is the kernel's VmHWM: ru_maxrss would carry the pytest process's own peak over the exec.
    """
    script = textwrap.dedent(
        f"""
        import re, sys
        from pathlib import Path
        from ja2en.readers import ReadOptions, read_file
        import ja2en.readers.{ {'.docx': 'docx', '.jsonl': 'jsonl'}.get(path.suffix, 'tables') }, ja2en.readers.text

        def peak_kb():
            return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

        path = Path(sys.argv[1])
        before = peak_kb()
        count = sum(1 for item in read_file(path, path.parent, options=ReadOptions(**{options!r})) if hasattr(item, "id"))
        print(count, (peak_kb() - before) // 1024)
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    count, grown = done.stdout.split()
    return int(count), int(grown)


# --- files read whole: over the cap, one error ---------------------------------------------


@pytest.mark.parametrize("name", ["big.txt", "big.md", "big.html"])
def test_a_file_read_whole_over_the_cap_is_one_error(tmp_path: Path, name: str) -> None:
    line = f"<p>{SENTENCE}</p>\n" if name.endswith(".html") else SENTENCE + "\n"
    (tmp_path / name).write_text(line * (MB // 25), encoding="utf-8")  # 1.2 or 1.4 MB
    errors, ids = errors_and_ids(tmp_path / name, tmp_path, max_input_mb=1)
    assert errors == [
        f"{tmp_path / name}: 2 MB, over the 1 MB limit for one document; split it into smaller files, "
        "or re-run with --max-input-mb 2 if it is genuine"
    ]
    assert ids == []
    assert errors_and_ids(tmp_path / name, tmp_path, max_input_mb=2)[0] == []


def test_the_cli_reports_a_file_over_the_cap_reads_the_others_and_max_input_mb_raises_it(
    tmp_path: Path, tiny_marian: Path, expected
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("ありがとうございます。\n", encoding="utf-8")
    (folder / "b_big.txt").write_text(("株価は大幅に下落した。\n") * (MB // 20), encoding="utf-8")
    options = ["-m", str(tiny_marian), "--no-summary", "--beams", "1", "--backend", "torch", "--device", "cpu"]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["translate", str(folder), *options, "-o", str(out), "--max-input-mb", "1"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {folder / 'b_big.txt'}: 2 MB, over the 1 MB limit for one document; split it into smaller files, "
        "or re-run with --max-input-mb 2 if it is genuine\n"
    )
    [doc] = [json.loads(line) for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert doc["id"] == "a" and doc["pairs"][0]["en"] == expected["ありがとうございます。"]
    # The cap is not part of the fingerprint: raising it resumes the same folder and reads the file.
    again = CliRunner().invoke(app, ["translate", str(folder), *options, "-o", str(out), "--max-input-mb", "3"])
    assert again.exit_code == 0, again.output
    ids = [json.loads(line)["id"] for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == ["a", "b_big"]


# --- zip archives: what they unpack to is capped, and document.xml is parsed as it streams ----


def write_docx(path: Path, body_chunks, *, declared: int | None = None) -> None:
    """A .docx whose document.xml is the concatenation of `body_chunks`, written as it streams."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>'.encode())
            for chunk in body_chunks:
                part.write(chunk)
            part.write(b"</w:body></w:document>")
    if declared is not None:  # a lying central directory: the size of document.xml rewritten
        data = bytearray(path.read_bytes())
        entry = data.index(b"PK\x01\x02")
        data[entry + 24 : entry + 28] = struct.pack("<I", declared)
        path.write_bytes(bytes(data))


def text_paragraph(text: str) -> bytes:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode()


def test_a_docx_zip_bomb_is_one_error_and_the_folder_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_docx(folder / "bomb.docx", [text_paragraph(SENTENCE)] + [b"<w:p/>" * 100_000] * 10)  # 6 MB of XML in 6 KB
    assert (folder / "bomb.docx").stat().st_size < 100_000
    (folder / "ok.txt").write_text(SENTENCE + "\n", encoding="utf-8")
    from ja2en.readers import iter_input_files

    items = [item for found in iter_input_files([folder]) for item in read_file(*found, options=ReadOptions(max_input_mb=2))]
    assert [str(item) for item in items if isinstance(item, InputError)] == [
        f"{folder / 'bomb.docx'}: word/document.xml unpacks to 6 MB, over the 2 MB limit for one document; "
        "re-run with --max-input-mb 6 if it is genuine"
    ]
    assert [item.id for item in items if not isinstance(item, InputError)] == ["ok"]
    assert errors_and_ids(folder / "bomb.docx", folder, max_input_mb=6) == ([], ["bomb"])


def test_a_docx_whose_zip_lies_about_its_size_is_one_error_not_a_bomb(tmp_path: Path) -> None:
    write_docx(tmp_path / "liar.docx", [text_paragraph(SENTENCE)] + [b"<w:p/>" * 100_000] * 10, declared=1000)
    errors, _ = errors_and_ids(tmp_path / "liar.docx", tmp_path, max_input_mb=2)
    assert errors == [
        f"{tmp_path / 'liar.docx'}: damaged Word document (Bad CRC-32 for file 'word/document.xml'); "
        "open and save it again in Word"
    ]


def test_an_epub_chapter_bomb_is_one_error(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "book.epub", "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("META-INF/container.xml", '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                      '<rootfiles><rootfile full-path="content.opf"/></rootfiles></container>')  # fmt: skip
        book.writestr("content.opf", '<package xmlns="http://www.idpf.org/2007/opf"><manifest>'
                      '<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>'
                      '<spine><itemref idref="c1"/></spine></package>')  # fmt: skip
        book.writestr("c1.xhtml", "<html><body>" + "<p></p>" * (5 * MB // 14) + f"<p>{SENTENCE}</p></body></html>")
    errors, ids = errors_and_ids(tmp_path / "book.epub", tmp_path, max_input_mb=2)
    assert errors == [
        f"{tmp_path / 'book.epub'}: c1.xhtml unpacks to 3 MB, over the 2 MB limit for one document; "
        "re-run with --max-input-mb 3 if it is genuine"
    ]
    assert ids == []


@measures_memory
def test_a_docx_of_millions_of_elements_is_parsed_without_holding_its_tree(tmp_path: Path) -> None:
    # 6 MB of empty paragraphs: a whole ElementTree of them took 100 MB more.
    write_docx(tmp_path / "many.docx", [text_paragraph(SENTENCE)] + [b"<w:p/>" * 100_000] * 10)
    count, grown = peak_mb_of_reading(tmp_path / "many.docx")
    assert count == 1
    assert grown < 30, f"reading 6 MB of XML grew the peak RSS by {grown} MB"


# --- JSON Lines and CSV: streamed by record --------------------------------------------------


def big_records(path: Path, records: int = 160, chars: int = 85_000) -> None:
    """~40 MB of records of ~250 KB each."""
    body = (SENTENCE * (chars // len(SENTENCE)))
    with path.open("w", encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            handle.write("id,text\n")
            for number in range(records):
                handle.write(f'r{number},"{body}"\r\n')
        else:
            for number in range(records):
                handle.write(json.dumps({"id": f"r{number}", "text": body}, ensure_ascii=False) + "\n")


@measures_memory
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_big_jsonl_or_csv_is_streamed_by_record(tmp_path: Path, suffix: str) -> None:
    big_records(tmp_path / f"big{suffix}")
    assert (tmp_path / f"big{suffix}").stat().st_size > 40_000_000
    count, grown = peak_mb_of_reading(tmp_path / f"big{suffix}")
    assert count == 160
    assert grown < 20, f"reading a 40 MB {suffix} grew the peak RSS by {grown} MB"


def test_a_jsonl_line_over_the_cap_is_one_error_and_the_other_lines_are_read(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    huge = json.dumps({"text": SENTENCE * (MB // 4)}, ensure_ascii=False)  # 3 MB
    path.write_text(f'{{"text": "一つ目。"}}\n{huge}\n{{"text": "三つ目。"}}\n', encoding="utf-8")
    assert errors_and_ids(path, tmp_path, max_input_mb=1) == (
        [f"{path}:2: the line is over the 1 MB limit for one document; re-run with a higher --max-input-mb if it is genuine"],
        ["batch:1", "batch:3"],
    )


def test_a_csv_row_over_the_cap_is_one_error_and_ends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f'text\n一つ目。\n"{SENTENCE * (MB // 4)}"\n三つ目。\n', encoding="utf-8")
    assert errors_and_ids(path, tmp_path, max_input_mb=1) == (
        [f"{path}: row 2 is over the 1 MB limit for one document, so the rows after it are not read; "
         "re-run with a higher --max-input-mb if it is genuine"],
        ["t:1"],
    )  # fmt: skip


def test_streamed_files_give_the_documents_reading_them_whole_gave(tmp_path: Path, monkeypatch) -> None:
    """Encoding detected from a prefix, BOMs, CRLF, quoted line breaks: the same ids, texts and hashes."""
    import ja2en.readers.text as text

    lines = [json.dumps({"id": f"d{n}", "text": f"{SENTENCE}その{n}。"}, ensure_ascii=False) for n in range(50)]
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))
    (tmp_path / "b.jsonl").write_bytes("\n".join(lines).encode("cp932") + b"\n")
    rows = "".join(f'{n},"{SENTENCE}\r\n二行目{n}。",x\r\n' for n in range(50))
    (tmp_path / "c.csv").write_bytes(("id,text,url\r\n" + rows).encode("euc-jp"))
    (tmp_path / "d.tsv").write_bytes(("id\ttext\turl\n" + rows.replace(",", "\t")).encode("utf-8"))

    def read_all() -> list[tuple]:
        items = [item for name in ("a.jsonl", "b.jsonl", "c.csv", "d.tsv") for item in read_file(tmp_path / name, tmp_path)]
        assert not [item for item in items if isinstance(item, InputError)]
        return [(d.id, d.source, d.sha256, d.encoding, d.text, d.meta) for d in items]

    whole = read_all()
    monkeypatch.setattr(text, "DETECT_BYTES", 64)
    assert read_all() == whole
    assert {row[3] for row in whole} == {"utf-8-sig", "cp932", "euc-jp", "utf-8"}


def test_bytes_of_another_encoding_late_in_a_jsonl_are_one_error_naming_the_line(tmp_path: Path, monkeypatch) -> None:
    import ja2en.readers.text as text

    monkeypatch.setattr(text, "DETECT_BYTES", 64)
    path = tmp_path / "mixed.jsonl"
    good = [json.dumps({"text": f"{SENTENCE}その{n}。"}, ensure_ascii=False).encode("utf-8") for n in range(5)]
    path.write_bytes(b"\n".join(good + [json.dumps({"text": "株価は下落した。"}, ensure_ascii=False).encode("cp932")] + good) + b"\n")
    errors, ids = errors_and_ids(path, tmp_path)
    assert errors == [
        f"{path}:6: not valid utf-8, the encoding of the start of the file; "
        "convert the file to one encoding, or re-run with --encoding NAME (for example --encoding cp932)"
    ]
    assert ids == [f"mixed:{n}" for n in (1, 2, 3, 4, 5, 7, 8, 9, 10, 11)]
    errors, _ = errors_and_ids(path, tmp_path, encoding="utf-8")
    assert errors == [f"{path}:6: not valid utf-8; re-run without --encoding to detect it automatically"]
