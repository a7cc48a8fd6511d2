"""Zip archives (.docx, .epub) → their parts, unpacking no more than one document may take.

A few megabytes of zip can unpack to gigabytes of repeated XML (a zip bomb). Each part is
checked against what is left of --max-input-mb before it is unpacked, from the size the
zip declares for it; a part that declares less than it holds cannot unpack more, as
zipfile stops at the declared size and then finds the CRC wrong.
"""

from __future__ import annotations

import math
import zipfile
from typing import IO

from ..errors import InputError
from .text import MB, ReadOptions, over_limit


class ZipParts:
    """The parts of one archive, opened against one budget: what the whole document may unpack to."""

    def __init__(self, archive: zipfile.ZipFile, where: str, options: ReadOptions) -> None:
        self.archive, self.where, self.options = archive, where, options
        self.used = 0

    def open(self, name: str) -> IO[bytes]:
        """Part `name`, to read as a stream; KeyError when the zip has no such part, InputError when it is too big."""
        info = self.archive.getinfo(name)
        if self.used + info.file_size > self.options.max_input_bytes:
            raise self.too_big(name, info.file_size)
        self.used += info.file_size
        return self.archive.open(info)

    def read(self, name: str) -> bytes:
        """Part `name`, whole (see `open`)."""
        with self.open(name) as part:
            return part.read()

    def too_big(self, name: str, size: int) -> InputError:
        return over_limit(self.where, f"{name} unpacks to {math.ceil(size / MB)} MB,", self.options, self.used + size)
