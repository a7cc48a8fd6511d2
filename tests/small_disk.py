"""A tiny tmpfs mounted for one test: a disk that fills up, or a read-only one.

Mounting needs root (CI runs as root); elsewhere the tests that need it are skipped and
say why.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, *, size: str = "64k", read_only: bool = False) -> Iterator[Path]:
    """A `size` tmpfs at `path` (created), unmounted when the block ends however it ends."""
    path.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if mount.returncode:
        pytest.skip(f"cannot mount a small tmpfs to fill up ({mount.stderr.strip()}); this test needs root")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
