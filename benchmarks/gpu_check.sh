#!/usr/bin/env bash
# GPU readiness (issue 16): on a machine with an NVIDIA GPU, in under 5 minutes, run the
# CUDA-marked tests (float16/bfloat16 torch, int8_float16 CTranslate2, out-of-memory
# halving), then time translation (greedy and beam 4) and one long summary on the GPU with
# the benchmark's random full-size models (benchmarks/synthetic.py), and print ONE JSON line
# on stdout:
#
#   {"cuda": true, "gpu": ..., "tests": {"passed": n, "failed": n, "skipped": n, ...},
#    "translation": {...}, "summary": {...}, "errors": [...], "seconds": ...}
#
# Without a usable CUDA GPU (no nvidia-smi, no driver, or a torch that cannot see it) it
# runs nothing heavy and prints {"cuda": false, "skipped": "no CUDA GPU: ..."}, exit 0.
#
#   bash benchmarks/gpu_check.sh            # from the repo root, with .venv set up
#
# Unattended: every step has a time limit and a failing step is recorded in the JSON
# ("errors"), never a crash without output. Exit status 1 when a step failed, else 0.
# Progress goes to stderr. Knobs: GPU_CHECK_SENTENCES (default 512), GPU_CHECK_WORKDIR
# (random models, kept between runs; default $TMPDIR/ja2en-gpu-check).
# benchmarks/run.py times CPU engines only (device="cpu" throughout engines.py), hence
# the small timing code below; it reuses engines.py's fixed-length helpers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec 3>&1 1>&2 # fd 3 is the real stdout, kept for the one JSON line

PY=.venv/bin/python
TOTAL_S=285 # the whole check, leaving a margin under 5 minutes
TEST_S=120
SENTENCES=${GPU_CHECK_SENTENCES:-512}
WORKDIR=${GPU_CHECK_WORKDIR:-${TMPDIR:-/tmp}/ja2en-gpu-check}

json_string() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$(printf '%s' "$s" | tr '\000-\037' ' ')"
}

skip() { # reason [gpu name]
    local gpu=""
    if [[ -n ${2:-} ]]; then gpu=", \"gpu\": $(json_string "$2")"; fi
    printf '{"cuda": false, "skipped": %s%s}\n' "$(json_string "no CUDA GPU: $1")" "$gpu" >&3
    printed=1
    exit 0
}

first_line() { printf '%s' "${1%%$'\n'*}"; }

# Whatever stops the script, the one JSON line still comes out.
printed=0 cuda=false gpu="" scratch="" stopped_at=""
trap 'stopped_at=$LINENO' ERR
finish() {
    local rc=$?
    [[ -n $scratch ]] && rm -rf "$scratch"
    if ((!printed)); then
        printf '{"cuda": %s, "gpu": %s, "errors": [%s], "ok": false, "seconds": %d}\n' "$cuda" "$(json_string "$gpu")" \
            "$(json_string "gpu_check.sh stopped (exit $rc) at line ${stopped_at:-?}; see stderr")" "$SECONDS" >&3
        ((rc != 0)) || rc=1
    fi
    exit "$rc"
}
trap finish EXIT

# --------------------------------------------------------------------------- is there a GPU?

command -v nvidia-smi >/dev/null 2>&1 || skip "nvidia-smi not found"
if ! smi=$(timeout 30 nvidia-smi --query-gpu=name --format=csv,noheader 2>&1); then
    skip "nvidia-smi failed: $(first_line "$smi")"
fi
gpu=$(first_line "$smi")
[[ -n $gpu ]] || skip "nvidia-smi lists no GPU"
[[ -x $PY ]] || skip "$PY not found; run make setup" "$gpu"
probe='
import torch
if torch.cuda.is_available():
    print("ok")
elif torch.version.cuda is None:
    print(f"torch {torch.__version__} is a CPU-only build; install a CUDA build of torch into .venv")
else:
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) cannot use it: torch.cuda.is_available() is False")
'
if ! answer=$(timeout 60 "$PY" -c "$probe" 2>&1); then
    skip "nvidia-smi sees $gpu but importing torch failed: $(printf '%s' "$answer" | tail -n 1)" "$gpu"
fi
answer=$(printf '%s' "$answer" | tail -n 1)
[[ $answer == ok ]] || skip "nvidia-smi sees $gpu but $answer" "$gpu"
cuda=true

# --------------------------------------------------------------------------- the CUDA tests

scratch=$(mktemp -d)
echo "== gpu_check on $gpu: pytest -m cuda tests/test_cuda.py ==" >&2
set +e
timeout --kill-after=10 "$TEST_S" "$PY" -m pytest -m cuda tests/test_cuda.py -q -rs \
    --junitxml="$scratch/junit.xml" 2>&1 | tee "$scratch/tests.log" >&2
tests_rc=${PIPESTATUS[0]}
set -e

# --------------------------------------------------------------------------- timings on the GPU

cat >"$scratch/bench.py" <<'PYTHON'
"""Translation (greedy, beam 4) and one summary on cuda, per backend; results saved after each step."""
import hashlib
import json
import sys
import time
import traceback
from pathlib import Path

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "src")]
out, workdir, sentences = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
NEW_TOKENS, SUMMARY_TOKENS = 40, 60  # as benchmarks/run.py: fixed lengths, whatever random weights say
report = {"translation": {}, "summary": {}, "setup": {}}


def save():
    out.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


def step(section, name, measure, *args):
    print(f"== {section}: {name} ...", file=sys.stderr, flush=True)
    try:
        report[section][name] = measure(*args)
    except Exception as exc:  # recorded, and the next step still runs
        traceback.print_exc()
        report[section][name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    print(f"   {report[section][name]}", file=sys.stderr, flush=True)
    save()


save()
import torch  # noqa: E402
import engines  # noqa: E402  (benchmarks/engines.py: fixed output lengths, throughput)
import synthetic  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from ja2en import Summarizer, Translator  # noqa: E402
from ja2en.models.load import load_seq2seq  # noqa: E402

engines.quiet_transformers()
key = hashlib.sha256((ROOT / "benchmarks" / "synthetic.py").read_bytes()).hexdigest()[:12]
models = workdir / f"models-{key}"
tick = time.perf_counter()
for name, build in (("marian", synthetic.build_marian), ("bart", synthetic.build_bart)):
    if not (models / name / "model.safetensors").is_file():
        print(f"== building the random {name} in {models / name}", file=sys.stderr, flush=True)
        build(models / name)
marian, bart = str(models / "marian"), str(models / "bart")
chosen = synthetic.engine_sentences(AutoTokenizer.from_pretrained(marian), sentences)
warmup = synthetic.engine_sentences(AutoTokenizer.from_pretrained(marian), 16, seed=99)
document = synthetic.summary_document(AutoTokenizer.from_pretrained(bart))
report["setup"] = {
    "sentences": len(chosen), "source_tokens": 30, "new_tokens": NEW_TOKENS,
    "summary_document_sentences": len(document), "summary_new_tokens": SUMMARY_TOKENS,
    "prepare_s": round(time.perf_counter() - tick, 1),
    "versions": {"torch": torch.__version__, "cuda": torch.version.cuda},
}  # fmt: skip
save()
loaded = {}


def described(backend):
    return {k: v for k, v in backend.describe().items() if k != "converted"}  # no local paths


def translate(backend, beams):
    if backend not in loaded:
        loaded[backend] = load_seq2seq(marian, role="translation", device="cuda")
    translator = Translator(loaded=loaded[backend], backend=backend, beams=beams, guard=False)
    engines.force_translation_length(translator, NEW_TOKENS)
    calls = engines.ModelCalls()
    calls.wrap(translator.backend)
    translator.translate(warmup)
    torch.cuda.reset_peak_memory_stats()
    calls.reset()
    clock = engines.Stopwatch()
    translator.translate(chosen)
    result = engines.throughput(len(chosen), calls.tokens, clock, NEW_TOKENS)
    result.pop("cpu_utilization", None)  # of the host, meaningless on a GPU
    result |= {"batches": len(calls.rows), "batch_tokens": translator.batch_tokens, **described(translator.backend)}
    if backend == "torch":  # CTranslate2's memory is its own, not torch's
        result |= {"dtype": translator.loaded.dtype, "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)}
    return result


def summarize(backend):
    summarizer = Summarizer(bart, backend=backend, beams=1, max_new_tokens=SUMMARY_TOKENS, device="cuda")
    calls = engines.ModelCalls()
    calls.wrap(summarizer.backend)
    engines.force_summary_length(summarizer, 2)
    summarizer.summarize(document)  # warm-up
    engines.force_summary_length(summarizer, SUMMARY_TOKENS)
    calls.reset()
    clock = engines.Stopwatch()
    summary = summarizer.summarize(document)
    seconds, _ = clock.stop()
    return {
        "seconds": round(seconds, 3), "input_tokens": summary.input_tokens, "chunks": summary.chunks,
        "generated_tokens": calls.tokens, "tokens_per_s": round(calls.tokens / seconds, 1),
        **described(summarizer.backend), **({"dtype": summarizer.loaded.dtype} if backend == "torch" else {}),
    }  # fmt: skip


for beams, mode in ((1, "greedy"), (4, "beam4")):
    for backend in ("torch", "ct2"):
        step("translation", f"{backend} {mode}", translate, backend, beams)
for backend in ("torch", "ct2"):
    step("summary", f"{backend} greedy", summarize, backend)
PYTHON

left=$((TOTAL_S - SECONDS))
bench_rc=0
if ((left > 30)); then
    echo "== gpu_check: timings on the GPU ($left s left) ==" >&2
    set +e
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
        HF_HOME="$WORKDIR/hf-home" JA2EN_CACHE_DIR="$WORKDIR/ja2en-cache" JA2EN_MODELS_DIR="$WORKDIR/ja2en-models" \
        PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" \
        timeout --kill-after=10 "$left" "$PY" "$scratch/bench.py" "$scratch/bench.json" "$WORKDIR" "$SENTENCES" >&2
    bench_rc=$?
    set -e
else
    bench_rc=-1
fi

# --------------------------------------------------------------------------- the one JSON line

cat >"$scratch/report.py" <<'PYTHON'
"""The one JSON line: test counts from pytest's junit report, timings from bench.json, every error."""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

scratch, gpu = Path(sys.argv[1]), sys.argv[2]
tests_rc, bench_rc, seconds, test_limit = (int(value) for value in sys.argv[3:7])
errors = []
tests = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
try:
    root = ET.parse(scratch / "junit.xml").getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    for suite in suites:
        total, failed, errored, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        tests["failed"] += failed
        tests["errors"] += errored
        tests["skipped"] += skipped
        tests["passed"] += total - failed - errored - skipped
    failing = []
    for case in root.iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            failing.append(f"{case.get('name')}: {problem.get('message', '')[:200]}")
    if failing:
        tests["failing"] = failing
except (OSError, ET.ParseError) as exc:
    log = scratch / "tests.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.is_file() else []
    errors.append(f"tests: no junit report ({type(exc).__name__}); " + " | ".join(tail))
if tests_rc in (124, 137):
    errors.append(f"tests: timed out after {test_limit} s")
elif tests_rc != 0:
    errors.append(f"tests: pytest exit {tests_rc}")
elif tests["passed"] == 0:
    errors.append("tests: no CUDA test passed (all skipped?)")
bench = {}
try:
    bench = json.loads((scratch / "bench.json").read_text(encoding="utf-8"))
except (OSError, ValueError) as exc:
    if bench_rc != -1:
        errors.append(f"timings: no results ({type(exc).__name__})")
if bench_rc == -1:
    errors.append("timings: not run, no time left after the tests")
elif bench_rc in (124, 137):
    errors.append("timings: timed out; the steps without a result did not finish")
elif bench_rc != 0:
    errors.append(f"timings: exit {bench_rc} (see stderr)")
for section in ("translation", "summary"):
    for name, result in bench.get(section, {}).items():
        if "error" in result:
            errors.append(f"{section} {name}: {result['error']}")
line = {
    "cuda": True, "gpu": gpu, "tests": tests, "translation": bench.get("translation", {}),
    "summary": bench.get("summary", {}), "setup": bench.get("setup", {}), "errors": errors,
    "ok": not errors, "seconds": seconds,
}  # fmt: skip
print(json.dumps(line, ensure_ascii=False))
PYTHON
line=$(timeout 60 "$PY" "$scratch/report.py" "$scratch" "$gpu" "$tests_rc" "$bench_rc" "$SECONDS" "$TEST_S")
printf '%s\n' "$line" >&3
printed=1
[[ $line == *'"ok": true'* ]]
