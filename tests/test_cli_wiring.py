"""Each documented option of the CLI reaches the library: the option changes what a user sees
(files, manifest, message, exit code), not only the function it is meant to call."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en.cli import app
from test_export import filter_run

runner = CliRunner()
LOCAL = ["--no-summary", "--backend", "torch", "--device", "cpu"]


def translate(inputs: Path, out: Path, model: Path, *options: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["translate", str(inputs), "-m", str(model), *LOCAL, "-o", str(out), *options], env=env)


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_a_rerun_with_another_encoding_is_refused_with_the_fix(tmp_path: Path, tiny_marian: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes("会議は延期された。\n".encode("cp932"))
    assert translate(tmp_path / "in", tmp_path / "out", tiny_marian).exit_code == 0

    again = translate(tmp_path / "in", tmp_path / "out", tiny_marian, "--encoding", "shift_jis")

    assert (again.exit_code, again.stderr) == (
        4,
        f"error: {tmp_path / 'out'} holds a run made with other settings (encoding None → shift_jis); "
        "use another -o, or --force to replace it with a fresh run\n",
    )


def test_text_and_id_fields_choose_the_jsonl_keys(tmp_path: Path, tiny_marian: Path, expected) -> None:
    (tmp_path / "in").mkdir()
    records = [{"no": 7, "body": "会議は延期された。", "text": "東京都は発表した。"}]
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps(records[0], ensure_ascii=False) + "\n", encoding="utf-8")

    result = translate(tmp_path / "in", tmp_path / "out", tiny_marian, "--text-field", "body", "--id-field", "no")

    assert result.exit_code == 0, result.output
    [document] = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (document["id"], document["en"]) == ("7", expected["会議は延期された。"])


def test_batch_tokens_is_the_budget_the_run_records(tmp_path: Path, tiny_marian: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("会議は延期された。\n", encoding="utf-8")

    result = translate(tmp_path / "in", tmp_path / "out", tiny_marian, "--batch-tokens", "1000")

    assert result.exit_code == 0, result.output
    translation = manifest(tmp_path / "out")["models"]["translation"]
    assert (translation["batch_tokens"], translation["batch_tokens_by"]) == (1000, "user")


def test_device_auto_runs_on_the_cpu_here_and_a_missing_gpu_is_one_line(tmp_path: Path, tiny_marian: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; tests/test_cuda.py covers it")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("会議は延期された。\n", encoding="utf-8")
    command = ["translate", str(tmp_path / "in"), "-m", str(tiny_marian), "--no-summary", "--backend", "torch"]

    auto = runner.invoke(app, [*command, "-o", str(tmp_path / "auto"), "--device", "auto"])
    assert auto.exit_code == 0, auto.output
    assert manifest(tmp_path / "auto")["models"]["translation"]["device"] == "cpu"

    for device in ("cuda", "cuda:5"):
        refused = runner.invoke(app, [*command, "-o", str(tmp_path / device), "--device", device])
        assert (refused.exit_code, refused.stderr) == (
            3,
            "error: --device cuda was asked for but no CUDA GPU is available; use --device cpu or auto\n",
        )


def test_ja2en_debug_shows_the_traceback_instead_of_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ja2en", "translate", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120)
    debug = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "JA2EN_DEBUG": "1"})

    [line] = plain.stderr.splitlines()
    assert line.startswith("error: ") and "Traceback" not in plain.stderr
    assert plain.returncode != 0 and debug.returncode == 1
    assert "Traceback (most recent call last):" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].endswith(line.removeprefix("error: "))


@pytest.mark.parametrize(
    ("options", "kept_en"),
    [
        ([], ["Good.", "Bad.", "Flagged.", "Good.", "Fine.", "None."]),
        (["--drop-flagged"], ["Good.", "Bad.", "Good.", "Fine.", "None."]),
        (["--min-score", "-1.0"], ["Good.", "Flagged.", "Good.", "Fine."]),
        (["--min-score", "-1.0", "--drop-flagged"], ["Good.", "Good.", "Fine."]),
    ],
)
def test_export_filters_through_the_cli(tmp_path: Path, options: list[str], kept_en: list[str]) -> None:
    run = filter_run(tmp_path / "run")
    result = runner.invoke(app, ["export", str(run), "--format", "moses", "--to", str(tmp_path / "train"), *options])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "train.en").read_text(encoding="utf-8").splitlines() == kept_en


def read_terminal(command: list[str], *, seconds: float) -> tuple[int, str, str]:
    """Run `command` with stderr on a pseudo-terminal, as a user at a shell sees it."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal, text=True, env=env)
    os.close(terminal)
    drawn = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's last writer closed it
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    os.close(controller)
    stdout, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    return process.returncode, stdout, drawn.decode("utf-8", errors="replace")


def test_the_progress_bar_is_drawn_on_a_terminal_and_gone_at_the_end(tmp_path: Path, tiny_marian: Path) -> None:
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        (tmp_path / "in" / f"{name}.txt").write_text("会議は延期された。東京都は発表した。\n", encoding="utf-8")
    command = [sys.executable, "-m", "ja2en", "translate", str(tmp_path / "in"), "-m", str(tiny_marian), *LOCAL]

    code, stdout, drawn = read_terminal([*command, "-o", str(tmp_path / "out")], seconds=240)

    assert code == 0, drawn
    assert stdout.startswith("Translated 2 documents, 4 sentences in ")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)  # the frames without colours and cursor moves
    # The frames rich always draws: the first, when the bar starts, before the inputs are counted,
    # and the last, when it stops, with both documents' 4 sentences done (frames in between
    # depend on its 10 Hz refresh, so none is asserted).
    assert re.match(r"loading +━{10,} 0/\? sentences · 0/0 docs 0:00:0\d ", text), text[:300]
    assert re.search(r"\rdone +━{10,} 4/4 sentences · 2/2 docs \d:\d\d:\d\d 0:00:00\r\n\r$", text), text[-600:]
    # Then the cursor is shown again and the bar's line erased: nothing of it stays on screen.
    assert drawn.endswith("\x1b[?25h\r\x1b[1A\x1b[2K"), drawn[-200:]
