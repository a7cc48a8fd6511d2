"""A Hub that accepts a connection and never answers: every command ends, in one line, and Ctrl-C works.

Each test runs the real CLI in a subprocess against a silent server on 127.0.0.1, because
huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, when it is imported.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub_server import SilentHub, online_env, silent_hub
from ja2en import InputError
from ja2en.models.hub import hub_timeout

REPO = "org/silent-model"
COMMIT = "a" * 40
# model_info and the file listing answer; every file request then hangs.
METADATA = {
    f"/api/models/{REPO}/tree/": [
        {"type": "file", "path": "config.json", "size": 2, "oid": "b" * 40},
        {"type": "file", "path": "model.safetensors", "size": 8, "oid": "c" * 40},
    ],
    f"/api/models/{REPO}": {
        "id": REPO, "sha": COMMIT, "siblings": [{"rfilename": "config.json"}, {"rfilename": "model.safetensors"}],
    },
}  # fmt: skip
LIMIT_S = 120  # far beyond what any of these takes when it works; a hang fails the test


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("会議は延期された。\n", encoding="utf-8")
    return folder


def _ja2en(hub: SilentHub, tmp_path: Path, *args: str, timeout: str) -> subprocess.Popen:
    env = online_env(hub, tmp_path, JA2EN_HUB_TIMEOUT=timeout, JA2EN_MODELS_DIR=str(tmp_path / "models"))
    return subprocess.Popen(
        [sys.executable, "-m", "ja2en", *args], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _silent(hub: SilentHub) -> str:
    return f"the Hugging Face Hub at {hub.url} did not answer within 1 s; raise JA2EN_HUB_TIMEOUT if it is only slow"


@pytest.mark.parametrize("answers", [{}, METADATA], ids=["silent-from-the-start", "silent-on-the-files"])
def test_translate_against_a_silent_hub_ends_in_one_line_and_exit_3(tmp_path: Path, answers: dict) -> None:
    with silent_hub(answers) as hub:
        run = _ja2en(hub, tmp_path, "translate", str(_inputs(tmp_path)), "-o", "out", "-m", REPO, "--no-summary", timeout="1")
        _, stderr = run.communicate(timeout=LIMIT_S)
    assert run.returncode == 3
    assert stderr.splitlines() == [
        f"error: translation model '{REPO}' is not available here ({_silent(hub)}); on a connected machine run "
        f"`ja2en models download {REPO}` and copy {tmp_path / 'models' / REPO} here, "
        "or pass a local model folder with --model PATH"
    ]


@pytest.mark.parametrize("answers", [{}, METADATA], ids=["silent-from-the-start", "silent-on-the-files"])
def test_models_download_from_a_silent_hub_ends_in_one_line_and_exit_3(tmp_path: Path, answers: dict) -> None:
    with silent_hub(answers) as hub:
        run = _ja2en(hub, tmp_path, "models", "download", REPO, timeout="1")
        _, stderr = run.communicate(timeout=LIMIT_S)
    assert run.returncode == 3
    assert stderr.splitlines()[-1] == (
        f"error: downloading '{REPO}' failed ({_silent(hub)}); check the network and re-run: "
        "the download resumes where it stopped"
    )
    assert not (tmp_path / "models" / REPO / ".ja2en-source.json").exists()  # not taken for a finished download


@pytest.mark.parametrize(
    ("answers", "stuck_on"), [({}, f"/api/models/{REPO}"), (METADATA, "/resolve/")], ids=["model-info", "file"]
)
def test_ctrl_c_ends_a_run_stuck_on_the_hub_at_once(tmp_path: Path, answers: dict, stuck_on: str) -> None:
    with silent_hub(answers) as hub:
        # A timeout far longer than the test: only Ctrl-C can end this run.
        run = _ja2en(hub, tmp_path, "translate", str(_inputs(tmp_path)), "-o", "out", "-m", REPO, "--no-summary", timeout="3600")
        try:
            hub.wait_for(stuck_on)
            run.send_signal(signal.SIGINT)
            _, stderr = run.communicate(timeout=20)
        finally:
            run.kill()
    assert run.returncode == 130
    assert stderr.splitlines()[-1] == "interrupted; 0 documents are saved in out — run the same command to resume"


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf"])
def test_a_hub_timeout_that_is_not_a_number_of_seconds_is_refused(value: str, monkeypatch) -> None:
    monkeypatch.setenv("JA2EN_HUB_TIMEOUT", value)
    with pytest.raises(InputError) as error:
        hub_timeout()
    assert str(error.value) == (
        f"JA2EN_HUB_TIMEOUT={value!r} is not a number of seconds; set it to one above 0, such as 30 (the default)"
    )


def test_the_hub_timeout_defaults_to_30_s_and_can_be_set(monkeypatch) -> None:
    monkeypatch.delenv("JA2EN_HUB_TIMEOUT", raising=False)
    assert hub_timeout() == 30
    monkeypatch.setenv("JA2EN_HUB_TIMEOUT", " 2.5 ")
    assert hub_timeout() == 2.5


def test_ctrl_c_in_models_download_says_what_to_do(tmp_path: Path) -> None:
    with silent_hub(METADATA) as hub:
        run = _ja2en(hub, tmp_path, "models", "download", REPO, timeout="3600")
        try:
            hub.wait_for("/resolve/")
            run.send_signal(signal.SIGINT)
            _, stderr = run.communicate(timeout=20)
        finally:
            run.kill()
    assert run.returncode == 130
    assert stderr.splitlines()[-1] == "interrupted; re-run the same command (a download or a push resumes where it stopped)"
