from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ja2en import InputError, OutputError, PairFilter, PublishError, publish, translate_documents
from ja2en.corpus.publish import build_dataset
from ja2en.cli import app
from ja2en.corpus.output import published_model, published_source
from ja2en.errors import Ja2enWarning
from ja2en.writers import OutputLock

publish_module = importlib.import_module("ja2en.corpus.publish")  # `ja2en.publish` is the function

DOCS = {
    "a.txt": "株価は大幅に下落した。会議は延期された。\n本当におめでとうございます!\n",
    "b.txt": "会議は延期された。\nありがとうございます。\n",  # one pair repeats a.txt's
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_marian: Path, tiny_bart: Path) -> Path:
    """A finished run made with the tiny models stored under the default models' Hub ids."""
    root = tmp_path_factory.mktemp("publish")
    store = root / "models"
    for hub_id, folder in [("staka/fugumt-ja-en", tiny_marian), ("sshleifer/distilbart-cnn-12-6", tiny_bart)]:
        (store / hub_id).parent.mkdir(parents=True, exist_ok=True)
        (store / hub_id).symlink_to(folder, target_is_directory=True)
    inputs = root / "in"
    inputs.mkdir()
    for name, text in DOCS.items():
        (inputs / name).write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JA2EN_MODELS_DIR", str(store))
        translate_documents(inputs, output_dir=root / "out", device="cpu")
    return root / "out"


def _pairs(run: Path) -> list[tuple[str, int, int, str, str]]:
    docs = [json.loads(line) for line in (run / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(d["id"], p["paragraph"], p["sentence"], p["ja"], p["en"]) for d in docs for p in d["pairs"]]


def _card(local: Path) -> dict:
    text = (local / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---\n")[1])


def test_dry_run_builds_a_dataset_that_loads_with_one_line(run_dir: Path, tmp_path: Path) -> None:
    import datasets

    result = publish(run_dir, repo_id="org/ja-en-news", local_dir=tmp_path / "ds", dry_run=True)
    assert result.url is None
    sentences = datasets.load_dataset(str(tmp_path / "ds"), "sentences", split="train")
    assert sentences.features == datasets.Features(
        {
            "doc_id": datasets.Value("string"),
            "paragraph": datasets.Value("int32"),
            "sentence": datasets.Value("int32"),
            "translation": datasets.Translation(languages=["ja", "en"]),
            "score": datasets.Value("float64"),
            "flags": datasets.List(datasets.Value("string")),
        }
    )
    assert all(r["score"] <= 0 and r["flags"] == [] for r in sentences)
    got = [(r["doc_id"], r["paragraph"], r["sentence"], r["translation"]["ja"], r["translation"]["en"]) for r in sentences]
    assert got == _pairs(run_dir)

    documents = datasets.load_dataset(str(tmp_path / "ds"), "documents", split="train")
    assert documents.column_names == [
        "doc_id", "source", "format", "title", "sha256", "encoding", "meta", "ja", "en", "summary_en",
        "translation_model", "translation_revision", "summarization_model", "summarization_revision",
    ]  # fmt: skip
    assert documents["doc_id"] == ["a", "b"]
    assert (documents["format"], documents["title"], documents["meta"]) == (["txt", "txt"], [None, None], [None, None])
    assert documents["translation_model"] == ["staka/fugumt-ja-en"] * 2
    assert all(documents["summary_en"])
    assert (result.build.rows, result.build.shards) == ({"sentences": 5, "documents": 2}, {"sentences": 1, "documents": 1})


def test_card_yaml_names_both_configs_and_the_hub_metadata(run_dir: Path, tmp_path: Path) -> None:
    publish(run_dir, repo_id="org/ja-en-news", local_dir=tmp_path / "ds", dry_run=True)
    card = _card(tmp_path / "ds")
    assert [c["config_name"] for c in card["configs"]] == ["sentences", "documents"]
    assert card["configs"][0]["data_files"] == [{"split": "train", "path": "data/sentences/train-*.parquet"}]
    assert card["language"] == ["ja", "en"]
    assert card["task_categories"] == ["translation", "summarization"]
    assert (card["multilinguality"], card["annotations_creators"]) == ("translation", "machine-generated")
    assert (card["size_categories"], card["pretty_name"]) == ("n<1K", "ja-en-news")
    # FuguMT is CC BY-SA 4.0, so the translations are shared alike
    assert card["license"] == "cc-by-sa-4.0"
    body = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert re.search(r"\| translation \| `staka/fugumt-ja-en` \| `local-[0-9a-f]{12}` \| cc-by-sa-4.0 \|", body)
    assert 'load_dataset("org/ja-en-news", "sentences", split="train")' in body
    assert "## Limitations" in body and "machine translation, not human translation" in body


def test_large_corpora_are_split_into_several_shards(run_dir: Path, tmp_path: Path) -> None:
    import datasets

    result = build_dataset(run_dir, tmp_path / "ds", shard_bytes=1)
    assert result.shards["sentences"] > 1
    files = sorted(p.name for p in (tmp_path / "ds" / "data" / "sentences").iterdir())
    assert files[0] == f"train-00000-of-{len(files):05d}.parquet"
    assert len(datasets.load_dataset(str(tmp_path / "ds"), "sentences", split="train")) == 5


def test_dedup_drops_repeated_pairs_and_the_card_counts_them(run_dir: Path, tmp_path: Path) -> None:
    result = build_dataset(run_dir, tmp_path / "ds", pair_filter=PairFilter(dedup=True))
    assert result.rows["sentences"] == 4
    assert result.filter_counts.to_dict() == {
        "pairs": 5, "kept": 4, "dropped": {"below_min_score": 0, "no_score": 0, "flagged": 0, "duplicate": 1}
    }  # fmt: skip
    assert "Dropped before publishing: 1 duplicate." in (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")


def test_license_that_breaks_the_models_terms_is_refused(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        build_dataset(run_dir, tmp_path / "ds", license="mit")
    assert str(error.value) == (
        "--license mit is not share-alike, but staka/fugumt-ja-en (cc-by-sa-4.0) requires it; "
        "choose a license such as cc-by-sa-4.0"
    )
    assert not (tmp_path / "ds").exists()


def test_unknown_model_license_asks_for_one(tmp_path: Path, translator) -> None:
    (tmp_path / "a.txt").write_text("会議は延期された。", encoding="utf-8")
    translate_documents(tmp_path / "a.txt", output_dir=tmp_path / "out", translator=translator, summarizer_model=None)
    with pytest.raises(InputError) as error:
        build_dataset(tmp_path / "out", tmp_path / "ds")
    assert str(error.value) == (
        f"the license of {translator.model_id} is not known to ja2en; check its terms and pass --license "
        "(for example --license cc-by-sa-4.0)"
    )
    assert build_dataset(tmp_path / "out", tmp_path / "ds", license="cc-by-4.0").license == "cc-by-4.0"


def test_missing_run_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        build_dataset(tmp_path, tmp_path / "ds")
    assert str(error.value) == f"{tmp_path}: no documents.jsonl here; run `ja2en translate INPUT -o {tmp_path}` first"


def test_push_offline_keeps_the_local_build(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PublishError) as error:
        publish(run_dir, repo_id="org/name", local_dir=tmp_path / "ds")
    assert str(error.value) == (
        f"cannot push while offline (HF_HUB_OFFLINE=1); the dataset is built in {tmp_path / 'ds'}/, push it when online"
    )
    assert (tmp_path / "ds" / "README.md").is_file()


class _FakeHub:
    """Stands in for the Hub: records calls, or refuses like a Hub without write access."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.calls: list[tuple[str, dict]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import huggingface_hub
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", "hf_secretTOKEN123")
        hub = self

        def create_repo(api, repo_id, **kwargs):
            hub.calls.append(("create_repo", {"repo_id": repo_id, "token": api.token, **kwargs}))
            if hub.refuse:
                from types import SimpleNamespace

                from huggingface_hub.errors import HfHubHTTPError

                # What the client hands over: a response whose text may echo the request.
                response = SimpleNamespace(
                    status_code=403, headers={}, request=None, text="token hf_secretTOKEN123 forbidden"
                )
                raise HfHubHTTPError("403 Forbidden: token hf_secretTOKEN123", response=response)

        def upload(api, **kwargs):
            hub.calls.append(("upload", kwargs))

        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload)
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_large_folder", upload, raising=False)


def test_push_is_private_by_default_and_public_on_request(run_dir: Path, tmp_path: Path, monkeypatch) -> None:
    hub = _FakeHub()
    hub.install(monkeypatch)
    result = publish(run_dir, repo_id="org/name", local_dir=tmp_path / "ds")
    assert result.url == "https://huggingface.co/datasets/org/name"
    create, upload = hub.calls
    assert create[1] == {"repo_id": "org/name", "token": "hf_secretTOKEN123", "repo_type": "dataset", "private": True, "exist_ok": True}
    assert (upload[1]["repo_id"], upload[1]["repo_type"], Path(upload[1]["folder_path"])) == ("org/name", "dataset", tmp_path / "ds")
    hub.calls.clear()
    publish(run_dir, repo_id="org/name", local_dir=tmp_path / "ds", public=True)
    assert hub.calls[0][1]["private"] is False


def test_refused_push_is_one_line_without_the_token(run_dir: Path, tmp_path: Path, monkeypatch) -> None:
    _FakeHub(refuse=True).install(monkeypatch)
    result = CliRunner().invoke(app, ["publish", str(run_dir), "--repo-id", "org/name", "--local-dir", str(tmp_path / "ds")])
    assert result.exit_code == 5
    assert result.stderr == (
        "error: the Hugging Face Hub refused the push to org/name (HTTP 403); check that your token can write to it "
        f"(`hf auth whoami`); the dataset is built in {tmp_path / 'ds'}/\n"
    )
    assert "hf_secretTOKEN123" not in result.output
    assert "hf_secretTOKEN123" not in "".join(p.read_text(errors="replace") for p in (tmp_path / "ds").rglob("*") if p.is_file())
    assert (tmp_path / "ds" / "README.md").is_file()


def test_cli_dry_run_prints_one_line(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["publish", str(run_dir), "--dry-run", "--local-dir", str(tmp_path / "ds"), "--dedup"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Built 2 documents and 4 sentence pairs (1 dropped: 1 duplicate) in {tmp_path / 'ds'}/ "
        "(license cc-by-sa-4.0); dry run, nothing pushed\n"
    )


def test_cli_needs_a_repo_id_to_push(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["publish", str(run_dir)])
    assert result.exit_code == 2
    assert result.stderr == "error: --repo-id ORG/NAME is needed to push; add --dry-run to only build the dataset locally\n"


# --- where the dataset is built: never over the user's files ---------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (the lock file aside), by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ".ja2en.lock"
    }


def _column(local: Path, config: str, name: str) -> list:
    """One column of a built config, read from its Parquet files (`load_dataset` may answer
    from its cache for a folder rebuilt within the same second)."""
    import pyarrow.parquet as pq

    return [v for path in sorted((local / "data" / config).glob("*.parquet")) for v in pq.read_table(path)[name].to_pylist()]


def _copy_run(run_dir: Path, target: Path) -> Path:
    shutil.copytree(run_dir, target)
    return target


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_run_folder_as_local_dir_is_refused_and_keeps_every_file(run_dir: Path, tmp_path: Path, overwrite: bool) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    before = _snapshot(run)
    with pytest.raises(OutputError) as error:
        build_dataset(run, run, overwrite=overwrite)
    assert str(error.value) == (
        f"--local-dir {run} is the run folder; building the dataset there would replace the run's own files; "
        f"choose another folder, such as {run / 'hf-dataset'}"
    )
    assert _snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_cli_refuses_the_run_folder_as_local_dir_in_one_line(run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    before = _snapshot(run)
    result = CliRunner().invoke(app, ["publish", str(run), "--dry-run", "--local-dir", str(run)])
    assert result.exit_code == 4
    assert result.stderr == (
        f"error: --local-dir {run} is the run folder; building the dataset there would replace the run's own files; "
        f"choose another folder, such as {run / 'hf-dataset'}\n"
    )
    assert _snapshot(run) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_holding_the_run_is_refused_even_with_overwrite(run_dir: Path, tmp_path: Path, overwrite: bool) -> None:
    project = tmp_path / "project"
    run = _copy_run(run_dir, project / "run")
    (project / "notes.txt").write_text("my notes", encoding="utf-8")
    before = _snapshot(project)
    with pytest.raises(OutputError) as error:
        build_dataset(run, project, overwrite=overwrite)
    assert str(error.value) == (
        f"--local-dir {project} holds the run folder {run}; building the dataset there would replace it; "
        f"choose another folder, such as {run / 'hf-dataset'}"
    )
    assert _snapshot(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_a_folder_of_other_files_is_refused_and_left_as_it_was(run_dir: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes", encoding="utf-8")
    (mine / "sub" / "draft.txt").write_text("draft", encoding="utf-8")
    before = _snapshot(mine)
    with pytest.raises(OutputError) as error:
        build_dataset(run_dir, mine)
    assert str(error.value) == (
        f"--local-dir {mine} holds files ja2en did not write (notes.txt, sub); choose an empty or new folder, "
        f"or pass --overwrite to move it aside to {mine}.replaced-<time> and build there"
    )
    assert _snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_file_as_local_dir_is_refused(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "ds").write_text("a file", encoding="utf-8")
    with pytest.raises(OutputError) as error:
        build_dataset(run_dir, tmp_path / "ds", overwrite=True)
    assert str(error.value) == f"--local-dir {tmp_path / 'ds'} is a file, not a folder; choose another folder"
    assert (tmp_path / "ds").read_text(encoding="utf-8") == "a file"


def test_overwrite_moves_a_folder_of_other_files_aside_and_deletes_nothing(run_dir: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes", encoding="utf-8")
    before = _snapshot(mine)
    with pytest.warns(Ja2enWarning) as warned:
        result = build_dataset(run_dir, mine, overwrite=True)
    aside = result.moved_aside
    assert aside is not None and aside.parent == tmp_path
    assert re.fullmatch(r"mine\.replaced-\d{8}-\d{6}", aside.name)
    assert _snapshot(aside) == before
    assert [str(w.message) for w in warned] == [f"--local-dir {mine} held files ja2en did not write; they are now in {aside}"]
    assert (mine / "README.md").is_file() and not (mine / "notes.txt").exists()


def test_publishing_again_replaces_the_previous_build(run_dir: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    build_dataset(run_dir, ds, pair_filter=PairFilter(dedup=True))
    # What `upload_large_folder` leaves in a pushed folder to resume an upload.
    (ds / ".cache" / "huggingface").mkdir(parents=True)
    (ds / ".cache" / "huggingface" / "upload.json").write_text("{}", encoding="utf-8")
    result = build_dataset(run_dir, ds)
    assert result.rows["sentences"] == 5 and result.moved_aside is None
    assert len(_column(ds, "sentences", "doc_id")) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no staging or old build left beside it


def test_a_build_by_an_older_ja2en_without_the_marker_is_replaced(run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    build_dataset(run, run / "hf-dataset", shard_bytes=1)
    (run / "hf-dataset" / ".ja2en-dataset.json").unlink()  # what ja2en 0.1.0 left in the default place
    result = build_dataset(run, run / "hf-dataset", pair_filter=PairFilter(dedup=True))
    assert result.rows["sentences"] == 4 and result.moved_aside is None
    assert len(_column(run / "hf-dataset", "sentences", "doc_id")) == 4
    assert sorted(p.name for p in run.iterdir() if p.name.endswith("hf-dataset") or "ja2en-" in p.name) == ["hf-dataset"]


def test_a_folder_that_only_looks_like_an_unmarked_build_is_refused(run_dir: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    (ds / "data" / "sentences").mkdir(parents=True)
    (ds / "README.md").write_text("# My own dataset\n", encoding="utf-8")
    (ds / "data" / "sentences" / "train-00000-of-00001.parquet").write_bytes(b"mine")
    before = _snapshot(ds)
    with pytest.raises(OutputError, match="holds files ja2en did not write \\(README.md, data\\)"):
        build_dataset(run_dir, ds)
    assert _snapshot(ds) == before


def test_a_previous_build_with_a_file_added_by_hand_is_refused(run_dir: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    build_dataset(run_dir, ds)
    (ds / "data" / "NOTES.md").write_text("mine", encoding="utf-8")
    before = _snapshot(ds)
    with pytest.raises(OutputError) as error:
        build_dataset(run_dir, ds)
    assert str(error.value) == (
        f"--local-dir {ds} holds files ja2en did not write (data/NOTES.md); choose an empty or new folder, "
        f"or pass --overwrite to move it aside to {ds}.replaced-<time> and build there"
    )
    assert _snapshot(ds) == before


def test_an_empty_folder_is_built_into(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    build_dataset(run_dir, tmp_path / "ds")
    assert (tmp_path / "ds" / "README.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_a_build_that_fails_midway_keeps_the_previous_one(run_dir: Path, tmp_path: Path, monkeypatch) -> None:
    ds = tmp_path / "ds"
    build_dataset(run_dir, ds)
    before = _snapshot(ds)

    def failing_card(**kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish_module, "card_body", failing_card)
    with pytest.raises(OutputError) as error:
        build_dataset(run_dir, ds, pair_filter=PairFilter(dedup=True))
    assert str(error.value) == f"{ds}: cannot write the dataset (No space left on device); choose another --local-dir"
    assert _snapshot(ds) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


# --- unfinished runs ---------------------------------------------------------------------


def _interrupt(run: Path, keep: int, planned: int | None) -> None:
    """Make `run` look stopped midway: status "running", `keep` documents, then a torn line."""
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["status"] = "running"
    manifest.pop("counts", None)
    if planned is not None:
        manifest["counts"] = {"documents_planned": planned}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    lines = (run / "documents.jsonl").read_bytes().splitlines(keepends=True)
    (run / "documents.jsonl").write_bytes(b"".join(lines[:keep]) + lines[keep][: len(lines[keep]) // 2])


@pytest.mark.parametrize(("planned", "progress"), [(20, "1 of 20 documents"), (None, "1 document so far")])
def test_an_unfinished_run_is_refused(run_dir: Path, tmp_path: Path, planned: int | None, progress: str) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    _interrupt(run, 1, planned)
    with pytest.raises(InputError) as error:
        publish(run, repo_id=None, local_dir=tmp_path / "ds", dry_run=True)
    assert str(error.value) == (
        f"{run} is not finished ({progress}); re-run the same `ja2en translate ... -o {run}` command "
        "to finish it, or pass --partial"
    )
    assert not (tmp_path / "ds").exists()


def test_partial_publishes_the_finished_documents_and_the_card_says_so(run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    _interrupt(run, 1, 20)
    result = publish(run, repo_id=None, local_dir=tmp_path / "ds", dry_run=True, partial=True)
    assert result.build.partial and result.build.rows["documents"] == 1
    assert _column(tmp_path / "ds", "documents", "doc_id") == ["a"]
    assert _column(tmp_path / "ds", "sentences", "doc_id") == ["a"] * 3
    body = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert (
        "> **Partial dataset:** it was built from a ja2en run that had not finished, "
        "so it holds 1 of the 20 documents the run planned.\n"
    ) in body


def test_partial_on_a_run_that_does_not_know_its_total(run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    _interrupt(run, 1, None)
    build_dataset(run, tmp_path / "ds", partial=True)
    body = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert (
        "> **Partial dataset:** it was built from a ja2en run that had not finished, "
        "so it holds only the 1 document finished before the run stopped.\n"
    ) in body


def test_partial_on_a_finished_run_changes_nothing(run_dir: Path, tmp_path: Path) -> None:
    result = build_dataset(run_dir, tmp_path / "ds", partial=True)
    assert not result.partial and result.rows["documents"] == 2
    assert "Partial dataset" not in (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")


# --- a run folder being written ----------------------------------------------------------


def test_publish_fails_at_once_while_a_run_writes_the_folder(run_dir: Path, tmp_path: Path) -> None:
    # flock locks belong to an open file description: a second open in this process conflicts.
    with OutputLock(run_dir):
        with pytest.raises(OutputError) as error:
            publish(run_dir, repo_id=None, local_dir=tmp_path / "ds", dry_run=True)
    assert str(error.value) == (
        f"{run_dir} is being written by another ja2en run (pid {os.getpid()}); wait for it to finish, then try again"
    )
    assert not (tmp_path / "ds").exists()


def test_publish_holds_the_run_folder_for_the_whole_read(run_dir: Path, tmp_path: Path, monkeypatch) -> None:
    real_card_body = publish_module.card_body
    seen = []

    def card_body(**kwargs):  # after both configs are read and written
        try:
            OutputLock(run_dir).acquire().release()
            seen.append("a run could start")
        except OutputError:
            seen.append("locked")
        return real_card_body(**kwargs)

    monkeypatch.setattr(publish_module, "card_body", card_body)
    build_dataset(run_dir, tmp_path / "ds")
    assert seen == ["locked"]
    OutputLock(run_dir).acquire().release()  # and let go afterwards


# --- races and what a stopped publish leaves -----------------------------------------------

# A real `publish` in another process, paused inside its build (after both configs are
# written, before the card), so a test can race it or kill -9 it at a known point.
PAUSED_PUBLISH = """
import sys, time
from ja2en.corpus import publish as module
from ja2en import publish

def paused(**kwargs):
    print("building", flush=True)
    time.sleep(600)

module.card_body = paused
publish(sys.argv[1], repo_id=None, local_dir=sys.argv[2], dry_run=True)
"""


@pytest.fixture
def paused_publish(run_dir: Path):
    """Start a publish of `run_dir` into a folder and wait until it is inside its build; killed at teardown."""
    started: list[subprocess.Popen] = []

    def start(local: Path) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", PAUSED_PUBLISH, str(run_dir), str(local)], stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline() == "building\n"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()
        # Closed here, not by the garbage collector: its ResourceWarning would land at random
        # inside a later test's pytest.warns.
        process.stdout.close()


def _dead_pid() -> int:
    """The pid of a process that has ended: what a leftover's owner is after a kill."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_second_publish_to_the_same_folder_is_refused_while_the_first_builds(
    run_dir: Path, tmp_path: Path, paused_publish
) -> None:
    ds = tmp_path / "ds"
    first = paused_publish(ds)
    with pytest.raises(OutputError) as error:
        build_dataset(run_dir, ds)
    assert str(error.value) == (
        f"--local-dir {ds} is being built or pushed by another ja2en publish (pid {first.pid}); "
        "wait for it to finish, then try again"
    )
    result = CliRunner().invoke(app, ["publish", str(run_dir), "--local-dir", str(ds), "--dry-run"])
    assert (result.exit_code, result.stderr) == (4, f"error: {error.value}\n")
    assert [p.name for p in tmp_path.iterdir() if "ja2en-building" in p.name] != []  # the first one's, untouched
    assert not ds.exists()


def test_a_publish_killed_during_its_build_leaves_nothing_the_next_one_does_not_remove(
    run_dir: Path, tmp_path: Path, paused_publish
) -> None:
    ds = tmp_path / "ds"
    victim = paused_publish(ds)
    victim.kill()  # kill -9, inside the build
    victim.wait()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and re.fullmatch(rf"\.ds\.ja2en-building-{victim.pid}-[0-9a-f]{{8}}", left[0]), left
    with pytest.warns(Ja2enWarning) as warned:
        build_dataset(run_dir, ds)
    assert [str(w.message) for w in warned] == [f"removed what a stopped publish left beside --local-dir {ds}: {left[0]}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert len(_column(ds, "sentences", "doc_id")) == 5


def test_leftover_builds_of_ended_publishes_are_removed_and_a_live_ones_kept(run_dir: Path, tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = [f".ds.ja2en-building-{dead}-0a1b2c3d", ".ds.ja2en-building-9f8e7d6c"]  # the second: ja2en 0.2, no pid
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        live = f".ds.ja2en-building-{alive.pid}-01234567"
        for name in [*stale, live, ".other.ja2en-building-1-01234567"]:
            (tmp_path / name / "data").mkdir(parents=True)
        with pytest.warns(Ja2enWarning) as warned:
            build_dataset(run_dir, tmp_path / "ds")
        assert [str(w.message) for w in warned] == [
            f"removed what a stopped publish left beside --local-dir {tmp_path / 'ds'}: {', '.join(sorted(stale))}"
        ]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".other.ja2en-building-1-01234567", "ds", live])
    finally:
        alive.kill()
        alive.wait()


def _previous_build_aside(run_dir: Path, tmp_path: Path, name: str) -> Path:
    """A build of `run_dir` renamed aside as a publish does inside its swap."""
    build_dataset(run_dir, tmp_path / "previous", shard_bytes=1)
    return (tmp_path / "previous").rename(tmp_path / name)


def test_a_publish_killed_inside_the_swap_gets_its_folder_back_at_the_next_publish(
    run_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    # The kill came between renaming the previous build aside and renaming the new one in: ds is gone.
    aside = _previous_build_aside(run_dir, tmp_path, f".ds.ja2en-old-{_dead_pid()}-0a1b2c3d")
    before = _snapshot(aside)

    def failing_card(**kwargs):  # and the next publish fails too: the previous build must still be there
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish_module, "card_body", failing_card)
    ds = tmp_path / "ds"
    with pytest.warns(Ja2enWarning) as warned, pytest.raises(OutputError):
        build_dataset(run_dir, ds)
    assert [str(w.message) for w in warned] == [
        f"--local-dir {ds} was missing, as a publish was stopped while replacing it; restored the previous build "
        f"from {aside.name}"
    ]
    assert _snapshot(ds) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_a_previous_build_left_aside_next_to_its_replacement_is_removed(run_dir: Path, tmp_path: Path) -> None:
    # The kill came after the new build was renamed in, before the previous one was deleted.
    ds = tmp_path / "ds"
    build_dataset(run_dir, ds, shard_bytes=1)
    aside = _previous_build_aside(run_dir, tmp_path, f".ds.ja2en-old-{_dead_pid()}-0a1b2c3d")
    with pytest.warns(Ja2enWarning) as warned:
        build_dataset(run_dir, ds, pair_filter=PairFilter(dedup=True))
    assert [str(w.message) for w in warned] == [f"removed what a stopped publish left beside --local-dir {ds}: {aside.name}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert len(_column(ds, "sentences", "doc_id")) == 4


def test_a_folder_left_aside_holding_other_files_is_never_deleted(run_dir: Path, tmp_path: Path) -> None:
    aside = _previous_build_aside(run_dir, tmp_path, f".ds.ja2en-old-{_dead_pid()}-0a1b2c3d")
    (aside / "mine.txt").write_text("mine", encoding="utf-8")
    ds = tmp_path / "ds"
    with pytest.warns(Ja2enWarning):  # ds is missing: the folder would be restored, but it is not only a build now
        build_dataset(run_dir, ds)
    before = _snapshot(aside)
    with pytest.warns(Ja2enWarning) as warned:
        build_dataset(run_dir, ds)
    assert [str(w.message) for w in warned] == [
        f"left {aside.name} beside --local-dir {ds}: a stopped publish left it, but it holds files ja2en did not write"
    ]
    assert _snapshot(aside) == before


def test_a_local_dir_whose_name_is_not_utf_8_is_built_into(run_dir: Path, tmp_path: Path) -> None:
    ds = tmp_path / os.fsdecode(b"ds-\xff[*]")  # a stray byte, and glob characters
    result = build_dataset(run_dir, ds)
    assert result.rows["sentences"] == 5
    assert sorted(p.relative_to(ds).as_posix() for p in ds.rglob("*.parquet")) == [
        "data/documents/train-00000-of-00001.parquet", "data/sentences/train-00000-of-00001.parquet",
    ]  # fmt: skip


def test_a_push_to_a_hub_that_never_answers_ends_in_one_line_and_exit_5(run_dir: Path, tmp_path: Path) -> None:
    from hub_server import online_env, silent_hub

    with silent_hub() as hub:
        env = online_env(hub, tmp_path, HF_TOKEN="hf_notarealtoken", JA2EN_HUB_TIMEOUT="1")
        done = subprocess.run(
            [sys.executable, "-m", "ja2en", "publish", str(run_dir), "--repo-id", "org/name", "--local-dir", str(tmp_path / "ds")],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 5
    assert done.stderr.splitlines() == [
        f"error: the Hugging Face Hub at {hub.url} did not answer within 1 s; raise JA2EN_HUB_TIMEOUT if it is only slow; "
        f"the dataset is built in {tmp_path / 'ds'}/, re-run to push (it resumes)"
    ]
    assert (tmp_path / "ds" / "README.md").is_file()


# --- privacy: no home folder, user name or token in what is published ---------------------


def test_published_data_carries_no_home_folder_user_name_or_token(
    tmp_path: Path, monkeypatch, tiny_marian: Path, tiny_bart: Path
) -> None:
    import pyarrow.parquet as pq

    home = tmp_path / "home" / "alice"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", "hf_fakeTOKEN987")
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "store"))
    (home / "models").mkdir(parents=True)
    (home / "models" / "fugu-ja-en").symlink_to(tiny_marian, target_is_directory=True)
    (home / "models" / "bart-news").symlink_to(tiny_bart, target_is_directory=True)
    (home / "corpus" / "news").mkdir(parents=True)
    (home / "corpus" / "news" / "a.txt").write_text(DOCS["a.txt"], encoding="utf-8")
    (home / "extra.jsonl").write_text('{"id": "x", "text": "会議は延期された。"}\n', encoding="utf-8")
    translate_documents(
        [home / "corpus", home / "extra.jsonl"],
        output_dir=tmp_path / "out",
        model=str(home / "models" / "fugu-ja-en"),
        summarizer_model=str(home / "models" / "bart-news"),
        backend="torch",
        device="cpu",
        cache=False,
    )
    assert str(home) in (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8")  # the run keeps its paths

    ds = tmp_path / "ds"
    publish(tmp_path / "out", repo_id="org/news", local_dir=ds, dry_run=True, license="cc-by-4.0")
    published = []
    for path in sorted(ds.rglob("*")):
        if path.suffix == ".parquet":
            published.append(json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False))
            published.append(repr(pq.read_schema(path).metadata))
        elif path.is_file():
            published.append(path.read_bytes().decode("utf-8"))
    everything = "\n".join(published)
    for secret in (str(tmp_path), "alice", "/home/", "hf_fakeTOKEN987"):
        assert secret not in everything

    assert _column(ds, "documents", "source") == ["news/a.txt", "extra.jsonl:1"]
    assert _column(ds, "documents", "translation_model") == ["fugu-ja-en"] * 2
    assert _column(ds, "documents", "summarization_model") == ["bart-news"] * 2
    body = (ds / "README.md").read_text(encoding="utf-8")
    assert "| translation | `fugu-ja-en` |" in body and "| summarization | `bart-news` |" in body
    assert "2 Japanese documents read from corpus, extra.jsonl." in body


@pytest.mark.parametrize(
    ("source", "inputs", "published"),
    [
        ("/home/alice/in/news/a.txt", ["/home/alice/in"], "news/a.txt"),
        ("/home/alice/in/news/a.txt", ["/home/alice/in/"], "news/a.txt"),
        ("in/news/a.txt", ["./in"], "news/a.txt"),
        ("/home/alice/x.jsonl:3", ["/home/alice/x.jsonl"], "x.jsonl:3"),
        ("/home/alice/in/x.jsonl:3", ["/home/alice/in", "/home/alice/in/x.jsonl"], "x.jsonl:3"),
        ("news/a.txt", ["."], "news/a.txt"),
        ("/home/alice/other/a.txt", ["/home/alice/in"], "a.txt"),  # no input matches: the name only
        ("../alice/a.txt", [], "a.txt"),
        ("news/a.txt", ["ray.data.Dataset news"], "news/a.txt"),
    ],
)
def test_sources_are_published_relative_to_their_input(source: str, inputs: list[str], published: str) -> None:
    assert published_source(source, inputs) == published


@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("staka/fugumt-ja-en", "staka/fugumt-ja-en"),
        ("opus-mt-ja-en", "opus-mt-ja-en"),
        ("/home/alice/models/fugu", "fugu"),
        ("/home/alice/models/fugu/", "fugu"),
        ("~/models/fugu", "fugu"),
        ("./fugu", "fugu"),
        ("../alice/fugu", "fugu"),
        ("models/staka/fugumt-ja-en", "fugumt-ja-en"),
        (None, None),
    ],
)
def test_local_model_folders_are_published_by_name(name: str | None, published: str | None) -> None:
    assert published_model(name) == published
