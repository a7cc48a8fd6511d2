"""Compare ja2en.segment with pysbd and ja-sentence-segmenter on labelled tricky cases.

Run from the repo root:  PYTHONPATH=src .venv/bin/python benchmarks/compare_segmenters.py

The labelled cases live in tests/test_segment.py (LABELLED_CASES) so the test suite
and this comparison always use the same set.  For every segmenter we report:
  * exact: the stripped, non-empty output sentences equal the expected list;
  * lossless: the outputs can be found in the paragraph in order, separated only
    by whitespace (nothing dropped, added or altered);
  * time on a few long paragraphs (linear vs. super-linear behaviour).
"""

from __future__ import annotations

import functools
import importlib.util
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


def _load_cases() -> list[tuple[str, list[str]]]:
    """LABELLED_CASES from tests/test_segment.py (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("_segment_cases", ROOT / "tests" / "test_segment.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LABELLED_CASES


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


def main() -> None:
    cases = _load_cases()
    # Also run the NFKC form of every case: that is what the ja2en pipeline feeds in.
    nfkc = [(unicodedata.normalize("NFKC", p), [unicodedata.normalize("NFKC", s).strip() for s in e]) for p, e in cases]
    nfkc = [c for c in nfkc if c not in cases]
    for name, segment in SEGMENTERS.items():
        print(f"=== {name}")
        for label, case_set in (("labelled", cases), ("labelled, NFKC-normalized", nfkc)):
            failures, lossy = [], []
            for paragraph, expected in case_set:
                got = segment(paragraph)
                if [s.strip() for s in got if s.strip()] != expected:
                    failures.append((paragraph, got))
                if not lossless(paragraph, got):
                    lossy.append((paragraph, got))
            print(f"  {label}: exact {len(case_set) - len(failures)}/{len(case_set)}, "
                  f"text lost/altered in {len(lossy)}/{len(case_set)}")
            if label == "labelled":
                for paragraph, got in failures:
                    print(f"    FAIL {paragraph!r}\n         -> {got!r}")
                for paragraph, got in lossy:
                    print(f"    LOSSY {paragraph!r}\n         -> {got!r}")
        bad_extra = [(p, segment(p)) for p in EXTRA_INPUTS if not lossless(p, segment(p))]
        print(f"  extra inputs lossless: {len(EXTRA_INPUTS) - len(bad_extra)}/{len(EXTRA_INPUTS)}")
        for p, got in bad_extra:
            print(f"    LOSSY {p!r} -> {got!r}")
        for label, text in LONG_INPUTS.items():
            start = time.perf_counter()
            segment(text)
            print(f"  {label}: {time.perf_counter() - start:.3f}s")


if __name__ == "__main__":
    main()
