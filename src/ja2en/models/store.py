"""Hub models → the local `models/` store: pinned downloads, CT2 conversions, what is there.

`ja2en models download fugumt` fills `models/staka/fugumt-ja-en/` with the files a seq2seq
model needs and records the exact Hub commit beside them, so that every later run,
offline included, loads that folder and writes that commit into its manifest and
dataset card. A download that stops halfway resumes where it stopped when run again;
until it finishes, the folder is refused rather than loaded half-complete.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .hub import download_snapshot, describe_hub_failure
from .load import SOURCE_FILE, load_seq2seq, models_dir, read_source
from .presets import PRESETS, TRANSLATION, Preset, find_preset, hub_id


# What CTranslate2 can store weights as; the backend runs each with the same compute type.
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32")


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model folder in the local store."""

    hub_id: str
    path: Path
    revision: str  # the Hub commit it was downloaded at

    def to_dict(self) -> dict[str, str]:
        return {"hub_id": self.hub_id, "path": self.path.as_posix(), "revision": self.revision}


def stored_model(name: str) -> StoredModel | None:
    """The complete download of `name` (a preset or Hub id) in the store, if there is one."""
    repo = hub_id(name)
    path = models_dir() / repo
    source = read_source(path)
    if source is None:
        return None
    return StoredModel(repo, path, str(source.get("revision", "")))


def list_models() -> list[tuple[Preset, StoredModel | None]]:
    """Every preset with its download in the store (None when not downloaded)."""
    return [(preset, stored_model(preset.name)) for preset in PRESETS.values()]


def download_model(name: str, *, revision: str | None = None, progress: bool = False) -> StoredModel:
    """Download `name` (a preset or Hub id) into the store at a pinned commit; resumable.

    `progress` shows huggingface_hub's download bars (on stderr); the library is silent otherwise.
    """
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    repo = hub_id(name)
    target = models_dir() / repo
    bars_were_off = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    try:
        _, commit = download_snapshot(
            repo, revision=revision, local_dir=target, subject=f"model '{name}'",
            check="the name (`ja2en models list` shows the presets)", failed=functools.partial(_download_failed, name),
        )  # fmt: skip
    finally:
        if not progress and not bars_were_off:
            enable_progress_bars()
    # Written last: its presence is what marks the download complete.
    record = {"hub_id": repo, "revision": commit, "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (target / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return StoredModel(repo, target, commit)


def _download_failed(name: str, exc: BaseException) -> ModelError:
    reason = describe_hub_failure(exc)
    return ModelError(
        f"downloading '{name}' failed ({reason}); "
        "check the network and re-run: the download resumes where it stopped"
    )


def convert_model(name: str, *, to: str = "ct2", quantization: str = "int8", revision: str | None = None) -> Path:
    """Convert `name` (preset, Hub id or folder) for the CTranslate2 backend; returns the converted folder."""
    if to != "ct2":
        raise ModelError(f"cannot convert to '{to}'; the only target is ct2")
    from ..backends.ct2 import converted_model

    if quantization not in QUANTIZATIONS:
        raise ModelError(f"unknown quantization '{quantization}'; use one of {', '.join(QUANTIZATIONS)}")
    preset = find_preset(name)
    role = preset.task if preset else TRANSLATION
    loaded = load_seq2seq(name, role=role, revision=revision, device="cpu")
    # models/ct2/ whatever the model, as `ja2en models convert` is documented to do.
    return converted_model(loaded, quantization, into=models_dir() / "ct2")
