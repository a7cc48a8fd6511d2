"""The output folder is the user's corpus: runs never drop, duplicate or mix its documents
silently — not when the inputs change, not when two runs start at once, not when the
folder sits inside the input folder."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ja2en import InputError, OutputError, Translator, translate_documents
from ja2en.errors import Ja2enWarning
from ja2en.writers import LOCK_FILE, OutputLock

from test_journal import SENTENCES, make_inputs, outputs


@pytest.fixture
def run(translator: Translator):
    def go(inputs, out: Path, **kwargs):
        return translate_documents(inputs, output_dir=out, translator=translator, summarizer_model=None, **kwargs)

    return go


def ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]


def day(folder: Path, names: list[str], offset: int = 0) -> Path:
    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        (folder / f"{name}.txt").write_text(SENTENCES[(i + offset) % len(SENTENCES)] + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- other inputs


def test_other_inputs_that_would_drop_documents_are_refused(tmp_path: Path, run) -> None:
    day_a = day(tmp_path / "dayA", ["a1", "a2", "a3"])
    day_b = day(tmp_path / "dayB", ["b1", "b2"], offset=3)
    run(day_a, tmp_path / "corpus")
    before = outputs(tmp_path / "corpus")
    with pytest.raises(OutputError) as error:
        run(day_b, tmp_path / "corpus")
    assert str(error.value) == (
        f"{tmp_path / 'corpus'} holds 3 documents from other inputs ({day_a}) that this run would drop; "
        "add --append to keep them and add these inputs' documents, or --force to replace them"
    )
    assert outputs(tmp_path / "corpus") == before


def test_append_grows_a_corpus_day_by_day_and_keeps_every_document(tmp_path: Path, run, expected) -> None:
    day_a = day(tmp_path / "dayA", ["a1", "a2", "a3"])
    day_b = day(tmp_path / "dayB", ["b1", "b2"], offset=3)
    run(day_a, tmp_path / "corpus")
    result = run(day_b, tmp_path / "corpus", append=True)
    assert ids(tmp_path / "corpus") == ["a1", "a2", "a3", "b1", "b2"]
    assert (result.documents, result.kept, result.removed) == (5, 3, 0)
    assert result.manifest["inputs"] == [str(day_a), str(day_b)]
    assert result.manifest["this_run"]["documents_translated"] == 2
    pairs = [json.loads(line) for line in (tmp_path / "corpus" / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [p["en"] for p in pairs] == [expected[p["ja"]] for p in pairs] and len(pairs) == 5
    # The grown folder now belongs to both days: the same two inputs resume it, dropping nothing.
    again = run([day_a, day_b], tmp_path / "corpus")
    assert (again.documents, again.removed, again.manifest["this_run"]["documents_translated"]) == (5, 0, 0)


def test_append_refuses_an_id_another_source_holds_and_keeps_the_first(tmp_path: Path, run) -> None:
    day_a = day(tmp_path / "dayA", ["x", "a2"])
    day_b = day(tmp_path / "dayB", ["x", "b2"], offset=3)
    run(day_a, tmp_path / "corpus")
    result = run(day_b, tmp_path / "corpus", append=True)
    assert result.errors == (
        f"{day_b / 'x.txt'}: document id 'x' is already in {tmp_path / 'corpus'} from {day_a / 'x.txt'}; "
        "give it another id, or run without --append to replace that folder's inputs",
    )
    docs = [json.loads(line) for line in (tmp_path / "corpus" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(d["id"], d["source"]) for d in docs] == [
        ("a2", str(day_a / "a2.txt")), ("x", str(day_a / "x.txt")), ("b2", str(day_b / "b2.txt"))
    ]  # fmt: skip


def test_append_keeps_the_earlier_runs_errors(tmp_path: Path, run) -> None:
    day_a = day(tmp_path / "dayA", ["a1"])
    (day_a / "broken.txt").write_bytes(b"\xff\xfe\x00junk")
    day_b = day(tmp_path / "dayB", ["b1"], offset=2)
    first = run(day_a, tmp_path / "corpus")
    result = run(day_b, tmp_path / "corpus", append=True)
    assert result.errors == first.errors and len(first.errors) == 1
    errors = (tmp_path / "corpus" / "errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(e)["message"] for e in errors] == list(first.errors)


def test_append_and_force_together_are_refused(tmp_path: Path, run) -> None:
    with pytest.raises(InputError, match=r"^--append keeps a folder's documents and --force replaces them; use one of them$"):
        run(day(tmp_path / "in", ["a"]), tmp_path / "out", append=True, force=True)


def test_force_replaces_a_folder_made_from_other_inputs(tmp_path: Path, run) -> None:
    run(day(tmp_path / "dayA", ["a1", "a2"]), tmp_path / "corpus")
    result = run(day(tmp_path / "dayB", ["b1"]), tmp_path / "corpus", force=True)
    assert ids(tmp_path / "corpus") == ["b1"]
    assert result.removed == 2


def test_same_inputs_mirror_a_deleted_file_and_say_how_many_were_removed(tmp_path: Path, run, tiny_marian) -> None:
    inputs = make_inputs(tmp_path / "in", 4)
    run(inputs, tmp_path / "out")
    (inputs / "doc001.txt").unlink()
    result = run(inputs, tmp_path / "out")
    assert ids(tmp_path / "out") == ["doc000", "doc002", "doc003"]
    assert result.removed == 1
    assert result.manifest["this_run"]["documents_removed"] == 1
    assert result.notes() == ["removed 1 documents whose inputs are gone"]


def test_cli_append_and_the_removal_report(tmp_path: Path, tiny_marian: Path) -> None:
    from typer.testing import CliRunner

    from ja2en.cli import app

    day_a = day(tmp_path / "dayA", ["a1", "a2"])
    day_b = day(tmp_path / "dayB", ["b1"], offset=3)
    base = ["-m", str(tiny_marian), "--no-summary", "--backend", "torch", "--device", "cpu", "-o", str(tmp_path / "c")]
    runner = CliRunner()
    assert runner.invoke(app, ["translate", str(day_a), *base]).exit_code == 0
    refused = runner.invoke(app, ["translate", str(day_b), *base])
    assert refused.exit_code == 4
    assert "holds 2 documents from other inputs" in refused.stderr and "--append" in refused.stderr
    grown = runner.invoke(app, ["translate", str(day_b), "--append", *base])
    assert grown.exit_code == 0, grown.output
    assert grown.stdout.startswith("Translated 3 documents, 3 sentences in ")
    assert ", kept 2 documents of earlier inputs → " in grown.stdout


# --------------------------------------------------------------------------- duplicate lines


def test_duplicate_document_lines_are_removed_and_counted(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 4)
    run(inputs, tmp_path / "whole")
    run(inputs, tmp_path / "out")
    journal = tmp_path / "out" / "documents.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + lines[1] + lines[1] + lines[2] + lines[3] + lines[0])  # however they got there
    result = run(inputs, tmp_path / "out")
    assert (result.documents, result.repaired) == (4, 2)
    assert result.manifest["this_run"]["duplicate_lines_removed"] == 2
    assert "removed 2 duplicate lines from documents.jsonl" in result.notes()
    assert outputs(tmp_path / "out") == outputs(tmp_path / "whole")


# --------------------------------------------------------------------------- two runs at once

HOLD = textwrap.dedent(
    """
    import sys, time
    from ja2en.writers import OutputLock
    lock = OutputLock(sys.argv[1], shared=sys.argv[2] == "shared").acquire()
    print("locked", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def holder(tmp_path: Path):
    """Start a process that holds the folder's lock (as a run in progress does) until the test ends."""
    started: list[subprocess.Popen] = []

    def hold(folder: Path, mode: str = "exclusive") -> subprocess.Popen:
        folder.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), mode], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline() == "locked\n"
        started.append(process)
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


def test_a_second_run_into_a_folder_being_written_fails_at_once(tmp_path: Path, run, holder) -> None:
    inputs = make_inputs(tmp_path / "in", 2)
    other = holder(tmp_path / "out")
    with pytest.raises(OutputError) as error:
        run(inputs, tmp_path / "out")
    assert str(error.value) == (
        f"{tmp_path / 'out'} is being written by another ja2en run (pid {other.pid}); wait for it or use another -o"
    )
    assert not (tmp_path / "out" / "documents.jsonl").exists()


def test_a_killed_run_leaves_no_lock_behind(tmp_path: Path, run, holder) -> None:
    inputs = make_inputs(tmp_path / "in", 2)
    other = holder(tmp_path / "out")
    other.kill()  # kill -9
    other.wait()
    assert run(inputs, tmp_path / "out").documents == 2


def test_two_real_runs_at_once_never_write_a_document_twice(tmp_path: Path, tiny_marian: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 30)
    command = [sys.executable, "-m", "ja2en", "translate", str(inputs), "-m", str(tiny_marian), "--no-summary"]
    command += ["--backend", "torch", "--device", "cpu", "-o", str(tmp_path / "out")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
    for p in runs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 4]), results
    if codes == [0, 4]:  # the second found the first running, and was refused
        [refused] = [err for code, err in results if code == 4]
        assert f"{tmp_path / 'out'} is being written by another ja2en run (pid " in refused, refused
    else:  # the second started after the first had finished, and resumed all of it
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["this_run"]["documents_resumed"] == 30
    assert ids(tmp_path / "out") == [f"doc{i:03d}" for i in range(30)]


# --------------------------------------------------------------------------- output inside input


def test_an_output_folder_inside_the_input_folder_is_never_read_as_input(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 3)
    first = run(inputs, inputs / "out")
    with pytest.warns(Ja2enWarning, match=r"^not reading .*/in/out: it holds ja2en outputs, not inputs$"):
        second = run(inputs, inputs / "out")
    assert first.errors == second.errors == ()
    assert second.documents == 3 and ids(inputs / "out") == ["doc000", "doc001", "doc002"]


def test_another_runs_output_folder_inside_the_inputs_is_skipped_too(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 2)
    run(inputs, tmp_path / "elsewhere")
    (tmp_path / "elsewhere").rename(inputs / "old-run")
    with pytest.warns(Ja2enWarning, match="old-run: it holds ja2en outputs"):
        result = run(inputs, tmp_path / "out")
    assert result.errors == () and result.documents == 2


def test_the_input_folder_itself_as_output_is_refused_before_anything_is_written(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 2)
    with pytest.raises(InputError, match=r"/in: is the output folder too; write the outputs to another folder with -o$"):
        run(inputs, inputs)
    assert sorted(p.name for p in inputs.iterdir()) == ["doc000.txt", "doc001.txt"]


# --------------------------------------------------------------------------- a lock that cannot be taken


def _unopenable(monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    """Make every open of a lock file fail as a file of another user's (or a read-only NFS lock) does."""
    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if os.fspath(path).endswith(LOCK_FILE):
            raise error
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


def test_a_run_whose_lock_cannot_be_opened_is_refused_and_writes_nothing(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = make_inputs(tmp_path / "in", 2)
    run(inputs, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    _unopenable(monkeypatch, PermissionError(errno.EACCES, "Permission denied"))
    with pytest.raises(OutputError) as error:
        run(inputs, tmp_path / "out", append=True)
    out, lock = tmp_path / "out", tmp_path / "out" / LOCK_FILE
    assert str(error.value) == (
        f"{lock}: cannot lock {out} (Permission denied), and ja2en never uses a folder another run could be "
        f"writing at the same time; make the file readable and writable (or delete it when no ja2en command is "
        f"using {out}), or use another -o"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_new_folder_whose_lock_cannot_be_made_is_not_left_behind(tmp_path: Path, run, monkeypatch) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    _unopenable(monkeypatch, OSError(errno.EROFS, "Read-only file system"))
    with pytest.raises(OutputError, match=r"cannot lock .*/new \(Read-only file system\)"):
        run(inputs, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_a_lock_the_filesystem_cannot_take_is_not_called_busy(tmp_path: Path, monkeypatch) -> None:
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(OutputError, match=r"cannot lock .* \(No locks available\), and ja2en never uses a folder"):
        OutputLock(tmp_path).acquire()
    with pytest.raises(OutputError, match=r"\(No locks available\).*, then try again$"):
        OutputLock(tmp_path, shared=True).acquire()


def test_a_finished_run_on_a_read_only_disk_can_still_be_exported(tmp_path: Path) -> None:
    from small_disk import small_disk
    from test_export import simple_run

    from ja2en.corpus.export import export_corpus

    with small_disk(tmp_path / "archive", size="1m") as archive:
        simple_run(archive / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(archive)], check=True)
        # No lock file, and none can be made: no writer can be in this folder.
        result = export_corpus(archive / "run", format="tsv", destination=tmp_path / "corpus.tsv")
    assert result.counts.kept == 3


def test_a_reader_refuses_a_lock_file_it_cannot_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / LOCK_FILE).write_text("", encoding="utf-8")
    _unopenable(monkeypatch, PermissionError(errno.EACCES, "Permission denied"))
    with pytest.raises(OutputError, match=r"\(Permission denied\).*, then try again$"):
        OutputLock(tmp_path, shared=True).acquire()


# --------------------------------------------------------------------------- files ja2en did not write


def _user_jsonl(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"u{i}", "text": SENTENCES[i]}, ensure_ascii=False) for i in range(3)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("force", [False, True])
def test_an_input_inside_the_output_folder_is_never_written_even_with_force(tmp_path: Path, run, force: bool) -> None:
    source = _user_jsonl(tmp_path / "x" / "documents.jsonl")
    before = source.read_bytes()
    with pytest.raises(OutputError) as error:
        run([source], tmp_path / "x", force=force)
    assert str(error.value) == (
        f"{source}: is an input, inside an input folder, or one of the run's own files, and ja2en never "
        f"writes over what it reads; move it out of {tmp_path / 'x'}, or use another -o (--force replaces only what ja2en wrote)"
    )
    assert source.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["documents.jsonl"]


def test_a_runs_own_journal_given_back_as_input_is_not_replaced_by_force(tmp_path: Path, run) -> None:
    run(make_inputs(tmp_path / "in", 2), tmp_path / "out")
    journal = tmp_path / "out" / "documents.jsonl"
    before = journal.read_bytes()
    with pytest.raises(OutputError, match=r"documents\.jsonl: is an input, inside an input folder"):
        run([journal], tmp_path / "out", force=True, text_field="ja")
    assert journal.read_bytes() == before


@pytest.mark.parametrize("name", ["manifest.json", "sentences.jsonl", "errors.jsonl"])
def test_a_users_own_files_in_the_output_folder_survive_force(tmp_path: Path, run, name: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text('{"mine": true}\n', encoding="utf-8")
    with pytest.raises(OutputError) as error:
        run(make_inputs(tmp_path / "in", 1), out, force=True)
    assert str(error.value) == (
        f"{out / name}: exists and was not written by ja2en; move it out of {out}, "
        "or use another -o (--force replaces only what ja2en wrote)"
    )
    assert (out / name).read_text(encoding="utf-8") == '{"mine": true}\n'


def test_force_removes_ja2en_report_but_keeps_a_users_page(tmp_path: Path, run) -> None:
    out = tmp_path / "out"
    run(make_inputs(tmp_path / "a", 1), out, report=True)
    run(make_inputs(tmp_path / "b", 1), out, force=True, encoding="utf-8")  # other settings: a fresh run
    assert not (out / "report.html").exists()  # it showed the run that was replaced
    (out / "report.html").write_text("<html><title>my notes</title></html>", encoding="utf-8")
    run(make_inputs(tmp_path / "c", 1), out, force=True)
    assert (out / "report.html").read_text(encoding="utf-8") == "<html><title>my notes</title></html>"


def test_parquet_never_replaces_a_parquet_input_in_the_output_folder(tmp_path: Path, run) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "data" / "documents.parquet"
    source.parent.mkdir()
    pq.write_table(pa.table({"id": ["a"], "text": [SENTENCES[0]]}), source)
    before = source.read_bytes()
    with pytest.raises(OutputError, match=r"documents\.parquet: is an input, .*; the JSONL files are written; run again "):
        run([source], tmp_path / "data", parquet=True)
    assert source.read_bytes() == before
    assert ids(tmp_path / "data") == ["a"]
