"""How a run stops: a model that fails every document stops it once, with the cause; Ctrl-C
says what is saved; a bad option stops it before anything is created. In every case what
was finished is kept and the same command resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en import ModelError, Translator, translate_documents
from ja2en.cli import app

from test_journal import line_count, make_inputs, outputs

runner = CliRunner()


@pytest.fixture
def run(translator: Translator):
    def go(inputs: Path, out: Path, **kwargs):
        return translate_documents(inputs, output_dir=out, translator=translator, summarizer_model=None, **kwargs)

    return go


@pytest.fixture
def one_document_per_group(monkeypatch: pytest.MonkeyPatch) -> None:
    # make_inputs writes three sentences a document: each group is then one document.
    monkeypatch.setattr("ja2en.process.GROUP_SENTENCES", 3)


def test_a_model_that_dies_mid_run_stops_it_once_with_the_cause(
    tmp_path: Path, run, translator: Translator, monkeypatch: pytest.MonkeyPatch, one_document_per_group
) -> None:
    inputs = make_inputs(tmp_path / "in", 12)
    run(inputs, tmp_path / "whole")
    generate = translator.backend.generate
    calls = {"n": 0}

    def dies_after_three_documents(texts, decoding):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return generate(texts, decoding)

    monkeypatch.setattr(translator.backend, "generate", dies_after_three_documents)
    with pytest.raises(ModelError) as error:
        run(inputs, tmp_path / "out")
    assert str(error.value) == (
        "stopped: 5 documents in a row failed (RuntimeError: CUDA error: an illegal memory access was encountered) "
        "and so does a one-sentence test (RuntimeError), so no document can succeed; 3 documents are saved in "
        f"{tmp_path / 'out'}: fix the cause, then re-run the same command to resume"
    )
    assert error.value.exit_code == 3
    assert line_count(tmp_path / "out" / "documents.jsonl") == 3
    monkeypatch.setattr(translator.backend, "generate", generate)
    resumed = run(inputs, tmp_path / "out")
    assert resumed.manifest["this_run"]["documents_resumed"] == 3
    assert outputs(tmp_path / "out") == outputs(tmp_path / "whole")


def test_documents_that_fail_alone_are_reported_and_the_run_goes_on(
    tmp_path: Path, run, translator: Translator, monkeypatch: pytest.MonkeyPatch, one_document_per_group
) -> None:
    inputs = make_inputs(tmp_path / "in", 9)
    for i in range(1, 8):  # seven bad documents in a row, more than the streak that triggers the check
        (inputs / f"doc{i:03d}.txt").write_text("毒の文。\n", encoding="utf-8")
    generate = translator.backend.generate

    def fails_on_poison(texts, decoding):
        if any("毒" in text for text in texts):
            raise ValueError("index out of range in self")
        return generate(texts, decoding)

    monkeypatch.setattr(translator.backend, "generate", fails_on_poison)
    result = run(inputs, tmp_path / "out")
    assert result.documents == 2 and len(result.errors) == 7
    assert all("translation failed (ValueError: index out of range in self)" in e for e in result.errors)


def test_a_bug_is_not_blamed_on_a_document(tmp_path: Path, run, translator: Translator, monkeypatch) -> None:
    inputs = make_inputs(tmp_path / "in", 3)

    def bug(texts, decoding):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")

    monkeypatch.setattr(translator.backend, "generate", bug)
    with pytest.raises(TypeError):
        run(inputs, tmp_path / "out")


def test_the_cli_turns_an_unexpected_error_into_one_line(tmp_path: Path, tiny_marian: Path, monkeypatch) -> None:
    inputs = make_inputs(tmp_path / "in", 1)

    def bug(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")

    monkeypatch.setattr("ja2en.cli.translate_documents", bug)
    result = runner.invoke(app, ["translate", str(inputs), "-m", str(tiny_marian), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: unexpected TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'; what was finished "
        "is saved. This is a bug: re-run with JA2EN_DEBUG=1 to see the traceback and report it\n"
    )


def test_ctrl_c_says_what_is_saved_and_the_same_command_resumes(tmp_path: Path, tiny_marian: Path) -> None:
    # Many groups, so the run is still going when Ctrl-C comes: the first lines appear after the
    # model's warm-up, and 300 documents then finished within 0.3 s, too soon on a busy machine.
    inputs = make_inputs(tmp_path / "in", 1500)
    command = [sys.executable, "-m", "ja2en", "translate", str(inputs), "-m", str(tiny_marian), "--no-summary"]
    command += ["--backend", "torch", "--device", "cpu", "--batch-size", "4", "--no-cache"]
    subprocess.run([*command, "-o", str(tmp_path / "whole")], check=True, capture_output=True, timeout=300)
    journal = tmp_path / "out" / "documents.jsonl"
    # Started as a shell starts it, with Ctrl-C at its default. In the full suite this test
    # sometimes saw the run end normally (exit 0) although it was signalled mid-run, never
    # when run alone; a child inherits an ignored SIGINT, so the default is set explicitly
    # (that the test process had it ignored is a guess, not verified).
    victim = subprocess.Popen(
        [*command, "-o", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while line_count(journal) < 2 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    victim.send_signal(signal.SIGINT)
    stdout, stderr = victim.communicate(timeout=60)
    assert victim.returncode == 130, f"the run finished before it could be interrupted: {stderr[-300:]!r}"
    assert stdout == ""
    saved = line_count(journal)
    assert stderr == (
        f"interrupted; {saved} documents are saved in {tmp_path / 'out'} — run the same command to resume\n"
    )
    subprocess.run([*command, "-o", str(tmp_path / "out")], check=True, capture_output=True, timeout=300)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "whole")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--device", "cuda:banana"], "unknown device 'cuda:banana'; use one of auto, cpu, cuda, cuda:N, mps"),
        (["--device", "tpu"], "unknown device 'tpu'; use one of auto, cpu, cuda, cuda:N, mps"),
        (["--dtype", "int4"], "unknown dtype 'int4'; use one of auto, float32, float16, bfloat16"),
        (["--backend", "onnx"], "unknown backend 'onnx'; use one of auto, torch, ct2"),
    ],
)
def test_a_bad_device_dtype_or_backend_creates_nothing(tmp_path: Path, tiny_marian: Path, option, message) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    out = tmp_path / "new" / "out"
    result = runner.invoke(app, ["translate", str(inputs), "-m", str(tiny_marian), *option, "-o", str(out)])
    assert (result.exit_code, result.stderr) == (3, f"error: {message}\n")
    assert not out.exists()


def test_a_run_that_fails_before_writing_removes_the_folder_it_created(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 1)
    with pytest.raises(ModelError):
        translate_documents(inputs, output_dir=tmp_path / "out", model=str(tmp_path / "no-model"), summarizer_model=None)
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ModelError):
        translate_documents(inputs, output_dir=tmp_path / "kept", model=str(tmp_path / "no-model"), summarizer_model=None)
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["notes.txt"]

