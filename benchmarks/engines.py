"""One measurement per process: benchmarks/run.py starts `python benchmarks/engines.py SPEC`.

Each engine runs in its own process so its peak RSS (ru_maxrss at the end) is its own and
one engine failing to load cannot take the others down. The child prints progress to
stderr and one JSON object (its result) as the last line of stdout.

Output lengths are fixed so timings do not depend on what the random weights generate:
translations get a cap of 40 new tokens and no minimum, as ja2en's own decoding has none
(a minimum would send ct2.py down its re-scoring path, which real translations never
take); the random Marian never emits end-of-sentence, so every sentence takes exactly 40
tokens, and each result says so (`full_length`). Summaries get min = max = 60 new tokens,
as the Summarizer always sets a minimum. ja2en's quality guard, which would re-decode
random outputs, is switched off.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MiB.

    VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so a child started by a big
    parent reports the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


class Stopwatch:
    """Wall and CPU seconds (all threads) of a measured region."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore")


class ModelCalls:
    """Wraps a backend's `generate` to count the time, rows and tokens of model calls.

    `seconds` adds up every call's own time (two workers side by side count twice);
    `busy_seconds` is the wall time during which at least one call was running.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.busy_seconds = 0.0
        self.calls = 0
        self.rows: list[int] = []
        self.tokens = 0
        self._running = 0
        self._since = 0.0
        self._lock = threading.Lock()

    def wrap(self, backend: Any) -> None:
        inner = backend.generate

        def generate(texts: list[str], decoding: Any) -> list[Any]:
            tick = time.perf_counter()
            with self._lock:
                self._running += 1
                if self._running == 1:
                    self._since = tick
            try:
                out = inner(texts, decoding)
            finally:
                tock = time.perf_counter()
                with self._lock:
                    self._running -= 1
                    if self._running == 0:
                        self.busy_seconds += tock - self._since
                    self.seconds += tock - tick
            self.calls += 1
            self.rows.append(len(texts))
            self.tokens += sum(g.tokens for g in out)
            return out

        backend.generate = generate  # the instance attribute shadows the method

    def reset(self) -> None:
        self.__init__()


def force_translation_length(translator: Any, tokens: int) -> None:
    """Make every batch of `translator` stop at `tokens` new tokens, guard off."""
    from ja2en.backends import Decoding

    if not hasattr(translator, "_decoding_for"):
        raise RuntimeError("ja2en.Translator has no _decoding_for to fix output lengths with; update benchmarks/engines.py")
    translator.guard = False

    def decoding_for(longest: int) -> Decoding:
        return Decoding(beams=translator.beams, max_new_tokens=tokens, target_token=translator._target_token)

    translator._decoding_for = decoding_for


def force_summary_length(summarizer: Any, tokens: int) -> None:
    if not (hasattr(summarizer, "max_new_tokens") and hasattr(summarizer, "min_length")):
        raise RuntimeError("ja2en.Summarizer has no max_new_tokens/min_length to fix output lengths with")
    summarizer.max_new_tokens = summarizer.min_length = tokens


def throughput(sentences: int, tokens: int, clock: Stopwatch | tuple[float, float], new_tokens: int) -> dict[str, Any]:
    seconds, cpu = clock.stop() if isinstance(clock, Stopwatch) else clock
    return {
        "sentences": sentences,
        "generated_tokens": tokens,
        "full_length": tokens == sentences * new_tokens,
        "seconds": round(seconds, 3),
        # CPU seconds per wall second: near the thread count when the machine is quiet.
        "cpu_utilization": round(cpu / seconds, 2),
        "sentences_per_s": round(sentences / seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
    }


# --------------------------------------------------------------------------- translation


def translate_hf(spec: dict[str, Any]) -> dict[str, Any]:
    """The naive loop: `model.generate` on one sentence at a time, fp32."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    quiet_transformers()
    tick = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForSeq2SeqLM.from_pretrained(spec["model"], dtype=torch.float32).eval()
    load = time.perf_counter() - tick
    beams, new = spec["beams"], spec["new_tokens"]

    def one(sentence: str, tokens: int) -> tuple[str, int]:
        encoded = tokenizer([sentence], return_tensors="pt")
        out = model.generate(**encoded, num_beams=beams, do_sample=False, max_new_tokens=tokens)
        return tokenizer.decode(out[0], skip_special_tokens=True), out.shape[1] - 1  # minus the decoder start

    one(spec["warmup"][0], 4)
    sentences = spec["sentences"]
    clock = Stopwatch()
    generated = 0
    for i, sentence in enumerate(sentences):
        generated += one(sentence, new)[1]
        if i % 16 == 15:
            log(f"{i + 1}/{len(sentences)} sentences")
    return {"load_s": round(load, 2), **throughput(len(sentences), generated, clock, new)}


def translate_ja2en(spec: dict[str, Any]) -> dict[str, Any]:
    """ja2en.Translator at its default batching, one backend."""
    from ja2en import Translator

    quiet_transformers()
    options = {"quantize": spec["quantize"]} if spec["backend"] == "torch" else {}
    options |= {k: spec[k] for k in ("batch_tokens", "batch_size", "workers") if k in spec}  # else ja2en's defaults
    tick = time.perf_counter()
    translator = Translator(spec["model"], backend=spec["backend"], beams=spec["beams"], device="cpu", guard=False, **options)
    load = time.perf_counter() - tick
    force_translation_length(translator, spec["new_tokens"])
    calls = ModelCalls()
    calls.wrap(translator.backend)
    translator.translate(spec["warmup"])

    def once() -> tuple[tuple[float, float], int]:
        calls.reset()
        clock = Stopwatch()
        translator.translate(spec["sentences"])
        return clock.stop(), calls.tokens

    runs = [once() for _ in range(spec["repeats"])]
    clock, tokens = sorted(runs)[len(runs) // 2]
    return {
        "load_s": round(load, 2),
        **throughput(len(spec["sentences"]), tokens, clock, spec["new_tokens"]),
        "runs_s": [round(r[0][0], 3) for r in runs],
        "batches": calls.rows,
        "model_call_s": round(calls.busy_seconds, 3),
        "describe": translator.backend.describe(),
        "batch_size": translator.batch_size,
        "batch_tokens": translator.batch_tokens,
    }


def translate_ct2_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """A hand-written CTranslate2 loop: tokenize, translate_batch, detokenize."""
    import ctranslate2
    from transformers import AutoTokenizer

    quiet_transformers()
    tick = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    threads = os.cpu_count() or 1
    translator = ctranslate2.Translator(spec["ct2_model"], device="cpu", compute_type="int8", intra_threads=threads)
    load = time.perf_counter() - tick
    new = spec["new_tokens"]

    def run(sentences: list[str], tokens: int) -> tuple[list[str], int]:
        source = [tokenizer.convert_ids_to_tokens(tokenizer.encode(s)) for s in sentences]
        results = translator.translate_batch(
            source, max_batch_size=spec["batch_size"], beam_size=spec["beams"], max_decoding_length=tokens
        )
        hypotheses = [r.hypotheses[0] for r in results]
        texts = [tokenizer.decode(tokenizer.convert_tokens_to_ids(h), skip_special_tokens=True) for h in hypotheses]
        return texts, sum(len(h) for h in hypotheses)

    run(spec["warmup"], 4)

    def once() -> tuple[tuple[float, float], int]:
        clock = Stopwatch()
        _, generated = run(spec["sentences"], new)
        return clock.stop(), generated

    runs = [once() for _ in range(spec["repeats"])]
    clock, generated = sorted(runs)[len(runs) // 2]
    return {
        "load_s": round(load, 2),
        **throughput(len(spec["sentences"]), generated, clock, new),
        "runs_s": [round(r[0][0], 3) for r in runs],
        "batch_size": spec["batch_size"],
        "intra_threads": threads,
    }


def translate_ct2_tuned(spec: dict[str, Any]) -> dict[str, Any]:
    """CTranslate2 batched by hand as well as it goes: one `translate_batch` over every sentence,
    batched by source tokens (`batch_type="tokens"`), for each thread layout and token budget.

    Layouts are (inter_threads, intra_threads): one worker on every thread, and one worker per
    thread (CT2 then runs its sub-batches side by side). Tokenized as ja2en tokenizes.
    """
    import ctranslate2
    from transformers import AutoTokenizer

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    threads = spec.get("threads") or os.cpu_count() or 1
    new, beams = spec["new_tokens"], spec["beams"]

    def run(translator: Any, sentences: list[str], budget: int, tokens: int) -> tuple[list[str], int]:
        encoded = tokenizer(sentences, truncation=True, max_length=512)["input_ids"]
        source = [tokenizer.convert_ids_to_tokens(ids) for ids in encoded]
        results = translator.translate_batch(
            source, max_batch_size=budget, batch_type="tokens", beam_size=beams, max_decoding_length=tokens,
            max_input_length=0,
        )  # fmt: skip
        hypotheses = [r.hypotheses[0] for r in results]
        texts = [tokenizer.decode(tokenizer.convert_tokens_to_ids(h), skip_special_tokens=True) for h in hypotheses]
        return texts, sum(len(h) for h in hypotheses)

    rows = []
    layouts = [(1, threads)] + ([(threads, 1)] if threads > 1 else [])
    for inter, intra in layouts:
        translator = ctranslate2.Translator(
            spec["ct2_model"], device="cpu", compute_type="int8", inter_threads=inter, intra_threads=intra
        )
        run(translator, spec["warmup"], 1024, 4)
        for budget in spec["budgets"]:
            def once(translator: Any = translator, budget: int = budget) -> tuple[tuple[float, float], int]:
                clock = Stopwatch()
                _, generated = run(translator, spec["sentences"], budget, new)
                return clock.stop(), generated

            runs = [once() for _ in range(spec["repeats"])]
            clock, generated = sorted(runs)[len(runs) // 2]
            row = {"layout": f"{inter}x{intra}", "budget": budget, **throughput(len(spec["sentences"]), generated, clock, new)}
            row["runs_s"] = [round(r[0][0], 3) for r in runs]
            log(f"{row['layout']} {budget} tokens: {row['seconds']} s")
            rows.append(row)
        del translator
    best = max(rows, key=lambda r: r["sentences_per_s"])
    return {**{k: best[k] for k in ("sentences", "generated_tokens", "full_length", "seconds", "sentences_per_s", "tokens_per_s", "cpu_utilization")},
            "best": f"{best['layout']}, {best['budget']} tokens", "rows": rows}  # fmt: skip


# --------------------------------------------------------------------------- summarization


def median_run(runs: list[tuple[tuple[float, float], Any, Any]]) -> dict[str, Any]:
    """The median of repeated runs (wall seconds, CPU utilization), and every run's wall time."""
    wall, cpu = sorted((r[0] for r in runs), key=lambda t: t[0])[len(runs) // 2]
    return {"seconds": round(wall, 3), "cpu_utilization": round(cpu / wall, 2), "runs_s": [round(r[0][0], 3) for r in runs]}


def summarize_hf(spec: dict[str, Any]) -> dict[str, Any]:
    """`model.generate` on the whole document, fp32 greedy."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    quiet_transformers()
    tick = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForSeq2SeqLM.from_pretrained(spec["model"], dtype=torch.float32).eval()
    load = time.perf_counter() - tick
    new = spec["new_tokens"]

    def once(tokens: int) -> tuple[tuple[float, float], int, int]:
        clock = Stopwatch()
        encoded = tokenizer(" ".join(spec["document"]), return_tensors="pt", truncation=True)
        out = model.generate(**encoded, num_beams=1, do_sample=False, min_new_tokens=tokens, max_new_tokens=tokens)
        tokenizer.decode(out[0], skip_special_tokens=True)
        return clock.stop(), encoded["input_ids"].shape[1], out.shape[1] - 1

    once(2)
    runs = [once(new) for _ in range(spec["repeats"])]
    return {"load_s": round(load, 2), "input_tokens": runs[0][1], "generated_tokens": runs[0][2], **median_run(runs)}


def summarize_ja2en(spec: dict[str, Any]) -> dict[str, Any]:
    """ja2en.Summarizer with one backend, greedy."""
    from ja2en import Summarizer

    quiet_transformers()
    options = {"quantize": spec["quantize"]} if spec["backend"] == "torch" else {}
    options |= {"workers": spec["workers"]} if "workers" in spec else {}
    new = spec["new_tokens"]
    tick = time.perf_counter()
    summarizer = Summarizer(spec["model"], backend=spec["backend"], beams=1, max_new_tokens=new, device="cpu", **options)
    load = time.perf_counter() - tick
    calls = ModelCalls()
    calls.wrap(summarizer.backend)
    force_summary_length(summarizer, 2)
    summarizer.summarize(spec["document"])
    force_summary_length(summarizer, new)

    def once() -> tuple[tuple[float, float], Any, int]:
        calls.reset()
        clock = Stopwatch()
        summary = summarizer.summarize(spec["document"])
        return clock.stop(), summary, calls.tokens

    runs = [once() for _ in range(spec["repeats"])]
    summary = runs[0][1]
    return {
        "load_s": round(load, 2),
        "input_tokens": summary.input_tokens,
        "chunks": summary.chunks,
        "generated_tokens": runs[0][2],
        **median_run(runs),
        "describe": summarizer.backend.describe(),
    }


def summarize_ct2_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """CTranslate2 `translate_batch` on the whole document, with the settings ja2en's ct2 path uses
    (greedy, min = max = 60 new tokens, BART's forced <s>, the model's no-repeat n-grams), for each
    thread layout. ja2en's own conversion of the model is used, so the weights are the same."""
    import ctranslate2

    from ja2en import Summarizer

    quiet_transformers()
    new = spec["new_tokens"]
    summarizer = Summarizer(spec["model"], backend="ct2", beams=1, max_new_tokens=new, device="cpu")
    path, tokenizer = str(summarizer.backend.path), summarizer.loaded.tokenizer
    options = summarizer.backend._options  # the generation config's settings, as ja2en reads them
    del summarizer
    threads = spec.get("threads") or os.cpu_count() or 1
    first = options["forced_first"]

    def run(translator: Any, tokens: int) -> tuple[str, int]:
        ids = tokenizer(" ".join(spec["document"]), truncation=True, max_length=1024)["input_ids"]
        result = translator.translate_batch(
            [tokenizer.convert_ids_to_tokens(ids)], target_prefix=[[first]] if first else None, beam_size=1,
            min_decoding_length=tokens - 1, max_decoding_length=tokens, max_input_length=0,
            no_repeat_ngram_size=options["no_repeat_ngram_size"], length_penalty=options["length_penalty"],
        )[0].hypotheses[0]  # fmt: skip
        return tokenizer.decode(tokenizer.convert_tokens_to_ids(result), skip_special_tokens=True), len(result)

    rows = []
    for inter, intra in [(1, threads)] + ([(threads, 1)] if threads > 1 else []):
        translator = ctranslate2.Translator(path, device="cpu", compute_type="int8", inter_threads=inter, intra_threads=intra)
        run(translator, 2)
        runs = []
        for _ in range(spec["repeats"]):
            clock = Stopwatch()
            _, generated = run(translator, new)
            runs.append((clock.stop(), None, generated))
        rows.append({"layout": f"{inter}x{intra}", "generated_tokens": runs[0][2], **median_run(runs)})
        log(f"{inter}x{intra}: {rows[-1]['seconds']} s")
        del translator
    best = min(rows, key=lambda r: r["seconds"])
    return {"seconds": best["seconds"], "best": best["layout"], "rows": rows}


# --------------------------------------------------------------------------- the whole pipeline


def pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """`ja2en.translate_documents` on a corpus folder at default settings (lengths forced)."""
    import shutil

    import ja2en
    from ja2en import Summarizer, Translator

    quiet_transformers()
    translation, summarization = ModelCalls(), ModelCalls()
    translator_init, summarizer_init = Translator.__init__, Summarizer.__init__

    def patched_translator(self: Any, *args: Any, **kwargs: Any) -> None:
        translator_init(self, *args, **kwargs)
        force_translation_length(self, spec["new_tokens"])
        translation.wrap(self.backend)

    def patched_summarizer(self: Any, *args: Any, **kwargs: Any) -> None:
        summarizer_init(self, *args, **kwargs)
        force_summary_length(self, spec["summary_tokens"])
        summarization.wrap(self.backend)

    Translator.__init__ = patched_translator  # type: ignore[method-assign]
    Summarizer.__init__ = patched_summarizer  # type: ignore[method-assign]
    output = Path(spec["output"])
    shutil.rmtree(output, ignore_errors=True)
    cache = Path(spec["cache"])
    cache.unlink(missing_ok=True)
    shown = {0}

    def progress(p: Any) -> None:
        step = max(1, p.documents_total // 5)
        if p.documents_done % step == 0 and p.documents_done not in shown:
            shown.add(p.documents_done)
            log(f"{p.documents_done}/{p.documents_total} documents")

    tick = time.perf_counter()
    result = ja2en.translate_documents(
        [spec["corpus"]], output_dir=output, model=spec["model"], summarizer_model=spec["summarizer"],
        backend=spec["backend"], device="cpu", cache=cache, progress=progress,
    )  # fmt: skip
    wall = time.perf_counter() - tick
    timings = result.manifest["this_run"]["timings"]
    model_seconds = translation.busy_seconds + summarization.busy_seconds  # the stages take turns
    outside = wall - model_seconds
    models = result.manifest["models"]
    summaries = [json.loads(line)["summary"] for line in (output / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    return {
        "documents": result.documents,
        "sentences": result.sentences,
        "errors": len(result.errors),
        "wall_s": round(wall, 2),
        "timings": timings,
        "model_call_s": round(model_seconds, 2),
        "translation_call_s": round(translation.busy_seconds, 2),
        "translation_call_thread_s": round(translation.seconds, 2),
        "translation_batches": translation.calls,
        "outputs_sha256": outputs_digest(output),
        "summarization_call_s": round(summarization.busy_seconds, 2),
        "summarization_call_thread_s": round(summarization.seconds, 2),
        "summarization_batches": summarization.calls,
        "summary_input_tokens_mean": round(sum(s["input_tokens"] for s in summaries) / len(summaries), 1),
        "summary_chunks_total": sum(s["chunks"] for s in summaries),
        "outside_model_calls_s": round(outside, 2),
        "outside_model_calls_share": round(outside / wall, 4),
        "outside_model_calls_share_excluding_load": round((outside - timings["load_s"]) / (wall - timings["load_s"]), 4),
        "sentences_per_s": round(result.sentences / wall, 2),
        "translation_settings": {k: models["translation"].get(k) for k in ("backend", "quantization", "compute_type", "beams", "batch_size", "batch_tokens")},
        "summarization_settings": {k: models["summarization"].get(k) for k in ("backend", "quantization", "compute_type", "beams", "max_new_tokens")},
    }


def outputs_digest(output: Path) -> str:
    """sha256 of what a run produced (every pair's English, score and flags, every summary), in order:
    equal digests mean the same outputs, whatever else (timings, paths) a record carries."""
    digest = hashlib.sha256()
    for line in (output / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        kept = {"id": record["id"], "pairs": [[p["ja"], p["en"], p.get("score"), p.get("flags")] for p in record["pairs"]],
                "summary": (record.get("summary") or {}).get("text")}  # fmt: skip
        digest.update(json.dumps(kept, ensure_ascii=False, sort_keys=True).encode() + b"\n")
    return digest.hexdigest()


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "translate_hf": translate_hf,
    "translate_ja2en": translate_ja2en,
    "translate_ct2_raw": translate_ct2_raw,
    "translate_ct2_tuned": translate_ct2_tuned,
    "summarize_hf": summarize_hf,
    "summarize_ja2en": summarize_ja2en,
    "summarize_ct2_raw": summarize_ct2_raw,
    "pipeline": pipeline,
}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result = TASKS[spec["task"]](spec)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
