"""What CTranslate2's `patience=4` costs against patience 1, and what it changes (issue 16).

ja2en's ct2 path runs beam search with patience 4 for models whose generation config does not
ask for early stopping (opus-mt, FuguMT): CT2 then goes on until beams x 4 hypotheses have
finished, as transformers' beam search goes on while a live beam can still win. Patience 1
stops at the first `beams` finished ones: cheaper, and not what transformers would output.

Two models, beam 4, ja2en's own length cap (2 x source + 16 tokens), guard off, CT2 int8:

1. the random opus-mt-shaped Marian (benchmarks/synthetic.py) on the 84 real sentences:
   full-size cost, but a random model never ends a sentence early, so patience has nothing
   to wait for; the row says how many outputs ended before the cap;
2. the tests' tiny Marian, trained until it reproduces tests/data/corpus.tsv: on its own
   sentences (outputs end where the training said) and on the seed article's, which it never
   saw (outputs end at scattered lengths, as real ones do). For each: time, how many outputs
   differ between patience 1 and 4, and how many match transformers' own beam search.

    .venv/bin/python benchmarks/patience.py        # ~3 min here; one JSON object on stdout
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
WORK = Path("/tmp/ja2en-benchmark/patience")
os.environ.setdefault("JA2EN_CACHE_DIR", str(WORK / "cache"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def built(name: str, build: Any) -> Path:
    path = WORK / name
    if not (path / "config.json").is_file():
        staging = WORK / f"{name}-{os.getpid()}"
        log(f"building {name} ...")
        build(staging)
        os.rename(staging, path)
    return path


def timed(translator: Any, sentences: list[str], patience: int, repeats: int) -> dict[str, Any]:
    translator.backend._options["patience"] = patience  # ja2en reads it from here for every batch
    translator.translate(sentences[:4])  # warm
    runs, details = [], []
    for _ in range(repeats):
        tick = time.perf_counter()
        details = translator.translate_detailed(sentences)
        runs.append(time.perf_counter() - tick)
    return {"best_s": round(min(runs), 3), "runs_s": [round(r, 3) for r in runs], "_details": details}


def compare(model: Path, sentences: list[str], repeats: int, reference: list[str] | None) -> dict[str, Any]:
    from ja2en import Translator

    translator = Translator(str(model), backend="ct2", beams=4, device="cpu", guard=False, cache=None)
    rows: dict[str, Any] = {}
    outputs = {}
    for patience in (1, 4):
        row = timed(translator, sentences, patience, repeats)
        details = row.pop("_details")
        outputs[patience] = [d.en for d in details]
        row["capped"] = sum("hit_max_length" in d.flags for d in details)
        rows[f"patience_{patience}"] = row
        log(f"{model.name} patience {patience}: {row['best_s']} s, {row['capped']}/{len(sentences)} hit the cap")
    result: dict[str, Any] = {
        "sentences": len(sentences),
        **rows,
        "cost_of_patience_4": round(rows["patience_4"]["best_s"] / rows["patience_1"]["best_s"], 3),
        "outputs_differing": sum(a != b for a, b in zip(outputs[1], outputs[4], strict=True)),
    }
    if reference is not None:
        for patience in (1, 4):
            result[f"patience_{patience}_matches_transformers"] = sum(
                a == b for a, b in zip(outputs[patience], reference, strict=True)
            )
    return result


def transformers_beams(model: Path, sentences: list[str]) -> list[str]:
    """transformers' own beam search (beam 4, same length cap), as ja2en's torch backend runs it."""
    from ja2en import Translator

    return Translator(str(model), backend="torch", quantize=False, beams=4, device="cpu", guard=False, cache=None).translate(sentences)


def main() -> None:
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import synthetic
    import tiny_models

    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    real = synthetic.real_sentences(ROOT)
    corpus = [
        tuple(line.split("\t")[:2])
        for line in (ROOT / "tests/data/corpus.tsv").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    known = [ja for ja, _ in corpus]
    unseen = [s for s in real if s not in set(known)]
    random_marian = built("random-marian", synthetic.build_marian)
    tiny = built("tiny-marian", lambda out: tiny_models.train_tiny_marian(corpus, out))
    result = {
        "cpu_count": os.cpu_count(),
        "random_marian_real_sentences": compare(random_marian, real, 3, None),
        "tiny_marian_its_corpus": compare(tiny, known, 3, transformers_beams(tiny, known)),
        "tiny_marian_unseen_seed_sentences": compare(tiny, unseen, 3, transformers_beams(tiny, unseen)),
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
