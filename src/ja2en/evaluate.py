"""A model's translations (and summaries) of a reference set → BLEU, chrF and ROUGE.

Each segment's Japanese (see references.py) is split into sentences by segment.py,
translated as `ja2en translate` would translate it, and the sentences' English joined by
a space; all sentences go to the translator in one call so its batches stay full. BLEU
and chrF are sacrebleu's corpus-level scores with its default settings and signatures;
ROUGE is computed here (`rouge_scores`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .run import Progress
from .references import ReferenceSet, read_references
from .segment import split_paragraphs, split_sentences
from .summarize import Summarizer
from .translate import Translator


@dataclass(frozen=True, slots=True)
class RougeScores:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1, each between 0 and 1."""

    rouge_1: float
    rouge_2: float
    rouge_l: float

    def to_dict(self) -> dict[str, float]:
        return {"rouge_1": round(self.rouge_1, 6), "rouge_2": round(self.rouge_2, 6), "rouge_l": round(self.rouge_l, 6)}


@dataclass(frozen=True, slots=True)
class EvalReport:
    """How a model's translations (and summaries) of a reference set score."""

    references: str
    format: str
    documents: int
    segments: int  # the units BLEU and chrF compare: lines of TSV/JSONL, paragraphs of folder documents
    sentences: int  # Japanese sentences translated
    flagged: int  # sentences whose translation carries quality flags
    flags: dict[str, int]  # sentences per flag
    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str
    summaries: int  # reference summaries scored (0 without a summarizer or summaries)
    rouge: RougeScores | None  # mean over documents of each document's F1
    models: dict[str, Any] = field(default_factory=dict)  # model, revision and decoding of each

    @property
    def flagged_share(self) -> float:
        return self.flagged / self.sentences if self.sentences else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "references": self.references,
            "format": self.format,
            "documents": self.documents,
            "segments": self.segments,
            "sentences": self.sentences,
            "flagged": self.flagged,
            "flagged_share": round(self.flagged_share, 6),
            "flags": dict(self.flags),
            "bleu": round(self.bleu, 4),
            "bleu_signature": self.bleu_signature,
            "chrf": round(self.chrf, 4),
            "chrf_signature": self.chrf_signature,
            "summaries": self.summaries,
            "rouge": self.rouge.to_dict() if self.rouge else None,
            "models": dict(self.models),
        }

    def to_table(self) -> str:
        """The report as aligned `name  value` lines for a terminal."""
        translation = self.models.get("translation") or {}
        rows = [
            ("references", f"{self.references} ({self.format}: {self.documents} documents, {self.segments} segments)"),
            ("model", f"{translation.get('model')} (revision {translation.get('revision')})"),
            ("sentences", f"{self.sentences} translated, {self.flagged} flagged ({100 * self.flagged_share:.1f}%)"),
        ]
        if self.flags:
            rows.append(("flags", ", ".join(f"{name} {count}" for name, count in self.flags.items())))
        rows += [
            ("BLEU", f"{self.bleu:6.2f}  {self.bleu_signature}"),
            ("chrF", f"{self.chrf:6.2f}  {self.chrf_signature}"),
        ]
        if self.rouge:
            summarization = self.models.get("summarization") or {}
            rows += [
                ("summaries", f"{self.summaries} scored with {summarization.get('model')}"),
                ("ROUGE-1 F1", f"{self.rouge.rouge_1:.4f}"),
                ("ROUGE-2 F1", f"{self.rouge.rouge_2:.4f}"),
                ("ROUGE-L F1", f"{self.rouge.rouge_l:.4f}"),
            ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


# --- scoring ---------------------------------------------------------------------------


def evaluate(
    references: ReferenceSet | Path | str,
    *,
    translator: Translator,
    summarizer: Summarizer | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> EvalReport:
    """Translate the references' Japanese and score it (and summaries, given a summarizer).

    Args:
        references: a ReferenceSet, or a path for read_references.
        summarizer: summarizes each translated document that has a reference summary, for ROUGE.
        progress: called with Progress events ("translating", "summarizing", "done").
    """
    refs = references if isinstance(references, ReferenceSet) else read_references(references)
    docs = refs.documents
    # Sentences as `ja2en translate` makes them, all translated in one call so batches stay full.
    segments = [_sentences(ja) for doc in docs for ja, _ in doc.pairs]
    flat = [sentence for segment in segments for sentence in segment]
    done = 0

    def report(stage: str, documents_done: int = 0) -> None:
        if progress:
            progress(Progress(stage, documents_done, len(docs), done, len(flat)))

    def step(n: int) -> None:
        nonlocal done
        done += n
        report("translating")

    report("translating")
    translations = translator.translate_detailed(flat, progress=step)
    pieces = iter(translations)
    english = [[next(pieces).en for _ in segment] for segment in segments]
    hypotheses = [" ".join(sentences) for sentences in english]
    bleu, chrf = _corpus_scores(hypotheses, [en for d in docs for _, en in d.pairs])
    flags = Counter(flag for t in translations for flag in t.flags)

    rouge, summaries = None, 0
    if summarizer is not None and refs.summaries:
        report("summarizing", len(docs))
        rouge, summaries = _summary_scores(refs, english, summarizer)
    report("done", len(docs))
    return EvalReport(
        references=refs.path,
        format=refs.format,
        documents=len(docs),
        segments=len(segments),
        sentences=len(flat),
        flagged=sum(1 for t in translations if t.flags),
        flags=dict(sorted(flags.items(), key=lambda item: (-item[1], item[0]))),
        bleu=bleu.score,
        bleu_signature=bleu.signature,
        chrf=chrf.score,
        chrf_signature=chrf.signature,
        summaries=summaries,
        rouge=rouge,
        models={
            "translation": translator.fingerprint(),
            "summarization": summarizer.fingerprint() if summaries and summarizer is not None else None,
        },
    )


def _summary_scores(refs: ReferenceSet, english: list[list[str]], summarizer: Summarizer) -> tuple[RougeScores, int]:
    """Mean ROUGE of the summaries of the translated documents that have a reference summary."""
    scored: list[tuple[list[str], str]] = []
    segments_left = iter(english)
    for doc in refs.documents:
        sentences = [s for _ in doc.pairs for s in next(segments_left)]
        if doc.summary is not None:
            scored.append((sentences, doc.summary))
    made = summarizer.summarize_many([sentences for sentences, _ in scored])
    scores = [rouge_scores(summary.text, wanted) for summary, (_, wanted) in zip(made, scored, strict=True)]
    mean = RougeScores(
        sum(s.rouge_1 for s in scores) / len(scores),
        sum(s.rouge_2 for s in scores) / len(scores),
        sum(s.rouge_l for s in scores) / len(scores),
    )
    return mean, len(scored)


def _sentences(text: str) -> list[str]:
    return [s for start, end in split_paragraphs(text) for s in split_sentences(text[start:end])]


@dataclass(frozen=True, slots=True)
class _Score:
    score: float
    signature: str


def _corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[_Score, _Score]:
    """Corpus BLEU and chrF with sacrebleu's defaults (13a tokenization, chrF2), and their signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    scores = []
    for metric in (BLEU(), CHRF()):
        result = metric.corpus_score(list(hypotheses), [list(references)])
        scores.append(_Score(float(result.score), str(metric.get_signature())))
    return scores[0], scores[1]


# --- ROUGE -----------------------------------------------------------------------------
# Our own few lines instead of the rouge-score package and its nltk/absl dependencies.
# Tokens are what rouge-score's default tokenizer gives without stemming: the text
# lowercased, cut at every character that is not an ASCII letter or digit.

_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """Lowercased runs of ASCII letters and digits; everything else separates tokens."""
    return _ROUGE_TOKEN.findall(text.lower())


def rouge_scores(hypothesis: str, reference: str) -> RougeScores:
    """ROUGE-1, ROUGE-2 (clipped n-gram overlap) and ROUGE-L (longest common subsequence) F1.

    ROUGE-L is over the whole text as one sequence (rouge-score's `rougeL`, not `rougeLsum`).
    A text without tokens scores 0 against anything, as in rouge-score.
    """
    hyp, ref = rouge_tokens(hypothesis), rouge_tokens(reference)

    def ngram_f1(n: int) -> float:
        hyp_grams, ref_grams = _ngrams(hyp, n), _ngrams(ref, n)
        return _f1(sum((hyp_grams & ref_grams).values()), sum(hyp_grams.values()), sum(ref_grams.values()))

    return RougeScores(ngram_f1(1), ngram_f1(2), _f1(_lcs_length(hyp, ref), len(hyp), len(ref)))


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _f1(overlap: int, hyp_total: int, ref_total: int) -> float:
    precision = overlap / hyp_total if hyp_total else 0.0
    recall = overlap / ref_total if ref_total else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, keeping one row of the table at a time."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]
