"""The split strategy: a window whose reply fails is cut in halves and asked again, down to one sentence.

A sentence that still fails comes back failed, with its problems as flags; the caller decides
between a fallback model and an error. Nothing is ever filled in by position.

A model that cannot keep the reply format would fail every window and pay for every split,
so a `SplitPolicy` shared by the run counts failed multi-sentence requests in a row: after
`give_up_after` of them, every window goes out one sentence per request, and one window in
`probe_every` still tries the whole window to find out whether the model copes again.
The requests wasted on multi-sentence windows are thus about `give_up_after` (plus those in
flight at the time) until the next probe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .replies import CheckedReply
from .windows import ContextPair, Window

LLM_SPLIT = "llm_split"  # translated in a smaller window than planned, after a reply failed
LLM_RETRY = "llm_retry"  # the server's reply came after a retried request (429, 5xx, timeout...)
LLM_FALLBACK = "llm_fallback"  # translated by the fallback model (set by the caller)


@dataclass(frozen=True, slots=True)
class SentenceResult:
    """The outcome for one sentence id: its English, or None and the problems that failed it."""

    id: str
    en: str | None
    flags: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.en is None


class SplitPolicy:
    """Whether windows still go out whole; shared by all threads of a run."""

    def __init__(self, give_up_after: int = 3, probe_every: int = 50) -> None:
        self.give_up_after, self.probe_every = give_up_after, probe_every
        self._lock = threading.Lock()
        self._streak = 0  # failed multi-sentence requests in a row
        self._single = False
        self._since_probe = 0

    @property
    def single(self) -> bool:
        """Whether the run has settled on one sentence per request."""
        return self._single

    def send_whole(self) -> bool:
        """Whether the next window should be sent whole (always, unless settled on single; then a probe now and then)."""
        with self._lock:
            if not self._single:
                return True
            self._since_probe += 1
            if self._since_probe >= self.probe_every:
                self._since_probe = 0
                return True
            return False

    def saw(self, ok: bool) -> None:
        """Take in the verdict on a multi-sentence request."""
        with self._lock:
            if ok:
                self._streak, self._single = 0, False
                return
            self._streak += 1
            if self._streak >= self.give_up_after:
                self._single = True


def one_sentence_windows(window: Window) -> list[Window]:
    """The window's sentences as one-sentence windows, each with the sources before it as context."""
    keep = len(window.context)
    pairs = list(window.context)
    windows = []
    for sentence in window.sentences:
        windows.append(Window((sentence,), window.title, tuple(pairs[-keep:]) if keep else ()))
        pairs.append(ContextPair(sentence.ja, None))
    return windows


def translate_window(window: Window, ask: Callable[[Window], CheckedReply], policy: SplitPolicy) -> list[SentenceResult]:
    """Every sentence of `window`, in order: translated, or failed with its problems.

    `ask` sends one window and returns the checked reply (`CheckedReply.retried` marks a
    reply that needed retried requests).
    """
    if len(window.sentences) > 1 and not policy.send_whole():
        return [result for single in one_sentence_windows(window) for result in _ask_down(single, ask, policy, split=True)]
    return _ask_down(window, ask, policy, split=False)


def _ask_down(window: Window, ask: Callable[[Window], CheckedReply], policy: SplitPolicy, *, split: bool) -> list[SentenceResult]:
    multi = len(window.sentences) > 1
    if split and multi and policy.single:
        # Settled on one sentence per request while this part waited: spend nothing on it whole.
        return [result for single in one_sentence_windows(window) for result in _ask_down(single, ask, policy, split=True)]
    reply = ask(window)
    if multi:
        policy.saw(reply.ok)
    marks = ((LLM_SPLIT,) if split else ()) + ((LLM_RETRY,) if reply.retried else ())
    if reply.ok:
        return [SentenceResult(i, reply.translations[i], marks) for i in window.ids]
    if not multi:
        return [SentenceResult(window.ids[0], None, marks + reply.problems)]
    return [result for half in window.halves() for result in _ask_down(half, ask, policy, split=True)]
