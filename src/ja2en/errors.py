"""Ja2enError and its subclasses: the one place user-facing messages are written.

The library raises these; the CLI prints `str(error)` as one line and exits with
`error.exit_code`. Every message says what is wrong and what to do about it.
"""

from __future__ import annotations

import os
from pathlib import Path


def display_path(path: Path | str) -> str:
    """A path as text that any file or terminal can hold, the same on every run.

    A file name that is not valid UTF-8 reaches Python with its stray bytes as lone
    surrogates, which no UTF-8 file can store; they are shown as `\\xNN` escapes instead.
    """
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def first_line(exc: BaseException, *, empty: str | None = None) -> str:
    """The first line of an exception's message, for a one-line report.

    `empty` is what a message-less exception gives: its type name unless another text is
    asked for (`""` where the type name is already printed beside it).
    """
    lines = str(exc).strip().splitlines()
    if lines:
        return lines[0]
    return type(exc).__name__ if empty is None else empty


class Ja2enError(Exception):
    """Base class for every error ja2en reports to a user."""

    exit_code = 1


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run, with how many documents its output folder holds (all resumable)."""

    def __init__(self, saved: int, folder: Path) -> None:
        super().__init__(f"interrupted; {saved} documents are saved in {display_path(folder)}")
        self.saved = saved
        self.folder = folder


class Ja2enWarning(UserWarning):
    """Something the user should know that did not stop the work (issued with `warnings.warn`).

    The library never prints: the CLI shows these as one `warning: ...` line each.
    """


class InputError(Ja2enError):
    """An input path or document cannot be used."""

    exit_code = 2


class DocumentError(Ja2enError):
    """A readable document whose translation or summary failed; the others go on."""

    exit_code = 2
    cause: str = ""  # "ExceptionType: first line" of what failed, when known

    @classmethod
    def failed(cls, source: str, stage: str, exc: BaseException) -> DocumentError:
        detail = first_line(exc, empty="")
        error = cls(
            f"{source}: {stage} failed ({type(exc).__name__}: {detail}); the other documents were written, "
            "re-run the same command to retry this one"
        )
        error.cause = f"{type(exc).__name__}: {detail}"
        return error


class PagesWithoutTextError(InputError):
    """Pages of a document that have no text to read (scanned pages in a text PDF).

    Unlike other input errors it does not stop the document: the rest of it is read and
    translated, and this goes to errors.jsonl (and, with fail_fast, stops the run)."""


class DecodeError(InputError):
    """A file's bytes are not valid in any supported encoding."""

    @classmethod
    def undetected(cls, path: Path | str) -> DecodeError:
        return cls(
            f"{path}: not valid UTF-8, Shift_JIS/CP932, EUC-JP or ISO-2022-JP; "
            "re-run with --encoding NAME (for example --encoding cp932)"
        )

    @classmethod
    def forced(cls, path: Path | str, encoding: str, detail: str) -> DecodeError:
        return cls(
            f"{path}: not valid {encoding} ({detail}); "
            "re-run without --encoding to detect it automatically"
        )


class ModelError(Ja2enError):
    """A model cannot be found, downloaded or used."""

    exit_code = 3

    @classmethod
    def not_available(cls, model: str, role: str, reason: str, models_dir: Path, preset: str | None = None) -> ModelError:
        local = models_dir / model
        named = f"'{preset}' ({model})" if preset else f"'{model}'"
        return cls(
            f"{role} model {named} is not available here ({reason}); on a connected machine run "
            f"`ja2en models download {preset or model}` and copy {local} here, "
            f"or pass a local model folder with {_OPTION_OF_ROLE.get(role, '--model')} PATH"
        )


# The CLI option that names the model of each role, for the messages that point to it.
_OPTION_OF_ROLE = {"translation": "--model", "summarization": "--summarizer", "Japanese summarization": "--ja-summarizer"}


class DeviceError(Ja2enError):
    """The requested device or dtype cannot be used."""

    exit_code = 3


class BudgetError(Ja2enError):
    """A run stopped before it spent more than its --token-budget; what it finished is kept (resumable)."""

    exit_code = 6


class OutputError(Ja2enError):
    """The output folder cannot be written."""

    exit_code = 4


class PublishError(Ja2enError):
    """A built dataset could not be pushed to the Hugging Face Hub (the local build is kept)."""

    exit_code = 5


class EngineError(Ja2enError):
    """The chosen engine cannot run here: its extra is not installed, or its cluster cannot be reached."""

    exit_code = 3

    @classmethod
    def missing_extra(cls, engine: str, package: str, extra: str) -> EngineError:
        return cls(
            f"--engine {engine} needs {package}, which is not installed; "
            f"install it with `pip install 'ja2en[{extra}]'`"
        )
