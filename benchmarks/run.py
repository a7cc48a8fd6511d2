"""Speed and memory of ja2en against the naive transformers loop and raw CTranslate2.

Run from the repo root:

    .venv/bin/python benchmarks/run.py            # full run (84 real sentences, 200 documents)
    .venv/bin/python benchmarks/run.py --quick    # a smoke test: 16 sentences, 12 documents
    .venv/bin/python benchmarks/run.py --only pipeline --compare-with before.json  # a change's full-run speed-up

Translation is measured on real sentences of varied length (the seed article and the
fixture corpus, 6-361 tokens), against the naive loop, CT2 as its docs show it and CT2
batched by hand as well as it goes (every token budget and thread layout); `--uniform`
adds the older workload of 64 synthetic 30-token sentences.

Models are random but full-size (opus-mt-ja-en-shaped Marian, distilbart-cnn-12-6-shaped
BART; see synthetic.py), built once and cached under --workdir. Every engine runs in its
own process (engines.py) so its peak RSS is its own and one that fails to load is
reported without stopping the rest. Output lengths are fixed (40 tokens per sentence,
60 per summary) so timings do not depend on what random weights generate.

Other work on the machine skews everything (torch worst): each result records the cores
other processes used while it ran (`others_cores`), and `--wait-quiet S` waits up to S
seconds for an idle machine before each engine.

Progress goes to stderr; stdout gets one JSON object with every figure and the ratios
against the project's targets.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

NEW_TOKENS = 40  # per translated sentence
SUMMARY_TOKENS = 60
TARGETS = {
    "greedy_ja2en_default_vs_naive_hf": (">=", 30.0),
    "beam4_ja2en_default_vs_naive_hf": (">=", 15.0),
    "greedy_ja2en_default_vs_tuned_ct2": (">=", 1.1),
    "beam4_ja2en_default_vs_tuned_ct2": (">=", 1.1),
    "summary_ja2en_vs_raw_ct2_same_layout": (">=", 0.95),
    "summary_ja2en_best_vs_hf_fp32": (">=", 2.0),
    "pipeline_vs_compared_run": (">=", 1.3),
    "pipeline_outside_model_calls_share": ("<", 0.05),
    "translation_default_peak_rss_mb": ("<=", 1024.0),
}
TUNED_BUDGETS = (1024, 2048, 4096)  # source tokens per CT2 batch, the hand-tuned runs' choices


_SHOWN = ("sentences_per_s", "tokens_per_s", "seconds", "wall_s", "cpu_utilization", "peak_rss_mb", "others_cores", "error")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    os_name = platform.platform()
    if Path("/etc/os-release").exists():
        release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))} ({platform.platform()})"
    versions = {"python": platform.python_version()}
    for package in ("torch", "transformers", "tokenizers", "sentencepiece", "ctranslate2"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cpu_flags": [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8") if f in flags],
        "ram_gb": round(mem_kb / 1024**2, 1),
        "os": os_name,
        "versions": versions,
    }


# --------------------------------------------------------------------------- building


def build_models(workdir: Path) -> dict[str, Path]:
    """Build (or reuse) the random models and the raw CTranslate2 conversion of the Marian."""
    import synthetic

    key = hashlib.sha256((HERE / "synthetic.py").read_bytes()).hexdigest()[:12]
    folder = workdir / f"models-{key}"
    paths = {"marian": folder / "marian", "bart": folder / "bart", "marian_ct2": folder / "marian-ct2-int8"}
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    for name, build in (("marian", synthetic.build_marian), ("bart", synthetic.build_bart)):
        if not (paths[name] / "model.safetensors").is_file():
            log(f"building the random {name} model in {paths[name]} ...")
            tick = time.perf_counter()
            build(paths[name])
            log(f"  built in {time.perf_counter() - tick:.0f} s")
    if not (paths["marian_ct2"] / "model.bin").is_file() and importlib.util.find_spec("ctranslate2"):
        log("converting the Marian model with ctranslate2 (int8) for the raw CT2 loop ...")
        import ctranslate2

        ctranslate2.converters.TransformersConverter(str(paths["marian"])).convert(
            str(paths["marian_ct2"]), quantization="int8", force=True
        )
    return paths


def build_inputs(workdir: Path, paths: dict[str, Path], sentences: int | None, documents: int) -> dict[str, Any]:
    import synthetic
    from transformers import AutoTokenizer

    marian_tokenizer = AutoTokenizer.from_pretrained(paths["marian"])
    bart_tokenizer = AutoTokenizer.from_pretrained(paths["bart"])
    # Warm-up sentences come from another seed, so they are not the measured ones.
    corpus = workdir / f"corpus-{documents}"
    counts = synthetic.write_corpus(corpus, documents)
    document = synthetic.summary_document(bart_tokenizer)
    varied = synthetic.real_sentences(ROOT)[:sentences]
    uniform = synthetic.engine_sentences(marian_tokenizer, sentences or 64)

    def shape(chosen: list[str]) -> dict[str, Any]:
        lengths = sorted(len(ids) for ids in marian_tokenizer(chosen)["input_ids"])
        return {"sentences": len(chosen), "source_tokens_mean": round(sum(lengths) / len(lengths), 1),
                "source_tokens_median": lengths[len(lengths) // 2], "source_tokens_max": lengths[-1]}  # fmt: skip

    return {
        "workloads": {"varied": varied, "uniform": uniform},
        "shapes": {"varied": shape(varied), "uniform": shape(uniform)},
        "warmup": synthetic.engine_sentences(marian_tokenizer, 4, seed=99),
        "document": document,
        "document_tokens": len(bart_tokenizer(" ".join(document))["input_ids"]),
        "corpus": corpus,
        "corpus_counts": counts,
    }


# --------------------------------------------------------------------------- children


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (0 where /proc/stat is missing)."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return 0.0
    values = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_until_quiet(limit: float) -> float:
    """Wait (up to `limit` seconds) until other processes use under 0.25 cores; return what they use."""
    deadline = time.monotonic() + limit
    while True:
        before = busy_cpu_seconds()
        time.sleep(2)
        others = (busy_cpu_seconds() - before) / 2
        if others < 0.25 or time.monotonic() >= deadline:
            return others
        time.sleep(10)


def child_env(workdir: Path) -> dict[str, str]:
    """The environment of a measuring child process: offline, with its caches under `workdir`
    (shared by every benchmark script, so CT2 conversions are made once)."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(workdir / "hf-home"),
        "JA2EN_MODELS_DIR": str(workdir / "ja2en-models"),  # where ja2en caches its CT2 conversions
        "JA2EN_CACHE_DIR": str(workdir / "ja2en-cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }


def torch_threads() -> int | None:
    """The threads torch uses in this process, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def run_child(spec: dict[str, Any], workdir: Path, timeout: int) -> dict[str, Any]:
    """Run one measurement in a fresh process; a failure comes back as {"error": ...}."""
    env = child_env(workdir)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=workdir, delete=False, encoding="utf-8") as handle:
        json.dump(spec, handle, ensure_ascii=False)
    tick = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / "engines.py"), handle.name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    finally:
        os.unlink(handle.name)
    for line in done.stderr.splitlines():
        if line.startswith("    "):  # the child's own progress lines
            log(line)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-3:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    result = json.loads(lines[-1])
    result["process_s"] = round(time.perf_counter() - tick, 1)
    return result


def plan(
    args: argparse.Namespace, paths: dict[str, Path], inputs: dict[str, Any], workdir: Path
) -> list[tuple[str, str, dict]]:
    """(section, name, spec) for every measurement, in run order."""
    # ja2en and raw CT2 take seconds: the median of 3 runs damps noise from other work on
    # the machine. The naive loop takes minutes and runs once.
    repeats = 1 if args.quick else 3
    marian, bart = str(paths["marian"]), str(paths["bart"])
    engines = [("torch int8", "torch", True), ("ct2 int8", "ct2", True)]
    if not args.quick:
        engines.insert(0, ("torch fp32", "torch", False))
    jobs: list[tuple[str, str, dict]] = []
    workloads = ["varied"] + (["uniform"] if args.uniform else [])
    for workload in workloads:
        prefix = "" if workload == "varied" else "uniform_"
        common = {"new_tokens": NEW_TOKENS, "sentences": inputs["workloads"][workload], "warmup": inputs["warmup"], "repeats": repeats}
        for beams in (1, 4):
            section = f"{prefix}translation_{'greedy' if beams == 1 else 'beam4'}"
            if beams == 1 or not args.quick:
                jobs.append((section, "naive hf fp32", {"task": "translate_hf", "model": marian, "beams": beams, **common}))
            for name, backend, quantize in engines:
                spec = {"task": "translate_ja2en", "model": marian, "backend": backend, "quantize": quantize, "beams": beams}
                jobs.append((section, f"ja2en {name}", {**spec, **common}))
            spec = {"task": "translate_ja2en", "model": marian, "backend": "ct2", "quantize": True, "beams": beams}
            jobs.append((section, "ja2en ct2 int8, workers=1", {**spec, "workers": 1, **common}))
            raw = {"model": marian, "ct2_model": str(paths["marian_ct2"]), "beams": beams, **common}
            jobs.append((section, "raw ct2 int8 as documented", {"task": "translate_ct2_raw", **raw, "batch_size": 64 if beams == 1 else 16}))
            budgets = TUNED_BUDGETS if not args.quick else (2048,)
            jobs.append((section, "raw ct2 int8 hand-tuned", {"task": "translate_ct2_tuned", **raw, "budgets": list(budgets)}))
    if not args.quick:  # other token budgets (source tokens x beams) for the default backend: speed against memory
        common = {"new_tokens": NEW_TOKENS, "sentences": inputs["workloads"]["varied"], "warmup": inputs["warmup"], "repeats": repeats}
        for beams in (1, 4):
            for budget in (1024, 2048, 4096, 8192) if beams == 1 else (2048, 4096, 8192, 16384):
                spec = {"task": "translate_ja2en", "model": marian, "backend": "ct2", "quantize": True, "beams": beams}
                name = f"ja2en ct2 int8 beam {beams}, batch_tokens {budget}"
                jobs.append(("batch_budget", name, {**spec, "batch_tokens": budget, **common}))
    summary = {"document": inputs["document"], "new_tokens": SUMMARY_TOKENS, "repeats": repeats, "model": bart}
    jobs.append(("summarization", "hf fp32 greedy", {"task": "summarize_hf", **summary}))
    for name, backend, quantize in engines:
        spec = {"task": "summarize_ja2en", "backend": backend, "quantize": quantize, **summary}
        jobs.append(("summarization", f"ja2en {name}", spec))
    # Summarizer's default is one worker on every thread (a lone document); None: one per thread, as a run of many.
    spec = {"task": "summarize_ja2en", "backend": "ct2", "quantize": True, "workers": None, **summary}
    jobs.append(("summarization", "ja2en ct2 int8, one worker per thread", spec))
    jobs.append(("summarization", "raw ct2 int8", {"task": "summarize_ct2_raw", **summary}))
    jobs.append((
        "pipeline", f"translate_documents backend={args.pipeline_backend}",
        {
            "task": "pipeline", "corpus": str(inputs["corpus"]), "model": marian, "summarizer": bart,
            "backend": args.pipeline_backend, "new_tokens": NEW_TOKENS, "summary_tokens": SUMMARY_TOKENS,
            "output": str(workdir / "pipeline-output"), "cache": str(workdir / "pipeline-cache.sqlite3"),
        },
    ))  # fmt: skip
    return [job for job in jobs if not args.only or job[0].split("_")[0] in args.only]


# --------------------------------------------------------------------------- ratios


def ratios(results: dict[str, dict[str, dict]], default_engine: str, compared: dict[str, Any] | None) -> dict[str, Any]:
    def get(section: str, name: str, key: str) -> Any:
        return results.get(section, {}).get(name, {}).get(key)

    def divide(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    def rate(section: str, name: str) -> float | None:
        return get(section, name, "sentences_per_s")

    rows = results.get("summarization", {}).items()
    summaries = {n: r["seconds"] for n, r in rows if n.startswith("ja2en") and "seconds" in r}
    summary_name = min(summaries, key=summaries.__getitem__) if summaries else None
    raw_summary = {r["layout"]: r["seconds"] for r in get("summarization", "raw ct2 int8", "rows") or []}
    one_by_all = next((v for k, v in raw_summary.items() if k.startswith("1x")), None)
    pipeline = next(iter(results.get("pipeline", {}).values()), {})
    before = next(iter((compared or {}).get("results", {}).get("pipeline", {}).values()), {})
    values = {
        "greedy_ja2en_default_vs_naive_hf": divide(rate("translation_greedy", default_engine), rate("translation_greedy", "naive hf fp32")),
        "beam4_ja2en_default_vs_naive_hf": divide(rate("translation_beam4", default_engine), rate("translation_beam4", "naive hf fp32")),
        "greedy_ja2en_default_vs_tuned_ct2": divide(rate("translation_greedy", default_engine), rate("translation_greedy", "raw ct2 int8 hand-tuned")),
        "beam4_ja2en_default_vs_tuned_ct2": divide(rate("translation_beam4", default_engine), rate("translation_beam4", "raw ct2 int8 hand-tuned")),
        # One document alone: ja2en's default (one worker on every thread) against raw CT2 laid out the same.
        "summary_ja2en_vs_raw_ct2_same_layout": divide(one_by_all, summaries.get(default_engine)),
        "summary_ja2en_best_vs_hf_fp32": divide(get("summarization", "hf fp32 greedy", "seconds"), summaries.get(summary_name) if summary_name else None),
        "pipeline_vs_compared_run": divide(before.get("wall_s"), pipeline.get("wall_s")),
        "pipeline_outside_model_calls_share": pipeline.get("outside_model_calls_share"),
        "translation_default_peak_rss_mb": get("translation_beam4", default_engine, "peak_rss_mb"),
    }  # fmt: skip
    out: dict[str, Any] = {}
    for key, value in values.items():
        op, target = TARGETS[key]
        met = None if value is None else {">=": value >= target, "<": value < target, "<=": value <= target}[op]
        out[key] = {"value": value, "target": f"{op} {target:g}", "met": met}
    for mode in ("greedy", "beam4"):
        out[f"{mode}_ja2en_default_vs_tuned_ct2"]["tuned_best"] = get(f"translation_{mode}", "raw ct2 int8 hand-tuned", "best")
        out[f"{mode}_ja2en_default_vs_ct2_as_documented"] = {
            "value": divide(rate(f"translation_{mode}", default_engine), rate(f"translation_{mode}", "raw ct2 int8 as documented")),
            "target": None,
        }
    out["summary_ja2en_best_vs_hf_fp32"]["best"] = summary_name
    out["summary_ja2en_per_thread_vs_raw_ct2_same_layout"] = {
        "value": divide(next((v for k, v in raw_summary.items() if k.endswith("x1")), None), summaries.get("ja2en ct2 int8, one worker per thread")),
        "target": None,
    }
    out["translation_default_peak_rss_mb"]["engine"] = f"{default_engine}, beam 4 (Translator defaults)"
    if compared:
        out["pipeline_vs_compared_run"]["same_outputs"] = (
            before.get("outputs_sha256") is not None and before.get("outputs_sha256") == pipeline.get("outputs_sha256")
        )
        out["pipeline_vs_compared_run"]["compared_wall_s"] = before.get("wall_s")
        # Loading differs between runs that convert a model and runs that find it converted.
        work = [run.get("timings", {}).get("translate_and_summarize_s") for run in (before, pipeline)]
        out["pipeline_vs_compared_run"]["excluding_load"] = divide(work[0], work[1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="under 5 minutes: fewer sentences and documents, no naive beam-4 loop")
    add("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ja2en-benchmark", help="models and inputs cache")
    add("--sentences", type=int, help="sentences for the engine comparison (default all 84 real ones, quick 16)")
    add("--uniform", action="store_true", help="also measure translation on 64 synthetic 30-token sentences (the older workload)")
    add("--compare-with", type=Path, metavar="JSON", help="an earlier run's output: the full run's speed-up and whether outputs match")
    add("--documents", type=int, help="documents for the pipeline run (default 200, quick 12)")
    add("--pipeline-backend", default="auto", help="backend of the translate_documents run (default auto, as the CLI)")
    add("--wait-quiet", type=float, default=0, metavar="S", help="wait up to S s for an idle machine before each engine")
    add("--only", nargs="+", choices=["translation", "batch", "summarization", "pipeline", "uniform"], help="run only these sections")
    args = parser.parse_args()
    sentences = args.sentences or (16 if args.quick else None)
    args.uniform = args.uniform or "uniform" in (args.only or [])
    documents = args.documents or (12 if args.quick else 200)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    paths = build_models(workdir)
    inputs = build_inputs(workdir, paths, sentences, documents)
    varied = inputs["shapes"]["varied"]
    log(
        f"{varied['sentences']} real sentences of {varied['source_tokens_mean']} source tokens on average (max "
        f"{varied['source_tokens_max']}), a {inputs['document_tokens']}-token document to summarize, "
        f"{inputs['corpus_counts']['documents']} documents ({inputs['corpus_counts']['sentences']} sentences)"
    )
    # ja2en's rule for backend="auto" (the Translator default): CTranslate2 when installed.
    # The pipeline result's translation_settings shows what it really picked.
    default_backend = "ct2" if importlib.util.find_spec("ctranslate2") else "torch"
    default_engine = "ja2en ct2 int8" if default_backend == "ct2" else "ja2en torch int8"
    results: dict[str, dict[str, dict]] = {}
    jobs = plan(args, paths, inputs, workdir)
    for index, (section, name, spec) in enumerate(jobs, 1):
        log(f"[{index}/{len(jobs)}] {section}: {name} ...")
        timeout = 600 if args.quick else 1800
        # Other work on the machine slows every engine, torch's OpenMP threads worst of all
        # (a preempted thread stalls the others at every barrier): measure how much of it
        # there was, as cores used by other processes while the child ran.
        quiet = wait_until_quiet(args.wait_quiet) if args.wait_quiet else None
        busy, own, tick = busy_cpu_seconds(), children_cpu_seconds(), time.perf_counter()
        result = run_child(spec, workdir, timeout)
        others = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - own)
        result["others_cores"] = round(max(others, 0.0) / (time.perf_counter() - tick), 2)
        if quiet is not None:
            result["others_cores_before"] = round(quiet, 2)
        results.setdefault(section, {})[name] = result
        log(f"    → {({k: result[k] for k in _SHOWN if k in result})}")

    report = {
        "quick": args.quick,
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "machine": machine(),
        "setup": {
            "translation_model": "random Marian, opus-mt-ja-en shape (vocab 60716, d_model 512, 6+6 layers, 8 heads, ffn 2048)",
            "summarization_model": "random BART, distilbart-cnn-12-6 shape (vocab 50264, d_model 1024, 12+6 layers, 16 heads, ffn 4096)",
            "workloads": inputs["shapes"],
            "new_tokens_per_sentence": NEW_TOKENS,
            "summary_input_tokens": inputs["document_tokens"],
            "summary_new_tokens": SUMMARY_TOKENS,
            "corpus": inputs["corpus_counts"],
            "default_backend": default_backend,
            "torch_threads": torch_threads(),
        },
        "results": results,
        "ratios": ratios(results, default_engine, json.loads(args.compare_with.read_text()) if args.compare_with else None),
        "total_s": round(time.perf_counter() - started, 1),
    }
    log(f"done in {report['total_s']:.0f} s")
    print(json.dumps(report, indent=1, ensure_ascii=False))



if __name__ == "__main__":
    main()
