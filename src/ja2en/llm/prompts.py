"""Prompt templates (package data, or a user's file) → the prompt of one window.

A template is a JSON object:

- `api`: `"chat"` (`/v1/chat/completions`) or `"completions"` (`/v1/completions`).
- `reply`: what the model answers, and so how replies.py reads it: `"json"`
  (`{"translations": [{"id": ..., "en": ...}]}`), `"lines"` (one `[id] English` line per
  sentence) or `"text"` (the English of a one-sentence window, nothing else).
- `system` and `user` (chat) or `prompt` (completions): the text, with placeholders.
- `stop` (optional): stop sequences sent with the request.
- `max_sentences` (optional): sentences per window at most (`"text"` templates take 1).
- `extends` (a user's file only): the built-in template whose keys it does not set.

Placeholders (`string.Template`: `$name` or `${name}`, and `$$` for a literal `$`):
`$sentences` (the window, one `[id] Japanese` line each), `$text` (the window's Japanese,
no ids), `$ids` (`s4, s5, s6`), `$count` (sentences in the window), `$title` (the
document's title, or empty), `$context` (the title and the previous sentences with their
English, as a few lines; empty when there is none).
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError, display_path
from .windows import Window

BUILTIN_TEMPLATES = ("chat", "completions", "plamo")
DEFAULT_TEMPLATE = {"chat": "chat", "completions": "completions"}  # the built-in each API uses by default
PLACEHOLDERS = ("sentences", "text", "ids", "count", "title", "context")
_KEYS = {"api", "reply", "system", "user", "prompt", "stop", "max_sentences", "extends"}
_REPLIES = ("json", "lines", "text")


@dataclass(frozen=True, slots=True)
class Template:
    """A prompt template, checked: see the module docstring for what each field means."""

    name: str  # the built-in's name, or the path of the user's file
    api: str
    reply: str
    text: str  # the user message (chat) or the prompt (completions)
    system: str | None = None
    stop: tuple[str, ...] = ()
    max_sentences: int | None = None

    def identity(self) -> dict[str, Any]:
        """Everything that decides what is sent, for cache keys and fingerprints."""
        return {
            "api": self.api, "reply": self.reply, "system": self.system, "text": self.text,
            "stop": list(self.stop), "max_sentences": self.max_sentences,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Prompt:
    """What one request sends: chat `messages`, or a completions `prompt`."""

    api: str
    reply: str
    ids: tuple[str, ...]
    messages: tuple[dict[str, str], ...] = ()
    prompt: str | None = None
    stop: tuple[str, ...] = ()


def builtin_template(name: str) -> Template:
    """One of BUILTIN_TEMPLATES."""
    if name not in BUILTIN_TEMPLATES:
        raise InputError(f"no built-in prompt template '{name}'; use one of {', '.join(BUILTIN_TEMPLATES)} or a template file")
    return _checked(name, _builtin_fields(name))


def load_template(path: Path | str) -> Template:
    """A user's template file (JSON, see the module docstring); unset keys come from `extends`."""
    shown = display_path(path)
    try:
        fields = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"prompt template {shown} cannot be read ({exc.strerror or exc}); check the path") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"prompt template {shown} is not a UTF-8 JSON object ({exc}); see the README for the format") from exc
    if not isinstance(fields, dict):
        raise InputError(f"prompt template {shown} is not a JSON object; see the README for the format")
    base = fields.get("extends")
    if base is not None:
        if base not in BUILTIN_TEMPLATES:
            raise InputError(f"prompt template {shown}: \"extends\" must be one of {', '.join(BUILTIN_TEMPLATES)}")
        inherited = _builtin_fields(base)
        if fields.get("api", inherited["api"]) != inherited["api"]:
            raise InputError(
                f"prompt template {shown}: it extends '{base}', a {inherited['api']} template, but sets "
                f"\"api\": \"{fields['api']}\"; extend a {fields['api']} template or drop \"extends\""
            )
        fields = {**inherited, **fields}
    return _checked(shown, fields)


def _builtin_fields(name: str) -> dict[str, Any]:
    text = resources.files("ja2en.llm").joinpath("templates", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def _checked(name: str, fields: dict[str, Any]) -> Template:
    """A Template from a template's JSON object, or an InputError that says what to fix."""
    unknown = sorted(set(fields) - _KEYS)
    if unknown:
        raise InputError(f"prompt template {name}: unknown key \"{unknown[0]}\"; the keys are {', '.join(sorted(_KEYS))}")
    api, reply = fields.get("api"), fields.get("reply", "json")
    if api not in ("chat", "completions"):
        raise InputError(f"prompt template {name}: \"api\" must be \"chat\" or \"completions\"")
    if reply not in _REPLIES:
        raise InputError(f"prompt template {name}: \"reply\" must be one of {', '.join(_REPLIES)}")
    key = "user" if api == "chat" else "prompt"
    text, system = fields.get(key), fields.get("system") if api == "chat" else None
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"prompt template {name}: a {api} template needs a \"{key}\" text")
    if system is not None and not isinstance(system, str):
        raise InputError(f"prompt template {name}: \"system\" must be a text")
    for part in (text, system):
        if part is not None:
            _check_placeholders(name, part)
    max_sentences = 1 if reply == "text" else fields.get("max_sentences")
    if max_sentences is not None and (not isinstance(max_sentences, int) or isinstance(max_sentences, bool) or max_sentences < 1):
        raise InputError(f"prompt template {name}: \"max_sentences\" must be a whole number of 1 or more, or null")
    stop = fields.get("stop", [])
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise InputError(f"prompt template {name}: \"stop\" must be a text or a list of texts")
    return Template(name, api, reply, text, system, tuple(stop), max_sentences)


def _check_placeholders(name: str, text: str) -> None:
    try:
        string.Template(text).substitute(dict.fromkeys(PLACEHOLDERS, ""))
    except KeyError as exc:
        raise InputError(
            f"prompt template {name}: unknown placeholder ${exc.args[0]}; use {', '.join('$' + p for p in PLACEHOLDERS)} "
            "(and $$ for a literal $)"
        ) from None
    except ValueError as exc:
        raise InputError(f"prompt template {name}: {exc}; write $$ for a literal $") from None


def render_context(window: Window) -> str:
    """The title and the previous sentences with their English, as the prompts show them."""
    lines = [f"Document title: {window.title}"] if window.title else []
    if window.context:
        lines.append("The text just before (Japanese, then its English where already translated):")
        for pair in window.context:
            lines.append(pair.ja)
            if pair.en is not None:
                lines.append(f"  -> {pair.en}")
    return "\n".join(lines) + "\n" if lines else ""


def render_prompt(template: Template, window: Window) -> Prompt:
    """The prompt of one window."""
    values = {
        "sentences": "\n".join(f"[{s.id}] {s.ja}" for s in window.sentences),
        "text": "\n".join(s.ja for s in window.sentences),
        "ids": ", ".join(window.ids),
        "count": str(len(window.sentences)),
        "title": window.title or "",
        "context": render_context(window),
    }
    text = string.Template(template.text).substitute(values)
    if template.api == "completions":
        return Prompt("completions", template.reply, window.ids, prompt=text, stop=template.stop)
    messages = [{"role": "user", "content": text}]
    if template.system:
        messages.insert(0, {"role": "system", "content": string.Template(template.system).substitute(values)})
    return Prompt("chat", template.reply, window.ids, messages=tuple(messages), stop=template.stop)


def response_format(style: str | None, ids: tuple[str, ...]) -> dict[str, Any] | None:
    """The `response_format` that makes a server keep the JSON reply's shape, for `style`:

    `"json_schema"` (vLLM, SGLang, OpenAI), `"json_object"` (llama.cpp's server, which takes
    the schema beside it), or None (ask nothing; the reply is parsed tolerantly).
    """
    if style is None:
        return None
    schema = {
        "type": "object",
        "properties": {
            "translations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "string", "enum": list(ids)}, "en": {"type": "string"}},
                    "required": ["id", "en"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["translations"],
        "additionalProperties": False,
    }
    if style == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "translations", "strict": True, "schema": schema}}
    if style == "json_object":
        return {"type": "json_object", "schema": schema}
    raise ValueError(f"unknown response_format style {style!r}")
