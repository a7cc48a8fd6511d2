"""Texts → generated texts with scores: the backends behind Translator and Summarizer.

A backend takes already-batched source texts and returns one `Generation` per text: the
decoded output, its mean token log-probability, how many tokens it took, and whether it
stopped at the length cap instead of at end-of-sentence. Two backends:

- `TorchBackend` (torch.py): transformers `generate` under `torch.inference_mode`, optionally with
  dynamic int8 quantization of the Linear layers on CPU, and on CUDA out-of-memory a
  batch is halved and retried instead of failing.
- `CT2Backend` (ct2.py): CTranslate2, converted once and cached (ct2.converted_model says where).

A backend also says how many `generate` calls it can usefully run at once (`workers`:
CTranslate2 on CPU runs one batch per thread; torch and GPUs one at a time), and
`generate_batches` keeps that many batches in flight while handing results back in order.

Backends are picked by name through `load_backend` and imported only then, so the CLI
starts without loading torch, transformers or ctranslate2.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import DeviceError, ModelError
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
    # Beam search: stop once `beams` outputs have finished (True), or go on while a live beam
    # can still win (False); None: as the model's generation config says (transformers: False).
    early_stopping: bool | None = None
    # Scores cost a second pass over the output (torch: a teacher-forced forward pass,
    # encoder included; ct2: score_batch when penalties alter its own). Summaries skip it.
    score: bool = True


class Backend(Protocol):
    """What Translator and Summarizer need from a backend."""

    name: str
    # How many generate() calls it runs at once, from as many threads (1: one at a time).
    workers: int

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


# What describe() says that does not decide outputs: where a conversion lies, and how the
# work is spread over threads (the same batch gives the same output whatever runs beside it).
_NOT_DECIDING = ("converted", "workers", "threads_per_worker")


def backend_settings(backend: Backend) -> dict[str, Any]:
    """The backend's settings that decide outputs (its name, precision), without local paths or threads."""
    return {key: value for key, value in backend.describe().items() if key not in _NOT_DECIDING}


Batch = TypeVar("Batch")
Result = TypeVar("Result")


def generate_batches(
    backend: Backend, batches: Iterable[Batch], work: Callable[[Batch], Result]
) -> Iterator[tuple[Batch, Result]]:
    """(batch, work(batch)) for each batch, in order, with up to `backend.workers` running at once.

    `work` runs in a pool thread when the backend has several workers (CTranslate2 releases
    the GIL while it generates); a failure is raised here, in the batch's turn, after the
    batches already running have finished and the queued ones are dropped.
    """
    workers = getattr(backend, "workers", 1)
    if workers <= 1:
        for batch in batches:
            yield batch, work(batch)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"ja2en-{backend.name}")
    # Twice as many queued as running, so a worker that finishes early finds the next batch waiting.
    pending: deque[tuple[Batch, Future[Result]]] = deque()
    try:
        for batch in batches:
            pending.append((batch, pool.submit(work, batch)))
            if len(pending) >= 2 * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def load_backend(
    name: str, loaded: LoadedModel, *, quantize: bool = True, compute_type: str = "auto", workers: int | None = None
) -> Backend:
    """The backend called `name` over a loaded model; `auto` is ct2.

    `quantize` (dynamic int8 on CPU) applies to torch, `compute_type` and `workers` (batches
    at once on CPU; default one per thread) to ct2.
    """
    check_backend_name(name)
    check_workers(name, workers)
    if name == "auto":
        name = AUTO_BACKEND
    module, _, cls = _BACKENDS[name].partition(":")
    options: dict[str, Any] = (
        {"compute_type": compute_type, "workers": workers} if name == "ct2" else {"quantize": quantize}
    )
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


def check_workers(name: str, workers: int | None) -> None:
    """ValueError for fewer than one worker; DeviceError for several with a backend that runs one batch at a time."""
    if workers is None:
        return
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers > 1 and (AUTO_BACKEND if name == "auto" else name) != "ct2":
        raise DeviceError(
            f"{workers} workers need the ct2 backend (torch runs one batch at a time on every thread); "
            "drop --workers or use --backend ct2"
        )
