"""A run's errors go to errors.jsonl as they happen: memory and the manifest keep only their
counts and the first few, however many inputs fail; every error is still listed, on stderr
and in errors.jsonl, and a run that fails or is killed leaves no partial error file behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en import Translator, translate_documents
from ja2en.cli import app
from ja2en.journal import ERRORS_KEPT, PARTIAL_ERRORS_FILE

from test_journal import make_inputs

runner = CliRunner()


@pytest.fixture
def run(translator: Translator):
    def go(inputs, out: Path, **kwargs):
        return translate_documents(inputs, output_dir=out, translator=translator, summary="none", **kwargs)

    return go


def empty_files(folder: Path, count: int) -> list[str]:
    """`count` empty .txt files (each one error), in input order; their error messages."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"empty{i:05d}.txt").write_bytes(b"")
    return [f"{folder / f'empty{i:05d}.txt'}: empty document; remove it or add text" for i in range(count)]


def error_lines(folder: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (folder / "errors.jsonl").read_text(encoding="utf-8").splitlines()]


def test_five_thousand_bad_inputs_are_all_in_errors_jsonl_and_the_manifest_stays_small(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    messages = empty_files(inputs / "bad", 5000)
    out = tmp_path / "out"
    on_disk_when_translating = []

    def progress(event) -> None:
        # Streamed as found: by the time translation starts the planning pass's errors are on disk.
        if event.stage == "translating" and not on_disk_when_translating:
            on_disk_when_translating.append((out / PARTIAL_ERRORS_FILE).read_bytes().count(b"\n"))

    result = run(inputs, out, progress=progress)

    assert on_disk_when_translating == [5000]
    assert error_lines(out) == [{"error": "InputError", "message": m} for m in messages]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["errors"] == 5000
    assert manifest["errors"] == messages[:ERRORS_KEPT] and ERRORS_KEPT == 20
    assert manifest["errors_by_kind"] == {"InputError": 5000}
    assert manifest["errors_note"] == "the first 20 of 5000 errors; errors.jsonl lists them all"
    assert (out / "manifest.json").stat().st_size < 20_000
    assert (result.error_count, result.errors, result.documents) == (5000, tuple(messages[:20]), 1)
    assert not (out / PARTIAL_ERRORS_FILE).exists()


def test_a_few_errors_are_all_in_the_manifest_with_no_note(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    messages = empty_files(inputs / "bad", 3)
    result = run(inputs, tmp_path / "out")
    assert result.manifest["errors"] == list(result.errors) == messages and result.error_count == 3
    assert result.manifest["errors_by_kind"] == {"InputError": 3}
    assert "errors_note" not in result.manifest


def test_a_failed_run_leaves_no_partial_error_file_and_the_previous_errors_jsonl(
    tmp_path: Path, run, translator: Translator, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = make_inputs(tmp_path / "in", 2)
    messages = empty_files(inputs / "bad", 3)
    out = tmp_path / "out"
    run(inputs, out)
    before = (out / "errors.jsonl").read_bytes()
    (inputs / "doc000.txt").write_text("新しい文です。\n", encoding="utf-8")  # work for the second run

    def bug(texts, decoding):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")

    monkeypatch.setattr(translator.backend, "generate", bug)
    with pytest.raises(TypeError):
        run(inputs, out)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".ja2en.lock") == []
    assert (out / "errors.jsonl").read_bytes() == before
    assert [e["message"] for e in error_lines(out)] == messages


def test_a_killed_runs_partial_error_file_is_replaced_not_merged(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    messages = empty_files(inputs / "bad", 2)
    out = tmp_path / "out"
    out.mkdir()
    # What a kill -9 leaves: a stale partial file, a torn last line included.
    (out / PARTIAL_ERRORS_FILE).write_text('{"error":"InputError","message":"stale"}\n{"err', encoding="utf-8")
    result = run(inputs, out)
    assert [e["message"] for e in error_lines(out)] == messages == list(result.errors)
    assert not (out / PARTIAL_ERRORS_FILE).exists()


def test_append_keeps_every_earlier_error_first_and_counts_them(tmp_path: Path, run) -> None:
    day_a = make_inputs(tmp_path / "dayA", 1)
    earlier = empty_files(day_a / "bad", 30)
    day_b = tmp_path / "dayB"
    day_b.mkdir()
    (day_b / "b1.txt").write_text("東京都は発表した。\n", encoding="utf-8")
    later = empty_files(day_b / "bad", 2)
    run(day_a, tmp_path / "corpus")

    result = run(day_b, tmp_path / "corpus", append=True)

    assert [e["message"] for e in error_lines(tmp_path / "corpus")] == earlier + later
    assert (result.error_count, result.errors) == (32, tuple(earlier[:20]))
    assert result.manifest["counts"]["errors"] == 32
    assert result.manifest["errors_by_kind"] == {"InputError": 32}
    assert result.manifest["errors_note"] == "the first 20 of 32 errors; errors.jsonl lists them all"


def test_the_cli_prints_every_error_line_past_the_manifests_few(tmp_path: Path, tiny_marian: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    messages = empty_files(inputs / "bad", 25)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["translate", str(inputs), "-m", str(tiny_marian), "--no-summary", "--no-cache", "-o", str(out)]
    )
    assert result.exit_code == 2
    assert result.stderr == "".join(f"error: {m}\n" for m in messages)
    assert ", 25 failed (see above) → " in result.stdout
