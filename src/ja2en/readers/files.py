"""Folders → input files: a lazy, sorted walk that skips what is not input.

Hidden files and folders, the run's own output folder and any folder holding ja2en
outputs are skipped; anything else that cannot be read comes back as an InputError in its
place, so nothing is skipped without a word.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, MutableSet
from pathlib import Path

from ..errors import InputError, display_path
from ..writers import LOCK_FILE, MANIFEST_FILE
from .dataset import is_saved_dataset

def is_output_folder(folder: Path | str) -> bool:
    """Whether `folder` holds the outputs of a ja2en run (its lock file or manifest)."""
    folder = Path(folder)
    if (folder / LOCK_FILE).is_file():
        return True
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "ja2en_version" in manifest


def _walk(folder: Path, exclude: set[str], skipped: list[str]) -> Iterator[Path | InputError]:
    """Every non-hidden file below `folder`, in the order of their sorted relative paths, lazily.

    One folder's entries are listed at a time, so memory does not grow with the tree. A
    folder's files sort by name and its subfolders by name + "/", which walks the tree in
    exactly the order of sorting every relative path as a string. A folder that cannot be
    listed comes back as an error in its place. Folders in `exclude` (real paths) and
    folders holding a ja2en run's outputs are not entered (a run's own output folder inside
    its input folder would otherwise be read back as input on every re-run); their paths
    are added to `skipped`.
    """
    seen: set[str] = set()  # real paths of folders, so a symlink loop is walked once
    stack: list[Iterator[tuple[str, Path, bool]]] = [iter([("", folder, True)])]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        _, path, is_folder = entry
        if not is_folder:
            yield path
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        if path != folder and (real in exclude or is_output_folder(path)):
            if real not in exclude or (path / MANIFEST_FILE).exists():  # not a run's own folder, still empty
                skipped.append(display_path(path))
            continue
        if path != folder and is_saved_dataset(path):
            yield path  # a dataset saved with save_to_disk: one input, read as a table
            continue
        try:
            stack.append(iter(_sorted_entries(path)))
        except OSError as error:
            yield InputError(f"{display_path(error.filename or path)}: cannot list this folder ({error.strerror}); check its permissions")


def _sorted_entries(folder: Path) -> list[tuple[str, Path, bool]]:
    """(sort key, path, is a folder) of the non-hidden entries of one folder, sorted."""
    entries = []
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir()  # through symbolic links, as the walk follows them
            except OSError:
                is_folder = False
            entries.append((entry.name + "/" if is_folder else entry.name, folder / entry.name, is_folder))
    entries.sort(key=lambda e: e[0])
    return entries


def iter_input_files(
    inputs: Iterable[Path | str],
    *,
    exclude: Iterable[Path | str] = (),
    skipped: list[str] | None = None,
    seen: MutableSet[str] | None = None,
) -> Iterator[tuple[Path, Path] | InputError]:
    """Expand files and folders into (file, root) pairs, lazily: folders recursively, sorted, stable.

    Hidden files and folders (names starting with '.') are skipped. Inside folders, a file
    that is not .txt/.md/.jsonl, a broken symbolic link, or a folder that cannot be listed
    comes back as an InputError in its place, so nothing is skipped without a word; a file
    named explicitly is always read. Folders in `exclude` (a run's output folder) and
    folders holding ja2en outputs are not entered: their paths go into `skipped`. `seen`
    collects the real paths of the files given, so overlapping inputs (a folder and a file
    in it) give a file once; pass a set kept on disk for inputs of millions of files.
    """
    from . import SUFFIXES, readable  # the registry, which imports the readers
    excluded = {os.path.realpath(folder) for folder in exclude}
    skipped = [] if skipped is None else skipped
    seen = set() if seen is None else seen

    def new(file: Path) -> bool:
        real = os.path.realpath(file)
        if real in seen:
            return False
        seen.add(real)
        return True

    for raw in inputs:
        path = Path(raw)
        if path.is_dir() and os.path.realpath(path) in excluded:
            yield InputError(f"{display_path(path)}: is the output folder too; write the outputs to another folder with -o")
        elif path.is_dir() and is_saved_dataset(path):
            if new(path):
                yield path, path.parent
        elif path.is_dir():
            for item in _walk(path, excluded, skipped):
                if isinstance(item, InputError):
                    yield item
                elif item.is_symlink() and not item.exists():
                    yield _broken_link(item)
                elif item.is_dir():  # a saved dataset (the walk yields no other folder)
                    if new(item):
                        yield item, path
                elif not readable(item):
                    yield InputError(
                        f"{display_path(item)}: not a document ja2en reads ({item.suffix or 'no suffix'}); "
                        f"convert it to one of {', '.join(SUFFIXES)}, or move it out of the input folder"
                    )
                elif item.is_file():
                    if new(item):
                        yield item, path
                else:
                    yield _not_regular(item)
        elif path.is_file():
            if new(path):
                yield path, path.parent
        elif path.is_symlink() and not path.exists():
            yield _broken_link(path)
        elif path.exists():
            yield _not_regular(path)
        else:
            yield InputError(f"{display_path(path)}: no such file or folder; check the path")


def list_input_files(
    inputs: Iterable[Path | str], *, exclude: Iterable[Path | str] = (), skipped: list[str] | None = None
) -> list[tuple[Path, Path] | InputError]:
    """`iter_input_files` as a list."""
    return list(iter_input_files(inputs, exclude=exclude, skipped=skipped))


def _not_regular(path: Path) -> InputError:
    return InputError(f"{display_path(path)}: not a regular file (a pipe, socket or device); copy its text into a .txt file")


def _broken_link(path: Path) -> InputError:
    return InputError(f"{display_path(path)}: broken symbolic link (to {display_path(os.readlink(path))}); fix or remove it")


