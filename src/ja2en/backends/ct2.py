"""The CTranslate2 backend: a transformers model converted once, cached, and decoded by CT2.

The conversion is stored already quantized to the compute type it runs with, in a folder
`<model>-<revision>-<compute type>-c<conversion version>/`: converting to float32 and
letting CT2 quantize at every load cost ~200 MB of peak memory per load for nothing. It is
a cache, so it lives in the user cache (`$JA2EN_CACHE_DIR/ct2/`), except for a model of the
local store, whose conversion stays beside it in `models/ct2/` (where `ja2en models
convert` puts it); a run never needs a writable current directory. Decoding
mirrors `TorchBackend` token for token: the same tokenizer, decoder start, forced first
token, length limits and banned words, so both backends give the same text. (Beam search
with a repetition penalty can still differ: transformers applies it to log-probabilities,
CT2 to logits.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from . import Decoding, Generation
from ..cache import default_cache_dir
from ..errors import DeviceError, Ja2enWarning, ModelError, first_line
from ..models.load import LoadedModel, ResolvedModel, models_dir

# Part of every converted folder's name, raised whenever ja2en converts the same model
# differently, so that a folder converted the old way is never reused. 2: T5-family
# models (mT5) are no longer given a d_model**-0.5 output scale transformers does not apply.
CONVERSION_VERSION = 2


class CT2Backend:
    """CTranslate2 `translate_batch` over a converted copy of a loaded seq2seq model."""

    name = "ct2"

    def __init__(self, loaded: LoadedModel, *, compute_type: str = "auto", workers: int | None = None) -> None:
        import ctranslate2
        import torch

        self.loaded = loaded
        device, _, index = loaded.device.partition(":")
        if device not in ("cpu", "cuda"):
            raise DeviceError(f"the ct2 backend runs on cpu or cuda, not {device}; use --device cpu or --backend torch")
        self.compute_type = resolve_compute_type(compute_type, device)
        self.path = converted_model(loaded, self.compute_type)
        # torch's thread count (physical cores, or what the user set) keeps both backends alike.
        threads = torch.get_num_threads()
        if device == "cuda":
            # One stream by default: batches take turns on the GPU. More workers are CUDA
            # streams of their own, which may or may not help (unmeasured).
            self.workers, intra = workers or 1, threads
        else:
            # On CPU a batch on one thread each beats one batch on every thread: on 2 cores
            # two 1-thread workers translate 1.5x (beam 4) to 2.5x (greedy) faster, and
            # summarize several documents 1.2-1.3x faster, than one 2-thread worker
            # (BENCHMARKS.md, "Throughput on real sentence lengths"). One long text alone is
            # the exception (1.4-1.6x slower on one thread): workers=1 gives it them all.
            self.workers = workers or threads
            intra = max(1, threads // self.workers)
        self.threads_per_worker = intra
        try:
            self.translator = ctranslate2.Translator(
                str(self.path),
                device=device,
                device_index=int(index or 0),
                compute_type=self.compute_type,
                inter_threads=self.workers,
                intra_threads=intra,
            )
        finally:
            # CT2 sets the OpenMP thread count of the thread that loads it, which is torch's
            # too: left at 1, the next model loaded (and torch itself) would run on one thread.
            torch.set_num_threads(threads)
        # Hugging Face's Rust tokenizers refuse to be entered from two threads at once
        # ("Already borrowed"); tokenizing is a sliver of a batch's time, so workers take turns.
        self._tokenizing = threading.Lock()
        self._vocabulary = _target_vocabulary(self.path)
        self._options = self._generation_defaults()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "compute_type": self.compute_type,
            "workers": self.workers,
            "threads_per_worker": self.threads_per_worker,
            "converted": self.path.as_posix(),
        }

    def generate(self, texts: list[str], decoding: Decoding) -> list[Generation]:
        """Generate for `texts` with the same settings `TorchBackend` would use."""
        tokenizer, options = self.loaded.tokenizer, self._options
        # Tokenized exactly as the torch path does (special tokens kept, same length limit).
        with self._tokenizing:
            encoded = tokenizer(texts, truncation=True, max_length=self.loaded.max_input_tokens())["input_ids"]
            source = [tokenizer.convert_ids_to_tokens(ids) for ids in encoded]
        first = decoding.target_token or options["forced_first"]
        settings = {
            # torch counts the decoder start token in min_length; CT2 counts generated tokens.
            "min_decoding_length": max(0, decoding.min_length - 1),
            "no_repeat_ngram_size": decoding.no_repeat_ngram_size or options["no_repeat_ngram_size"],
            "repetition_penalty": (
                decoding.repetition_penalty if decoding.repetition_penalty != 1.0 else options["repetition_penalty"]
            ),
            "suppress_sequences": options["suppress"] or None,
        }
        results = self.translator.translate_batch(
            source,
            target_prefix=[[first]] * len(texts) if first else None,
            beam_size=decoding.beams,
            max_decoding_length=decoding.max_new_tokens,
            max_input_length=0,  # already cut to the model's limit above
            length_penalty=options["length_penalty"],
            patience=options["patience"] if decoding.early_stopping is None else 1 if decoding.early_stopping else 4,
            return_end_token=True,  # to tell an ended output from one cut at the cap
            return_scores=decoding.score,
            **settings,
        )
        hypotheses = [result.hypotheses[0] for result in results]
        ended = [bool(tokens) and tokens[-1] == tokenizer.eos_token for tokens in hypotheses]
        altered = settings["min_decoding_length"] or settings["no_repeat_ngram_size"] or settings["suppress_sequences"]
        if not decoding.score:
            scores: list[float | None] = [None] * len(hypotheses)
        elif first or altered or settings["repetition_penalty"] != 1.0:
            # CT2's scores come from the altered distribution (banned end or words, penalties)
            # and count a forced token as certain; torch scores the model's own probabilities,
            # and --min-score must mean the same with either backend: score them again.
            targets = [tokens[:-1] if end else tokens for tokens, end in zip(hypotheses, ended)]
            scored = self.translator.score_batch(source, targets, max_input_length=0)
            # score_batch always appends end-of-sentence; an output cut at the cap had none.
            logps = [r.log_probs if end else r.log_probs[:-1] for r, end in zip(scored, ended)]
            scores = [sum(row) / max(len(row), 1) for row in logps]
        else:
            # CT2 divides summed log-probabilities by length ** length_penalty; undo the exponent.
            exponent = options["length_penalty"] - 1
            scores = [r.scores[0] * max(len(t), 1) ** exponent for r, t in zip(results, hypotheses)]
        with self._tokenizing:
            texts_out = [
                tokenizer.decode(tokenizer.convert_tokens_to_ids(tokens), skip_special_tokens=True).strip()
                for tokens in hypotheses
            ]
        return [
            Generation(text, score, len(tokens), hit_max_length=not end and len(tokens) >= decoding.max_new_tokens)
            for text, tokens, score, end in zip(texts_out, hypotheses, scores, ended, strict=True)
        ]

    def _generation_defaults(self) -> dict[str, Any]:
        """Settings torch's `generate` takes from the model's generation config, for CT2 to match."""
        config = self.loaded.generation_config
        tokenizer = self.loaded.tokenizer
        forced = getattr(config, "forced_bos_token_id", None)
        # Banned words outside CT2's vocabulary (Marian's <pad>, dropped by the converter)
        # cannot be generated anyway, and CT2 refuses to suppress unknown tokens.
        suppress = [tokenizer.convert_ids_to_tokens(list(ids)) for ids in getattr(config, "bad_words_ids", None) or []]
        return {
            # BART is trained to emit <s> first (forced_bos_token_id); CT2 does not know it.
            "forced_first": tokenizer.convert_ids_to_tokens(forced) if forced is not None else None,
            "no_repeat_ngram_size": getattr(config, "no_repeat_ngram_size", 0) or 0,
            "repetition_penalty": getattr(config, "repetition_penalty", 1.0) or 1.0,
            "length_penalty": getattr(config, "length_penalty", 1.0) or 1.0,
            # transformers' beam search (early_stopping=False) goes on while a live beam
            # can still win; CT2 stops at beams x patience finished outputs, and with 1 it
            # returned "rate by 0." for "rate by 0.1 percentage points". 4 matched torch on
            # every test sentence with 2, 4 and 6 beams, repetition penalties included.
            "patience": 1 if getattr(config, "early_stopping", False) is True else 4,
            "suppress": [seq for seq in suppress if all(token in self._vocabulary for token in seq)],
        }


def resolve_compute_type(compute_type: str, device: str) -> str:
    """`auto` is int8 on CPU and int8_float16 on CUDA (else float16, else int8); others are checked."""
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types(device)
    if compute_type == "auto":
        preferred = ("int8",) if device == "cpu" else ("int8_float16", "float16", "int8")
        return next((kind for kind in preferred if kind in supported), "float32")
    if compute_type not in supported:
        raise DeviceError(
            f"compute type '{compute_type}' is not supported on {device}; "
            f"use one of {', '.join(sorted(supported))} or auto"
        )
    return compute_type


def converted_model(loaded: LoadedModel, quantization: str, *, into: Path | None = None) -> Path:
    """The CT2 copy of `loaded`'s model, converted on first use; one folder per revision and quantization.

    `quantization` is a CT2 compute type (int8, int8_float16, float16, float32, ...).
    `into` is the folder to keep it in (`ja2en models convert`: `models/ct2/`); by default
    the user cache, or `models/ct2/` for a model of the local store, and when that is not
    writable the other one, with a Ja2enWarning.
    """
    name = _folder_name(loaded.resolved, quantization)
    places = [into] if into is not None else _places(loaded.resolved)
    for place in places:
        if _is_folder(place / name):  # only ever created by the rename below, so it is complete
            return place / name
    failures: list[tuple[Path, OSError]] = []
    for place in places:
        try:
            staging = _staging_folder(place, name)
        except OSError as exc:
            failures.append((place, exc))
            continue
        if failures:
            unwritable, exc = failures[0]
            warnings.warn(
                f"{unwritable}: not writable ({_reason(exc)}); keeping the ct2 conversion in {place} instead",
                Ja2enWarning,
                stacklevel=2,
            )
        return _convert_into(loaded, staging, place / name, quantization)
    model = loaded.resolved.name
    if into is not None:
        raise ModelError(
            f"cannot store the ct2 conversion of model '{model}': {into} is not writable ({_reason(failures[0][1])}); "
            "run from a folder where models/ can be written, or set JA2EN_MODELS_DIR to a writable folder"
        )
    (first, first_exc), (second, second_exc) = failures
    raise ModelError(
        f"cannot store the ct2 conversion of model '{model}': neither {first} ({_reason(first_exc)}) "
        f"nor {second} ({_reason(second_exc)}) is writable; set JA2EN_CACHE_DIR to a writable folder, "
        "or use --backend torch"
    )


def _folder_name(resolved: ResolvedModel, quantization: str) -> str:
    parts = [p for p in PurePosixPath(resolved.name.replace("\\", "/")).parts if p not in ("/", ".", "..", "~")]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", "--".join(parts[-2:])).strip("-.") or "model"
    return f"{readable}-{resolved.revision}-{quantization}-c{CONVERSION_VERSION}"


def _places(resolved: ResolvedModel) -> list[Path]:
    """Where a conversion may be kept, the preferred first: beside a model of the local store, else the cache."""
    store, cache = models_dir() / "ct2", default_cache_dir() / "ct2"
    try:
        in_store = resolved.path.resolve().is_relative_to(models_dir().resolve())
    except OSError:
        in_store = False
    return [store, cache] if in_store else [cache, store]


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a parent that cannot be searched: as good as absent
        return False


def _staging_folder(place: Path, name: str) -> Path:
    """A fresh folder in `place` to convert into; OSError if `place` cannot be written."""
    place.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.", dir=place))


def _convert_into(loaded: LoadedModel, staging: Path, target: Path, quantization: str) -> Path:
    """Convert into `staging`, then rename it to `target` in one step, so a folder there is always complete."""
    resolved = loaded.resolved
    try:
        _convert(resolved.name, resolved.path, staging, quantization)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not another process winning the race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _reason(exc: OSError) -> str:
    return exc.strerror or first_line(exc)


def _convert(name: str, source: Path, output: Path, quantization: str) -> None:
    """Run CT2's transformers converter quietly; ModelError if it cannot convert the model."""
    from ctranslate2.converters import TransformersConverter
    from transformers.utils import logging as hf_logging

    class Converter(TransformersConverter):
        def load_model(self, model_class: Any, path: str, **kwargs: Any) -> Any:
            model = super().load_model(model_class, path, **kwargs)
            # CT2's BART loader reads `normalize_before`, which only configs exported by
            # older transformers carry; transformers' BART is always post-norm.
            if model.config.model_type == "bart" and not hasattr(model.config, "normalize_before"):
                model.config.normalize_before = False
            if model.config.model_type in _T5_FAMILY:
                model.config.tie_word_embeddings = _scales_decoder_output(model.config)
            return model

    # The library never prints: hush transformers' bars and warnings while it loads the model.
    bars_were_on, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Converter(str(source)).convert(str(output), quantization=quantization, force=True)
    except Exception as exc:  # the converter fails with whatever the loader hit (ValueError, KeyError, ...)
        model_type = _model_type(source)
        reason = first_line(exc).split(" (supported configurations")[0]
        raise ModelError(
            f"model '{name}' ({model_type}) cannot be converted for the ct2 backend ({reason}); use --backend torch"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()


# Converted by CT2's T5 loader, which reads tie_word_embeddings as "scale the decoder output".
_T5_FAMILY = ("t5", "mt5", "umt5")


def _scales_decoder_output(config: Any) -> bool:
    """Whether transformers multiplies this T5-family decoder's output by d_model**-0.5 before lm_head.

    CT2 applies that scale whenever `tie_word_embeddings` is set, as transformers 4 did. In
    transformers 5 every T5-family config says tie_word_embeddings=True, whatever the
    checkpoint; T5 and umT5 keep the original flag as `scale_decoder_outputs` and scale by
    it, and mT5 (whose lm_head is its own, never the shared embedding) never scales. Left
    alone, CT2 flattened mT5's logits 8-fold at d_model 64: the greedy argmax survives, but
    beam search ranks by those scores and picked other, worse summaries than transformers.
    """
    return bool(getattr(config, "scale_decoder_outputs", False))


def _model_type(path: Path) -> str:
    try:
        return str(json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type", "unknown"))
    except (OSError, ValueError):
        return "unknown"


def _target_vocabulary(path: Path) -> set[str]:
    """The tokens CT2 can generate, from the converted model's vocabulary file."""
    for name in ("target_vocabulary.json", "shared_vocabulary.json"):
        if (path / name).is_file():
            return set(json.loads((path / name).read_text(encoding="utf-8")))
    return set()
