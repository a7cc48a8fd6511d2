"""Compare ja2en.segment with pysbd and ja-sentence-segmenter on labelled paragraphs.

Run from the repo root (needs the `compare` extra):
    PYTHONPATH=src .venv/bin/python benchmarks/compare_segmenters.py

The labelled paragraphs live in tests/data/segmentation.jsonl, one JSON object a line:
{"text": paragraph, "sentences": [expected, ...], "genre": ...}.  tests/test_segment.py
asserts every one of them, so the test suite and this comparison use the same set.  The
genres are "edge case" (punctuation runs, URLs, abbreviations, brackets) and paragraphs
shaped like ordinances, press releases, news, reports and interviews -- with many a 。
inside brackets mid-sentence, and near misses where the sentence does end after the bracket.
For every segmenter we report:
  * exact: the stripped, non-empty output sentences equal the expected list (overall
    and per genre);
  * lossless: the outputs can be found in the paragraph in order, separated only
    by whitespace (nothing dropped, added or altered);
  * time on a few long paragraphs (linear vs. super-linear behaviour).
"""

from __future__ import annotations

import functools
import json
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pysbd
from ja_sentence_segmenter.common.pipeline import make_pipeline
from ja_sentence_segmenter.concatenate.simple_concatenator import concatenate_matching
from ja_sentence_segmenter.normalize.neologd_normalizer import normalize
from ja_sentence_segmenter.split.simple_splitter import split_newline, split_punctuation

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from ja2en.segment import split_sentences  # noqa: E402


LABELLED_SET = ROOT / "tests" / "data" / "segmentation.jsonl"


def _load_rows() -> list[dict]:
    """The labelled paragraphs: {"text", "sentences", "genre"} per line."""
    lines = LABELLED_SET.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _pysbd() -> Callable[[str], list[str]]:
    seg = pysbd.Segmenter(language="ja", clean=False)
    return seg.segment


def _jss(with_normalize: bool) -> Callable[[str], list[str]]:
    """The pipeline from the ja-sentence-segmenter README (optionally without its normalizer)."""
    split_punc = functools.partial(split_punctuation, punctuations=r"。!?")
    concat_tail_no = functools.partial(
        concatenate_matching, former_matching_rule=r"^(?P<result>.+)(の)$", remove_former_matched=False
    )
    steps = [normalize] if with_normalize else []
    pipeline = make_pipeline(*steps, split_newline, concat_tail_no, split_punc)
    return lambda text: list(pipeline(text))


SEGMENTERS: dict[str, Callable[[str], list[str]]] = {
    "ja2en.segment": split_sentences,
    "pysbd 0.3.4 (ja, clean=False)": _pysbd(),
    "ja-sentence-segmenter 0.3.0 (README pipeline)": _jss(with_normalize=True),
    "ja-sentence-segmenter 0.3.0 (without normalize)": _jss(with_normalize=False),
}


def lossless(paragraph: str, sentences: list[str]) -> bool:
    """True if the sentences occur in paragraph in order, separated only by whitespace."""
    pos = 0
    for sent in sentences:
        sent = sent.strip()
        if not sent:
            continue
        gap_end = pos
        while gap_end < len(paragraph) and paragraph[gap_end].isspace():
            gap_end += 1
        if not paragraph.startswith(sent, gap_end):
            return False
        pos = gap_end + len(sent)
    return paragraph[pos:].strip() == ""


# Unlabelled inputs only checked for the lossless property.
EXTRA_INPUTS = [
    "∯。∯い。",  # both libraries use U+222F as an internal sentinel
    "あ∯い。",
    "「閉じない。次。",
    "絵文字😀です。🇯🇵!",
    "A  B。 C\u3000D。",
    "価格は１，２３４円。",
]

# 4x the sentences should take ~4x the time; pysbd takes ~16x (quadratic).
LONG_INPUTS = {
    "100k chars, no punctuation": "あ" * 100_000,
    "2,000 sentences in one paragraph": "これは文です。" * 2_000,
    "8,000 sentences in one paragraph": "これは文です。" * 8_000,
}


def _nfkc(row: dict) -> dict:
    """The row as the ja2en pipeline sees it: text and expected sentences NFKC-normalized."""
    text = unicodedata.normalize("NFKC", row["text"])
    return {**row, "text": text, "sentences": [unicodedata.normalize("NFKC", s).strip() for s in row["sentences"]]}


def _score(segment: Callable[[str], list[str]], rows: list[dict]) -> tuple[list, list]:
    """(failures, lossy): the rows segmented wrongly, and those whose text was lost or altered."""
    failures, lossy = [], []
    for row in rows:
        got = segment(row["text"])
        if [s.strip() for s in got if s.strip()] != row["sentences"]:
            failures.append((row, got))
        if not lossless(row["text"], got):
            lossy.append((row, got))
    return failures, lossy


def main() -> None:
    rows = _load_rows()
    # Also the NFKC form of every row: that is what the ja2en pipeline feeds in.
    nfkc = [_nfkc(r) for r in rows]
    genres = sorted({r["genre"] for r in rows})
    print(f"{len(rows)} labelled paragraphs: " + ", ".join(f"{g} {sum(r['genre'] == g for r in rows)}" for g in genres))
    summary: dict[str, list[str]] = {}
    for name, segment in SEGMENTERS.items():
        print(f"=== {name}")
        for label, row_set in (("labelled", rows), ("labelled, NFKC-normalized", nfkc)):
            failures, lossy = _score(segment, row_set)
            exact = len(row_set) - len(failures)
            print(f"  {label}: exact {exact}/{len(row_set)} ({100 * exact / len(row_set):.1f}%), "
                  f"text lost/altered in {len(lossy)}/{len(row_set)}")
            failed = [r["genre"] for r, _ in failures]
            print("    by genre: " + ", ".join(
                f"{g} {sum(r['genre'] == g for r in row_set) - failed.count(g)}/{sum(r['genre'] == g for r in row_set)}"
                for g in genres))
            summary.setdefault(name, []).extend(
                [f"{exact}/{len(row_set)} ({100 * exact / len(row_set):.1f}%)", f"{len(lossy)}/{len(row_set)}"])
            for row, got in failures:
                print(f"    FAIL {row['text']!r}\n         -> {got!r}")
            for row, got in lossy:
                print(f"    LOSSY {row['text']!r}\n         -> {got!r}")
        bad_extra = [(p, segment(p)) for p in EXTRA_INPUTS if not lossless(p, segment(p))]
        print(f"  extra inputs lossless: {len(EXTRA_INPUTS) - len(bad_extra)}/{len(EXTRA_INPUTS)}")
        for p, got in bad_extra:
            print(f"    LOSSY {p!r} -> {got!r}")
        for label, text in LONG_INPUTS.items():
            start = time.perf_counter()
            segment(text)
            print(f"  {label}: {time.perf_counter() - start:.3f}s")
    print("\n| segmenter | exact paragraphs | text lost/altered | exact after NFKC | lost/altered after NFKC |")
    print("|---|---|---|---|---|")
    for name, cells in summary.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
