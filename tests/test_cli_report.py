"""`ja2en report` and `translate --report` from the command line: where the page goes and
what the one stdout line says. What the page shows is tests/test_report.py's business."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ja2en.cli import app

runner = CliRunner()


def translate(tmp_path: Path, tiny_marian: Path, corpus, *extra: str):
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "a.txt").write_text(corpus[0][0] + corpus[1][0] + "\n", encoding="utf-8")
    command = ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--no-summary", "--backend", "torch"]
    return runner.invoke(app, [*command, "--device", "cpu", "-o", str(tmp_path / "out"), *extra])


def test_translate_with_report_ends_its_line_with_where_the_report_is(tmp_path: Path, tiny_marian: Path, corpus) -> None:
    result = translate(tmp_path, tiny_marian, corpus, "--report")
    assert result.exit_code == 0, result.output
    report = tmp_path / "out" / "report.html"
    assert result.stdout.rstrip().endswith(
        f"(documents.jsonl, sentences.jsonl, errors.jsonl, manifest.json); review it in {report}"
    )
    assert corpus[0][1] in report.read_text(encoding="utf-8")


def test_without_report_no_page_is_written(tmp_path: Path, tiny_marian: Path, corpus) -> None:
    result = translate(tmp_path, tiny_marian, corpus)
    assert result.exit_code == 0, result.output
    assert "review it" not in result.stdout and not (tmp_path / "out" / "report.html").exists()


def test_report_writes_the_page_where_asked(tmp_path: Path, tiny_marian: Path, corpus) -> None:
    assert translate(tmp_path, tiny_marian, corpus).exit_code == 0
    result = runner.invoke(app, ["report", str(tmp_path / "out"), "-o", str(tmp_path / "review.html")])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Report → {tmp_path / 'review.html'} (open it in a browser; it needs no network)\n"
    assert (tmp_path / "review.html").stat().st_size > 0


def test_report_of_a_folder_that_is_not_a_run_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path}: no documents.jsonl here; run `ja2en translate INPUT -o {tmp_path}` first\n"


def test_a_forced_fresh_run_removes_the_report_of_the_run_it_replaces(tmp_path: Path, tiny_marian: Path, corpus) -> None:
    assert translate(tmp_path, tiny_marian, corpus, "--report").exit_code == 0
    result = translate(tmp_path, tiny_marian, corpus, "--beams", "2", "--force")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / "report.html").exists()  # it showed translations no longer in the folder
