"""Summaries on CPU: one chunk at a time or batched, one worker on every thread or one per thread.

The distilbart-cnn-12-6-shaped random BART (benchmarks/synthetic.py) in CT2 int8, as ja2en
converts it, 60 new tokens per summary (min = max, as the benchmarks fix lengths), beam 1
and beam 4. Inputs: one 1,018-token document, and 8 chunks of about 600 tokens (a long
document's map step, or the chunks of several documents in one group). For each thread
layout (inter_threads x intra_threads):

- the lone document;
- the 8 chunks one call each (one by one);
- the 8 chunks in one call (one batch, or split by CT2 over its workers: 2 x 4, 4 x 2);
- ja2en's Summarizer.summarize_many on 8 one-chunk documents, workers=1 and one per thread.

Best of 2 runs after a warm-up. One JSON object on stdout.

    .venv/bin/python benchmarks/summary_layouts.py      # ~4 min here
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = Path("/tmp/ja2en-benchmark/summary-layouts")
os.environ.setdefault("JA2EN_CACHE_DIR", str(WORK / "cache"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

NEW_TOKENS = 60


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def best_of(fn: Any, repeats: int = 2) -> float:
    fn()
    runs = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - tick)
    return round(min(runs), 3)


def main() -> None:
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import ctranslate2
    import synthetic
    import torch

    from ja2en import Summarizer

    WORK.mkdir(parents=True, exist_ok=True)
    bart = WORK / "bart"
    if not (bart / "config.json").is_file():
        staging = WORK / f"bart-{os.getpid()}"
        log("building the random BART ...")
        synthetic.build_bart(staging)
        os.rename(staging, bart)
    threads = torch.get_num_threads()
    ja2en = {w: Summarizer(str(bart), backend="ct2", device="cpu", workers=w) for w in (1, None)}
    tokenizer = ja2en[1].loaded.tokenizer
    path = str(ja2en[1].backend.path)
    options = ja2en[1].backend._options
    document = " ".join(synthetic.summary_document(tokenizer))
    chunks = [" ".join(synthetic.summary_document(tokenizer, tokens=600, seed=10 + i)) for i in range(8)]

    def source(texts: list[str]) -> list[list[str]]:
        ids = tokenizer(texts, truncation=True, max_length=1024)["input_ids"]
        return [tokenizer.convert_ids_to_tokens(row) for row in ids]

    lone, eight = source([document]), source(chunks)
    first = options["forced_first"]
    rows: list[dict[str, Any]] = []
    layouts = [(1, threads)] + ([(threads, 1)] if threads > 1 else [])
    for beams in (1, 4):
        settings = {"beam_size": beams, "min_decoding_length": NEW_TOKENS - 1, "max_decoding_length": NEW_TOKENS,
                    "no_repeat_ngram_size": options["no_repeat_ngram_size"], "length_penalty": options["length_penalty"],
                    "max_input_length": 0}  # fmt: skip
        for inter, intra in layouts:
            translator = ctranslate2.Translator(path, device="cpu", compute_type="int8", inter_threads=inter, intra_threads=intra)
            torch.set_num_threads(threads)  # CT2 lowered it for this thread; keep torch's own

            def run(batch: list[list[str]], per_call: int = 0, translator: Any = translator) -> None:
                prefix = [[first]] * len(batch) if first else None
                translator.translate_batch(batch, target_prefix=prefix, max_batch_size=per_call, **settings)

            layout = f"{inter}x{intra}"
            cases = {
                "lone document": lambda run=run: run(lone),
                "8 chunks, one call each": lambda run=run: [run([row]) for row in eight],
                "8 chunks, one call": lambda run=run: run(eight),
            }
            if inter > 1:
                cases["8 chunks, one call, 2 x 4 across workers"] = lambda run=run: run(eight, 4)
                cases["8 chunks, one call, 4 x 2 across workers"] = lambda run=run: run(eight, 2)
            for case, fn in cases.items():
                rows.append({"beams": beams, "layout": layout, "case": case, "best_s": best_of(fn)})
                log(f"beam {beams} {layout} {case}: {rows[-1]['best_s']} s")
            del translator
        for workers, summarizer in ja2en.items():
            summarizer.beams, summarizer.max_new_tokens, summarizer.min_length = beams, NEW_TOKENS, NEW_TOKENS
            name = "workers=1 (default)" if workers == 1 else "one worker per thread"
            seconds = best_of(lambda s=summarizer: s.summarize_many([[chunk] for chunk in chunks]))
            rows.append({"beams": beams, "layout": f"ja2en {name}", "case": "8 one-chunk documents, summarize_many", "best_s": seconds})
            log(f"beam {beams} ja2en {name}: {seconds} s")
            seconds = best_of(lambda s=summarizer: s.summarize([document]))
            rows.append({"beams": beams, "layout": f"ja2en {name}", "case": "lone document, summarize", "best_s": seconds})
            log(f"beam {beams} ja2en {name} lone: {seconds} s")
    print(json.dumps({"threads": threads, "new_tokens": NEW_TOKENS, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
