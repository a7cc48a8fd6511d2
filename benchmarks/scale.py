"""Scale: what ja2en itself costs per document, from 1,000 to 1,000,000 documents.

Run from the repo root (the Ray engine needs the ray extra: pip install -e '.[ray]'):

    .venv/bin/python benchmarks/scale.py                           # 1k and 10k documents, local engine
    .venv/bin/python benchmarks/scale.py --sizes 1000 10000 100000 --engine both > scale.json
    .venv/bin/python benchmarks/scale.py --million --markdown      # adds 1,000,000 (generated on first use)
    .venv/bin/python benchmarks/scale.py --layout txt              # one .txt file per document
    .venv/bin/python benchmarks/scale.py --million --generate-only # only make (and time) the documents
    .venv/bin/python benchmarks/scale.py --from-json scale.json --markdown   # tables of a saved run

The model is the tiny overfit Marian of the test suite (tests/tiny_models.py), taken from
pytest's cache (.pytest_cache/d/ja2en-tiny-models/marian-*: the one the current tests
build, else the newest) or trained on the spot (~30 s) when there is none; `--model`
names another. The translation cache is on and warmed before anything is measured (a run
over every corpus sentence), so the model is never called: what is measured is ja2en
itself (reading, segmenting, cache look-ups, the journal, the output files). No summaries
(summary="none"), greedy decoding (beams=1), CPU.

Documents are made from the Japanese sentences of tests/data/corpus.tsv, 3 paragraphs of
3 sentences each, chosen with a fixed seed (each block of 1,000 from its own seed, so the
first 1,000 documents are the same at every size). They are written once under
`--workdir` and reused: JSONL files of 1,000 documents each (`part-00000.jsonl`, lines
`{"id": ..., "text": ...}`), or with `--layout txt` one .txt file per document in folders
of 1,000. A hidden `.complete` file marks a finished folder.

Every measurement runs in a fresh process, so its peak RSS is its own (VmHWM; see
engines.py for why not ru_maxrss), into a fresh output folder:

- local: `translate_documents` with a ready Translator. Recorded: wall seconds of the
  call (the model is loaded before it, `load_s`), ms per document (wall / documents),
  the process's CPU seconds (getrusage RUSAGE_SELF, all threads), RSS right after the
  model load, peak RSS, the manifest's `this_run.timings`, and the model calls made
  (`model_calls`: 0 when the cache is warm, as it should be).
- ray: `translate_on_ray` on a local Ray instance started by the child (`ray_init_s`),
  2 actors of 1 CPU each. Recorded: wall seconds of the call, the driver's CPU seconds
  and ms per document, the driver's peak RSS and its RSS after `ray.init`. Only the
  driver process is counted: Ray's own daemons (GCS, raylet) and the workers and actors
  are other processes and are not in these figures. Sizes above `--ray-max` (default
  100,000) are skipped for Ray.

Each result also records `machine_busy_cores`, the cores busy on the whole machine while
it ran (this run's included): well above what the run can use means other work competed.
Progress goes to stderr; stdout gets one JSON object with every figure and the machine
(also saved under --workdir), or with `--markdown` the tables.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

DOCS_PER_PART = 1000  # documents per JSONL file, or per folder of .txt files
PARAGRAPHS, SENTENCES = 3, 3  # per document, sentences per paragraph
SEED = 20240601
GENERATOR = 1  # bump when the documents made for a (size, layout, seed) change
ACTORS, CPUS_PER_ACTOR = 2, 1
DEFAULT_SIZES = [1000, 10000]
MODEL_CACHE = ROOT / ".pytest_cache" / "d" / "ja2en-tiny-models"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


PROGRESS = "    · "  # a child's progress lines start so; the parent passes them on


def child_log(message: str) -> None:
    print(PROGRESS + message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the model


def tiny_model_key() -> str:
    """The key tests/conftest.py caches the tiny Marian under (its builder and corpus)."""
    digest = hashlib.sha256()
    digest.update((TESTS / "tiny_models.py").read_bytes())
    digest.update((TESTS / "data" / "corpus.tsv").read_bytes())
    digest.update(repr("marian").encode())
    return digest.hexdigest()[:16]


def find_model(explicit: str | None, build: bool) -> Path:
    """--model, else the tiny Marian the tests built (the current one, else the newest), else a new one."""
    if explicit:
        path = Path(explicit)
        if not (path / "config.json").is_file():
            sys.exit(f"--model {explicit}: no config.json there; give a model folder")
        return path.resolve()
    current = MODEL_CACHE / f"marian-{tiny_model_key()}"
    if (current / "config.json").is_file():
        return current
    built = [p for p in MODEL_CACHE.glob("marian-*") if (p / "config.json").is_file()]
    if built:
        newest = max(built, key=lambda p: (p / "config.json").stat().st_mtime)
        log(f"the tiny Marian of the current tests is not built; using the newest one, {newest.name}")
        return newest
    if not build:
        sys.exit(
            "no tiny test model under .pytest_cache/d/ja2en-tiny-models/: run `make test` or "
            "`.venv/bin/python -m pytest tests/test_translate.py -x -q` first, leave out --no-build "
            "to train it here (~30 s), or give one with --model"
        )
    log(f"training the tiny Marian of the tests into {current} (~30 s) ...")
    sys.path.insert(0, str(TESTS))
    import tiny_models

    staging = Path(tempfile.mkdtemp(prefix="marian-", dir=MODEL_CACHE.parent if MODEL_CACHE.parent.is_dir() else None))
    tiny_models.train_tiny_marian(tiny_models.load_corpus(), staging)
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(current, ignore_errors=True)
    shutil.move(str(staging), current)  # where conftest.py looks: the tests reuse it
    return current


def corpus_sentences() -> list[str]:
    sys.path.insert(0, str(TESTS))
    import tiny_models

    return [ja for ja, _ in tiny_models.load_corpus()]


# --------------------------------------------------------------------------- documents


def _part_texts(sentences: list[str], part: int, count: int) -> list[str]:
    """The `count` documents of block `part`: the same for every size and layout."""
    rng = random.Random(f"{SEED}:{part}")
    per_document = PARAGRAPHS * SENTENCES
    chosen = rng.choices(sentences, k=count * per_document)
    texts = []
    for start in range(0, len(chosen), per_document):
        paragraphs = ("".join(chosen[p : p + SENTENCES]) for p in range(start, start + per_document, SENTENCES))
        texts.append("\n\n".join(paragraphs) + "\n")
    return texts


def _write_part(folder: str, layout: str, sentences: list[str], part: int, count: int) -> int:
    first = part * DOCS_PER_PART
    texts = _part_texts(sentences, part, count)
    if layout == "jsonl":
        lines = [json.dumps({"id": f"doc-{first + i:07d}", "text": t}, ensure_ascii=False) for i, t in enumerate(texts)]
        Path(folder, f"part-{part:05d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return count
    sub = Path(folder, f"part-{part:05d}")
    sub.mkdir()
    for i, text in enumerate(texts):
        with open(sub / f"doc-{first + i:07d}.txt", "w", encoding="utf-8") as handle:
            handle.write(text)
    return count


def documents_folder(workdir: Path, sentences: list[str], size: int, layout: str) -> tuple[Path, dict[str, Any]]:
    """The folder of `size` generated documents, made now unless a finished one is there."""
    folder = workdir / f"docs-{layout}-{size}"
    marker = folder / ".complete"  # hidden: ja2en's readers skip it
    expected = {
        "documents": size, "layout": layout, "seed": SEED, "generator": GENERATOR,
        "corpus_sha256": hashlib.sha256("\n".join(sentences).encode()).hexdigest(),
    }  # fmt: skip
    if marker.is_file():
        try:
            made = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            made = {}
        if {k: made.get(k) for k in expected} == expected:
            return folder, {"reused": True, "generate_s": made.get("generate_s"), "bytes": made.get("bytes")}
    log(f"generating {size:,} documents ({layout}) in {folder} ...")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tick = time.perf_counter()
    counts = range(size, 0, -DOCS_PER_PART)  # documents left at each block's start
    parts = [(p, min(DOCS_PER_PART, left)) for p, left in enumerate(counts)]
    write = functools.partial(_write_part, str(folder), layout, sentences)
    if len(parts) < 8:
        done = sum(write(p, n) for p, n in parts)
    else:
        workers = min(os.cpu_count() or 1, 16)
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            done = sum(pool.map(write, *zip(*parts), chunksize=max(1, len(parts) // (workers * 8))))
    seconds = time.perf_counter() - tick
    size_bytes = sum(entry.stat().st_size for entry in _files(folder))
    marker.write_text(json.dumps({**expected, "generate_s": round(seconds, 2), "bytes": size_bytes}), encoding="utf-8")
    log(f"  {done:,} documents, {size_bytes / 1e6:,.0f} MB, in {seconds:.1f} s")
    return folder, {"reused": False, "generate_s": round(seconds, 2), "bytes": size_bytes}


def _files(folder: Path) -> list[os.DirEntry]:
    found: list[os.DirEntry] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                found.extend(_files(Path(entry.path)))
            elif not entry.name.startswith("."):
                found.append(entry)
    return found


def warmup_folder(workdir: Path, sentences: list[str]) -> Path:
    """Documents holding every corpus sentence once, to fill the translation cache."""
    folder = workdir / "warmup"
    folder.mkdir(parents=True, exist_ok=True)
    per_document = PARAGRAPHS * SENTENCES
    lines = []
    for start in range(0, len(sentences), per_document):
        chosen = sentences[start : start + per_document]
        text = "\n\n".join("".join(chosen[p : p + SENTENCES]) for p in range(0, len(chosen), SENTENCES))
        lines.append(json.dumps({"id": f"warmup-{start // per_document}", "text": text}, ensure_ascii=False))
    (folder / "warmup.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- child


def proc_status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (VmRSS, VmHWM...) in MiB; None where there is none."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ProgressLog:
    """A progress callback that logs at most every `every` seconds (cheap when it does not)."""

    def __init__(self, every: float = 30.0) -> None:
        self.every, self.next = every, time.monotonic() + every

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if now >= self.next:
            self.next = now + self.every
            done, total = getattr(progress, "documents_done", None), getattr(progress, "documents_total", None)
            child_log(f"{getattr(progress, 'stage', '')}: {done} of {total} documents")


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this (fresh) process."""
    from engines import ModelCalls, peak_rss_mb, quiet_transformers
    from run import torch_threads

    import ja2en

    quiet_transformers()
    settings = {"beams": 1, "device": "cpu", "backend": spec["backend"]}
    output = Path(spec["output"])
    if spec["engine"] == "local":
        from ja2en.cache import TranslationCache

        cpu, tick = cpu_seconds(), time.perf_counter()
        translator = ja2en.Translator(spec["model"], cache=TranslationCache(spec["cache"]), **settings)
        load_s, load_cpu = time.perf_counter() - tick, cpu_seconds() - cpu
        after_load = proc_status_mb("VmRSS")
        # The model should not be called at all (the cache is warm): count its calls to show it.
        calls = ModelCalls() if hasattr(getattr(translator, "backend", None), "generate") else None
        if calls:
            calls.wrap(translator.backend)
        cpu, tick = cpu_seconds(), time.perf_counter()
        result = ja2en.translate_documents(
            [spec["input"]], output_dir=output, translator=translator, summary="none", progress=ProgressLog()
        )
        wall, cpu = time.perf_counter() - tick, cpu_seconds() - cpu
        extra: dict[str, Any] = {
            "load_s": round(load_s, 2), "load_cpu_s": round(load_cpu, 2), "rss_after_load_mb": after_load,
            "cpu_s": round(cpu, 2), "cpu_ms_per_document": _per_document_ms(cpu, result.documents),
            "model_calls": calls.calls if calls else None, "model_rows": sum(calls.rows) if calls else None,
            "model_s": round(calls.seconds, 3) if calls else None, "torch_threads": torch_threads(),
        }  # fmt: skip
    else:
        import logging

        import ray

        from ja2en.distributed.engine import translate_on_ray
        from ja2en.distributed.tasks import Loaders, load_translator

        cpu, tick = cpu_seconds(), time.perf_counter()
        ray.init(
            num_cpus=max(ACTORS * CPUS_PER_ACTOR, os.cpu_count() or 1), include_dashboard=False,
            log_to_driver=False, logging_level=logging.ERROR, _system_config={"worker_niceness": 0},
        )  # fmt: skip
        init_s, init_cpu = time.perf_counter() - tick, cpu_seconds() - cpu
        after_init = proc_status_mb("VmRSS")
        loaders = Loaders(functools.partial(load_translator, spec["model"], cache=spec["cache"], **settings))
        cpu, tick = cpu_seconds(), time.perf_counter()
        result = translate_on_ray(
            [spec["input"]], output_dir=output, loaders=loaders, summary="none", actors=ACTORS,
            cpus_per_actor=CPUS_PER_ACTOR, progress=ProgressLog(),
        )  # fmt: skip
        wall, cpu = time.perf_counter() - tick, cpu_seconds() - cpu
        ray.shutdown()
        extra = {
            "actors": ACTORS, "cpus_per_actor": CPUS_PER_ACTOR,
            "ray_init_s": round(init_s, 2), "ray_init_driver_cpu_s": round(init_cpu, 2),
            "driver_rss_after_init_mb": after_init,
            "driver_cpu_s": round(cpu, 2), "driver_cpu_ms_per_document": _per_document_ms(cpu, result.documents),
        }  # fmt: skip
    this_run = result.manifest.get("this_run", {})
    translation = result.manifest.get("models", {}).get("translation", {})
    peak = peak_rss_mb()
    return {
        "engine": spec["engine"],
        "documents": result.documents,
        "sentences": result.sentences,
        "errors": len(result.errors),
        "wall_s": round(wall, 2),
        "ms_per_document": _per_document_ms(wall, result.documents),
        **extra,
        ("peak_rss_mb" if spec["engine"] == "local" else "driver_peak_rss_mb"): peak,
        # Cache hits of distinct sentences (each translation call looks a sentence up once).
        "sentences_from_cache": this_run.get("sentences_from_cache"),
        "timings": this_run.get("timings"),
        "translation": {k: translation.get(k) for k in ("backend", "compute_type", "beams")},
    }


def _per_document_ms(seconds: float, documents: int) -> float | None:
    return round(1000 * seconds / documents, 3) if documents else None



# --------------------------------------------------------------------------- parent


def run_child(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run one measurement in a fresh process; a failure comes back as {"error": ...}."""
    import run

    env = run.child_env(workdir)
    shutil.rmtree(spec["output"], ignore_errors=True)
    result_file = workdir / f"result-{os.getpid()}.json"
    result_file.unlink(missing_ok=True)
    busy, tick = run.busy_cpu_seconds(), time.perf_counter()
    tail: deque[str] = deque(maxlen=5)
    with subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps({**spec, "result": str(result_file)})],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    ) as child:  # fmt: skip
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(PROGRESS):
                log(line.rstrip("\n"))
            elif line.strip():
                tail.append(line.strip())
    seconds = time.perf_counter() - tick
    if child.returncode != 0 or not result_file.is_file():
        return {"error": f"exit {child.returncode}: " + " | ".join(tail)}
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result_file.unlink()
    result["process_s"] = round(seconds, 1)
    result["machine_busy_cores"] = round((run.busy_cpu_seconds() - busy) / seconds, 2)
    return result


def machine_info() -> dict[str, Any]:
    import run

    import ja2en

    info = run.machine()
    info["platform"] = platform.platform()
    info["versions"]["ja2en"] = ja2en.__version__
    for package in ("ray", "pyarrow"):
        try:
            info["versions"][package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info["versions"][package] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout
        info["git_commit"] = commit + ("+uncommitted changes in src/" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        info["git_commit"] = None
    info["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return info


def markdown(report: dict[str, Any]) -> str:
    def cell(value: Any, digits: int = 1) -> str:
        if value is None:
            return "–"
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"

    machine = report["machine"]
    heading = (
        f"{machine.get('cpu')}, {machine.get('cores')} cores; ja2en {machine['versions'].get('ja2en')} "
        f"({machine.get('git_commit')}), {machine.get('date')}; layout {report['setup']['layout']}"
    )
    lines = [heading]
    results = report["results"]
    if results.get("local"):
        lines += [
            "",
            "Local engine (`translate_documents`):",
            "",
            "| documents | wall s | ms per document | peak RSS MB | RSS after load MB |",
            "|---:|---:|---:|---:|---:|",
        ]
        for size, r in results["local"].items():
            if "error" in r or "skipped" in r:
                lines.append(f"| {int(size):,} | {r.get('error') or r.get('skipped')} | | | |")
                continue
            lines.append(
                f"| {int(size):,} | {cell(r['wall_s'], 2)} | {cell(r['ms_per_document'], 2)} "
                f"| {cell(r['peak_rss_mb'], 0)} | {cell(r['rss_after_load_mb'], 0)} |"
            )
    if results.get("ray"):
        lines += [
            "",
            f"Ray engine (`translate_on_ray`, {ACTORS} actors × {CPUS_PER_ACTOR} CPU; driver process only):",
            "",
            "| documents | wall s | ms per document | driver CPU ms per document | driver peak RSS MB |",
            "|---:|---:|---:|---:|---:|",
        ]
        for size, r in results["ray"].items():
            if "error" in r or "skipped" in r:
                lines.append(f"| {int(size):,} | {r.get('error') or r.get('skipped')} | | | |")
                continue
            lines.append(
                f"| {int(size):,} | {cell(r['wall_s'], 2)} | {cell(r['ms_per_document'], 2)} "
                f"| {cell(r['driver_cpu_ms_per_document'], 2)} | {cell(r['driver_peak_rss_mb'], 0)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--child", help=argparse.SUPPRESS)
    add("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, metavar="N", help="documents per run (default 1k, 10k)")
    add("--million", action="store_true", help="also 1,000,000 documents (generated on first use)")
    add("--engine", choices=["local", "ray", "both"], default="local", help="the engine(s) to measure (default local)")
    add("--layout", choices=["jsonl", "txt"], default="jsonl", help="JSONL files of 1,000 documents, or one .txt each")
    add("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ja2en-benchmark" / "scale",
        help="generated documents, cache and outputs (default: %(default)s)")  # fmt: skip
    add("--model", help="the translation model (default: the tiny Marian of the tests)")
    add("--no-build", action="store_true", help="fail rather than train the tiny Marian when the tests have not")
    add("--backend", default="auto", help="translation backend (default auto, as the CLI)")
    add("--ray-max", type=int, default=100_000, metavar="N", help="skip Ray for sizes above N (default 100000)")
    add("--generate-only", action="store_true", help="only make the document folders (timed) and stop")
    add("--markdown", action="store_true", help="print the tables instead of the JSON (which is still saved)")
    add("--from-json", type=Path, metavar="FILE", help="print a saved result (with --markdown, as tables); run nothing")
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        Path(spec["result"]).write_text(json.dumps(measure(spec)), encoding="utf-8")
        return
    if args.from_json:
        report = json.loads(args.from_json.read_text(encoding="utf-8"))
        print(markdown(report) if args.markdown else json.dumps(report, indent=1, ensure_ascii=False))
        return

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sizes = sorted(set(args.sizes + ([1_000_000] if args.million else [])))
    sentences = corpus_sentences()
    folders, generation = {}, {}
    for size in sizes:
        folders[size], generation[str(size)] = documents_folder(workdir, sentences, size, args.layout)
    if args.generate_only:
        print(json.dumps({"layout": args.layout, "workdir": str(workdir), "generation": generation}, indent=1))
        return
    model = find_model(args.model, build=not args.no_build)
    log(f"model: {model}")
    cache = workdir / "translations.sqlite3"
    common = {"model": str(model), "cache": str(cache), "backend": args.backend}
    log("warming the translation cache (every corpus sentence once) ...")
    warmup_input = warmup_folder(workdir, sentences)
    spec = {**common, "engine": "local", "input": str(warmup_input), "output": str(workdir / "out-warmup")}
    warmup = run_child(spec, workdir)
    log(f"    → {warmup}")
    if "error" in warmup:
        sys.exit(f"the warm-up run failed: {warmup['error']}")

    engines = ["local", "ray"] if args.engine == "both" else [args.engine]
    results: dict[str, dict[str, dict[str, Any]]] = {engine: {} for engine in engines}
    for engine in engines:
        for size in sizes:
            if engine == "ray" and size > args.ray_max:
                results[engine][str(size)] = {"skipped": f"above --ray-max {args.ray_max:,}"}
                continue
            log(f"{engine}, {size:,} documents ...")
            output = workdir / f"out-{engine}-{args.layout}-{size}"
            spec = {**common, "engine": engine, "input": str(folders[size]), "output": str(output)}
            result = run_child(spec, workdir)
            shutil.rmtree(output, ignore_errors=True)  # a million documents' outputs take GBs
            results[engine][str(size)] = result
            shown = ("wall_s", "ms_per_document", "peak_rss_mb", "driver_cpu_ms_per_document", "driver_peak_rss_mb",
                     "model_calls", "machine_busy_cores", "error")  # fmt: skip
            log(f"    → {({k: result[k] for k in shown if k in result})}")

    report = {
        "command": " ".join(["python", "benchmarks/scale.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "setup": {
            "translation_model": str(model),
            "translator": {"beams": 1, "device": "cpu", "backend": args.backend, "cache": "on, warmed"},
            "summary": "none",
            "documents": f"{PARAGRAPHS} paragraphs x {SENTENCES} sentences from tests/data/corpus.tsv, seed {SEED}",
            "layout": args.layout,
            "ray": f"{ACTORS} actors x {CPUS_PER_ACTOR} CPU, a local Ray instance; driver CPU and RSS are the driver "
            "process's only (Ray's daemons, workers and actors are other processes)",
            "workdir": str(workdir),
        },
        "generation": generation,
        "warmup": warmup,
        "results": results,
        "total_s": round(time.perf_counter() - started, 1),
    }
    saved = workdir / f"results-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    saved.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    log(f"done in {report['total_s']:.0f} s; saved in {saved}")
    print(markdown(report) if args.markdown else json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
