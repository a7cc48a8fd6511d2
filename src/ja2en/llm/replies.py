"""A server's reply to one window → the English of each id, or the named problems that reject it.

Replies are read tolerantly (reasoning such as `<think>…</think>` dropped, JSON found inside
code fences or after leading text) and then checked strictly: exactly the ids sent, in the
order sent, none empty; no Japanese script left outside quotes; a plausible length for each
source; not cut off at the token limit; not a refusal. A reply is accepted whole or not at
all: one missing id means its neighbours may hold its words, so nothing is ever filled in by
position and the caller splits the window instead (see split.py). What no check can see:
ids swapped yet listed in the order sent, or a neighbour's words repeated while every id keeps
a plausible length; the length check is the only guard there.

Problem names are flags of the pairs' vocabulary (quality.py names the others):
`llm_format` (nothing readable in the expected form), `llm_missing` (an id sent is absent),
`llm_extra` (an id not sent, or one twice), `llm_order` (ids out of the order sent),
`empty`, `untranslated`, `length_ratio`, `truncated` (finish_reason "length"),
`llm_refusal`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..quality import detect_flags
from .windows import SourceSentence

# Reasoning some models print before their answer (Qwen3, DeepSeek-R1, gpt-oss through
# some servers). A server that drops the opening tag leaves only the closing one.
_REASONING = re.compile(r"<(think|thinking|reasoning|reflection)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_CLOSING = re.compile(r"^.*</(?:think|thinking|reasoning|reflection)>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_TAGGED_LINE = re.compile(r"^\s*\[([^\]\s]+)\]\s?(.*)$")
# Kana and kanji (not the middle dot or the long-vowel mark, which romanised text can hold).
_JAPANESE = re.compile("[\u3041-\u3096\u30a1-\u30fa\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9d]")
# What may keep Japanese script: a name or term quoted or given in brackets beside its English.
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|「[^」]*」|『[^』]*』|\([^)]*\)|（[^）]*）")
# A refusal names the task or the request; "I can't help laughing." is a translation.
_REFUSAL = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|unable|not able)|I can(?:not|'t)|I won't|As an AI)\b[^.\n]*"
    r"\b(?:translat\w*|assist\w*|comply|fulfil\w*|help with (?:that|this)|(?:that|this|your) request)\b",
    re.IGNORECASE,
)
_EN_KEYS = ("en", "english", "translation")


@dataclass(frozen=True, slots=True)
class CheckedReply:
    """The verdict on one reply: the English of each id when accepted, else what is wrong."""

    translations: dict[str, str]  # id → English; empty unless the whole reply is accepted
    problems: tuple[str, ...]  # the reply's problems, in a fixed order; none when accepted
    per_id: dict[str, tuple[str, ...]] = field(default_factory=dict)  # id → its own problems
    retried: bool = False  # the reply came after retried requests (set by the caller that sent it)

    @property
    def ok(self) -> bool:
        return not self.problems


def strip_reasoning(text: str) -> str:
    """`text` without `<think>…</think>` and similar blocks (and anything before a lone closing tag)."""
    return _CLOSING.sub("", _REASONING.sub("", text)).strip()


def is_refusal(text: str) -> bool:
    """Whether `text` reads as a model declining the task rather than translating."""
    return bool(_REFUSAL.search(text))


def untranslated(en: str) -> bool:
    """Whether Japanese script is left in `en` outside quotes and brackets (where names may stay)."""
    return bool(_JAPANESE.search(_QUOTED.sub("", en)))


def parse_json_reply(text: str) -> list[tuple[str, str]] | None:
    """The (id, English) entries of a JSON reply, in the reply's order; None when there is none."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in (i for i, ch in enumerate(candidate) if ch in "{["):
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            entries = _entries(value)
            if entries is not None:
                return entries
    return None


def _entries(value: Any) -> list[tuple[str, str]] | None:
    """The entries of a decoded reply: {"translations": [...]}, or the bare list.

    Nothing looser: in a torn reply, one entry `{"id": ..., "en": ...}` decodes on its own
    and must not pass for a whole reply.
    """
    if isinstance(value, dict) and isinstance(value.get("translations"), list):
        value = value["translations"]
    if isinstance(value, list):
        entries = []
        for item in value:
            if not isinstance(item, dict) or "id" not in item:
                return None
            key = str(item["id"]).strip().strip("[]")
            en = next((item[k] for k in _EN_KEYS if isinstance(item.get(k), str)), "")
            # Small models copy the line's tag into the English: "[s3] The meeting...".
            entries.append((key, en.strip().removeprefix(f"[{key}]").strip()))
        return entries or None
    return None


def parse_lines_reply(text: str) -> list[tuple[str, str]] | None:
    """The entries of a `[id] English` reply; an untagged line continues the line before it."""
    entries: list[list[str]] = []
    for line in text.splitlines():
        tagged = _TAGGED_LINE.match(line)
        if tagged:
            entries.append([tagged.group(1), tagged.group(2).strip()])
        elif entries and line.strip():
            entries[-1][1] = f"{entries[-1][1]} {line.strip()}".strip()
    return [(i, en) for i, en in entries] or None


def check_reply(
    text: str | None,
    sources: Sequence[SourceSentence],
    *,
    reply: str = "json",
    finish_reason: str | None = "stop",
    refusal: str | None = None,
) -> CheckedReply:
    """Read and check one reply to the window `sources` (`reply`: the template's reply form).

    `refusal` is the chat message's own `refusal` field, where the server sets one.
    """
    body = strip_reasoning(text or "")
    window: list[str] = []
    if finish_reason == "length":
        window.append("truncated")
    entries = _parse(body, sources, reply)
    if entries is None:
        window.append("llm_refusal" if refusal or is_refusal(body) else "llm_format")
        return CheckedReply({}, tuple(window))
    if refusal:
        window.append("llm_refusal")
    window += _id_problems([i for i, _ in entries], [s.id for s in sources])
    found = dict(entries)
    per_id = {s.id: _sentence_problems(s.ja, found.get(s.id)) for s in sources}
    problems = window + [p for p in _ORDER if any(p in found_problems for found_problems in per_id.values())]
    if problems:
        return CheckedReply({}, tuple(dict.fromkeys(problems)), per_id)
    return CheckedReply({s.id: found[s.id].strip() for s in sources}, (), per_id)


_ORDER = ("llm_missing", "empty", "untranslated", "length_ratio")


def _parse(body: str, sources: Sequence[SourceSentence], reply: str) -> list[tuple[str, str]] | None:
    if reply == "json":
        return parse_json_reply(body)
    if reply == "lines":
        return parse_lines_reply(body)
    if reply == "text":
        if len(sources) != 1:
            raise ValueError("a \"text\" reply answers a one-sentence window")
        if not body or is_refusal(body):
            return None
        return [(sources[0].id, body)]
    raise ValueError(f"unknown reply form {reply!r}")


def _id_problems(got: list[str], sent: list[str]) -> list[str]:
    """`llm_extra` for an id not sent or one twice, `llm_order` for ids out of the sent order."""
    problems = []
    if len(set(got)) != len(got) or not set(got) <= set(sent):
        problems.append("llm_extra")
    known = [i for i in dict.fromkeys(got) if i in sent]
    if known != [i for i in sent if i in known]:
        problems.append("llm_order")
    return problems


def _sentence_problems(ja: str, en: str | None) -> tuple[str, ...]:
    if en is None:
        return ("llm_missing",)
    problems = [f for f in detect_flags(ja, en) if f in ("empty", "length_ratio")]
    if en.strip() and untranslated(en):
        problems.append("untranslated")
    return tuple(problems)
