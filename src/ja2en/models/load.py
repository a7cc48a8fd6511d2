"""Model ids → local folders: the local `models/` store, the Hugging Face cache, downloads.

Resolution order for a model name:
1. an existing folder (`--model ./my-model`);
2. `models/<hub id>/` in the local store (`JA2EN_MODELS_DIR` overrides the location);
3. the Hugging Face cache, without touching the network;
4. a download from the Hub, unless offline (`HF_HUB_OFFLINE=1`).
Resolving first, instead of letting `from_pretrained` discover the network is down, is what
makes the offline error one line in well under a second rather than a minute of retries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DeviceError, ModelError, display_path, first_line
from .hub import CONFIG_SUFFIXES, download_snapshot, describe_hub_failure
from .presets import PRESETS

# Written into a `models/<hub id>/` folder by `ja2en models download`, last: the Hub
# commit the files came from. A folder without it is a copy made by other means.
SOURCE_FILE = ".ja2en-source.json"


def read_source(folder: Path) -> dict[str, Any] | None:
    """The download record `ja2en models download` left in `folder` ({"hub_id", "revision", ...}), if any."""
    try:
        record = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


# Models that load fine but must never be used for Japanese, and why.
REFUSED_MODELS: dict[str, str] = {
    "Helsinki-NLP/opus-mt-jap-en": (
        "'jap' is not Japanese (it is the code of another language), so it turns Japanese into nonsense; "
        "use staka/fugumt-ja-en or Helsinki-NLP/opus-mt-ja-en"
    ),
}

@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a model's files are, and which revision they are."""

    name: str  # as the user gave it
    path: Path
    revision: str  # a Hub commit hash, or "local" for a folder

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "revision": self.revision, "path": self.path.as_posix()}


def models_dir() -> Path:
    """The local model store: `./models`, or `$JA2EN_MODELS_DIR`."""
    return Path(os.environ.get("JA2EN_MODELS_DIR", "models"))


def _check_model_folder(name: str, path: Path, role: str) -> None:
    # huggingface_hub keeps unfinished files of a `local_dir` download here
    if any((path / ".cache" / "huggingface" / "download").rglob("*.incomplete")):
        raise ModelError(
            f"{role} model folder '{path}' holds an unfinished download; "
            f"run `ja2en models download {name}` again to finish it"
        )
    if not (path / "config.json").is_file():
        raise ModelError(
            f"{role} model folder '{path}' has no config.json; point to a folder made by "
            "`save_pretrained` or `hf download ... --local-dir`"
        )


def _revision_of(path: Path) -> str:
    """The Hub commit of a cached snapshot, or a content digest of a local folder.

    A digest rather than just "local", so that a model retrained into the same folder is
    not mistaken for the old one by the translation cache or by resume. It reads the
    config and the size, head and tail of each weights file: cheap, and unchanged by
    copying the folder elsewhere.
    """
    if path.parent.name == "snapshots":  # the Hugging Face cache: .../snapshots/<commit hash>/
        return path.name
    source = read_source(path)
    if source and "revision" in source:  # downloaded into the store by `ja2en models download`
        return str(source["revision"])
    digest = hashlib.sha256()
    for name in sorted(p.name for p in path.iterdir()):
        file = path / name
        if not file.is_file():
            continue
        digest.update(f"{name}:{file.stat().st_size}:".encode())
        with file.open("rb") as handle:
            if name.endswith(CONFIG_SUFFIXES):
                digest.update(handle.read())
            elif name.endswith((".safetensors", ".bin")):
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, file.stat().st_size - (1 << 20)))
                digest.update(handle.read())
    return "local-" + digest.hexdigest()[:12]


def resolve_model(name: str, *, role: str, revision: str | None = None) -> ResolvedModel:
    """Find `name` (a preset, Hub id or folder) locally or download it; ModelError with a one-line fix if neither works."""
    preset = name if name in PRESETS and not Path(name).is_dir() else None  # a folder called "opus" is still a folder
    if preset:
        name = PRESETS[preset].hub_id
    if name in REFUSED_MODELS:
        raise ModelError(f"{role} model '{name}' is refused: {REFUSED_MODELS[name]}")
    given = Path(name).expanduser()
    stored = models_dir() / name
    for folder in (given, stored):
        if folder.is_dir():
            _check_model_folder(name, folder, role)
            return ResolvedModel(name, folder.resolve(), _revision_of(folder))
    # A Hub id is ORG/NAME (or a bare legacy NAME), and NAME may hold dots
    # ("facebook/nllb-200-distilled-1.3B"): only these read as a path the user mistyped.
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or ("/" not in name and given.suffix):
        raise ModelError(f"{role} model folder '{name}' does not exist; check the path")

    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(name, revision=revision, local_files_only=True))
        if (path / "config.json").is_file():
            return ResolvedModel(name, path, _revision_of(path))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        pass
    if constants.HF_HUB_OFFLINE:
        raise ModelError.not_available(name, role, "offline and not in the local cache", models_dir(), preset)
    path, _ = download_snapshot(
        name, revision=revision, subject=f"{role} model '{name}'", check="the id",
        failed=functools.partial(_not_downloaded, name, role, preset),
    )  # fmt: skip
    _check_model_folder(name, path, role)
    return ResolvedModel(name, path, _revision_of(path))


def _not_downloaded(name: str, role: str, preset: str | None, exc: BaseException) -> ModelError:
    """The Hub's own answer when it gave one (a refusal), else that it cannot be reached or did not answer."""
    reason = describe_hub_failure(exc)
    return ModelError.not_available(name, role, reason, models_dir(), preset)


DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")


def check_device_names(device: str, dtype: str = "auto") -> None:
    """DeviceError unless `device` and `dtype` are names ja2en knows; whether the machine has
    them is `resolve_device`'s question (a Ray driver may have no GPU its workers have)."""
    if device not in DEVICES and not re.fullmatch(r"cuda:\d+", device):
        raise DeviceError(f"unknown device '{device}'; use one of auto, cpu, cuda, cuda:N, mps")
    if dtype not in DTYPES:
        raise DeviceError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPES)}")


def resolve_device(device: str) -> str:
    """Turn `auto` into the best available device; refuse one that is not there."""
    import torch

    check_device_names(device)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise DeviceError(f"--device {device}: this machine has {count} CUDA GPUs (cuda:0 to cuda:{count - 1})")
    if device == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("--device mps was asked for but MPS is not available; use --device cpu or auto")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto` is float32 on CPU, bfloat16 on GPUs that have it, else float16."""
    import torch

    if dtype not in DTYPES:
        raise DeviceError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPES)}")
    if dtype != "auto":
        if device == "cpu" and dtype == "float16":
            raise DeviceError("--dtype float16 is not supported on CPU; use float32 or bfloat16")
        return dtype
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "float32"


@dataclass(frozen=True)
class LoadedModel:
    """A seq2seq model's tokenizer and configs, ready for a device; weights load on first use.

    The CT2 backend decodes its own converted copy and needs only the tokenizer and the
    generation settings, so the torch weights (300 MB for FuguMT, 1.2 GB for distilbart)
    are never read unless a torch backend asks for `model`.
    """

    resolved: ResolvedModel
    tokenizer: Any
    config: Any
    device: str
    dtype: str
    generation_config: Any = None
    trust_remote_code: bool = False
    role: str = "translation"  # for messages: "translation model 'x' could not be loaded"
    _weights: list[Any] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.generation_config is None and self.config is not None:
            object.__setattr__(self, "generation_config", _generation_config(self.resolved.path, self.config))

    @property
    def model(self) -> Any:
        """The torch model on its device, in eval mode; loaded once, on first use."""
        if not self._weights:
            self._weights.append(self.load_weights())
        return self._weights[0]

    @property
    def weights_loaded(self) -> bool:
        return bool(self._weights)

    def load_weights(self) -> Any:
        """A new copy of the torch model (not kept here): for a caller that will change it."""
        import torch
        from transformers import AutoModelForSeq2SeqLM
        from transformers.utils import logging as hf_logging

        from safetensors import SafetensorError

        role, name = self.role, self.resolved.name
        self.check_weights()
        # The library never prints: transformers' own "Loading weights" bar is hushed, and
        # restored afterwards for the caller's sake.
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model = AutoModelForSeq2SeqLM.from_pretrained(
                self.resolved.path, dtype=getattr(torch, self.dtype), trust_remote_code=self.trust_remote_code
            )
        except (OSError, ValueError, ImportError) as exc:
            raise ModelError(f"{role} model '{name}' could not be loaded: {first_line(exc)}") from None
        except (SafetensorError, RuntimeError) as exc:  # damage check_weights cannot see from the outside
            raise ModelError(
                f"{role} model folder '{display_path(self.resolved.path)}' has unreadable weights ({first_line(exc)}); "
                f"{_refetch_hint(self.resolved)}"
            ) from None
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
        # One generation config for both backends, so a setting changed on it reaches both.
        model.generation_config = self.generation_config
        model.to(self.device)
        model.eval()
        return model

    def check_weights(self) -> None:
        """ModelError naming the file if the folder's weights are missing, truncated or corrupt.

        Reads only headers and sizes, so a broken download is named before a loader fails
        on it with its own traceback (safetensors, torch) or a misleading message (ct2).
        """
        problem = _weights_problem(self.resolved.path)
        if problem:
            folder = display_path(self.resolved.path)
            raise ModelError(f"{self.role} model folder '{folder}' {problem}; {_refetch_hint(self.resolved)}")

    def max_input_tokens(self) -> int:
        """The longest input the model accepts, special tokens included."""
        limits = [getattr(self.config, "max_position_embeddings", None)]
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        # Tokenizers without a limit report a huge sentinel (int(1e30)); ignore it.
        if tokenizer_limit and tokenizer_limit < 1_000_000:
            limits.append(tokenizer_limit)
        known = [limit for limit in limits if limit]
        return min(known) if known else 512


def _generation_config(path: Path, config: Any) -> Any:
    """The model's generation settings, as `from_pretrained` would give them, without the weights."""
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(path)
    except OSError:  # no generation_config.json: older models keep the settings in config.json
        return GenerationConfig.from_model_config(config)


def load_seq2seq(
    name: str,
    *,
    role: str,
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Resolve, then load the tokenizer and configs; the weights load when a backend needs them."""
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    resolved = resolve_model(name, role=role, revision=revision)
    if not trust_remote_code and _needs_remote_code(resolved.path):
        raise ModelError(
            f"{role} model '{name}' runs its own Python code from the model folder; "
            "read that code, then re-run with --trust-remote-code if you trust it"
        )

    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{role} model '{name}' has an unreadable config ({first_line(exc)})") from None
    if not getattr(config, "is_encoder_decoder", False):
        raise ModelError(
            f"{role} model '{name}' is a '{config.model_type}' model, not a sequence-to-sequence "
            "(encoder-decoder) model; use a Marian, BART, T5, M2M100 or NLLB model"
        )
    missing = _missing_tokenizer_files(resolved.path, config)
    if missing:
        raise ModelError(
            f"{role} model folder '{display_path(resolved.path)}' is missing tokenizer files ({missing}); "
            f"{_refetch_hint(resolved)}"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError, TypeError) as exc:  # TypeError: a tokenizer file it needed is missing
        raise ModelError(f"{role} model '{name}' could not be loaded: {first_line(exc)}") from None
    return LoadedModel(resolved, tokenizer, config, device, dtype, trust_remote_code=trust_remote_code, role=role)


def _refetch_hint(resolved: ResolvedModel) -> str:
    """How to get a complete copy of a model whose folder is incomplete or damaged."""
    source = read_source(resolved.path)
    if source and "hub_id" in source:  # downloaded into the store by `ja2en models download`
        hub_id: str | None = str(source["hub_id"])
    else:  # a Hub id found in the store or the Hugging Face cache, or else a folder of the user's
        hub_id = None if Path(resolved.name).expanduser().is_dir() else resolved.name
    if hub_id:
        return f"re-download it with `ja2en models download {hub_id}` or copy the complete folder"
    return "copy the complete folder again, as `save_pretrained` or `hf download ... --local-dir` made it"


# Tokenizer files a folder may lack: settings have defaults, tokenizer.json is only one
# way to ship a tokenizer, and Marian's target_vocab.json is only for separate vocabularies.
_OPTIONAL_TOKENIZER_FILES = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "target_vocab.json",
}  # fmt: skip


def _missing_tokenizer_files(path: Path, config: Any) -> str | None:
    """The vocabulary files the model's tokenizer needs that `path` lacks, for a message;
    None when nothing is missing or the tokenizer class is not one transformers knows.

    Checked before loading because transformers fails on a missing file with a TypeError
    deep inside (Marian), or not at all, with a tokenizer of five tokens (BART).
    """
    if (path / "tokenizer.json").is_file():
        return None
    try:
        from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES, tokenizer_class_from_name

        settings = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    except ImportError:  # transformers moved its tables: let the loader speak for itself
        return None
    name = settings.get("tokenizer_class") or TOKENIZER_MAPPING_NAMES.get(getattr(config, "model_type", ""))
    if isinstance(name, (tuple, list)):  # (slow, fast) in older releases
        name = next((n for n in name if n), None)
    tokenizer_class = tokenizer_class_from_name(name) if isinstance(name, str) else None
    files = list((getattr(tokenizer_class, "vocab_files_names", None) or {}).values())
    missing = [f for f in files if f not in _OPTIONAL_TOKENIZER_FILES and not (path / f).is_file()]
    if not missing:
        return None
    needed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
    return f"tokenizer.json, or {needed}" if "tokenizer.json" in files else needed


def _weights_problem(path: Path) -> str | None:
    """What is wrong with the weights in `path`, as the end of "<folder> ..."; None if they look whole.

    Sizes and headers only: a safetensors file must be exactly as long as its header
    says, a zip-format torch file must have its central directory (written last).
    """
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError):
            return f"has an unreadable {index.name}"
        absent = [shard for shard in shards if not (path / shard).is_file()]
        if absent:
            return f"is missing weights files ({', '.join(absent)})"
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))
    if not files:
        return "has no weights (model.safetensors or pytorch_model.bin)"
    for file in files:
        damage = _safetensors_damage(file) if file.suffix == ".safetensors" else _torch_zip_damage(file)
        if damage:
            return f"has a truncated or corrupt {file.name} ({damage})"
    return None


def _safetensors_damage(file: Path) -> str | None:
    size = file.stat().st_size
    with file.open("rb") as handle:
        prefix = handle.read(8)
        header_size = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if header_size < 0 or 8 + header_size > size:
            return f"{size} bytes, too short for its own header"
        try:
            header = json.loads(handle.read(header_size))
            ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return "its header is not valid"
    expected = 8 + header_size + max(ends, default=0)
    if size != expected:
        return f"{size} bytes where its header describes {expected}"
    return None


def _torch_zip_damage(file: Path) -> str | None:
    import zipfile

    with file.open("rb") as handle:
        is_zip = handle.read(4) == b"PK\x03\x04"
    # torch.save writes a zip; older pickle-only files cannot be checked without loading them.
    if is_zip and not zipfile.is_zipfile(file):
        return f"{file.stat().st_size} bytes, its end is missing"
    return None


def _needs_remote_code(path: Path) -> bool:
    """Whether the model's config points at Python code shipped with the model."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(config.get("auto_map"))


def check_sentences(sentences: Iterable[str], method: str, *, document: int | None = None) -> list[str]:
    """`sentences` as a list, or TypeError / ValueError naming the first one a model cannot take.

    A str would be read one character at a time and translated or summarized as such;
    None or a number fails deep inside a tokenizer; a lone surrogate (half an emoji from a
    JSON escape) cannot be encoded for the model at all. `document` is the index of the
    document these are the sentences of, for `summarize_many`.
    """
    kind = "a str" if isinstance(sentences, str) else "bytes"
    if isinstance(sentences, (str, bytes)) and document is None:
        raise TypeError(f"{method}() takes a list of sentences, not {kind}; wrap it: {method}([text])")
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"{method}(): document {document} is {kind}, not a list of sentences; wrap it: [text]")
    texts = list(sentences)
    for index, text in enumerate(texts):
        which = f"{method}(): sentence {index}" if document is None else f"{method}(): document {document}, sentence {index}"
        if not isinstance(text, str):
            raise TypeError(f"{which} is {text!r:.40} ({type(text).__name__}), not a str")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{which} holds a lone surrogate ({text[exc.start]!r} at character {exc.start}, half an emoji?), "
                "which is not text; fix the text or the escape it came from"
            ) from None
    return texts


class ModelUser:
    """What Translator and Summarizer share: a loaded model, named and described."""

    loaded: LoadedModel

    @property
    def model_id(self) -> str:
        """The model as the user named it (Hub id or folder)."""
        return self.loaded.resolved.name

    @property
    def revision(self) -> str:
        """The Hub commit it was loaded from, or "local"."""
        return self.loaded.resolved.revision

    def describe_model(self) -> dict[str, str]:
        """Name, revision, path, device and dtype, for the manifest."""
        return {**self.loaded.resolved.to_dict(), "device": self.loaded.device, "dtype": self.loaded.dtype}

    def decoding(self) -> dict[str, Any]:
        """The generation settings that decide the output."""
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        """Everything that decides the output: model, revision, dtype, decoding (not device or batch size)."""
        return {"model": self.model_id, "revision": self.revision, "dtype": self.loaded.dtype, **self.decoding()}
