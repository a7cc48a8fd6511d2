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
from ja2en.errors import InputError
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


# --- the Ray engine's options: each reaches translate_on_ray (no Ray run: that is test_ray.py's) ---


def record_ray_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace the Ray engine with one that records its keyword arguments and stops the run."""
    from ja2en.distributed import engine

    calls: list[dict] = []

    def fake_translate_on_ray(inputs, **kwargs):
        calls.append(kwargs)
        raise InputError("stopped by the test")

    monkeypatch.setattr(engine, "translate_on_ray", fake_translate_on_ray)
    return calls


def test_the_ray_options_reach_the_ray_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_ray_calls(monkeypatch)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("会議は延期された。\n", encoding="utf-8")
    command = ["translate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-summary", "--engine", "ray"]
    options = ["--ray-address", "ray://head:10001", "--actors", "3", "--cpus-per-actor", "2.5",
               "--gpus-per-actor", "0.25", "--shard-dir", str(tmp_path / "shards")]  # fmt: skip

    defaults = runner.invoke(app, command)
    chosen = runner.invoke(app, [*command, *options])

    assert [(r.exit_code, r.stderr) for r in (defaults, chosen)] == [(2, "error: stopped by the test\n")] * 2
    engine_options = ("address", "actors", "cpus_per_actor", "gpus_per_actor", "shard_dir")
    assert [tuple(call[name] for name in engine_options) for call in calls] == [
        (None, 1, 1.0, 0.0, None),
        ("ray://head:10001", 3, 2.5, 0.25, tmp_path / "shards"),
    ]
    assert calls[1]["output_dir"] == tmp_path / "out"


def record_ray_init(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str | None]]:
    """Make ray.init refuse every cluster, as an unreachable one does, recording what it was
    asked to join: the address passed and $RAY_ADDRESS, which Ray reads when the address is None."""
    ray = pytest.importorskip("ray")  # test_ray.py fails under CI when Ray is missing
    joined: list[tuple[str | None, str | None]] = []

    def unreachable(address=None, **settings):
        joined.append((address, os.environ.get("RAY_ADDRESS")))
        raise ConnectionError("no cluster answered")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", unreachable)
    return joined


def ray_run(tmp_path: Path, *options: str, env: dict[str, str | None]):
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "a.txt").write_text("会議は延期された。\n", encoding="utf-8")
    command = ["translate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-summary", "--engine", "ray"]
    return runner.invoke(app, [*command, *options], env=env)


def test_ray_address_from_the_option_or_else_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    joined = record_ray_init(monkeypatch)

    from_env = ray_run(tmp_path, env={"RAY_ADDRESS": "env-head:6379"})
    from_option = ray_run(tmp_path, "--ray-address", "ray://head:10001", env={"RAY_ADDRESS": "env-head:6379"})

    # The option wins; without it ja2en leaves the choice to Ray, which reads $RAY_ADDRESS.
    assert joined == [(None, "env-head:6379"), ("ray://head:10001", "env-head:6379")]
    assert (from_option.exit_code, from_option.stderr) == (
        3,
        "error: cannot connect to the Ray cluster at ray://head:10001 (no cluster answered); check --ray-address "
        "(ray://HEAD:10001 or HEAD:6379), or leave it out to start Ray on this machine\n",
    )
    assert from_env.exit_code == 3


def test_an_unreachable_ray_address_from_the_environment_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # It said "at None ... check --ray-address", an option the user never gave.
    record_ray_init(monkeypatch)
    result = ray_run(tmp_path, env={"RAY_ADDRESS": "env-head:6379"})
    assert (result.exit_code, result.stderr) == (
        3,
        "error: cannot connect to the Ray cluster at env-head:6379 (no cluster answered); check $RAY_ADDRESS "
        "(ray://HEAD:10001 or HEAD:6379), or leave it out to start Ray on this machine\n",
    )


# --- a reader's missing extra, as the user sees it ---------------------------------------


def test_a_missing_formats_extra_is_one_line_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes `import pypdfium2` raise ImportError, as without the formats extra.
    monkeypatch.setitem(sys.modules, "pypdfium2", None)
    monkeypatch.setitem(sys.modules, "pypdfium2.raw", None)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")

    result = runner.invoke(app, ["translate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *LOCAL])

    assert (result.exit_code, result.stderr) == (
        2,
        "error: reading .pdf files needs the formats extra: pip install 'ja2en[formats]'\n",
    )


# --- models download ----------------------------------------------------------------------


def test_models_download_offline_is_one_line_and_exit_3(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JA2EN_MODELS_DIR": str(tmp_path / "models")}
    command = [sys.executable, "-m", "ja2en", "models", "download", "fugumt"]

    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == (
        "error: downloading 'fugumt' failed (Cannot reach https://huggingface.co/api/models/staka/fugumt-ja-en: "
        "offline mode is enabled. To disable it, please unset the `HF_HUB_OFFLINE` environment variable.); "
        "check the network and re-run: the download resumes where it stopped\n"
    )
    assert not (tmp_path / "models" / "staka").exists()


def test_models_download_revision_reaches_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ja2en.cli
    from ja2en.models.store import StoredModel

    asked: list[tuple[str, str | None]] = []

    def fake_download(name, *, revision=None, progress=False):
        asked.append((name, revision))
        return StoredModel("staka/fugumt-ja-en", tmp_path / "fugumt", revision or "main-commit")

    monkeypatch.setattr(ja2en.cli, "download_model", fake_download)

    result = runner.invoke(app, ["models", "download", "fugumt", "--revision", "v1.0"])

    assert result.exit_code == 0, result.output
    assert asked == [("fugumt", "v1.0")]
    assert result.stdout == f"Downloaded fugumt (staka/fugumt-ja-en at v1.0) → {tmp_path / 'fugumt'}/\n"


# --- publish: the card's and the push's options ---------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, tiny_marian: Path) -> Path:
    root = tmp_path_factory.mktemp("publish")
    (root / "in").mkdir()
    (root / "in" / "a.txt").write_text("会議は延期された。\n", encoding="utf-8")
    result = translate(root / "in", root / "out", tiny_marian)
    assert result.exit_code == 0, result.output
    return root / "out"


def test_publish_pretty_name_and_description_reach_the_card(finished_run: Path, tmp_path: Path) -> None:
    import yaml

    result = runner.invoke(app, [
        "publish", str(finished_run), "--dry-run", "--local-dir", str(tmp_path / "ds"), "--license", "cc-by-4.0",
        "--pretty-name", "Kaigi News ja-en", "--description", "Press releases of the Tokyo city hall, 2024.",
    ])  # fmt: skip

    assert result.exit_code == 0, result.output
    text = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert yaml.safe_load(text.split("---\n")[1])["pretty_name"] == "Kaigi News ja-en"
    assert "\nPress releases of the Tokyo city hall, 2024.\n" in text


def record_pushes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Replace the push to the Hub with one that records the repository and its privacy."""
    from ja2en.corpus import publish as publish_module

    pushes: list[tuple[str, bool]] = []

    def fake_push(local_dir, repo_id, *, private=True, token=None):
        pushes.append((repo_id, private))
        return f"https://huggingface.co/datasets/{repo_id}"

    monkeypatch.setattr(publish_module, "push_dataset", fake_push)
    return pushes


def test_publish_is_private_unless_public_is_asked_for(finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pushes = record_pushes(monkeypatch)
    command = ["publish", str(finished_run), "--repo-id", "org/news", "--license", "cc-by-4.0"]

    private = runner.invoke(app, [*command, "--local-dir", str(tmp_path / "a")])
    public = runner.invoke(app, [*command, "--local-dir", str(tmp_path / "b"), "--public"])

    assert pushes == [("org/news", True), ("org/news", False)]
    assert (private.exit_code, public.exit_code) == (0, 0), private.output + public.output
    assert private.stdout.endswith("; pushed to https://huggingface.co/datasets/org/news (private)\n")
    assert public.stdout.endswith("; pushed to https://huggingface.co/datasets/org/news (public)\n")
