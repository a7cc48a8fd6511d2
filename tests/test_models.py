from __future__ import annotations

import json
from pathlib import Path

import pytest

from ja2en import ModelError
from ja2en.models.load import resolve_model
from ja2en.errors import DeviceError
from ja2en.models.load import SOURCE_FILE, load_seq2seq, resolve_device, resolve_dtype


def test_local_folder_resolves_to_itself_with_a_content_revision(tiny_marian: Path, tmp_path: Path) -> None:
    import shutil

    resolved = resolve_model(str(tiny_marian), role="translation")
    assert resolved.path == tiny_marian.resolve()
    assert resolved.revision.startswith("local-")
    # A copy is the same model; changed weights are another.
    shutil.copytree(tiny_marian, tmp_path / "copy")
    assert resolve_model(str(tmp_path / "copy"), role="translation").revision == resolved.revision
    weights = tmp_path / "copy" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert resolve_model(str(tmp_path / "copy"), role="translation").revision != resolved.revision


def test_hub_id_is_found_in_the_local_store(tmp_path: Path, tiny_marian: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "model").symlink_to(tiny_marian, target_is_directory=True)
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path))
    resolved = resolve_model("org/model", role="translation")
    assert resolved.name == "org/model"
    assert resolved.path == tiny_marian.resolve()


def test_hub_id_found_in_the_hugging_face_cache_records_its_commit(
    tmp_path: Path, tiny_marian: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cache layout huggingface_hub uses: models--org--name/{refs/main, snapshots/<sha>/}
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--org--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots").mkdir()
    (repo / "snapshots" / commit).symlink_to(tiny_marian, target_is_directory=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    resolved = resolve_model("org/cached", role="translation")
    assert resolved.revision == commit


def test_missing_folder_is_reported_as_a_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as error:
        resolve_model(str(tmp_path / "nothing"), role="translation")
    assert str(error.value) == f"translation model folder '{tmp_path / 'nothing'}' does not exist; check the path"


def test_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as error:
        resolve_model(str(tmp_path), role="summarization")
    assert str(error.value) == (
        f"summarization model folder '{tmp_path}' has no config.json; point to a folder made by "
        "`save_pretrained` or `hf download ... --local-dir`"
    )


def test_decoder_only_model_is_refused_with_what_to_use(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1}))
    with pytest.raises(ModelError) as error:
        load_seq2seq(str(tmp_path), role="translation", device="cpu")
    assert str(error.value) == (
        f"translation model '{tmp_path}' is a 'gpt2' model, not a sequence-to-sequence "
        "(encoder-decoder) model; use a Marian, BART, T5, M2M100 or NLLB model"
    )


def test_offline_hub_id_not_cached_names_the_download_command() -> None:
    with pytest.raises(ModelError) as error:
        resolve_model("sshleifer/distilbart-cnn-12-6", role="summarization")
    assert str(error.value) == (
        "summarization model 'sshleifer/distilbart-cnn-12-6' is not available here (offline and not in the local "
        "cache); on a connected machine run `ja2en models download sshleifer/distilbart-cnn-12-6` and copy "
        "models/sshleifer/distilbart-cnn-12-6 here, or pass a local model folder with --summarizer PATH"
    )


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_dtype("auto", "cpu") == "float32"
    with pytest.raises(DeviceError, match="^unknown device 'tpu'; use one of auto, cpu, cuda, cuda:N, mps$"):
        resolve_device("tpu")
    with pytest.raises(DeviceError, match="^unknown device 'cuda:banana'; use one of auto, cpu, cuda, cuda:N, mps$"):
        resolve_device("cuda:banana")
    with pytest.raises(DeviceError, match="^--dtype float16 is not supported on CPU; use float32 or bfloat16$"):
        resolve_dtype("float16", "cpu")


def test_model_with_its_own_code_needs_trust_remote_code(tmp_path: Path) -> None:
    config = {"model_type": "custom-mt", "auto_map": {"AutoConfig": "configuration_custom.CustomConfig"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError) as error:
        load_seq2seq(str(tmp_path), role="translation", device="cpu")
    assert str(error.value) == (
        f"translation model '{tmp_path}' runs its own Python code from the model folder; "
        "read that code, then re-run with --trust-remote-code if you trust it"
    )


def test_opus_mt_jap_en_is_refused_because_jap_is_not_japanese() -> None:
    with pytest.raises(ModelError) as error:
        resolve_model("Helsinki-NLP/opus-mt-jap-en", role="translation")
    assert str(error.value) == (
        "translation model 'Helsinki-NLP/opus-mt-jap-en' is refused: 'jap' is not Japanese (it is the code of "
        "another language), so it turns Japanese into nonsense; use staka/fugumt-ja-en or Helsinki-NLP/opus-mt-ja-en"
    )


def test_unknown_hub_id_says_to_check_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import RepositoryNotFoundError

    def not_found(api, repo_id, **kwargs):
        from types import SimpleNamespace

        raise RepositoryNotFoundError("404", response=SimpleNamespace(headers={}, request=None, status_code=404))

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", not_found)
    with pytest.raises(ModelError) as error:
        resolve_model("nobody/no-such-model", role="translation")
    assert str(error.value) == (
        "translation model 'nobody/no-such-model' was not found on the Hugging Face Hub; check the id, "
        "or log in with `hf auth login` if it is private"
    )


BACKENDS = ["torch", "ct2"]


def _copy(model: Path, target: Path, *, without: tuple[str, ...] = ()) -> Path:
    import shutil

    shutil.copytree(model, target)
    for name in without:
        (target / name).unlink()
    return target


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_marian_folder_without_its_tokenizer_files_names_them(
    tiny_marian: Path, tmp_path: Path, backend: str, monkeypatch
) -> None:
    from ja2en import Translator

    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))
    folder = _copy(tiny_marian, tmp_path / "marian", without=("source.spm", "target.spm", "vocab.json"))
    with pytest.raises(ModelError) as error:
        Translator(str(folder), device="cpu", backend=backend)
    assert str(error.value) == (
        f"translation model folder '{folder}' is missing tokenizer files (source.spm, target.spm and vocab.json); "
        "copy the complete folder again, as `save_pretrained` or `hf download ... --local-dir` made it"
    )
    (folder / "vocab.json").write_bytes((tiny_marian / "vocab.json").read_bytes())
    (folder / "source.spm").write_bytes((tiny_marian / "source.spm").read_bytes())
    with pytest.raises(ModelError, match=r"is missing tokenizer files \(target\.spm\); "):
        Translator(str(folder), device="cpu", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bart_folder_without_its_tokenizer_files_names_them(tiny_bart: Path, tmp_path: Path, backend: str, monkeypatch) -> None:
    # transformers itself loads this "tokenizer" without a word: five special tokens, no
    # vocabulary, and every summary comes out empty.
    from ja2en import Summarizer, Translator

    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))
    folder = _copy(tiny_bart, tmp_path / "bart", without=("tokenizer.json",))
    for model_user, role in ((Summarizer, "summarization"), (Translator, "translation")):
        with pytest.raises(ModelError) as error:
            model_user(str(folder), device="cpu", backend=backend)
        assert str(error.value) == (
            f"{role} model folder '{folder}' is missing tokenizer files (tokenizer.json, or vocab.json and merges.txt); "
            "copy the complete folder again, as `save_pretrained` or `hf download ... --local-dir` made it"
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_truncated_weights_file_is_named_with_how_to_get_it_again(
    tiny_marian: Path, tmp_path: Path, backend: str, monkeypatch
) -> None:
    from ja2en import Translator

    # A Hub id in the local store, as `ja2en models download` leaves it, cut short as an
    # interrupted copy would.
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))  # where ct2 may keep a conversion
    folder = _copy(tiny_marian, tmp_path / "models" / "org" / "tiny-mt")
    (folder / SOURCE_FILE).write_text(json.dumps({"hub_id": "org/tiny-mt", "revision": "0" * 40}), encoding="utf-8")
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(ModelError) as error:
        Translator("org/tiny-mt", device="cpu", backend=backend)
    assert str(error.value) == (
        f"translation model folder '{folder}' has a truncated or corrupt model.safetensors "
        f"({size // 2} bytes where its header describes {size}); "
        "re-download it with `ja2en models download org/tiny-mt` or copy the complete folder"
    )


def test_a_folder_with_no_weights_says_so(tiny_marian: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_marian, tmp_path / "marian", without=("model.safetensors",))
    loaded = load_seq2seq(str(folder), role="translation", device="cpu")  # tokenizer and config are enough so far
    with pytest.raises(ModelError) as error:
        loaded.model
    assert str(error.value) == (
        f"translation model folder '{folder}' has no weights (model.safetensors or pytorch_model.bin); "
        "copy the complete folder again, as `save_pretrained` or `hf download ... --local-dir` made it"
    )


def test_a_missing_japanese_summarizer_names_its_own_option(tmp_path) -> None:
    from ja2en import Summarizer

    with pytest.raises(ModelError) as error:
        Summarizer("mt5-xlsum", language="ja", device="cpu")
    assert str(error.value).startswith("Japanese summarization model 'mt5-xlsum' (csebuetnlp/mT5_multilingual_XLSum)")
    assert str(error.value).endswith("or pass a local model folder with --ja-summarizer PATH")
