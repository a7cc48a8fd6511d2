"""Japanese sentences → English sentences with a seq2seq model's `generate`.

Sentences are de-duplicated, sorted by token length so each padded batch wastes little,
translated, and returned in input order. Decoding is beam search or greedy, never
sampling, so the same inputs and settings give the same English.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .cache import TranslationCache
from .models import DEFAULT_TRANSLATION_MODEL, LoadedModel, ModelUser, load_seq2seq

# Multilingual models need to be told the languages. The quirks of each family live here:
# tokenizer class name fragment → (source language code, target language code).
_LANGUAGE_CODES: dict[str, tuple[str, str]] = {
    "nllb": ("jpn_Jpan", "eng_Latn"),
    "m2m100": ("ja", "en"),
    "mbart": ("ja_XX", "en_XX"),
}


def language_generate_kwargs(tokenizer: Any) -> dict[str, int]:
    """Set the source language on a multilingual tokenizer; return generate() kwargs for English."""
    family = type(tokenizer).__name__.lower()
    for fragment, (source, target) in _LANGUAGE_CODES.items():
        if fragment in family:
            tokenizer.src_lang = source
            if hasattr(tokenizer, "get_lang_id"):  # M2M100 wraps codes as __en__
                target_id = tokenizer.get_lang_id(target)
            else:
                target_id = tokenizer.convert_tokens_to_ids(target)
            return {"forced_bos_token_id": target_id}
    return {}


class Translator(ModelUser):
    """Translate Japanese sentences into English with a Hugging Face seq2seq model.

    Args:
        model: a Hub id (default FuguMT) or a local model folder.
        beams: beam size; 1 is greedy decoding.
        batch_size: sentences per generate() call.
        cache: a TranslationCache to reuse translations across runs and documents.
        max_input_tokens: longest input per generate() (default: the model's limit); longer
            sentences are translated in pieces cut at clause boundaries and rejoined.
        device: auto, cpu, cuda, cuda:N or mps.
        dtype: auto, float32, float16 or bfloat16.
    """

    def __init__(
        self,
        model: str = DEFAULT_TRANSLATION_MODEL,
        *,
        revision: str | None = None,
        beams: int = 4,
        batch_size: int = 32,
        max_input_tokens: int | None = None,
        device: str = "auto",
        dtype: str = "auto",
        loaded: LoadedModel | None = None,
        cache: TranslationCache | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if beams < 1 or batch_size < 1:
            raise ValueError("beams and batch_size must be at least 1")
        self.loaded = loaded or load_seq2seq(
            model, role="translation", revision=revision, device=device, dtype=dtype, trust_remote_code=trust_remote_code
        )
        self.cache = cache
        model_limit = self.loaded.max_input_tokens()
        self.max_input_tokens = min(max_input_tokens, model_limit) if max_input_tokens else model_limit
        self.beams = beams
        self.batch_size = batch_size
        self._language_kwargs = language_generate_kwargs(self.loaded.tokenizer)

    def decoding(self) -> dict[str, Any]:
        """The generation settings that decide a translation (not batch size or device)."""
        return {"beams": self.beams, "max_input_tokens": self.max_input_tokens, "language": self._language_kwargs}

    def settings(self) -> dict[str, Any]:
        """Model, device, batching and decoding, for the manifest."""
        return {**self.describe_model(), "batch_size": self.batch_size, **self.decoding()}

    def translate(self, sentences: Sequence[str], *, progress: Callable[[int], None] | None = None) -> list[str]:
        """Translate `sentences`, returning English in the same order.

        `progress(n)` is called after each batch with the number of input sentences it covered.
        """
        if not sentences:
            return []
        counts = Counter(sentences)
        namespace = json.dumps(self.fingerprint(), sort_keys=True)
        known = self.cache.get_many(namespace, counts) if self.cache else {}
        if progress and known:
            progress(sum(counts[s] for s in known))
        new = self._translate_unique([s for s in counts if s not in known], counts, progress)
        if self.cache and new:
            self.cache.put_many(namespace, new)
        english = known | new
        return [english[s] for s in sentences]

    def _translate_unique(
        self, unique: list[str], counts: Counter[str], progress: Callable[[int], None] | None
    ) -> dict[str, str]:
        if not unique:
            return {}
        limit = self.max_input_tokens
        # A sentence longer than the model's input limit is translated in pieces and
        # rejoined, never truncated: no Japanese text may go untranslated.
        tokenizer = self.loaded.tokenizer
        sizes = dict(zip(unique, (len(ids) for ids in tokenizer(unique, verbose=False)["input_ids"]), strict=True))
        pieces = {s: [s] if sizes[s] <= limit else self._fit(s, limit) for s in unique}
        units = list(dict.fromkeys(piece for parts in pieces.values() for piece in parts))
        lengths = [sizes.get(u) or self._count(u) for u in units]
        order = sorted(range(len(units)), key=lambda i: lengths[i], reverse=True)
        english: dict[str, str] = {}
        for first in range(0, len(order), self.batch_size):
            batch = [units[i] for i in order[first : first + self.batch_size]]
            for source, target in zip(batch, self._generate(batch, lengths[order[first]]), strict=True):
                english[source] = target
            if progress:
                progress(sum(counts[s] for s in batch if s in pieces and len(pieces[s]) == 1))
        if progress:
            split_total = sum(counts[s] for s, parts in pieces.items() if len(parts) > 1)
            if split_total:
                progress(split_total)
        return {s: " ".join(english[p] for p in parts) for s, parts in pieces.items()}

    def _count(self, text: str) -> int:
        return len(self.loaded.tokenizer(text, verbose=False)["input_ids"])

    def _fit(self, text: str, limit: int) -> list[str]:
        """Split `text` into pieces of at most `limit` tokens, preferring clause boundaries."""
        if self._count(text) <= limit:
            return [text]
        cut = _split_point(text)
        halves = (text[:cut].strip(), text[cut:].strip())
        return [piece for half in halves if half for piece in self._fit(half, limit)]

    def _generate(self, batch: list[str], longest: int) -> list[str]:
        import torch

        tokenizer, model = self.loaded.tokenizer, self.loaded.model
        # truncation is only a guard: translate() already cut every input to fit
        encoded = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=self.max_input_tokens)
        encoded = {k: v.to(self.loaded.device) for k, v in encoded.items()}
        # English is rarely more than twice as many tokens as the Japanese; the floor
        # keeps very short inputs ("はい。") from being cut off.
        max_new_tokens = min(self.loaded.max_input_tokens(), 2 * longest + 16)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                num_beams=self.beams,
                do_sample=False,
                # max_length, not max_new_tokens: models ship a max_length in their
                # generation config, and giving both makes transformers warn every batch.
                # For encoder-decoders it counts the decoder start token, hence + 1.
                max_length=max_new_tokens + 1,
                **self._language_kwargs,
            )
        return [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]


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
