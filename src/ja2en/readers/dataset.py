"""A Hugging Face dataset saved with `save_to_disk` → Documents: one per row, as for tables.

A saved Dataset is a folder (dataset_info.json, state.json, data-*.arrow); a saved
DatasetDict is a folder with dataset_dict.json and one such folder per split. Rows
become Documents through tables.py, so they read exactly as CSV or Parquet rows do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError, display_path, first_line
from ..records import Document
from .tables import BATCH_ROWS, arrow_documents, text_column_problem
from .text import ReadOptions, import_extra


def is_saved_dataset(folder: Path) -> bool:
    """Whether `folder` holds a Dataset or DatasetDict written by `save_to_disk` (no import needed)."""
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )


def read_saved_dataset(folder: Path, root: Path, options: ReadOptions) -> Iterator[Document | InputError]:
    """Every row of a saved dataset (of every split, in their saved order) as a Document.

    Ids are the id column's, else "FOLDER:N" ("FOLDER/SPLIT:N" for a DatasetDict), FOLDER
    being the folder's path below `root` (its name when it is the root itself).
    """
    datasets = import_extra("datasets", "saved dataset")
    import pyarrow as pa

    label = display_path(folder)
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        yield InputError(f"{label}: not a readable saved dataset ({first_line(exc)}); save it again with save_to_disk")
        return
    folder_id = _folder_id(folder, root)
    splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {None: loaded}
    if not any(dataset.num_rows for dataset in splits.values()):
        yield InputError(f"{label}: a saved dataset without rows; add one row per document")
        return
    for split, dataset in splits.items():
        if dataset.num_rows:  # an empty split (a test split not made yet) is no error
            yield from _dataset_documents(
                dataset, options, label=label, folder=folder / split if split else folder,
                id_prefix=f"{folder_id}/{split}" if split else folder_id, split=split,
            )  # fmt: skip


def _dataset_documents(
    dataset: Any, options: ReadOptions, *, label: str, folder: Path, id_prefix: str, split: str | None
) -> Iterator[Document | InputError]:
    schema = dataset.data.schema
    where = f"{label}: split {split}" if split else label
    problem = text_column_problem(where, schema, options)
    if problem:
        yield problem
        return
    # Arrow batches, not Python rows: nothing is decoded (no images opened), and a
    # saved format (torch, numpy) does not change what a row reads as.
    yield from arrow_documents(
        dataset.with_format("arrow").iter(batch_size=BATCH_ROWS), label=label, source=display_path(folder.as_posix()),
        id_prefix=id_prefix, format="dataset", options=options, place=f"split {split}, " if split else "",
    )  # fmt: skip


def _folder_id(folder: Path, root: Path) -> str:
    """The folder's path below the input root; a dataset folder's name keeps its dots ("news.v2")."""
    try:
        relative = folder.relative_to(root)
    except ValueError:
        relative = Path(folder.name)
    return display_path((relative if relative.parts else Path(folder.resolve().name)).as_posix())
