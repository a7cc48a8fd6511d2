"""Kill -9 a large run part-way, re-run the same command, and compare with an uninterrupted run.

Run from the repo root, after benchmarks/scale.py has generated the documents and warmed
the translation cache (it reuses both):

    .venv/bin/python benchmarks/kill_resume.py                       # 100,000 documents, killed at 50 %
    .venv/bin/python benchmarks/kill_resume.py --documents 10000 --kill-at 0.2 0.7

Each run is the real CLI (`python -m ja2en translate DOCS -o OUT ...`) in its own process,
with scale.py's tiny model, greedy decoding and no summaries. The victim is SIGKILLed
when its documents.jsonl holds the given share of the documents (several shares: killed
once at each, in turn), then the same command runs to completion. The check: the
resumed folder's documents.jsonl, sentences.jsonl and errors.jsonl are byte-identical to
the uninterrupted run's, and its manifest equal but for `this_run`. One JSON object on
stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale  # noqa: E402  (benchmarks/ is not a package)


def command(model: Path, inputs: Path, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "ja2en", "translate", str(inputs), "-o", str(output), "-m", str(model),
        "--no-summary", "--beams", "1", "--device", "cpu",
    ]  # fmt: skip


def lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return 0


def finished(folder: Path) -> dict[str, Any]:
    """What a resumed run must reproduce: the JSONL files' bytes (as sizes and digests), the manifest but this_run."""
    import hashlib

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("this_run")
    digests = {}
    for name in ("documents.jsonl", "sentences.jsonl", "errors.jsonl"):
        digest = hashlib.sha256()
        with (folder / name).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digests[name] = digest.hexdigest()
    return {"files": digests, "manifest": manifest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--kill-at", type=float, nargs="+", default=[0.5], help="shares of the documents (0-1)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ja2en-benchmark/scale"))
    parser.add_argument("--model", help="a model folder (default: scale.py's tiny Marian)")
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    inputs, _ = scale.documents_folder(workdir, scale.corpus_sentences(), args.documents, "jsonl")
    model = scale.find_model(args.model, build=True)
    env = {**os.environ, "JA2EN_CACHE_DIR": str(workdir)}  # scale.py's warm cache: translations.sqlite3 there
    whole, resumed = workdir / "out-kill-whole", workdir / "out-kill-resumed"
    for folder in (whole, resumed):
        shutil.rmtree(folder, ignore_errors=True)

    scale.log(f"uninterrupted run of {args.documents:,} documents ...")
    tick = time.perf_counter()
    subprocess.run(command(model, inputs, whole), check=True, env=env, stdout=subprocess.DEVNULL)
    whole_s = time.perf_counter() - tick

    kills = []
    journal = resumed / "documents.jsonl"
    for share in args.kill_at:
        target = int(args.documents * share)
        victim = subprocess.Popen(command(model, inputs, resumed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while victim.poll() is None and lines(journal) < target:
            time.sleep(0.05)
        if victim.poll() is not None:
            sys.exit(f"the run ended before {target:,} documents were written; choose a smaller --kill-at")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills.append({"share": share, "documents_in_journal": lines(journal)})
        scale.log(f"killed at {kills[-1]['documents_in_journal']:,} documents")

    tick = time.perf_counter()
    subprocess.run(command(model, inputs, resumed), check=True, env=env, stdout=subprocess.DEVNULL)
    resume_s = time.perf_counter() - tick
    manifest = json.loads((resumed / "manifest.json").read_text(encoding="utf-8"))
    identical = finished(resumed) == finished(whole)
    print(json.dumps({
        "documents": args.documents,
        "kills": kills,
        "uninterrupted_s": round(whole_s, 1),
        "resume_s": round(resume_s, 1),
        "resumed": manifest["this_run"]["documents_resumed"],
        "translated_after_resume": manifest["this_run"]["documents_translated"],
        "identical": identical,
        "machine": scale.machine_info(),
    }, indent=1))  # fmt: skip
    for folder in (whole, resumed):
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main()
