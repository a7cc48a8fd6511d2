"""Speed and memory of ja2en against the naive transformers loop and raw CTranslate2.

Run from the repo root:

    .venv/bin/python benchmarks/run.py            # full run (64 sentences, 200 documents)
    .venv/bin/python benchmarks/run.py --quick    # under 5 minutes: 16 sentences, 12 documents

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
    "greedy_ja2en_best_vs_naive_hf": (">=", 30.0),
    "greedy_ja2en_best_vs_raw_ct2": (">=", 0.9),
    "beam4_ja2en_best_vs_naive_hf_beam4": (">=", 15.0),
    "summary_ja2en_best_vs_hf_fp32": (">=", 2.0),
    "pipeline_outside_model_calls_share": ("<", 0.05),
    "translation_default_peak_rss_mb": ("<=", 1024.0),
}


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


def build_inputs(workdir: Path, paths: dict[str, Path], sentences: int, documents: int) -> dict[str, Any]:
    import synthetic
    from transformers import AutoTokenizer

    marian_tokenizer = AutoTokenizer.from_pretrained(paths["marian"])
    bart_tokenizer = AutoTokenizer.from_pretrained(paths["bart"])
    # Warm-up sentences come from another seed, so they are not the measured ones.
    corpus = workdir / f"corpus-{documents}"
    counts = synthetic.write_corpus(corpus, documents)
    document = synthetic.summary_document(bart_tokenizer)
    chosen = synthetic.engine_sentences(marian_tokenizer, sentences)
    lengths = [len(ids) for ids in marian_tokenizer(chosen)["input_ids"]]
    return {
        "sentences": chosen,
        "warmup": synthetic.engine_sentences(marian_tokenizer, 4, seed=99),
        "source_tokens_mean": round(sum(lengths) / len(lengths), 1),
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
    common = {"new_tokens": NEW_TOKENS, "sentences": inputs["sentences"], "warmup": inputs["warmup"], "repeats": repeats}
    marian, bart = str(paths["marian"]), str(paths["bart"])
    ja2en_engines = [("torch fp32", "torch", False), ("torch int8", "torch", True), ("ct2 int8", "ct2", True)]
    jobs: list[tuple[str, str, dict]] = []
    for beams in (1, 4):
        mode = "greedy" if beams == 1 else "beam4"
        if beams == 1 or not args.quick:
            jobs.append((f"translation_{mode}", "naive hf fp32", {"task": "translate_hf", "model": marian, "beams": beams, **common}))
        for name, backend, quantize in ja2en_engines:
            spec = {"task": "translate_ja2en", "model": marian, "backend": backend, "quantize": quantize, "beams": beams}
            jobs.append((f"translation_{mode}", f"ja2en {name}", {**spec, **common}))
        raw = {"task": "translate_ct2_raw", "model": marian, "ct2_model": str(paths["marian_ct2"]), "beams": beams}
        jobs.append((f"translation_{mode}", "raw ct2 int8", {**raw, "batch_size": 64 if beams == 1 else 16, **common}))
    if not args.quick:  # other token budgets (source tokens x beams) for the default backend: speed against memory
        for beams in (1, 4):
            for budget in (512, 1024) if beams == 1 else (2048, 16384):
                spec = {"task": "translate_ja2en", "model": marian, "backend": "ct2", "quantize": True, "beams": beams}
                name = f"ja2en ct2 int8 beam {beams}, batch_tokens {budget}"
                jobs.append(("batch_budget", name, {**spec, "batch_tokens": budget, **common}))
    summary = {"document": inputs["document"], "new_tokens": SUMMARY_TOKENS, "repeats": repeats, "model": bart}
    jobs.append(("summarization", "hf fp32 greedy", {"task": "summarize_hf", **summary}))
    for name, backend, quantize in ja2en_engines:
        spec = {"task": "summarize_ja2en", "backend": backend, "quantize": quantize, **summary}
        jobs.append(("summarization", f"ja2en {name}", spec))
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


def ratios(results: dict[str, dict[str, dict]], default_engine: str) -> dict[str, Any]:
    def rate(section: str, name: str) -> float | None:
        return results.get(section, {}).get(name, {}).get("sentences_per_s")

    def best(section: str) -> tuple[str | None, float | None]:
        rows = results.get(section, {}).items()
        rates = {n: r["sentences_per_s"] for n, r in rows if n.startswith("ja2en") and "sentences_per_s" in r}
        if not rates:
            return None, None
        name = max(rates, key=rates.__getitem__)
        return name, rates[name]

    def divide(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    greedy_name, greedy = best("translation_greedy")
    beam_name, beam = best("translation_beam4")
    rows = results.get("summarization", {}).items()
    summaries = {n: r["seconds"] for n, r in rows if n.startswith("ja2en") and "seconds" in r}
    summary_name = min(summaries, key=summaries.__getitem__) if summaries else None
    hf_summary = results.get("summarization", {}).get("hf fp32 greedy", {}).get("seconds")
    pipeline = next(iter(results.get("pipeline", {}).values()), {})
    default = results.get("translation_beam4", {}).get(default_engine, {})
    values = {
        "greedy_ja2en_best_vs_naive_hf": divide(greedy, rate("translation_greedy", "naive hf fp32")),
        "greedy_ja2en_best_vs_raw_ct2": divide(greedy, rate("translation_greedy", "raw ct2 int8")),
        "beam4_ja2en_best_vs_naive_hf_beam4": divide(beam, rate("translation_beam4", "naive hf fp32")),
        "summary_ja2en_best_vs_hf_fp32": divide(hf_summary, summaries.get(summary_name) if summary_name else None),
        "pipeline_outside_model_calls_share": pipeline.get("outside_model_calls_share"),
        "translation_default_peak_rss_mb": default.get("peak_rss_mb"),
    }
    out: dict[str, Any] = {}
    for key, value in values.items():
        op, target = TARGETS[key]
        met = None if value is None else {">=": value >= target, "<": value < target, "<=": value <= target}[op]
        out[key] = {"value": value, "target": f"{op} {target:g}", "met": met}
    out["greedy_ja2en_best_vs_naive_hf"]["best"] = greedy_name
    out["beam4_ja2en_best_vs_naive_hf_beam4"]["best"] = beam_name
    out["summary_ja2en_best_vs_hf_fp32"]["best"] = summary_name
    out["translation_default_peak_rss_mb"]["engine"] = f"{default_engine}, beam 4 (Translator defaults)"
    out["beam4_ja2en_best_vs_raw_ct2_beam4"] = {"value": divide(beam, rate("translation_beam4", "raw ct2 int8")), "target": None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="under 5 minutes: fewer sentences and documents, no naive beam-4 loop")
    add("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ja2en-benchmark", help="models and inputs cache")
    add("--sentences", type=int, help="sentences for the engine comparison (default 64, quick 16)")
    add("--documents", type=int, help="documents for the pipeline run (default 200, quick 12)")
    add("--pipeline-backend", default="auto", help="backend of the translate_documents run (default auto, as the CLI)")
    add("--wait-quiet", type=float, default=0, metavar="S", help="wait up to S s for an idle machine before each engine")
    add("--only", nargs="+", choices=["translation", "batch", "summarization", "pipeline"], help="run only these sections")
    args = parser.parse_args()
    sentences = args.sentences or (16 if args.quick else 64)
    documents = args.documents or (12 if args.quick else 200)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    paths = build_models(workdir)
    inputs = build_inputs(workdir, paths, sentences, documents)
    log(
        f"{sentences} sentences of {inputs['source_tokens_mean']} source tokens, a {inputs['document_tokens']}-token "
        f"document to summarize, {inputs['corpus_counts']['documents']} documents ({inputs['corpus_counts']['sentences']} sentences)"
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
            "sentences": sentences,
            "source_tokens_mean": inputs["source_tokens_mean"],
            "new_tokens_per_sentence": NEW_TOKENS,
            "summary_input_tokens": inputs["document_tokens"],
            "summary_new_tokens": SUMMARY_TOKENS,
            "corpus": inputs["corpus_counts"],
            "default_backend": default_backend,
            "torch_threads": torch_threads(),
        },
        "results": results,
        "ratios": ratios(results, default_engine),
        "total_s": round(time.perf_counter() - started, 1),
    }
    log(f"done in {report['total_s']:.0f} s")
    print(json.dumps(report, indent=1, ensure_ascii=False))



if __name__ == "__main__":
    main()
