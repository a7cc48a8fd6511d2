"""Resume and crash safety: whatever happens to a run, re-running the same command ends
with the same files as an uninterrupted run — no duplicate, missing or torn line."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ja2en import DocumentError, OutputError, Translator, translate_documents
from ja2en.journal import Journal

SENTENCES = [
    "株価は大幅に下落した。",
    "会議は延期された。",
    "本当におめでとうございます!",
    "東京都は発表した。",
    "参加費は無料です。",
    "市長は「市民の声に耳を傾ける。」と強調した。",
]


def make_inputs(folder: Path, count: int) -> Path:
    """`count` documents of three sentences each, in a stable order."""
    folder.mkdir(parents=True)
    for i in range(count):
        picked = [SENTENCES[(i + k) % len(SENTENCES)] for k in range(3)]
        (folder / f"doc{i:03d}.txt").write_text(picked[0] + picked[1] + "\n" + picked[2] + "\n", encoding="utf-8")
    return folder


def outputs(folder: Path) -> dict[str, object]:
    """Everything a resumed run must reproduce: the JSONL files byte for byte, the manifest but for this run's stats."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("this_run")
    files = {name: (folder / name).read_bytes() for name in ("documents.jsonl", "sentences.jsonl", "errors.jsonl")}
    return {**files, "manifest": manifest}


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def start_stopped_after(command: list[str], documents: int, **popen) -> subprocess.Popen:
    """Start a run that stops itself once `documents` documents are in its journal (run.py's
    JA2EN_TEST_STOP_AFTER), and wait for that stop: the point of a kill is then known exactly."""
    env = {**os.environ, "JA2EN_TEST_STOP_AFTER": str(documents)}
    victim = subprocess.Popen(command, env=env, **popen)
    _, status = os.waitpid(victim.pid, os.WUNTRACED)  # the stop, or the end of a run that never stopped
    assert os.WIFSTOPPED(status), f"the run ended (status {status}) before its document {documents}"
    return victim


@pytest.fixture
def run(translator: Translator):
    def go(inputs: Path, out: Path, **kwargs):
        return translate_documents(inputs, output_dir=out, translator=translator, summarizer_model=None, **kwargs)

    return go


def test_rerunning_the_same_command_skips_finished_documents(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 5)
    first = run(inputs, tmp_path / "out")
    before = outputs(tmp_path / "out")
    second = run(inputs, tmp_path / "out")
    assert (first.manifest["this_run"]["documents_translated"], second.manifest["this_run"]["documents_resumed"]) == (5, 5)
    assert second.manifest["this_run"]["documents_translated"] == 0
    assert outputs(tmp_path / "out") == before


def test_a_torn_last_line_is_dropped_and_that_document_redone(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 6)
    run(inputs, tmp_path / "whole")
    run(inputs, tmp_path / "out")
    journal = tmp_path / "out" / "documents.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    # As if killed in the middle of writing the 5th document, before the run finished.
    journal.write_bytes(b"".join(lines[:4]) + lines[4][: len(lines[4]) // 2])
    (tmp_path / "out" / "sentences.jsonl").write_bytes(b"stale")
    result = run(inputs, tmp_path / "out")
    assert result.manifest["this_run"]["documents_resumed"] == 4
    assert outputs(tmp_path / "out") == outputs(tmp_path / "whole")


def test_changed_and_removed_inputs_leave_no_stale_records(tmp_path: Path, run, expected) -> None:
    inputs = make_inputs(tmp_path / "in", 4)
    run(inputs, tmp_path / "out")
    (inputs / "doc001.txt").write_text("ありがとうございます。\n", encoding="utf-8")
    (inputs / "doc003.txt").unlink()
    result = run(inputs, tmp_path / "out")
    docs = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in docs] == ["doc000", "doc001", "doc002"]
    assert docs[1]["en"] == expected["ありがとうございます。"]
    assert (result.manifest["this_run"]["documents_resumed"], result.manifest["this_run"]["documents_translated"]) == (2, 1)
    run(inputs, tmp_path / "fresh")
    assert outputs(tmp_path / "out") == outputs(tmp_path / "fresh")


def test_other_settings_are_refused_then_replaced_with_force(tmp_path: Path, run, tiny_marian: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 2)
    run(inputs, tmp_path / "out")
    greedy_is_not_beam = Translator(str(tiny_marian), beams=2, device="cpu", backend="torch", quantize=False)
    with pytest.raises(OutputError) as error:
        translate_documents(inputs, output_dir=tmp_path / "out", translator=greedy_is_not_beam, summarizer_model=None)
    assert str(error.value) == (
        f"{tmp_path / 'out'} holds a run made with other settings (translation.beams 1 → 2); "
        "use another -o, or --force to replace it with a fresh run"
    )
    result = translate_documents(
        inputs, output_dir=tmp_path / "out", translator=greedy_is_not_beam, summarizer_model=None, force=True
    )
    assert result.manifest["this_run"]["documents_translated"] == 2
    assert result.manifest["models"]["translation"]["beams"] == 2


def test_outputs_ja2en_did_not_write_are_never_overwritten(tmp_path: Path, run) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "documents.jsonl").write_text("precious\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"out/documents\.jsonl: exists and was not written by ja2en; move it out of .*out, or use another -o \(--force replaces only what ja2en wrote\)$"):
        run(inputs, tmp_path / "out")
    assert (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8") == "precious\n"


def test_disk_full_keeps_finished_documents_and_resume_completes(tmp_path: Path, run, monkeypatch) -> None:
    inputs = make_inputs(tmp_path / "in", 5)
    run(inputs, tmp_path / "whole")
    real_write, calls = os.write, []

    def write(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("documents.jsonl"):
            calls.append(fd)
            if len(calls) == 3:  # the third document's write: half of it fits, then the disk is full
                real_write(fd, bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OutputError) as error:
        run(inputs, tmp_path / "out")
    assert str(error.value) == (
        f"{tmp_path / 'out' / 'documents.jsonl'}: writing failed (No space left on device); free space and re-run "
        "the same command: the 2 documents finished so far are kept"
    )
    assert line_count(tmp_path / "out" / "documents.jsonl") == 2
    monkeypatch.setattr(os, "write", real_write)
    run(inputs, tmp_path / "out")
    assert outputs(tmp_path / "out") == outputs(tmp_path / "whole")


def test_journal_recovery_keeps_only_complete_records(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    good = json.dumps({"id": "a", "sha256": "1"}) + "\n"
    (out / "documents.jsonl").write_text(good + good.replace('"a"', '"b"') + '{"id": "c", "sha', encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps({"fingerprint": {"x": 1}}), encoding="utf-8")
    journal = Journal(out, {"x": 1})
    assert (journal.is_done("a", "1"), journal.is_done("b", "1"), journal.is_done("c", "1")) == (True, True, False)
    journal.close()
    assert (out / "documents.jsonl").read_text(encoding="utf-8") == good + good.replace('"a"', '"b"')


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory, tiny_marian: Path, tiny_bart: Path) -> tuple[list[str], Path, dict[str, object]]:
    """The CLI command for 120 documents with summaries, and its uninterrupted outputs."""
    root = tmp_path_factory.mktemp("kill")
    inputs = make_inputs(root / "in", 120)
    command = [sys.executable, "-m", "ja2en", "translate", str(inputs), "-m", str(tiny_marian)]
    # --no-cache: a resume recomputes what the kill lost, rather than read it from this setup's run
    command += ["--summarizer", str(tiny_bart), "--device", "cpu", "--batch-size", "8", "--no-cache"]
    subprocess.run([*command, "-o", str(root / "whole")], check=True, capture_output=True, timeout=300)
    return command, root, outputs(root / "whole")


@pytest.mark.parametrize("kill_after", [1, 40, 119])
def test_sigkill_at_any_point_then_rerun_gives_the_uninterrupted_outputs(kill_setup, tmp_path: Path, kill_after: int) -> None:
    command, _, whole = kill_setup
    out = tmp_path / "out"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    victim = start_stopped_after([*command, "-o", str(out)], kill_after, **quiet)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert line_count(out / "documents.jsonl") == kill_after  # killed exactly there

    subprocess.run([*command, "-o", str(out)], check=True, capture_output=True, timeout=300)
    assert outputs(out) == whole
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["this_run"]["documents_resumed"] == kill_after


def test_a_fail_fast_stop_leaves_no_open_journal(tmp_path: Path, translator, monkeypatch) -> None:
    inputs = make_inputs(tmp_path / "in", 3)
    (inputs / "doc001.txt").write_text("毒。\n", encoding="utf-8")
    generate = translator.backend.generate

    def fails_on_poison(texts, decoding):
        if any("毒" in text for text in texts):
            raise ValueError("bad input")
        return generate(texts, decoding)

    monkeypatch.setattr(translator.backend, "generate", fails_on_poison)
    with pytest.raises(DocumentError):
        translate_documents(inputs, output_dir=tmp_path / "out", translator=translator, summary="none", fail_fast=True)
    # Checked before any garbage collection: the file is closed when the run ends, not when collected.
    open_files = [os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")]
    assert str(tmp_path / "out" / "documents.jsonl") not in open_files
