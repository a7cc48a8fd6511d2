"""Texts → generated texts with scores: the backends behind Translator and Summarizer.

A backend takes already-batched source texts and returns one `Generation` per text: the
decoded output, its mean token log-probability, how many tokens it took, and whether it
stopped at the length cap instead of at end-of-sentence. Two backends:

- `TorchBackend` (torch.py): transformers `generate` under `torch.inference_mode`, optionally with
  dynamic int8 quantization of the Linear layers on CPU, and on CUDA out-of-memory a
  batch is halved and retried instead of failing.
- `CT2Backend` (ct2.py): CTranslate2, converted once and cached (ct2.converted_model says where).

Backends are picked by name through `load_backend` and imported only then, so the CLI
starts without loading torch, transformers or ctranslate2.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ModelError
from ..models.load import LoadedModel


@dataclass(frozen=True, slots=True)
class Generation:
    """One generated output."""

    text: str
    # mean log-probability of the generated tokens (0 is certain; lower is less sure);
    # None when the decoding did not ask for scores
    score: float | None
    tokens: int  # generated tokens, end-of-sentence included
    hit_max_length: bool  # stopped by the length cap, not by end-of-sentence


@dataclass(frozen=True, slots=True)
class Decoding:
    """How to decode one batch."""

    beams: int = 1
    max_new_tokens: int = 256
    min_length: int = 0  # counts the decoder start token, as transformers does
    # Other settings (length_penalty, bad words, a model's own no_repeat_ngram_size...) come
    # from the model's generation config, fixed by model + revision; 0/1.0 here mean "as the model says".
    target_token: str | None = None  # forced first token (a language code for NLLB/M2M100)
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    # Scores cost a second pass over the output (torch: a teacher-forced forward pass,
    # encoder included; ct2: score_batch when penalties alter its own). Summaries skip it.
    score: bool = True


class Backend(Protocol):
    """What Translator and Summarizer need from a backend."""

    name: str

    def generate(self, texts: list[str], decoding: Decoding) -> list[Generation]: ...

    def describe(self) -> dict[str, Any]: ...


# name → "module:Class", imported only when asked for.
_BACKENDS = {
    "torch": "ja2en.backends.torch:TorchBackend",
    "ct2": "ja2en.backends.ct2:CT2Backend",
}
BACKENDS = tuple(_BACKENDS)
# What `auto` picks: int8 CTranslate2 is 2-3x faster than torch on CPU (BENCHMARKS.md).
AUTO_BACKEND = "ct2"


def backend_settings(backend: Backend) -> dict[str, Any]:
    """The backend's settings that decide outputs (its name, precision), without local paths."""
    return {key: value for key, value in backend.describe().items() if key != "converted"}


def load_backend(name: str, loaded: LoadedModel, *, quantize: bool = True, compute_type: str = "auto") -> Backend:
    """The backend called `name` over a loaded model; `auto` is ct2.

    `quantize` (dynamic int8 on CPU) applies to torch, `compute_type` to ct2.
    """
    check_backend_name(name)
    if name == "auto":
        name = AUTO_BACKEND
    module, _, cls = _BACKENDS[name].partition(":")
    options = {"compute_type": compute_type} if name == "ct2" else {"quantize": quantize}
    try:
        return getattr(importlib.import_module(module), cls)(loaded, **options)
    except ModelError:
        # ct2's converter fails on damaged weights with a message that blames the model's
        # architecture; checked only now, since a converted copy works without them.
        loaded.check_weights()
        raise


def check_backend_name(name: str) -> None:
    """ModelError unless `name` is auto or a known backend."""
    if name != "auto" and name not in _BACKENDS:
        raise ModelError(f"unknown backend '{name}'; use one of auto, {', '.join(BACKENDS)}")
