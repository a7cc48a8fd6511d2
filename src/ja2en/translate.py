"""Japanese sentences → English Translations (text, score, flags) through a backend.

Sentences are de-duplicated (and looked up in the cache), sorted by token length and
packed into batches by a token budget so each padded batch wastes little, translated,
checked for degenerate output, and returned in input order. A sentence longer than the
model's input limit is translated in pieces cut at clause boundaries and rejoined, never
truncated. A sentence without letters or digits ("……。", "★★★") never reaches the model:
it comes back as it is, flagged `copied`. Decoding is beam search or greedy, never
sampling: the same inputs and settings give the same English.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .backends import Backend, Decoding, backend_settings, check_workers, Generation, generate_batches, load_backend
from .cache import TranslationCache
from .models.load import LoadedModel, ModelUser, check_sentences, load_seq2seq
from .models.presets import DEFAULT_TRANSLATION_MODEL
from .quality import COPIED, REDECODE_FLAGS, detect_flags, has_text
from .records import Translation

# Multilingual models need to be told the languages. The quirks of each family live here:
# tokenizer class name fragment → (source language code, target language token).
_LANGUAGE_CODES: dict[str, tuple[str, str]] = {
    "nllb": ("jpn_Jpan", "eng_Latn"),
    "m2m100": ("ja", "__en__"),  # M2M100 wraps its codes: the token for English is __en__
    "mbart": ("ja_XX", "en_XX"),
}

# The token budget (source tokens, padding included, times beams) when none is given, by
# device and greedy/beam search: measured on 2 cores with real sentence lengths for CPU
# (BENCHMARKS.md, "Token budgets"); on CUDA the old fixed 4096, not yet measured on a GPU.
AUTO_BATCH_TOKENS = {("cpu", "greedy"): 2048, ("cpu", "beam"): 4096, ("cuda", "greedy"): 4096, ("cuda", "beam"): 4096}


def auto_batch_tokens(device: str, beams: int) -> int:
    """The token budget Translator uses on `device` at `beams` when none is given."""
    kind = device.partition(":")[0]
    return AUTO_BATCH_TOKENS.get((kind if kind == "cuda" else "cpu", "greedy" if beams == 1 else "beam"), 4096)


# Settings of the second decoding of a flagged sentence: block the loops and echoes
# that cause most flags, then keep whichever output is better.
_REDECODE = {"no_repeat_ngram_size": 3, "repetition_penalty": 1.2}


def target_language_token(tokenizer: Any) -> str | None:
    """Set the source language on a multilingual tokenizer; return the token that forces English."""
    family = type(tokenizer).__name__.lower()
    for fragment, (source, target) in _LANGUAGE_CODES.items():
        if fragment in family:
            tokenizer.src_lang = source
            return target
    return None


class Translator(ModelUser):
    """Translate Japanese sentences into English with a Hugging Face seq2seq model.

    Args:
        model: a Hub id (default FuguMT) or a local model folder.
        beams: beam size; 1 is greedy decoding.
        batch_size: most sentences per batch.
        batch_tokens: most source tokens per batch (padding included) times beams: the
            real limit on memory and the best lever on speed. Beams count because each one
            is a row of decoder state with a vocabulary-wide output. None (the default)
            picks it by device and beams (`auto_batch_tokens`), and lowers it for a call
            too small to give every worker a batch; `settings()` says which was used.
        workers: batches translated at once (ct2 on CPU; default one per thread).
        early_stopping: True ends beam search once `beams` translations have finished
            (CT2 patience 1, transformers early_stopping): 1.5-1.7x faster beam search on a
            trained model, but 4-21 % of sentences then differ from the full search, which
            goes on while a live beam can still win (BENCHMARKS.md, "Beam search patience").
            None (default): as the model's generation config says.
        backend: auto, torch or ct2; `quantize` (torch on CPU) uses dynamic int8;
            `compute_type` (ct2) e.g. int8, float32.
        device: auto, cpu, cuda, cuda:N or mps. dtype: auto, float32, float16, bfloat16.
        cache: a TranslationCache to reuse translations across runs and documents.
        max_input_tokens: longest input per batch row (default: the model's limit).
        guard: re-decode sentences whose output looks degenerate and keep the better one.

    `Translator("openai:NAME", api_base=URL, ...)` is an OpenAITranslator instead (an LLM
    behind an OpenAI-compatible server; see backends/openai.py for its options).
    """

    # Whether a run hands this translator whole documents (translate_documents) rather than
    # a group's sentences in one call: an LLM needs each document's windows and context.
    translates_documents = False

    def __new__(cls, model: str = DEFAULT_TRANSLATION_MODEL, *args: Any, **kwargs: Any) -> Translator:
        if cls is Translator and isinstance(model, str) and model.startswith("openai:"):
            from .backends.openai import OpenAITranslator

            return super().__new__(OpenAITranslator)
        return super().__new__(cls)

    def __init__(
        self,
        model: str = DEFAULT_TRANSLATION_MODEL,
        *,
        revision: str | None = None,
        beams: int = 4,
        batch_size: int = 64,
        batch_tokens: int | None = None,
        max_input_tokens: int | None = None,
        backend: str = "auto",
        quantize: bool = True,
        compute_type: str = "auto",
        device: str = "auto",
        dtype: str = "auto",
        guard: bool = True,
        loaded: LoadedModel | None = None,
        cache: TranslationCache | None = None,
        trust_remote_code: bool = False,
        workers: int | None = None,
        early_stopping: bool | None = None,
    ) -> None:
        if beams < 1 or batch_size < 1 or (batch_tokens is not None and batch_tokens < 1):
            raise ValueError("beams, batch_size and batch_tokens must be at least 1")
        check_workers(backend, workers)
        self.loaded = loaded or load_seq2seq(
            model, role="translation", revision=revision, device=device, dtype=dtype, trust_remote_code=trust_remote_code
        )
        self.backend: Backend = load_backend(
            backend, self.loaded, quantize=quantize, compute_type=compute_type, workers=workers
        )
        self.cache = cache
        model_limit = self.loaded.max_input_tokens()
        self.max_input_tokens = min(max_input_tokens, model_limit) if max_input_tokens else model_limit
        self.beams = beams
        self.batch_size = batch_size
        self.batch_tokens_by = "auto" if batch_tokens is None else "user"
        budget = auto_batch_tokens(self.loaded.device, beams) if batch_tokens is None else batch_tokens
        self.batch_tokens = max(budget, self.max_input_tokens)  # one longest sentence always fits
        self.guard = guard
        self.early_stopping = early_stopping
        self._target_token = target_language_token(self.loaded.tokenizer)

    def decoding(self) -> dict[str, Any]:
        """What decides a translation (not batching or device): see ModelUser.fingerprint."""
        return {
            "beams": self.beams,
            "max_input_tokens": self.max_input_tokens,
            "target_token": self._target_token,
            "guard": self.guard,
            # only when set (and beam search), so folders and caches made before the option still match
            **({"early_stopping": self.early_stopping} if self.early_stopping is not None and self.beams > 1 else {}),
            **backend_settings(self.backend),
        }

    def settings(self) -> dict[str, Any]:
        """Model, device, batching and decoding, for the manifest."""
        return {
            **self.describe_model(),
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens,
            "batch_tokens_by": self.batch_tokens_by,
            **self.decoding(),
            **self.backend.describe(),
        }

    def probe(self) -> None:
        """Translate one short sentence past every cache: raises what a dead model raises (FailureWatch)."""
        self.backend.generate(["これはテストです。"], Decoding(beams=1, max_new_tokens=8, score=False))

    def translate(self, sentences: Sequence[str], *, progress: Callable[[int], None] | None = None) -> list[str]:
        """Translate `sentences` (a list of str), returning English in the same order."""
        return [t.en for t in self._translations(check_sentences(sentences, "translate"), progress)]

    def translate_detailed(
        self, sentences: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> list[Translation]:
        """Translate `sentences` (a list of str) into Translations (English, score, flags), in the same order.

        `progress(n)` is called as sentences finish with how many input sentences that was.
        A sentence with no letters or digits comes back as it is, flagged `copied`.
        """
        return self._translations(check_sentences(sentences, "translate_detailed"), progress)

    def _translations(self, sentences: list[str], progress: Callable[[int], None] | None) -> list[Translation]:
        if not sentences:
            return []
        counts = Counter(sentences)
        # Nothing for the model to read: it would invent a sentence, so the source stands.
        copied = {s: Translation(s, None, (COPIED,)) for s in counts if not has_text(s)}
        if progress and copied:
            progress(sum(counts[s] for s in copied))
        todo = [s for s in counts if s not in copied]
        namespace = json.dumps(self.fingerprint(), sort_keys=True)
        known = self.cache.get_many(namespace, todo) if self.cache and todo else {}
        if progress and known:
            progress(sum(counts[s] for s in known))
        new = self._translate_unique([s for s in todo if s not in known], counts, progress)
        if self.cache and new:
            self.cache.put_many(namespace, new)
        done = copied | known | new
        return [done[s] for s in sentences]

    def _translate_unique(
        self, unique: list[str], counts: Counter[str], progress: Callable[[int], None] | None
    ) -> dict[str, Translation]:
        if not unique:
            return {}
        lengths = dict(zip(unique, self._count_many(unique), strict=True))
        pieces = {s: [s] if lengths[s] <= self.max_input_tokens else self._fit(s) for s in unique}
        units = list(dict.fromkeys(piece for parts in pieces.values() for piece in parts))
        for unit in units:
            if unit not in lengths:
                lengths[unit] = self._count_many([unit])[0]

        def done(batch: list[str]) -> None:
            if progress:  # whole sentences now; split ones are counted when joined
                progress(sum(counts[s] for s in batch if len(pieces.get(s, ())) == 1))

        generated = self._generate_all(units, lengths, done)
        result = {s: self._join(s, [generated[p] for p in parts], parts) for s, parts in pieces.items()}
        split_total = sum(counts[s] for s, parts in pieces.items() if len(parts) > 1)
        if progress and split_total:
            progress(split_total)
        return result

    def _join(self, source: str, outputs: list[Generation], parts: list[str]) -> Translation:
        """One Translation from the outputs of a sentence's pieces (usually one)."""
        en = " ".join(g.text for g in outputs)
        total = sum(g.tokens for g in outputs)
        score = sum(g.score * g.tokens for g in outputs) / total if total else None
        flags = detect_flags(
            source, en, hit_max_length=any(g.hit_max_length for g in outputs), split=len(parts) > 1
        )
        return Translation(en, score, flags)

    def _generate_all(
        self, units: list[str], lengths: dict[str, int], on_batch: Callable[[list[str]], None]
    ) -> dict[str, Generation]:
        """Generate every unit in token-budget batches, re-decoding degenerate outputs.

        The backend's workers take several batches at once; each batch's outputs depend on
        that batch alone, so they are the same whatever runs beside it.
        """
        results: dict[str, Generation] = {}
        batches = self._batches(units, lengths)
        for batch, generated in generate_batches(self.backend, batches, lambda b: self._generate_batch(b, lengths)):
            results.update(generated)
            on_batch(batch)
        return results

    def _generate_batch(self, batch: list[str], lengths: dict[str, int]) -> dict[str, Generation]:
        decoding = self._decoding_for(lengths[batch[0]])
        results = dict(zip(batch, self.backend.generate(batch, decoding), strict=True))
        if self.guard:
            self._redecode(batch, results, decoding)
        return results

    def _redecode(self, batch: list[str], results: dict[str, Generation], decoding: Decoding) -> None:
        """Decode flagged outputs again with repetition controls; keep whichever is better."""
        suspect = [unit for unit in batch if _problems(unit, results[unit])]
        if not suspect:
            return
        retry = dataclasses.replace(decoding, **_REDECODE)
        for unit, second in zip(suspect, self.backend.generate(suspect, retry), strict=True):
            first = results[unit]
            # fewer problems wins; on a tie, the more confident output
            if (_problems(unit, second), -second.score) < (_problems(unit, first), -first.score):
                results[unit] = second

    def _decoding_for(self, longest: int) -> Decoding:
        # English is rarely more than twice as many tokens as the Japanese; the floor
        # keeps very short inputs ("はい。") from being cut off, the cap keeps within the model.
        cap = self.loaded.max_input_tokens()
        return Decoding(
            beams=self.beams,
            max_new_tokens=min(cap, 2 * longest + 16),
            target_token=self._target_token,
            early_stopping=self.early_stopping,
        )

    def _batches(self, units: list[str], lengths: dict[str, int]) -> list[list[str]]:
        """Longest first, each batch within `batch_size` rows and the token budget (padded tokens × beams)."""
        ordered = sorted(units, key=lambda u: lengths[u], reverse=True)
        budget = self._budget(ordered, lengths)
        batches: list[list[str]] = []
        for unit in ordered:
            current = batches[-1] if batches else None
            # Sorted longest first, so a batch's first row sets its padded width.
            fits = (len(current) + 1) * lengths[current[0]] * self.beams <= budget if current else False
            if current and len(current) < self.batch_size and fits:
                current.append(unit)
            else:
                batches.append([unit])
        return batches

    def _budget(self, ordered: list[str], lengths: dict[str, int]) -> int:
        """The token budget of this call: `batch_tokens`, or with the automatic budget and
        several workers, less when that would leave a worker with no batch at all. (Two
        batches per worker measured 7 % slower greedy on the 84 real sentences than one.)"""
        workers = getattr(self.backend, "workers", 1)
        if self.batch_tokens_by == "user" or workers <= 1 or not ordered:
            return self.batch_tokens
        padded = sum(lengths[u] for u in ordered) * self.beams
        return max(min(self.batch_tokens, -(-padded // workers)), lengths[ordered[0]] * self.beams)

    def _count_many(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.loaded.tokenizer(texts, verbose=False)["input_ids"]]

    def _fit(self, text: str) -> list[str]:
        """Split `text` into pieces within the input limit, preferring clause boundaries."""
        if self._count_many([text])[0] <= self.max_input_tokens:
            return [text]
        cut = _split_point(text)
        halves = (text[:cut].strip(), text[cut:].strip())
        return [piece for half in halves if half for piece in self._fit(half)]


def _problems(source: str, generation: Generation) -> int:
    """How many of the flags a second decoding could fix this output has."""
    flags = detect_flags(source, generation.text, hit_max_length=generation.hit_max_length)
    return len(REDECODE_FLAGS.intersection(flags))


# Where to cut a sentence that is too long for the model, best first: after a sentence
# mark (these occur inside quoted speech, which the segmenter keeps whole), after a
# clause mark, then at a space; failing all, in the middle.
_CLAUSE_MARKS = ("。．！？!?", "、，,;；:：", " \u3000")


def _split_point(text: str) -> int:
    middle = len(text) // 2
    for marks in _CLAUSE_MARKS:
        points = [i + 1 for i, ch in enumerate(text[:-1]) if ch in marks]
        if points:
            return min(points, key=lambda i: abs(i - middle))
    return max(1, middle)
