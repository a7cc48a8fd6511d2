"""How fast ja2en reads tables (CSV, Parquet, a saved dataset) and .docx, and what reading
Parquet batch by batch saves in memory.

Run from the repo root:  PYTHONPATH=src .venv/bin/python benchmarks/extract_tables.py [ROWS]

Each table has ROWS rows (default 100,000) of one to three corpus sentences plus three
other columns (a url, a date, a number); the .docx has ROWS // 10 paragraphs and a
ROWS // 100-row table. Speed is documents (or paragraphs) per second on one core; memory
is the peak Python allocation (tracemalloc) while reading, which grows with the whole
table when it is converted to Python at once, and with one batch when read by batches.
"""

from __future__ import annotations

import datetime
import io
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ja2en.readers.docx import read_docx_file  # noqa: E402
from ja2en.readers.tables import read_csv_file, read_parquet_file  # noqa: E402
from ja2en.readers.text import ReadOptions  # noqa: E402

SENTENCES = [line.split("\t")[0] for line in (ROOT / "tests/data/corpus.tsv").read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def columns(rows: int) -> dict[str, list]:
    return {
        "id": [f"doc-{i}" for i in range(rows)],
        "text": ["".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(1 + i % 3)) for i in range(rows)],
        "url": [f"https://example.com/{i}" for i in range(rows)],
        "published": [datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 365) for i in range(rows)],
        "score": [i / 7 for i in range(rows)],
    }


def measure(name: str, read, unit: str = "documents") -> None:
    """Speed untraced (tracemalloc slows Python several times), then peak memory traced."""
    started = time.perf_counter()
    count = sum(len(item.locators) if unit == "paragraphs" else 1 for item in read())
    seconds = time.perf_counter() - started
    tracemalloc.start()
    sum(1 for _ in read())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{name:<36} {count:>8} {unit:<10} {count / seconds:>10,.0f}/s   peak {peak / 2**20:>7.1f} MiB")


def main(rows: int) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(tempfile.mkdtemp())
    table = pa.table(columns(rows))
    csv_data = io.BytesIO()
    table.to_pandas().to_csv(csv_data, index=False)
    parquet_data = io.BytesIO()
    pq.write_table(table, parquet_data, row_group_size=10_000)
    datasets.Dataset(table).save_to_disk(folder / "saved")
    docx_data = docx_bytes(rows // 10, rows // 100)
    options = ReadOptions()
    path = folder / "t"
    from ja2en.readers.dataset import read_saved_dataset

    measure("csv", lambda: read_csv_file(path, folder, csv_data.getvalue(), options))
    measure("parquet (iter_batches, 1,024 rows)", lambda: read_parquet_file(path, folder, parquet_data.getvalue(), options))
    measure("parquet (whole table to_pylist)", lambda: pq.read_table(io.BytesIO(parquet_data.getvalue())).to_pylist(), "rows")
    measure("saved dataset (arrow batches)", lambda: read_saved_dataset(folder / "saved", folder, options))
    measure("docx (one document)", lambda: read_docx_file(path, folder, docx_data, options), "paragraphs")


def docx_bytes(paragraphs: int, table_rows: int) -> bytes:
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    p = lambda text: f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"  # noqa: E731
    body = "".join(p(SENTENCES[i % len(SENTENCES)]) for i in range(paragraphs))
    cells = "".join(f"<w:tr><w:tc>{p(SENTENCES[i % 9])}</w:tc><w:tc>{p(SENTENCES[i % 7])}</w:tc></w:tr>" for i in range(table_rows))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", f"<w:document {w}><w:body>{body}<w:tbl>{cells}</w:tbl></w:body></w:document>")
    return buffer.getvalue()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
