from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ja2en import __version__
from ja2en.cli import app

runner = CliRunner()


@pytest.fixture
def seed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "a.txt").write_text("株価は大幅に下落した。会議は延期された。\n本当におめでとうございます!\n", encoding="utf-8")
    (folder / "b.txt").write_text("ありがとうございます。\n", encoding="utf-8")
    return folder


def test_translate_writes_the_three_files_and_one_result_line(
    seed_folder: Path, tmp_path: Path, tiny_marian: Path, tiny_bart: Path, expected
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["translate", str(seed_folder), "--model", str(tiny_marian), "--summarizer", str(tiny_bart)]
        + ["-o", str(out), "--batch-size", "2", "--beams", "2", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Translated 2 documents, 4 sentences in ")
    assert lines[0].endswith(f" s → {out}/ (documents.jsonl, sentences.jsonl, errors.jsonl, manifest.json)")
    rows = [json.loads(line) for line in (out / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["en"] for row in rows] == [expected[row["ja"]] for row in rows]
    assert [row["ja"] for row in rows] == [
        "株価は大幅に下落した。",
        "会議は延期された。",
        "本当におめでとうございます!",
        "ありがとうございます。",
    ]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["models"]["translation"]["beams"] == 2
    assert manifest["models"]["translation"]["batch_size"] == 2


def test_no_summary_skips_the_summarizer(seed_folder: Path, tmp_path: Path, tiny_marian: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["translate", str(seed_folder), "-m", str(tiny_marian), "--no-summary", "-o", str(out)])
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["summary_en"] for d in docs] == [None, None]


def test_bad_document_is_named_and_exit_code_is_2(seed_folder: Path, tmp_path: Path, tiny_marian: Path) -> None:
    (seed_folder / "broken.txt").write_bytes(b"\xff\xfe\xfa\x80\x80\xff")
    out = tmp_path / "out"
    result = runner.invoke(app, ["translate", str(seed_folder), "-m", str(tiny_marian), "--no-summary", "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {seed_folder / 'broken.txt'}: not valid UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP; "
        "re-run with --encoding NAME (for example --encoding cp932)\n"
    )
    assert "Translated 2 documents, 4 sentences" in result.stdout
    assert "1 failed (see above)" in result.stdout
    assert len((out / "documents.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_missing_input_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["translate", str(tmp_path / "nope"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope'}: no such file or folder; check the path\n"


def test_missing_model_offline_is_one_line_naming_the_model_and_the_fix(seed_folder: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["translate", str(seed_folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert result.stderr == (
        "error: translation model 'staka/fugumt-ja-en' is not available here (offline and not in the local cache); "
        "on a connected machine run `ja2en models download staka/fugumt-ja-en` "
        "and copy models/staka/fugumt-ja-en here, or pass a local model folder with --model PATH\n"
    )


def test_model_folder_in_the_local_store_is_found_by_its_hub_id(
    seed_folder: Path, tmp_path: Path, tiny_marian: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "models"
    (store / "staka").mkdir(parents=True)
    (store / "staka" / "fugumt-ja-en").symlink_to(tiny_marian, target_is_directory=True)
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(store))
    out = tmp_path / "out"
    result = runner.invoke(app, ["translate", str(seed_folder), "--no-summary", "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["models"]["translation"]["name"] == "staka/fugumt-ja-en"


def test_cuda_requested_without_a_gpu_says_what_to_use(seed_folder: Path, tmp_path: Path, tiny_marian: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["translate", str(seed_folder), "-m", str(tiny_marian), "--device", "cuda"])
    assert result.exit_code == 3
    assert result.stderr == "error: --device cuda was asked for but no CUDA GPU is available; use --device cpu or auto\n"


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout == f"ja2en {__version__}\n"
    help_text = runner.invoke(app, ["translate", "--help"]).stdout
    for option in ["--output", "--model", "--summarizer", "--no-summary", "--batch-size", "--beams", "--device", "--encoding"]:
        assert option in help_text


def test_real_command_offline_without_model_fails_fast_with_one_line(seed_folder: Path, tmp_path: Path) -> None:
    # The user's own command, as a subprocess: one line, no traceback. (How fast is
    # measured, not asserted: see README "Offline use".)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [sys.executable, "-m", "ja2en", "translate", str(seed_folder), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: translation model 'staka/fugumt-ja-en' is not available here")
    assert "Traceback" not in proc.stderr


def _finished_run(folder: Path) -> Path:
    """A run's output folder written by hand: two documents, one repeated pair."""
    folder.mkdir()
    docs = [
        {"id": "a", "pairs": [{"paragraph": 0, "sentence": 0, "ja": "会議は延期された。", "en": "The meeting was postponed."}]},
        {"id": "b", "pairs": [{"paragraph": 0, "sentence": 0, "ja": "会議は延期された。", "en": "The meeting was postponed."},
                              {"paragraph": 1, "sentence": 0, "ja": "A&B<C>", "en": "A&B<C>"}]},
    ]  # fmt: skip
    (folder / "documents.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")
    (folder / "manifest.json").write_text("{}", encoding="utf-8")
    return folder


def test_export_tmx_prints_what_it_kept_dropped_and_wrote(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    run = _finished_run(tmp_path / "run")
    result = runner.invoke(app, ["export", str(run), "--format", "tmx", "--dedup"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Exported 2 pairs (1 dropped: 1 duplicate) → {run / 'corpus.tmx'}, {run / 'corpus.export.json'}\n"
    )
    segs = [seg.text for seg in ET.parse(run / "corpus.tmx").iter("seg")]
    assert segs == ["会議は延期された。", "The meeting was postponed.", "A&B<C>", "A&B<C>"]


def test_export_moses_to_a_prefix(tmp_path: Path) -> None:
    run = _finished_run(tmp_path / "run")
    result = runner.invoke(app, ["export", str(run), "-f", "moses", "--to", str(tmp_path / "train")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "train.ja").read_text(encoding="utf-8").splitlines() == ["会議は延期された。"] * 2 + ["A&B<C>"]
    assert len((tmp_path / "train.en").read_text(encoding="utf-8").splitlines()) == 3


def test_export_unknown_format_and_missing_scores_are_one_line(tmp_path: Path) -> None:
    run = _finished_run(tmp_path / "run")
    result = runner.invoke(app, ["export", str(run), "--format", "xliff"])
    assert (result.exit_code, result.stderr) == (2, "error: unknown export format 'xliff'; use one of tmx, moses, tsv\n")
    result = runner.invoke(app, ["export", str(run), "--min-score", "-1.5"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {run}: its pairs have no scores, so --min-score cannot filter them; "
        "drop --min-score, or re-translate with a ja2en version that records scores\n"
    )


def test_export_and_publish_of_an_unfinished_run_need_partial(tmp_path: Path) -> None:
    run = _finished_run(tmp_path / "run")
    (run / "manifest.json").write_text(
        json.dumps({"status": "running", "counts": {"documents_planned": 20}}), encoding="utf-8"
    )
    refused = runner.invoke(app, ["export", str(run), "-f", "tsv"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"error: {run} is not finished (2 of 20 documents); re-run the same")
    assert refused.stderr.endswith("or pass --partial\n")
    assert not (run / "corpus.tsv").exists()
    exported = runner.invoke(app, ["export", str(run), "-f", "tsv", "--partial"])
    assert exported.exit_code == 0, exported.output
    assert len((run / "corpus.tsv").read_text(encoding="utf-8").splitlines()) == 3
    refused = runner.invoke(app, ["publish", str(run), "--dry-run"])
    assert refused.exit_code == 2 and "is not finished (2 of 20 documents)" in refused.stderr


def test_publish_into_a_folder_of_other_files_needs_overwrite_and_never_deletes_them(tmp_path: Path, translator) -> None:
    from ja2en import translate_documents

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("会議は延期された。\n", encoding="utf-8")
    run = translate_documents(
        tmp_path / "in", output_dir=tmp_path / "run", translator=translator, summarizer_model=None
    ).output_dir
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work", encoding="utf-8")
    refused = runner.invoke(app, ["publish", str(run), "--dry-run", "--local-dir", str(mine)])
    assert refused.exit_code == 4 and "--overwrite" in refused.stderr
    assert (mine / "thesis.tex").read_text(encoding="utf-8") == "years of work"
    built = runner.invoke(app, ["publish", str(run), "--dry-run", "--local-dir", str(mine), "--overwrite", "--license", "other"])
    assert built.exit_code == 0, built.output
    assert built.stderr.startswith(f"warning: --local-dir {mine} held files ja2en did not write; they are now in ")
    aside = Path(built.stderr.split("they are now in ", 1)[1].strip())
    assert (aside / "thesis.tex").read_text(encoding="utf-8") == "years of work"
