"""A whole run's outputs, compared with files recorded before the run driver was restructured.

Everything here is exact by construction on any machine (the overfit tiny Marian on its own
sentences, the tiny BART and mT5 "lead" summarizers), except the scores, compared to 1e-3,
and what names this machine (paths, model digests, versions, timings), which is replaced
by placeholders. Rewrite the golden files only on purpose:
`JA2EN_WRITE_GOLDEN=1 pytest tests/test_golden.py`, then read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ja2en import Summarizer, Translator, translate_documents

GOLDEN = Path(__file__).parent / "data" / "golden"
DOCUMENTS = {
    "news/a.txt": "株価は大幅に下落した。会議は延期された。\n\n市長は「市民の声に耳を傾ける。」と強調した。\n",
    "news/b.txt": "本日の説明会はオンラインで開催します。\n",
    "news/broken.txt": None,  # undecodable: an error line
    "press.jsonl": '{"id": "p1", "text": "当社は本日、新製品の販売を開始しました。詳細は後日お知らせします。"}\n'
    '{"text": "会議は延期された。"}\n',
}


def normalize(value: Any, replacements: dict[str, str]) -> Any:
    """The value with this machine's paths replaced."""
    if isinstance(value, dict):
        return {k: normalize(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, replacements) for v in value]
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    return value


def approx_scores(value: Any) -> Any:
    """The value with each score compared to 1e-3: float rounding differs between CPUs."""
    if isinstance(value, dict):
        return {k: pytest.approx(v, abs=1e-3) if k == "score" and v is not None else approx_scores(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_scores(v) for v in value]
    return value


def run_outputs(out: Path, replacements: dict[str, str]) -> dict[str, Any]:
    read = lambda name: [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]  # noqa: E731
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    kept = {key: manifest[key] for key in ("inputs", "settings", "counts", "errors", "status")}
    for role, settings in manifest["models"].items():
        kept[f"model:{role}"] = None if settings is None else {
            k: v for k, v in settings.items() if k not in ("revision", "path", "converted")
        }
    return normalize(
        {
            "documents.jsonl": [{**d, "models": {k: v for k, v in d["models"].items() if "revision" not in k}} for d in read("documents.jsonl")],
            "sentences.jsonl": read("sentences.jsonl"),
            "errors.jsonl": read("errors.jsonl"),
            "manifest": kept,
        },
        replacements,
    )


@pytest.fixture
def golden_run(tmp_path: Path, tiny_marian: Path, tiny_bart: Path, tiny_mt5: Path, monkeypatch) -> dict[str, Any]:
    for name, text in DOCUMENTS.items():
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xfe\xfa\x80" if text is None else text.encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    cpu = {"device": "cpu", "backend": "torch", "quantize": False}
    translate_documents(
        ["in"],
        output_dir="out",
        translator=Translator(str(tiny_marian), beams=2, batch_size=3, **cpu),
        summarizer=Summarizer(str(tiny_bart), **cpu),
        ja_summarizer=Summarizer(str(tiny_mt5), language="ja", **cpu),
        summary="both",
    )
    return run_outputs(
        tmp_path / "out", {str(tiny_marian): "<marian>", str(tiny_bart): "<bart>", str(tiny_mt5): "<mt5>"}
    )


def test_a_whole_run_writes_what_it_wrote_before_the_restructuring(golden_run: dict[str, Any]) -> None:
    if os.environ.get("JA2EN_WRITE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, value in golden_run.items():
            (GOLDEN / f"{name.removesuffix('.jsonl')}.json").write_text(
                json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
            )
    for name, value in golden_run.items():
        want = json.loads((GOLDEN / f"{name.removesuffix('.jsonl')}.json").read_text(encoding="utf-8"))
        assert value == approx_scores(want), name
