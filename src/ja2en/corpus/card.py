"""A run's manifest and counts → the dataset card (README.md) published with the dataset.

The YAML header is what the Hub and `datasets` read (configs, languages, license...);
the body says how the data was made, by which models, under which licenses, and what
machine translation cannot be trusted for.
"""

from __future__ import annotations

from typing import Any

from .output import published_input, published_model
from ..errors import InputError
from ..models.presets import is_non_commercial, license_of

_SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
]


def size_category(rows: int) -> str:
    """The Hub's size bucket for a number of rows."""
    for bound, label in _SIZE_CATEGORIES:
        if rows < bound:
            return label
    return "n>1B"


def _license_terms(license_id: str) -> set[str]:
    terms = set()
    if is_non_commercial(license_id):
        terms.add("non-commercial")
    if "-sa" in license_id:
        terms.add("share-alike")
    return terms


def dataset_license(model_names: list[str], requested: str | None) -> str:
    """Choose a dataset license that respects every model's license (or check the user's)."""
    known = {name: license_of(name) for name in model_names}
    required = set().union(*(_license_terms(lic) for lic in known.values() if lic))
    if requested:
        missing = required - _license_terms(requested.lower())
        if missing:
            strict = ", ".join(f"{n} ({lic})" for n, lic in known.items() if lic and _license_terms(lic) & missing)
            raise InputError(
                f"--license {requested} is not {' and '.join(sorted(missing))}, but {strict} requires it; "
                f"choose a license such as {_suggest(required)}"
            )
        return requested
    unknown = [name for name, lic in known.items() if lic is None]
    if unknown:
        raise InputError(
            f"the license of {', '.join(unknown)} is not known to ja2en; check its terms and pass --license "
            "(for example --license cc-by-sa-4.0)"
        )
    return _suggest(required)


def _suggest(required: set[str]) -> str:
    return {
        frozenset(): "cc-by-4.0",
        frozenset({"share-alike"}): "cc-by-sa-4.0",
        frozenset({"non-commercial"}): "cc-by-nc-4.0",
        frozenset({"share-alike", "non-commercial"}): "cc-by-nc-sa-4.0",
    }[frozenset(required)]


def card_metadata(
    *, license_id: str, pretty_name: str, sentence_rows: int, features: dict[str, Any]
) -> dict[str, Any]:
    """The YAML header: configs with their data files and features, and the Hub tags."""
    return {
        "pretty_name": pretty_name,
        "language": ["ja", "en"],
        "license": license_id,
        "multilinguality": "translation",
        "annotations_creators": "machine-generated",
        "language_creators": "found",
        "source_datasets": "original",
        "size_categories": size_category(sentence_rows),
        "task_categories": ["translation", "summarization"],
        "tags": ["ja2en", "machine-translation", "parallel-corpus"],
        "configs": [
            {
                "config_name": "sentences",
                "data_files": [{"split": "train", "path": "data/sentences/train-*.parquet"}],
                "default": True,
            },
            {"config_name": "documents", "data_files": [{"split": "train", "path": "data/documents/train-*.parquet"}]},
        ],
        "dataset_info": [
            {"config_name": name, "features": _yaml_features(feature_dict)} for name, feature_dict in features.items()
        ],
    }


def _yaml_features(features: Any) -> list[dict[str, Any]]:
    """`datasets.Features` in the card's YAML form, exactly as `datasets` writes and reads it."""
    from datasets import DatasetInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    # The public API `push_to_hub` writes cards with, one config at a time: given several,
    # it sorts them by name, and the card lists the default config (`sentences`) first.
    card = DatasetCardData()
    DatasetInfosDict({"features": DatasetInfo(features=features)}).to_dataset_card_data(card)
    return card["dataset_info"]["features"]


def card_body(
    *,
    pretty_name: str,
    repo_id: str | None,
    description: str | None,
    manifest: dict[str, Any],
    license_id: str,
    counts: dict[str, Any],
    partial: tuple[int, int | None] | None = None,
) -> str:
    """The Markdown body: provenance, models and licenses, counts, limitations, loading.

    Models and inputs are named, never located: a local folder by its name, not its path.
    `partial` is (documents published, documents the run planned or None) for a dataset
    built from an unfinished run.
    """
    load_id = repo_id or "ORG/NAME"
    models = manifest.get("models", {})
    model_rows = []
    for role, info in models.items():
        if info:
            lic = license_of(info["name"]) or "see the model's card"
            model_rows.append(f"| {role} | `{published_model(info['name'])}` | `{info.get('revision', '?')}` | {lic} |")
    dropped = counts["filter"]["dropped"]
    dropped_text = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items() if n) or "none"
    inputs = ", ".join(published_input(str(given)) for given in manifest.get("inputs", []))
    source = description or f"{counts['documents']} Japanese documents read from {inputs or 'local files'}."
    versions = manifest.get("versions", {})
    columns = counts["columns"]
    return _CARD.format(
        pretty_name=pretty_name,
        partial_note=_partial_note(partial),
        ja2en_version=manifest.get("ja2en_version", ""),
        load_id=load_id,
        source=source,
        model_rows="\n".join(model_rows),
        software=", ".join(f"{k} {v}" for k, v in versions.items()),
        extra_columns=(", plus `score` (mean token log-probability)" if "score" in columns else "")
        + (" and `flags`" if "flags" in columns else "")
        + (", and `locator` (where the pair's paragraph is in its source: page, element, cell, row)"
           if "locator" in columns else ""),
        documents=counts["documents"],
        kept=counts["filter"]["kept"],
        pairs=counts["filter"]["pairs"],
        dropped_text=dropped_text,
        license_id=license_id,
    )


# The card's Markdown; card_body fills in the fields.
_CARD = """# {pretty_name}
{partial_note}
A Japanese–English parallel corpus with English summaries, made by machine translation
with [ja2en](https://pypi.org/project/ja2en/) {ja2en_version}.

```python
from datasets import load_dataset

sentences = load_dataset("{load_id}", "sentences", split="train")  # aligned sentence pairs
documents = load_dataset("{load_id}", "documents", split="train")  # whole documents + summaries
```

## Source

{source}

Source texts are the work of their authors: check that you may redistribute them before
publishing this dataset, and credit them.

## How it was made

1. Files were decoded (UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP, detected per file) and
   normalized with Unicode NFKC.
2. Text was split into paragraphs (lines) and sentences at 。．！？!? — never inside quotes
   or brackets, numbers, URLs or abbreviations.
3. Each Japanese sentence was translated on its own by the translation model; each document's
   English was summarized by the summarization model (long documents by map-reduce over
   chunks).

| role | model | revision | license |
|---|---|---|---|
{model_rows}

Software: {software}.

## Configs

- `sentences`: one row per aligned pair: `doc_id`, `paragraph`, `sentence` (0-based, within
  the paragraph) and `translation` (`{{"ja": ..., "en": ...}}`){extra_columns}.
- `documents`: one row per document: `doc_id`, `source`, its `format` (txt, html, pdf,
  docx, csv...) and `title`, `sha256` of the source bytes, `encoding`, `meta` (a JSON object:
  a table row's other columns, a page's language), the full `ja` and `en` text (one line
  per paragraph), `summary_en`, and the models used.

## Counts

| | rows |
|---|---|
| documents | {documents} |
| sentence pairs published | {kept} |
| sentence pairs in the run | {pairs} |

Dropped before publishing: {dropped_text}.

## License

{license_id}. It respects the licenses of the models above: machine translations made with a
share-alike model are shared alike, and those made with a non-commercial model are
non-commercial.

## Limitations

This is machine translation, not human translation. Expect mistranslated names, numbers and
dates; omissions and additions, especially in long sentences; missing context, since each
sentence is translated alone (pronouns, zero subjects, honorifics); and English summaries
that may state things the source does not. Use it for search, triage, training data with
filtering, or drafts for human review. Do not use it as an authoritative statement of what
the source says.
"""


def _partial_note(partial: tuple[int, int | None] | None) -> str:
    """The card's warning that the run had not finished, or nothing."""
    if partial is None:
        return ""
    published, planned = partial
    if planned is None:
        what = f"only the {published} document{'' if published == 1 else 's'} finished before the run stopped"
    else:
        what = f"{published} of the {planned} documents the run planned"
    return f"\n> **Partial dataset:** it was built from a ja2en run that had not finished, so it holds {what}.\n"
