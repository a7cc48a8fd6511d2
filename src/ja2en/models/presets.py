"""Preset names → Hub models, with what each is for, its size and its license.

`--model` and `--summarizer` take a preset name (`fugumt`), a Hub id or a local folder.
A preset is only a short name: it resolves like its Hub id (models/ store, then the
Hugging Face cache, then a download), so a preset already in `models/` works offline.
Licenses matter because a published corpus inherits them: FuguMT's is share-alike and
NLLB's and mT5-XLSum's are non-commercial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TRANSLATION = "translation"
SUMMARIZATION = "summarization"


@dataclass(frozen=True, slots=True)
class Preset:
    """A model ja2en knows by a short name."""

    name: str
    hub_id: str
    task: str  # "translation" or "summarization"
    download: str  # approximate size of the weights ja2en downloads
    license: str  # as the Hub spells it
    purpose: str
    language: str = "ja"  # the language it reads: summarizers read "en" (the translation) or "ja"
    # Generation settings the model's own config lacks (mT5-XLSum ships none at all).
    generation: dict[str, Any] = field(default_factory=dict)

    @property
    def non_commercial(self) -> bool:
        return is_non_commercial(self.license)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hub_id": self.hub_id,
            "task": self.task,
            "language": self.language,
            "download": self.download,
            "license": self.license,
            "non_commercial": self.non_commercial,
            "purpose": self.purpose,
        }


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "fugumt", "staka/fugumt-ja-en", TRANSLATION, "0.3 GB", "cc-by-sa-4.0",
            "default: Marian trained on news-like ja-en text; share-alike license",
        ),
        Preset(
            "opus", "Helsinki-NLP/opus-mt-ja-en", TRANSLATION, "0.3 GB", "apache-2.0",
            "small and permissive (OPUS data); weaker on news than FuguMT",
        ),
        Preset(
            "nllb-600m", "facebook/nllb-200-distilled-600M", TRANSLATION, "2.5 GB", "cc-by-nc-4.0",
            "multilingual (200 languages); non-commercial use only",
        ),
        Preset(
            "nllb-1.3b", "facebook/nllb-200-distilled-1.3B", TRANSLATION, "5.5 GB", "cc-by-nc-4.0",
            "stronger multilingual model, best with a GPU; non-commercial use only",
        ),
        Preset(
            "m2m100", "facebook/m2m100_418M", TRANSLATION, "1.9 GB", "mit",
            "multilingual (100 languages), permissive license",
        ),
        Preset(
            "distilbart", "sshleifer/distilbart-cnn-12-6", SUMMARIZATION, "1.2 GB", "apache-2.0",
            "default: English news summaries (CNN/DailyMail) of the translation", language="en",
        ),
        Preset(
            "bart-large-cnn", "facebook/bart-large-cnn", SUMMARIZATION, "1.6 GB", "mit",
            "larger English news summarizer; slower, a little better", language="en",
        ),
        Preset(
            "mt5-xlsum", "csebuetnlp/mT5_multilingual_XLSum", SUMMARIZATION, "2.3 GB", "cc-by-nc-sa-4.0",
            "summarizes the Japanese directly (XL-Sum, 45 languages); non-commercial use only",
            # The model card's settings: the repo's config carries no generation settings.
            generation={"beams": 4, "max_new_tokens": 84, "no_repeat_ngram_size": 2},
        ),
    )
}  # fmt: skip

# The models a run uses when none is named, each named as messages and manifests have
# always named it: by Hub id for translation and English summaries, by preset name for the
# Japanese summarizer (so that its "not available" message names the preset to download).
DEFAULT_TRANSLATION_MODEL = PRESETS["fugumt"].hub_id
DEFAULT_SUMMARY_MODEL = PRESETS["distilbart"].hub_id
DEFAULT_JA_SUMMARIZER = PRESETS["mt5-xlsum"].name


def find_preset(name: str) -> Preset | None:
    """The preset called `name`, or whose Hub id is `name`; None for anything else."""
    if name in PRESETS:
        return PRESETS[name]
    return next((p for p in PRESETS.values() if p.hub_id == name), None)


def hub_id(name: str) -> str:
    """A preset name's Hub id; any other name unchanged."""
    return PRESETS[name].hub_id if name in PRESETS else name


def license_of(name: str) -> str | None:
    """The license of a preset or well-known Hub id; None when unknown (local folders)."""
    preset = find_preset(name)
    if preset:
        return preset.license
    return _OTHER_LICENSES.get(name)


def is_non_commercial(license_id: str) -> bool:
    """Whether a license (as the Hub spells it: cc-by-nc-4.0, ...) forbids commercial use."""
    license_id = license_id.lower()
    return "-nc" in license_id or "noncommercial" in license_id


def license_warning(name: str) -> str | None:
    """A one-line warning when a model's license restricts what its output may be used for."""
    license = license_of(name)
    if license and is_non_commercial(license):
        return (
            f"{hub_id(name)} is licensed {license.upper()}: its translations and summaries "
            "may not be used commercially"
        )
    return None


# Hub ids that are not presets but whose licenses are known, for dataset cards.
_OTHER_LICENSES: dict[str, str] = {
    "facebook/nllb-200-1.3B": "cc-by-nc-4.0",
    "facebook/nllb-200-3.3B": "cc-by-nc-4.0",
    "facebook/m2m100_1.2B": "mit",
}
