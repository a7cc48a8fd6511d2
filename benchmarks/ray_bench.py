"""Throughput of `--engine ray` on this machine, and what the Ray path costs per document.

Run from the repo root (needs the ray extra: pip install -e '.[ray]'):

    .venv/bin/python benchmarks/ray_bench.py                  # 16 and 64 documents
    .venv/bin/python benchmarks/ray_bench.py --documents 8 24  # quicker
    .venv/bin/python benchmarks/ray_bench.py --model .pytest_cache/d/ja2en-tiny-models/marian-* \
        --documents 64 256                                     # the engines' own cost per document

The models are run.py's: a random full-size Marian shaped like opus-mt-ja-en (synthetic.py)
with every output forced to 40 tokens, at the Translator defaults (beam 4, ct2 int8 where
CTranslate2 is installed); translation only, no summaries. Each configuration runs in its
own process, for each corpus size:

- single: `translate_documents` in one process, all cores;
- ray, 1 actor: `translate_on_ray` on a local Ray instance, one actor with all cores;
- ray, N actors: N actors (one per core) with one core each.

Fixed costs (starting Ray, loading the models in each actor) do not grow with the corpus;
what one more document costs is the slope of the wall time between the two corpus sizes.
The Ray path's per-document overhead is its slope minus the single-process one.

Ray runs its workers at nice 15; here they run at 0 (`worker_niceness`) so that other work
on a shared machine slows both paths alike. Each configuration runs `--repeats` times, in
rounds, and keeps its fastest run. Progress goes to stderr; stdout gets one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

NEW_TOKENS = 40


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fixed_length_translator(model: str, tokens: int, **settings: Any) -> Any:
    """A Translator whose every batch stops at `tokens` new tokens (as engines.force_translation_length).

    Defined here, not imported from engines.py: the Ray workers receive it by value.
    """
    from ja2en import Translator
    from ja2en.backends import Decoding

    translator = Translator(model, **settings)
    translator.guard = False
    translator._decoding_for = lambda longest: Decoding(  # type: ignore[method-assign]
        beams=translator.beams, max_new_tokens=tokens, target_token=translator._target_token
    )
    return translator


# --------------------------------------------------------------------------- child


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this (fresh) process: the single-process path or the Ray path."""
    import functools

    from run import torch_threads

    import ja2en
    from ja2en.distributed.tasks import Loaders

    output = Path(spec["output"])
    settings = {"device": "cpu", "backend": spec["backend"]}
    if spec["engine"] == "single":
        tick = time.perf_counter()
        translator = fixed_length_translator(spec["model"], NEW_TOKENS, **settings)
        result = ja2en.translate_documents(
            [spec["corpus"]], output_dir=output, translator=translator, summarizer_model=None
        )
        wall = time.perf_counter() - tick
        extra: dict[str, Any] = {"torch_threads": torch_threads()}
    else:
        import ray

        # fixed_length_translator lives in __main__, which cloudpickle sends by value.
        tick = time.perf_counter()
        ray.init(
            num_cpus=spec["cores"], include_dashboard=False, log_to_driver=False, _system_config={"worker_niceness": 0}
        )
        ray_init = time.perf_counter() - tick
        loaders = Loaders(functools.partial(fixed_length_translator, spec["model"], NEW_TOKENS, **settings))
        tick = time.perf_counter()
        result = ja2en.translate_on_ray(
            [spec["corpus"]], output_dir=output, loaders=loaders, summary="none", actors=spec["actors"],
            cpus_per_actor=spec["cores"] // spec["actors"], docs_per_batch=spec["docs_per_batch"],
        )  # fmt: skip
        wall = time.perf_counter() - tick
        ray.shutdown()
        extra = {"ray_init_s": round(ray_init, 2)}
    timings = result.manifest["this_run"]["timings"]
    translation = result.manifest["models"]["translation"]
    return {
        "documents": result.documents,
        "sentences": result.sentences,
        "wall_s": round(wall, 2),
        "load_s": timings["load_s"],  # Ray: the task that loads the models to fingerprint them
        "translate_s": timings["translate_and_summarize_s"],  # Ray: starting the actors included
        "translation": {k: translation.get(k) for k in ("backend", "compute_type", "beams")},
        **extra,
    }



# --------------------------------------------------------------------------- parent


def run_child(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import run

    env = run.child_env(workdir)
    # What other processes use just before the run (nothing of ours runs then).
    before = run.busy_cpu_seconds()
    time.sleep(2)
    others = (run.busy_cpu_seconds() - before) / 2
    busy, tick = run.busy_cpu_seconds(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=1800,
    )  # fmt: skip
    seconds = time.perf_counter() - tick
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-3:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    result = json.loads(lines[-1])
    # All cores busy during the run, this run's included: above the cores it was given
    # means other work was competing.
    result["machine_busy_cores"] = round((run.busy_cpu_seconds() - busy) / seconds, 2)
    result["others_cores_before"] = round(others, 2)
    return result


def steady(results: dict[int, dict[str, Any]]) -> dict[str, float] | None:
    """What one more document costs, from the smallest and largest runs: fixed costs cancel out."""
    sizes = sorted(n for n, r in results.items() if "wall_s" in r)
    if len(sizes) < 2:
        return None
    low, high = results[sizes[0]], results[sizes[-1]]
    seconds = (high["wall_s"] - low["wall_s"]) / (high["documents"] - low["documents"])
    return {
        "seconds_per_document": round(seconds, 3),
        "documents_per_s": round(1 / seconds, 2) if seconds > 0 else float("inf"),
        "sentences_per_s": round((high["sentences"] - low["sentences"]) / (high["wall_s"] - low["wall_s"]), 2),
        "fixed_s": round(low["wall_s"] - seconds * low["documents"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--child", help=argparse.SUPPRESS)
    add("--documents", type=int, nargs=2, default=[16, 64], metavar=("SMALL", "LARGE"), help="corpus sizes")
    add("--cores", type=int, default=os.cpu_count() or 1, help="cores for each configuration (default: all)")
    add("--docs-per-batch", type=int, default=4, help="documents per actor call")
    add("--model", help="another translation model (a tiny one shows the per-document cost of the engines alone)")
    add("--backend", default="auto", help="translation backend (default auto, as the CLI)")
    add("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ja2en-benchmark", help="models cache (run.py's)")
    add("--repeats", type=int, default=2, help="runs of each configuration; the fastest is kept")
    add("--wait-quiet", type=float, default=0, metavar="S", help="wait up to S s for an idle machine before each run")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return

    import run
    import synthetic

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model = args.model or str(run.build_models(workdir)["marian"])
    configurations = {
        "single": {"engine": "single"},
        "ray, 1 actor": {"engine": "ray", "actors": 1},
        f"ray, {args.cores} actors": {"engine": "ray", "actors": args.cores},
    }
    results: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in configurations}
    corpora = {}
    for documents in args.documents:
        corpora[documents] = workdir / f"ray-corpus-{documents}"
        counts = synthetic.write_corpus(corpora[documents], documents)
        log(f"corpus of {counts['documents']} documents, {counts['sentences']} sentences")
    # Rounds of every configuration in turn, so that other work on the machine falls on all
    # of them; each keeps its fastest run, the one least slowed by that work.
    for round_ in range(1, args.repeats + 1):
        for documents in args.documents:
            for name, configuration in configurations.items():
                spec = {
                    **configuration, "model": model, "corpus": str(corpora[documents]),
                    "output": str(workdir / "ray-bench-output"), "cores": args.cores,
                    "docs_per_batch": args.docs_per_batch, "backend": args.backend,
                }  # fmt: skip
                shutil.rmtree(spec["output"], ignore_errors=True)
                if args.wait_quiet:
                    run.wait_until_quiet(args.wait_quiet)
                log(f"round {round_}, {documents} documents: {name} ...")
                result = run_child(spec, workdir)
                log(f"    → {result}")
                kept = results[name].get(documents)
                if kept is None or ("wall_s" in result and result["wall_s"] < kept.get("wall_s", float("inf"))):
                    results[name][documents] = {**result, "runs": (kept or {}).get("runs", 0) + 1}
                else:
                    kept["runs"] += 1

    rates = {name: steady(by_size) for name, by_size in results.items()}
    single = rates["single"]
    report = {
        "command": " ".join(["python", "benchmarks/ray_bench.py", *sys.argv[1:]]),
        "machine": run.machine(),
        "setup": {
            "translation_model": args.model or "random Marian, opus-mt-ja-en shape",
            "new_tokens_per_sentence": NEW_TOKENS,
            "summaries": False,
            "cores": args.cores,
            "docs_per_batch": args.docs_per_batch,
            "repeats": args.repeats,
            "ray": _version("ray"),
        },
        "results": {name: {str(n): r for n, r in by_size.items()} for name, by_size in results.items()},
        "steady": rates,
        "ray_overhead_s_per_document": {
            name: round(rate["seconds_per_document"] - single["seconds_per_document"], 3) if rate and single else None
            for name, rate in rates.items()
            if name != "single"
        },
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
