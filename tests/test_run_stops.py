"""How a run stops: a model that fails every document stops it once, with the cause; Ctrl-C
says what is saved; a bad option stops it before anything is created. In every case what
was finished is kept and the same command resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en import ModelError, Translator, translate_documents
from ja2en.cli import app

from test_journal import line_count, make_inputs, outputs, start_stopped_after

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


def split_scores(folder: Path) -> tuple[dict[str, object], list[float]]:
    """A run's outputs with every pair's score taken out, and those scores in order."""
    found = outputs(folder)
    documents = [json.loads(line) for line in found.pop("documents.jsonl").splitlines()]
    scores = [pair.pop("score") for document in documents for pair in document["pairs"]]
    return {**found, "documents": documents}, scores


@pytest.mark.parametrize("stop_after", [2, 37])
def test_ctrl_c_says_what_is_saved_and_the_same_command_resumes(tmp_path: Path, tiny_marian: Path, stop_after: int) -> None:
    inputs = make_inputs(tmp_path / "in", 40)
    # --no-cache: the resume recomputes what the interrupted run lost
    command = [sys.executable, "-m", "ja2en", "translate", str(inputs), "-m", str(tiny_marian), "--no-summary"]
    command += ["--backend", "torch", "--device", "cpu", "--batch-size", "4", "--no-cache"]
    subprocess.run([*command, "-o", str(tmp_path / "whole")], check=True, capture_output=True, timeout=300)
    # The run stops itself with `stop_after` documents saved; Ctrl-C waits until it goes on. Its
    # SIGINT is set to the default, as a shell starts a command (a child inherits an ignored one).
    victim = start_stopped_after(
        [*command, "-o", str(tmp_path / "out")], stop_after, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    victim.send_signal(signal.SIGINT)
    victim.send_signal(signal.SIGCONT)
    stdout, stderr = victim.communicate(timeout=60)
    assert (victim.returncode, stdout) == (130, ""), stderr[-300:]
    assert line_count(tmp_path / "out" / "documents.jsonl") == stop_after
    assert stderr == (
        f"interrupted; {stop_after} documents are saved in {tmp_path / 'out'} — run the same command to resume\n"
    )
    subprocess.run([*command, "-o", str(tmp_path / "out")], check=True, capture_output=True, timeout=300)
    (resumed, resumed_scores), (whole, whole_scores) = (split_scores(tmp_path / name) for name in ("out", "whole"))
    assert resumed == whole
    # The documents redone after the stop share batches with other documents than in the whole
    # run, and float32 padding moves a mean log-probability by ~3e-4: the same scores to 2e-3.
    assert resumed_scores == pytest.approx(whole_scores, abs=2e-3)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["this_run"]["documents_resumed"] == stop_after


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

