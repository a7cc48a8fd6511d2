"""CTranslate2 threads and token budgets on real sentence lengths (issue 16): one process, one JSON.

Measures, on this machine's CPU, an opus-mt-ja-en-shaped random Marian converted to CT2
int8 by ja2en itself, on the seed article's sentences plus the fixture corpus's Japanese
(varied lengths), 40 new tokens per sentence (the random model never ends early; each
result says whether every output was full length), greedy and beam 4:

1. raw `ctranslate2.Translator`, (inter_threads, intra_threads) = (1, 2) and (2, 1), all
   sentences in ONE `translate_batch(..., max_batch_size=B, batch_type="tokens")` call;
2. the same with the sentences sorted by length first (longest first);
3. ja2en's `Translator(backend="ct2", beams=..., batch_tokens=...)` `translate()`, no cache.

Each configuration: the best of `--repeats` timed runs, after one untimed warm-up run per
translator and beam size (raw) or per Translator (ja2en).
Raw timings include tokenization and detokenization, as ja2en's do. os.getloadavg() is
recorded before and after each measurement. Prints one JSON object, then a markdown table.

    .venv/bin/python benchmarks/ct2_threads.py [--repeats 3] [--deadline-s 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/ja2en-benchmark/ct2-threads")
os.environ.setdefault("JA2EN_CACHE_DIR", str(WORK / "cache"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

NEW_TOKENS = 40
BUDGETS = (1024, 2048, 4096)
THREADS = ((1, 2), (2, 1))
JA2EN_BUDGETS = (2048, 4096)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> tuple[float, float, float]:
    return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]


def model_dir() -> tuple[Path, float]:
    """The random Marian, built once into WORK/marian (renamed into place when complete)."""
    path = WORK / "marian"
    if (path / "config.json").is_file() and (path / "vocab.json").is_file():
        return path, 0.0
    from synthetic import build_marian

    tick = time.perf_counter()
    staging = WORK / f"marian-build-{os.getpid()}"
    build_marian(staging)
    os.rename(staging, path)
    return path, time.perf_counter() - tick


def sentences() -> list[str]:
    from synthetic import real_sentences

    return real_sentences(ROOT)


class Raw:
    """A hand-written CT2 loop: tokenize as ja2en does, one translate_batch, detokenize."""

    def __init__(self, ct2_path: Path, tokenizer: Any, inter: int, intra: int) -> None:
        import ctranslate2

        self.tokenizer = tokenizer
        self.translator = ctranslate2.Translator(
            str(ct2_path),
            device="cpu",
            compute_type="int8",
            inter_threads=inter,
            intra_threads=intra,
        )

    def run(
        self, texts: list[str], beams: int, budget: int, sort: bool
    ) -> tuple[list[str], int]:
        tok = self.tokenizer
        order = list(range(len(texts)))
        encoded = tok(texts, truncation=True, max_length=512)["input_ids"]
        if sort:
            order.sort(key=lambda i: len(encoded[i]), reverse=True)
        source = [tok.convert_ids_to_tokens(encoded[i]) for i in order]
        results = self.translator.translate_batch(
            source,
            max_batch_size=budget,
            batch_type="tokens",
            beam_size=beams,
            max_decoding_length=NEW_TOKENS,
            max_input_length=0,
        )
        hyps = [r.hypotheses[0] for r in results]
        decoded = [
            tok.decode(tok.convert_tokens_to_ids(h), skip_special_tokens=True).strip()
            for h in hyps
        ]
        texts_out = [""] * len(texts)
        for i, text in zip(order, decoded, strict=True):
            texts_out[i] = text
        return texts_out, sum(len(h) for h in hyps)


def measure(fn: Any, repeats: int, warm: bool = True) -> dict[str, Any]:
    """One untimed run (unless already warm), then `repeats` timed ones; the best, every run, load before/after."""
    before = load()
    if warm:
        fn()
    runs, outputs, tokens = [], None, 0
    for _ in range(repeats):
        tick = time.perf_counter()
        outputs, tokens = fn()
        runs.append(time.perf_counter() - tick)
    return {
        "best_s": round(min(runs), 3),
        "runs_s": [round(r, 3) for r in runs],
        "generated_tokens": tokens,
        "load_before": before,
        "load_after": load(),
        "_outputs": outputs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=1500,
        help="skip the sorted beam-4 runs past this",
    )
    parser.add_argument("--sorted-beam4-budgets", type=int, nargs="*", default=[2048])
    args = parser.parse_args()
    started = time.perf_counter()
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    WORK.mkdir(parents=True, exist_ok=True)

    path, build_s = model_dir()
    log(f"model {path} (built in {build_s:.0f} s)")
    import torch

    from ja2en import Translator

    tick = time.perf_counter()
    convert = Translator(
        str(path), backend="ct2", device="cpu", guard=False, cache=None
    )
    convert_s = time.perf_counter() - tick
    ct2_path = convert.backend.path
    tokenizer = convert.loaded.tokenizer
    texts = sentences()
    lengths = sorted(len(ids) for ids in tokenizer(texts)["input_ids"])
    log(
        f"{len(texts)} sentences, source tokens min {lengths[0]} median {lengths[len(lengths) // 2]} "
        f"mean {sum(lengths) / len(lengths):.1f} max {lengths[-1]}; ct2 model {ct2_path} ({convert_s:.0f} s)"
    )
    result: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "new_tokens": NEW_TOKENS,
        "repeats": args.repeats,
        "sentences": len(texts),
        "source_tokens": {
            "min": lengths[0],
            "median": lengths[len(lengths) // 2],
            "mean": round(sum(lengths) / len(lengths), 1),
            "max": lengths[-1],
            "total": sum(lengths),
            "over_100": sum(n > 100 for n in lengths),
        },
        "model_build_s": round(build_s, 1),
        "ja2en_load_and_convert_s": round(convert_s, 1),
        "rows": [],
    }
    del convert

    raws = {t: Raw(ct2_path, tokenizer, *t) for t in THREADS}
    outputs: dict[tuple, list[str]] = {}
    warmed: set[tuple] = set()
    phase_s: dict[str, float] = {}

    def raw_row(beams: int, threads: tuple[int, int], budget: int, sort: bool) -> None:
        name = f"raw ct2 {threads[0]}x{threads[1]}, {budget} tokens{', sorted' if sort else ''}"
        # Untimed warm-up on each translator's first use at each beam size; later configurations
        # of the same translator run warm (the time box does not allow a warm-up per row).
        first = (threads, beams) not in warmed
        warmed.add((threads, beams))
        row = measure(
            lambda: raws[threads].run(texts, beams, budget, sort),
            args.repeats,
            warm=first,
        )
        outputs[("raw", beams, threads, budget, sort)] = row.pop("_outputs")
        row |= {"config": name, "kind": "raw", "beams": beams, "inter": threads[0], "intra": threads[1],
                "budget": budget, "sorted": sort, "full_length": row["generated_tokens"] == len(texts) * NEW_TOKENS}  # fmt: skip
        result["rows"].append(row)
        log(
            f"beam {beams} {name}: {row['best_s']} s {row['runs_s']} load {row['load_before']}->{row['load_after']}"
        )

    def ja2en_row(beams: int, budget: int) -> None:
        from engines import ModelCalls, force_translation_length

        translator = Translator(str(path), backend="ct2", device="cpu", beams=beams, batch_tokens=budget,
                                guard=False, cache=None)  # fmt: skip
        force_translation_length(translator, NEW_TOKENS)
        calls = ModelCalls()
        calls.wrap(translator.backend)

        def once() -> tuple[list[str], int]:
            calls.reset()
            return translator.translate(texts), calls.tokens

        row = measure(once, args.repeats)
        outputs[("ja2en", beams, budget)] = row.pop("_outputs")
        row |= {"config": f"ja2en Translator, batch_tokens {budget}" + (" (default)" if budget == 4096 else ""),
                "kind": "ja2en", "beams": beams, "budget": budget, "batches": len(calls.rows),
                "full_length": row["generated_tokens"] == len(texts) * NEW_TOKENS}  # fmt: skip
        result["rows"].append(row)
        log(
            f"beam {beams} {row['config']}: {row['best_s']} s {row['runs_s']} ({len(calls.rows)} batches)"
        )

    # Cheapest first; the sorted beam-4 runs last, dropped past the deadline.
    tick = time.perf_counter()
    for sort in (False, True):
        for budget in BUDGETS:
            for threads in THREADS:
                raw_row(1, threads, budget, sort)
    phase_s["raw_greedy"] = time.perf_counter() - tick
    tick = time.perf_counter()
    for budget in JA2EN_BUDGETS:
        ja2en_row(1, budget)
    phase_s["ja2en_greedy"] = time.perf_counter() - tick
    tick = time.perf_counter()
    for budget in BUDGETS:
        for threads in THREADS:
            raw_row(4, threads, budget, False)
    phase_s["raw_beam4_unsorted"] = time.perf_counter() - tick
    tick = time.perf_counter()
    for budget in JA2EN_BUDGETS:
        ja2en_row(4, budget)
    phase_s["ja2en_beam4"] = time.perf_counter() - tick
    tick = time.perf_counter()
    skipped = []
    for budget in args.sorted_beam4_budgets:
        for threads in THREADS:
            if time.perf_counter() - started > args.deadline_s:
                skipped.append(f"beam 4 {threads[0]}x{threads[1]} {budget} sorted")
                continue
            raw_row(4, threads, budget, True)
    phase_s["raw_beam4_sorted"] = time.perf_counter() - tick
    result["skipped"] = skipped
    result["phase_s"] = {k: round(v, 1) for k, v in phase_s.items()}

    # Identity checks: 1x2 vs 2x1 for the same batching; sorted vs not; ja2en vs raw.
    checks: dict[str, Any] = {
        "threads_1x2_vs_2x1": {},
        "sorted_vs_unsorted": {},
        "ja2en_vs_raw_2048": {},
    }
    for (kind, beams, *rest), out in outputs.items():
        if kind != "raw":
            continue
        threads, budget, sort = rest
        if threads == (1, 2) and ("raw", beams, (2, 1), budget, sort) in outputs:
            same = out == outputs[("raw", beams, (2, 1), budget, sort)]
            checks["threads_1x2_vs_2x1"][
                f"beam{beams} {budget}{' sorted' if sort else ''}"
            ] = same
        if sort and ("raw", beams, threads, budget, False) in outputs:
            same = out == outputs[("raw", beams, threads, budget, False)]
            checks["sorted_vs_unsorted"][
                f"beam{beams} {threads[0]}x{threads[1]} {budget}"
            ] = same
    for beams in (1, 4):
        for budget in JA2EN_BUDGETS:
            j = outputs.get(("ja2en", beams, budget))
            r = outputs.get(("raw", beams, (1, 2), 2048, False))
            if j is not None and r is not None:
                checks["ja2en_vs_raw_2048"][f"beam{beams} ja2en {budget}"] = sum(
                    a == b for a, b in zip(j, r)
                ) / len(r)
    # Across budgets raw outputs may differ (padding changes int8 results slightly): count it.
    for beams in (1, 4):
        base = outputs.get(("raw", beams, (1, 2), 2048, False))
        if base:
            checks[f"beam{beams}_raw_budget_agreement_vs_2048"] = {
                str(b): sum(a == c for a, c in zip(outputs[("raw", beams, (1, 2), b, False)], base)) / len(base)
                for b in BUDGETS if ("raw", beams, (1, 2), b, False) in outputs
            }  # fmt: skip
    result["checks"] = checks
    result["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, ensure_ascii=False))

    # The table: one line per configuration, greedy and beam-4 best seconds.
    table: dict[str, dict[int, float]] = {}
    for row in result["rows"]:
        table.setdefault(row["config"], {})[row["beams"]] = row["best_s"]
    print("\n| configuration | greedy s | beam-4 s |\n|---|---:|---:|")
    for config, by_beams in table.items():
        cells = [f"{by_beams[b]:.2f}" if b in by_beams else "—" for b in (1, 4)]
        print(f"| {config} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
