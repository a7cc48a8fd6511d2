"""transformers `generate` as a backend: dynamic int8 on CPU when asked, OOM back-off on GPUs."""

from __future__ import annotations

import warnings
from typing import Any

from ..models.load import LoadedModel
from . import Decoding, Generation

# Scoring runs a teacher-forced pass over the generated text; chunking it keeps the
# logits ([rows, length, vocab], 60k-word vocabularies) from spiking memory.
_SCORE_ROWS = 8


class TorchBackend:
    """transformers `generate`, with dynamic int8 on CPU when asked and OOM back-off on GPUs."""

    name = "torch"
    workers = 1  # torch spreads one batch over every thread; two at once would only contend

    def __init__(self, loaded: LoadedModel, *, quantize: bool = False) -> None:
        import torch

        self.loaded = loaded
        # Dynamic int8 takes float32 Linear layers only: a bfloat16 model on CPU stays as it is.
        self.quantized = quantize and loaded.device == "cpu" and loaded.dtype == "float32"
        if self.quantized:
            # int8 weights for every Linear layer: ~2-3x faster on CPU for Marian/BART.
            # Quantized in place on a copy of its own, so the float32 weights are not kept
            # beside the int8 ones (unless someone else already loaded and holds them).
            # torch marks this API deprecated (in favour of torchao) but ships it; the
            # library never prints, so its warnings are kept quiet.
            private = not loaded.weights_loaded
            model = loaded.load_weights() if private else loaded.model
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = torch.ao.quantization.quantize_dynamic(
                    model, {torch.nn.Linear}, dtype=torch.qint8, inplace=private
                )
        else:
            self.model = loaded.model

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "quantization": "int8-dynamic" if self.quantized else None}

    def generate(self, texts: list[str], decoding: Decoding) -> list[Generation]:
        """Generate for `texts`; on CUDA out-of-memory, halve the batch and retry."""
        import torch

        try:
            return self._generate(texts, decoding)
        except torch.OutOfMemoryError:
            if len(texts) == 1:
                raise
            torch.cuda.empty_cache()
            middle = len(texts) // 2
            return self.generate(texts[:middle], decoding) + self.generate(texts[middle:], decoding)

    def _generate(self, texts: list[str], decoding: Decoding) -> list[Generation]:
        import torch

        tokenizer, device = self.loaded.tokenizer, self.loaded.device
        encoded = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.loaded.max_input_tokens())
        encoded = {k: v.to(device) for k, v in encoded.items()}
        extra: dict[str, Any] = {}
        if decoding.target_token:
            extra["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(decoding.target_token)
        if decoding.no_repeat_ngram_size:
            extra["no_repeat_ngram_size"] = decoding.no_repeat_ngram_size
        if decoding.repetition_penalty != 1.0:
            extra["repetition_penalty"] = decoding.repetition_penalty
        if decoding.early_stopping is not None and decoding.beams > 1:
            extra["early_stopping"] = decoding.early_stopping
        with torch.inference_mode():
            sequences = self.model.generate(
                **encoded,
                num_beams=decoding.beams,
                do_sample=False,
                # max_length, not max_new_tokens: models ship a max_length in their
                # generation config, and giving both makes transformers warn every batch.
                # For encoder-decoders it counts the decoder start token, hence + 1.
                max_length=decoding.max_new_tokens + 1,
                min_length=decoding.min_length,
                # Marian/BART configs force end-of-sentence at the cap, which would hide
                # that a translation was cut off; without it, the cap shows as hit_max_length.
                forced_eos_token_id=None,
                **extra,
            )
            lengths, ended, mask = self._extent(sequences)
            scores = self._score(encoded, sequences, mask) if decoding.score else [None] * len(lengths)
        decoded = tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return [
            Generation(text.strip(), score, length, hit_max_length=not end and length >= decoding.max_new_tokens)
            for text, score, length, end in zip(decoded, scores, lengths, ended, strict=True)
        ]

    def _extent(self, sequences: Any) -> tuple[list[int], list[bool], Any]:
        """Generated tokens per row (up to and including the first end-of-sentence), whether
        each ended, and the mask of those tokens over `sequences[:, 1:]`."""
        config = self.model.config
        pad, eos = config.pad_token_id, config.eos_token_id
        targets = sequences[:, 1:]
        # Everything up to and including the first end-of-sentence counts; padding after it does not.
        after_eos = (targets == eos).int().cumsum(dim=1) - (targets == eos).int()
        mask = (after_eos == 0) & ~((targets == pad) & (pad != eos))
        return mask.sum(dim=1).tolist(), (targets == eos).any(dim=1).tolist(), mask

    def _score(self, encoded: dict[str, Any], sequences: Any, mask: Any) -> list[float]:
        """Mean log-probability of each generated sequence, by one teacher-forced pass."""
        import torch

        decoder_input, targets = sequences[:, :-1], sequences[:, 1:]
        means: list[float] = []
        for first in range(0, sequences.shape[0], _SCORE_ROWS):
            rows = slice(first, first + _SCORE_ROWS)
            logits = self.model(
                input_ids=encoded["input_ids"][rows],
                attention_mask=encoded["attention_mask"][rows],
                decoder_input_ids=decoder_input[rows],
            ).logits.float()
            token_logp = torch.log_softmax(logits, dim=-1).gather(-1, targets[rows].unsqueeze(-1)).squeeze(-1)
            chunk_mask = mask[rows]
            sums = (token_logp * chunk_mask).sum(dim=1)
            means.extend((sums / chunk_mask.sum(dim=1).clamp(min=1)).tolist())
        return means
