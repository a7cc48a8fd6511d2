"""Sentences → an abstractive summary, by map-reduce when the text is too long.

Usually the English translation is summarized (distilbart); with `language="ja"` the
Japanese source is, by a multilingual model such as mT5-XLSum. A document that fits the
summarizer's input limit is summarized in one call. A longer one is packed into chunks at
sentence boundaries by token count, each chunk is summarized, and the chunk summaries are
packed and summarized again until one chunk remains. Nothing is truncated: a single
sentence longer than the limit is split at word boundaries (or by tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import Ja2enError
from .backends import Backend, Decoding, Generation, backend_settings, check_workers, generate_batches, load_backend
from .models.load import LoadedModel, ModelUser, check_sentences, load_seq2seq
from .models.presets import DEFAULT_SUMMARY_MODEL, find_preset
from .records import Summary

_MAX_ROUNDS = 16


class Summarizer(ModelUser):
    """Summarize text with a Hugging Face seq2seq model (default distilbart-cnn-12-6, English).

    Args:
        model: a preset (`distilbart`, `mt5-xlsum`...), Hub id or local folder.
        language: the language of the text it is given: "en" or "ja" (joins sentences
            without spaces); a preset's own language by default, else "en".
        beams, max_new_tokens, no_repeat_ngram_size: override the generation settings of
            the model (and of its preset, for models whose config has none).
        batch_size: most chunks per generate() call; chunks of many documents share batches,
            spread so that each of the backend's workers has one to take.
        backend, quantize, compute_type: as for Translator.
        workers: batches summarized at once (ct2): 1 (the default) puts every thread on one
            batch, the fastest for one document at a time (a lone chunk cannot be shared
            between workers); None runs one batch per thread, the fastest for
            `summarize_many` over many documents (1.1-1.3x on 2 cores), as a run of several
            documents does.
    """

    def __init__(
        self,
        model: str = DEFAULT_SUMMARY_MODEL,
        *,
        revision: str | None = None,
        language: str | None = None,
        beams: int | None = None,
        max_new_tokens: int | None = None,
        no_repeat_ngram_size: int | None = None,
        batch_size: int = 8,
        backend: str = "auto",
        quantize: bool = True,
        compute_type: str = "auto",
        device: str = "auto",
        dtype: str = "auto",
        loaded: LoadedModel | None = None,
        trust_remote_code: bool = False,
        workers: int | None = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        check_workers(backend, workers)
        preset = find_preset(model) if loaded is None else None
        language = language or (preset.language if preset else "en")
        role = "summarization" if language == "en" else "Japanese summarization"
        self.loaded = loaded or load_seq2seq(
            model, role=role, revision=revision, device=device, dtype=dtype, trust_remote_code=trust_remote_code
        )
        own = preset.generation if preset else {}
        self.language = language
        if self.language not in ("en", "ja"):
            raise ValueError(f"language must be 'en' or 'ja', not {self.language!r}")
        tokenizer = self.loaded.tokenizer
        self.max_input_tokens = self.loaded.max_input_tokens() - tokenizer.num_special_tokens_to_add()
        generation = self.loaded.generation_config
        # A summary may take at most a third of the input limit, so that every reduce
        # round packs at least two summaries per chunk and the rounds must converge.
        ceiling = max(1, self.max_input_tokens // 3)
        self.max_new_tokens = min(max_new_tokens or own.get("max_new_tokens") or generation.max_length or 142, ceiling)
        self.min_length = min(generation.min_length or 0, self.max_new_tokens // 2)
        self.beams = beams or own.get("beams") or generation.num_beams or 1
        self.no_repeat_ngram_size = (
            no_repeat_ngram_size if no_repeat_ngram_size is not None else own.get("no_repeat_ngram_size", 0)
        )
        self.batch_size = batch_size
        self._joiner = "" if self.language == "ja" else " "
        self.backend: Backend = load_backend(
            backend, self.loaded, quantize=quantize, compute_type=compute_type, workers=workers
        )

    def decoding(self) -> dict[str, Any]:
        """The generation settings that decide a summary."""
        return {
            "beams": self.beams,
            "max_new_tokens": self.max_new_tokens,
            "min_length": self.min_length,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "max_input_tokens": self.max_input_tokens,
            "language": self.language,
            **backend_settings(self.backend),
        }

    def settings(self) -> dict[str, Any]:
        """Model, device and decoding, for the manifest."""
        return {**self.describe_model(), **self.decoding(), **self.backend.describe()}

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` without special tokens."""
        # verbose=False: counting a long text is the point, not an overflow to warn about
        return len(self.loaded.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def summarize(self, sentences: Sequence[str]) -> Summary:
        """Summarize a document given as its sentences (a list of str), in order."""
        return self._summarize_all([check_sentences(sentences, "summarize")])[0]

    def summarize_many(self, documents: Sequence[Sequence[str]]) -> list[Summary]:
        """Summarize several documents, each a list of its sentences; their chunks share batches, round by round."""
        if isinstance(documents, (str, bytes)):
            raise TypeError(
                "summarize_many() takes a list of documents, each a list of sentences, "
                f"not {'a str' if isinstance(documents, str) else 'bytes'}; "
                "wrap it: summarize_many([[text]])"
            )
        return self._summarize_all(
            [check_sentences(sentences, "summarize_many", document=i) for i, sentences in enumerate(documents)]
        )

    def _summarize_all(self, documents: list[list[str]]) -> list[Summary]:
        pieces = [[s.strip() for s in sentences if s.strip()] for sentences in documents]
        results: list[Summary | None] = [None] * len(documents)
        input_tokens = [self.count_tokens(self._joiner.join(p)) if p else 0 for p in pieces]
        first_chunks = [0] * len(documents)
        for index, own in enumerate(pieces):
            if not own:
                results[index] = Summary(
                    "", self.model_id, 0, self.max_input_tokens, chunks=0, rounds=0, language=self.language
                )
        for round_number in range(1, _MAX_ROUNDS + 1):
            pending = [i for i, r in enumerate(results) if r is None]
            if not pending:
                break
            chunks = {i: self.pack(pieces[i]) for i in pending}
            flat = [chunk for i in pending for chunk in chunks[i]]
            summaries = iter(self._generate(flat))
            for i in pending:
                own = [next(summaries) for _ in chunks[i]]
                first_chunks[i] = first_chunks[i] or len(own)
                if len(own) == 1:
                    results[i] = Summary(
                        own[0], self.model_id, input_tokens[i], self.max_input_tokens, first_chunks[i], round_number,
                        language=self.language,
                    )  # fmt: skip
                else:
                    pieces[i] = [s for s in own if s] or [self._joiner.join(own)]
        if any(r is None for r in results):  # unreachable while summaries are capped at a third of the limit
            raise Ja2enError(f"summary did not converge in {_MAX_ROUNDS} rounds; use a summarizer with a longer input")
        return [r for r in results if r is not None]

    def pack(self, pieces: Sequence[str]) -> list[str]:
        """Join consecutive pieces (a list of str) into chunks of at most `max_input_tokens` tokens each."""
        pieces = check_sentences(pieces, "pack")
        limit = self.max_input_tokens
        chunks: list[str] = []
        current: list[str] = []
        for piece in (part for p in pieces for part in self._fit(p)):
            candidate = self._joiner.join([*current, piece])
            if current and self.count_tokens(candidate) > limit:
                chunks.append(self._joiner.join(current))
                current = [piece]
            else:
                current.append(piece)
        if current:
            chunks.append(self._joiner.join(current))
        return chunks

    def _fit(self, piece: str) -> list[str]:
        """Split a piece longer than the limit at spaces (or, with none, by tokens)."""
        if self.count_tokens(piece) <= self.max_input_tokens:
            return [piece]
        words = piece.split(" ")
        if len(words) > 1:
            middle = len(words) // 2
            return self._fit(" ".join(words[:middle])) + self._fit(" ".join(words[middle:]))
        tokenizer = self.loaded.tokenizer
        ids = tokenizer(piece, add_special_tokens=False, verbose=False)["input_ids"]
        step = self.max_input_tokens
        return [tokenizer.decode(ids[i : i + step]) for i in range(0, len(ids), step)]

    def _generate(self, chunks: list[str]) -> list[str]:
        """Summaries of `chunks`, in order, generated in length-sorted batches."""
        # No scores: nothing reads them, and they would cost a second pass over every chunk.
        decoding = Decoding(
            beams=self.beams,
            max_new_tokens=self.max_new_tokens,
            min_length=self.min_length,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            score=False,
        )
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]), reverse=True)
        results: list[str] = [""] * len(chunks)
        batches = [order[first : first + size] for first, size in self._batch_spans(len(order))]

        def work(batch: list[int]) -> list[Generation]:
            return self.backend.generate([chunks[i] for i in batch], decoding)

        for batch, generations in generate_batches(self.backend, batches, work):
            for index, generation in zip(batch, generations, strict=True):
                results[index] = generation.text
        return results

    def _batch_spans(self, count: int) -> list[tuple[int, int]]:
        """(first, size) of each batch of `count` chunks, at most `batch_size` each. With several
        workers and chunks enough, as many even batches as workers (or a multiple), so none idles."""
        workers = getattr(self.backend, "workers", 1)
        if workers <= 1 or count < workers:
            return [(first, min(self.batch_size, count - first)) for first in range(0, count, self.batch_size)]
        batches = -(-count // self.batch_size)
        batches = -(-batches // workers) * workers
        sizes = [count // batches + (i < count % batches) for i in range(batches)]
        return [(sum(sizes[:i]), size) for i, size in enumerate(sizes)]
