"""Runs in bounded memory: inputs listed lazily, read a group at a time, per-document state
on disk, and what that means for a user (order, progress, inputs that change mid-run).

Memory itself is measured in benchmarks/scale.py, not asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ja2en.run
from ja2en import InputError, Progress, Translator, translate_documents
from ja2en.index import INDEX_FILE
from ja2en.readers import list_input_files

SENTENCES = ["株価は大幅に下落した。", "会議は延期された。", "東京都は発表した。", "参加費は無料です。"]


def write_jsonl(path: Path, count: int, *, start: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": f"d{i:05d}", "text": SENTENCES[i % 4] + SENTENCES[(i + 1) % 4]}, ensure_ascii=False)
        for i in range(start, start + count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ids(folder: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (folder / "documents.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def run(translator: Translator):
    def go(inputs, out: Path, **kwargs):
        return translate_documents(inputs, output_dir=out, translator=translator, summary="none", **kwargs)

    return go


def test_translation_starts_before_the_inputs_are_all_read_again(tmp_path: Path, run, translator, monkeypatch) -> None:
    # 30 files of 20 documents, 2 sentences each: 1,200 sentences, several groups of GROUP_SENTENCES.
    for part in range(30):
        write_jsonl(tmp_path / "in" / f"part{part:02d}.jsonl", 20, start=part * 20)
    reads: list[str] = []
    real_read = ja2en.run.read_file
    monkeypatch.setattr(ja2en.run, "read_file", lambda path, *a, **k: (reads.append(path.name), real_read(path, *a, **k))[1])
    seen_at_first_call: list[int] = []
    real_translate = translator.translate_detailed

    def translate_detailed(sentences, **kwargs):
        if not seen_at_first_call:
            seen_at_first_call.append(len(reads))
        return real_translate(sentences, **kwargs)

    monkeypatch.setattr(translator, "translate_detailed", translate_detailed)
    result = run(tmp_path / "in", tmp_path / "out")
    assert result.documents == 600 and ids(tmp_path / "out") == [f"d{i:05d}" for i in range(600)]
    assert len(reads) == 60  # each file read twice: planned, then translated
    # The first group is translated after 30 reads of the planning pass and a few of the second.
    assert 30 < seen_at_first_call[0] < 40


def test_a_walk_gives_files_in_the_order_of_their_sorted_paths(tmp_path: Path) -> None:
    for name in ("a/b.txt", "a-b.txt", "a/c/d.txt", "a.txt", "b/a.txt", "a/b/x.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("東京都は発表した。", encoding="utf-8")
    found = [item[0].relative_to(tmp_path).as_posix() for item in list_input_files([tmp_path])]
    assert found == ["a-b.txt", "a.txt", "a/b.txt", "a/b/x.txt", "a/c/d.txt", "b/a.txt"]


def test_a_file_that_changes_after_it_was_planned_is_reported_and_the_rerun_translates_it(tmp_path: Path, run) -> None:
    inputs = tmp_path / "in"
    for name in ("a", "b", "c"):
        write_jsonl(inputs / f"{name}.jsonl", 2, start=ord(name) * 10)
    (inputs / "gone.txt").write_text("会議は延期された。", encoding="utf-8")

    def edit_once_planned(event: Progress) -> None:
        if event.stage == "loading":  # after the planning pass, before the translating pass
            b_text = (inputs / "b.jsonl").read_text(encoding="utf-8")
            (inputs / "b.jsonl").write_text(b_text.replace("。", "!"), encoding="utf-8")  # same ids, new text
            (inputs / "gone.txt").unlink()

    result = run(inputs, tmp_path / "out", progress=edit_once_planned)
    b = (inputs / "b.jsonl").as_posix()
    assert result.errors == (
        f"{b}:1: changed while ja2en was translating; re-run the same command to translate it",
        f"{b}:2: changed while ja2en was translating; re-run the same command to translate it",
        f"{(inputs / 'gone.txt').as_posix()}: vanished while ja2en was translating; re-run the same command to translate it",
    )
    assert ids(tmp_path / "out") == ["d00970", "d00971", "d00990", "d00991"]
    again = run(inputs, tmp_path / "out")
    assert again.errors == ()
    assert ids(tmp_path / "out") == ["d00970", "d00971", "d00980", "d00981", "d00990", "d00991"]
    assert again.manifest["this_run"]["documents_resumed"] == 4
    assert json.loads((tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()[2])["ja"].endswith("!")


def test_with_fail_fast_a_changed_file_stops_the_run(tmp_path: Path, run) -> None:
    write_jsonl(tmp_path / "in" / "a.jsonl", 2)

    def edit(event: Progress) -> None:
        if event.stage == "loading":
            (tmp_path / "in" / "a.jsonl").write_text((tmp_path / "in" / "a.jsonl").read_text(encoding="utf-8").replace("。", "!"), encoding="utf-8")

    with pytest.raises(InputError, match=r"a\.jsonl:1: changed while ja2en was translating"):
        run(tmp_path / "in", tmp_path / "out", progress=edit, fail_fast=True)


def test_reading_is_reported_before_the_totals_are_known(tmp_path: Path, run, monkeypatch) -> None:
    monkeypatch.setattr(ja2en.run, "READING_STEP", 2)
    write_jsonl(tmp_path / "in" / "a.jsonl", 5)
    events: list[Progress] = []
    run(tmp_path / "in", tmp_path / "out", progress=events.append)
    reading = [(e.documents_done, e.documents_total, e.sentences_total) for e in events if e.stage == "reading"]
    assert reading == [(2, 0, 0), (4, 0, 0)]
    after = next(e for e in events if e.stage == "loading")
    assert (after.documents_total, after.sentences_total) == (5, 10)


def test_the_index_is_removed_after_a_run_and_a_killed_runs_index_is_ignored(tmp_path: Path, run) -> None:
    write_jsonl(tmp_path / "in" / "a.jsonl", 3)
    run(tmp_path / "in", tmp_path / "whole")
    assert not (tmp_path / "whole" / INDEX_FILE).exists()
    out = tmp_path / "out"
    out.mkdir()
    (out / INDEX_FILE).write_bytes(b"SQLite format 3\x00 but torn")  # what a kill -9 can leave
    result = run(tmp_path / "in", out)
    assert result.documents == 3 and not (out / INDEX_FILE).exists()
    assert (out / "documents.jsonl").read_bytes() == (tmp_path / "whole" / "documents.jsonl").read_bytes()


def test_a_duplicate_line_and_an_out_of_order_journal_end_in_input_order(tmp_path: Path, run) -> None:
    write_jsonl(tmp_path / "in" / "a.jsonl", 4)
    run(tmp_path / "in", tmp_path / "whole")
    lines = (tmp_path / "whole" / "documents.jsonl").read_bytes().splitlines(keepends=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_bytes((tmp_path / "whole" / "manifest.json").read_bytes())
    # A journal as a crash can leave it: the third document first, the first one twice, the rest missing.
    (out / "documents.jsonl").write_bytes(lines[2] + lines[0] + lines[0])
    result = run(tmp_path / "in", out)
    assert (result.repaired, result.manifest["this_run"]["documents_resumed"]) == (1, 2)
    assert (out / "documents.jsonl").read_bytes() == b"".join(lines)


def test_a_full_disk_under_the_index_stops_with_one_line_and_the_rerun_completes(tmp_path: Path, run, monkeypatch) -> None:
    from ja2en.errors import OutputError
    from ja2en.index import RunIndex

    write_jsonl(tmp_path / "in" / "a.jsonl", 400)
    run(tmp_path / "in", tmp_path / "whole")
    opened = RunIndex.__init__

    def small_disk(self, folder):
        opened(self, folder)
        self.db.execute("PRAGMA max_page_count = 12")  # SQLite's own "database or disk is full"

    monkeypatch.setattr(RunIndex, "__init__", small_disk)
    with pytest.raises(OutputError) as error:
        run(tmp_path / "in", tmp_path / "out")
    assert str(error.value) == (
        f"{tmp_path / 'out' / INDEX_FILE}: the run's index cannot be written (database or disk is full); "
        "free space and re-run the same command: the documents finished so far are kept"
    )
    assert not (tmp_path / "out" / INDEX_FILE).exists()
    monkeypatch.setattr(RunIndex, "__init__", opened)
    run(tmp_path / "in", tmp_path / "out")
    assert (tmp_path / "out" / "documents.jsonl").read_bytes() == (tmp_path / "whole" / "documents.jsonl").read_bytes()
