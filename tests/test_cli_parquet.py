"""`ja2en translate --parquet` on the local engine needs pyarrow, not Ray."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ja2en.cli import app

runner = CliRunner()


def test_parquet_is_written_by_a_local_run_without_ray(no_ray, tmp_path: Path, tiny_marian: Path, corpus) -> None:
    import pyarrow.parquet as pq

    sentences = [ja for ja, _ in corpus]
    documents = {"a": sentences[3:6], "b": sentences[10:12]}
    (tmp_path / "in").mkdir()
    for name, own in documents.items():
        (tmp_path / "in" / f"{name}.txt").write_text("".join(own) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--no-summary", "--backend", "torch",
         "--device", "cpu", "--parquet", "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(
        "(documents.jsonl, sentences.jsonl, errors.jsonl, manifest.json, documents.parquet, sentences.parquet)"
    )
    docs = pq.read_table(out / "documents.parquet")
    assert docs.column("id").to_pylist() == ["a", "b"]
    assert docs.column("num_sentences").to_pylist() == [3, 2]
    rows = pq.read_table(out / "sentences.parquet").to_pylist()
    expected = dict(corpus)
    assert [(r["doc_id"], r["ja"], r["en"]) for r in rows] == [
        (name, ja, expected[ja]) for name, own in documents.items() for ja in own
    ]
