"""Presets and the local models/ store: resolution order, offline use, downloads, conversions."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from ja2en import DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL, InputError, ModelError, Translator
from ja2en.backends.ct2 import CONVERSION_VERSION
from ja2en.cli import app
from ja2en.corpus.card import dataset_license
from ja2en.models.load import SOURCE_FILE, resolve_model
from ja2en.models.presets import DEFAULT_JA_SUMMARIZER, PRESETS, find_preset, license_warning
from ja2en.models.store import convert_model, download_model, stored_model

runner = CliRunner()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(root))
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))  # no conversion left by another test
    return root


def _put(store: Path, hub_id: str, model: Path, revision: str | None = COMMIT) -> Path:
    """Place a model in the store as `ja2en models download` leaves it."""
    target = store / hub_id
    shutil.copytree(model, target)
    if revision:
        (target / SOURCE_FILE).write_text(json.dumps({"hub_id": hub_id, "revision": revision}))
    return target


def test_a_preset_in_the_store_is_used_offline_with_its_pinned_revision(store, tiny_marian, expected) -> None:
    _put(store, "staka/fugumt-ja-en", tiny_marian)
    translator = Translator("fugumt", beams=1, device="cpu", backend="torch", quantize=False)
    assert (translator.model_id, translator.revision) == ("staka/fugumt-ja-en", COMMIT)
    sources = list(expected)[:3]
    assert translator.translate(sources) == [expected[ja] for ja in sources]


def test_resolution_order_folder_then_store_then_cache(store, tiny_marian, tmp_path, monkeypatch) -> None:
    import huggingface_hub

    # A Hugging Face cache holding the model at another commit.
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--staka--fugumt-ja-en" / "snapshots" / ("c" * 40)
    shutil.copytree(tiny_marian, snapshot)
    (cache / "models--staka--fugumt-ja-en" / "refs").mkdir()
    (cache / "models--staka--fugumt-ja-en" / "refs" / "main").write_text("c" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert resolve_model("fugumt", role="translation").revision == "c" * 40  # only the cache has it
    _put(store, "staka/fugumt-ja-en", tiny_marian)
    assert resolve_model("fugumt", role="translation").revision == COMMIT  # the store comes first
    folder = tmp_path / "fugumt"  # a folder the user names wins over a preset of the same name
    shutil.copytree(tiny_marian, folder)
    monkeypatch.chdir(tmp_path)
    assert resolve_model("fugumt", role="translation").path == folder.resolve()


def test_a_missing_preset_names_the_download_command(store) -> None:
    with pytest.raises(ModelError) as error:
        resolve_model("opus", role="translation")
    assert str(error.value) == (
        "translation model 'opus' (Helsinki-NLP/opus-mt-ja-en) is not available here (offline and not in the "
        f"local cache); on a connected machine run `ja2en models download opus` and copy {store}/Helsinki-NLP/"
        "opus-mt-ja-en here, or pass a local model folder with --model PATH"
    )


def test_an_unfinished_download_is_refused_not_loaded(store, tiny_marian) -> None:
    target = _put(store, "staka/fugumt-ja-en", tiny_marian, revision=None)
    partial = target / ".cache" / "huggingface" / "download"
    partial.mkdir(parents=True)
    (partial / "model.safetensors.incomplete").write_bytes(b"half")
    with pytest.raises(ModelError) as error:
        resolve_model("fugumt", role="translation")
    assert str(error.value) == (
        f"translation model folder '{target}' holds an unfinished download; "
        "run `ja2en models download staka/fugumt-ja-en` again to finish it"
    )


def test_download_pins_the_commit_and_the_run_records_it(store, tiny_marian, monkeypatch, tmp_path) -> None:
    import huggingface_hub

    calls = []

    def model_info(self, repo_id, revision=None, timeout=None):
        files = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "source.spm"]
        return SimpleNamespace(sha=COMMIT, siblings=[SimpleNamespace(rfilename=f) for f in files])

    def hf_hub_download(repo_id, filename, *, revision, local_dir, etag_timeout):
        calls.append((repo_id, revision, filename))
        if filename == "config.json":  # the rest of the folder, as the files the tiny model has
            shutil.copytree(tiny_marian, local_dir, dirs_exist_ok=True)
        return str(local_dir / filename)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    assert stored_model("fugumt") is None
    stored = download_model("fugumt")
    # the pinned commit, and one copy of the weights (safetensors, not also .bin or TF)
    assert calls == [
        ("staka/fugumt-ja-en", COMMIT, "config.json"),
        ("staka/fugumt-ja-en", COMMIT, "model.safetensors"),
        ("staka/fugumt-ja-en", COMMIT, "source.spm"),
    ]
    assert (stored.path, stored.revision) == (store / "staka/fugumt-ja-en", COMMIT)
    assert stored_model("staka/fugumt-ja-en") == stored

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("会議は延期された。", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["translate", str(seeds), "-m", "fugumt", "--no-summary", "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["models"]["translation"]["name"], manifest["models"]["translation"]["revision"]) == (
        "staka/fugumt-ja-en",
        COMMIT,
    )
    listing = runner.invoke(app, ["models", "list"]).stdout
    assert COMMIT[:10] in next(line for line in listing.splitlines() if line.startswith("fugumt "))


def test_download_without_network_says_it_resumes(store) -> None:
    with pytest.raises(ModelError, match=r"^downloading 'opus' failed \(.+\); check the network and re-run: "
                       r"the download resumes where it stopped$"):  # fmt: skip
        download_model("opus")
    assert stored_model("opus") is None


def test_convert_stores_the_ct2_copy_the_backend_then_uses(store, tiny_marian, monkeypatch, expected) -> None:
    _put(store, "staka/fugumt-ja-en", tiny_marian)
    result = runner.invoke(app, ["models", "convert", "fugumt", "--quantization", "int8"])
    assert result.exit_code == 0, result.output
    path = store / "ct2" / f"staka--fugumt-ja-en-{COMMIT}-int8-c{CONVERSION_VERSION}"
    assert result.stdout == f"Converted fugumt for ct2 (int8) → {path}/\n"
    from ctranslate2.converters import TransformersConverter

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(TransformersConverter, "convert", no_conversion)
    translator = Translator("fugumt", beams=1, device="cpu", backend="ct2", compute_type="int8")
    assert translator.translate(["会議は延期された。"]) == [expected["会議は延期された。"]]
    with pytest.raises(ModelError, match="^unknown quantization 'int4'; use one of int8, "):
        convert_model("fugumt", quantization="int4")


def test_convert_puts_any_model_in_the_store_where_the_backend_finds_it(
    store, tiny_marian, monkeypatch, expected
) -> None:
    # A model folder outside the store would have its conversion in the user cache; one made
    # ahead of time by `models convert` is in models/ct2/, as documented, and used from there.
    path = convert_model(str(tiny_marian), quantization="int8")
    assert path.parent == store / "ct2"
    from ctranslate2.converters import TransformersConverter

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(TransformersConverter, "convert", no_conversion)
    translator = Translator(str(tiny_marian), beams=1, device="cpu", backend="ct2", compute_type="int8")
    assert translator.backend.path == path
    assert translator.translate(["会議は延期された。"]) == [expected["会議は延期された。"]]


def test_convert_into_a_store_that_cannot_be_written_says_what_to_do(store, tiny_marian) -> None:
    store.mkdir()
    (store / "ct2").write_text("", encoding="utf-8")  # no folder can be made there, root or not
    with pytest.raises(ModelError) as error:
        convert_model(str(tiny_marian))
    assert str(error.value) == (
        f"cannot store the ct2 conversion of model '{tiny_marian}': {store / 'ct2'} is not writable (File exists); "
        "run from a folder where models/ can be written, or set JA2EN_MODELS_DIR to a writable folder"
    )


# License ids as the Hub spells them in a card's `license:` field (a subset of its list).
HUB_LICENSES = {
    "apache-2.0", "mit", "bsd-3-clause", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-4.0", "openrail", "other",
}  # fmt: skip




@pytest.mark.parametrize("name", list(PRESETS))  # nllb-1.3b: a dot in a Hub id is not a file suffix
def test_every_preset_missing_offline_names_the_command_that_downloads_it(store, name: str) -> None:
    preset = PRESETS[name]
    with pytest.raises(ModelError) as error:
        resolve_model(name, role=preset.task)
    assert str(error.value).startswith(
        f"{preset.task} model '{name}' ({preset.hub_id}) is not available here (offline and not in the local "
        f"cache); on a connected machine run `ja2en models download {name}` and copy {store / preset.hub_id} here, "
        "or pass a local model folder with --"
    )


@pytest.mark.parametrize("name", PRESETS)
def test_a_corpus_made_with_any_preset_gets_a_dataset_license_that_respects_the_model(name: str) -> None:
    preset = PRESETS[name]
    assert preset.license in HUB_LICENSES  # what the card's header says, so the Hub must know it
    suggested = dataset_license([preset.hub_id], None)
    assert suggested in HUB_LICENSES
    assert dataset_license([preset.hub_id], suggested) == suggested  # the suggestion passes its own check
    # A corpus of the model's output carries its Creative Commons terms: NonCommercial, ShareAlike.
    terms = ("-nc" in preset.license, "-sa" in preset.license)
    assert ("-nc" in suggested, "-sa" in suggested) == terms
    if any(terms):  # a looser license is refused, naming the model
        refused = rf"^--license cc-by-4\.0 is not .+, but {re.escape(f'{preset.hub_id} ({preset.license})')} requires it"
        with pytest.raises(InputError, match=refused):
            dataset_license([preset.hub_id], "cc-by-4.0")
    warning = license_warning(name)
    assert (warning is not None) == preset.non_commercial
    assert license_warning(preset.hub_id) == warning  # named by its Hub id, the same warning


def test_the_default_models_are_presets_for_their_task() -> None:
    translation, summary, ja_summary = map(find_preset, (DEFAULT_TRANSLATION_MODEL, DEFAULT_SUMMARY_MODEL, DEFAULT_JA_SUMMARIZER))
    assert (translation.task, translation.language) == ("translation", "ja")
    assert (summary.task, summary.language) == ("summarization", "en")  # it reads the translation
    assert (ja_summary.task, ja_summary.language) == ("summarization", "ja")
    assert not translation.non_commercial and not summary.non_commercial  # a default run may be used commercially


def test_non_commercial_presets_warn_and_the_listing_shows_every_preset(store) -> None:
    assert license_warning("nllb-600m") == (
        "facebook/nllb-200-distilled-600M is licensed CC-BY-NC-4.0: its translations and summaries "
        "may not be used commercially"
    )
    assert license_warning("fugumt") is None
    listing = runner.invoke(app, ["models", "list", "--json"]).stdout.splitlines()
    rows = {row["name"]: row for row in map(json.loads, listing)}
    assert {name: row["hub_id"] for name, row in rows.items()} == {name: p.hub_id for name, p in PRESETS.items()}
    assert all(row["stored"] is None for row in rows.values())  # an empty store
    assert rows["mt5-xlsum"]["language"] == "ja" and rows["mt5-xlsum"]["non_commercial"]
