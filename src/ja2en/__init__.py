"""ja2en: Japanese documents → a sentence-aligned Japanese-English corpus with English summaries.

    >>> import ja2en
    >>> result = ja2en.translate_documents(["seeds/"], output_dir="outputs")

Heavy libraries (torch, transformers) are imported only when a model is loaded, so
`import ja2en` and `ja2en --help` stay fast.
"""

from .corpus.output import FilterCounts, PairFilter, PairRow, RunOutput
from .errors import DecodeError, DeviceError, EngineError, InputError, Ja2enError, ModelError, OutputError, PublishError
from .models.load import DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL, ResolvedModel, resolve_model
from .evaluate import EvalReport, RougeScores, evaluate, rouge_scores
from .distributed.engine import translate_dataset, translate_on_ray
from .corpus.export import ExportResult, export_corpus
from .run import Progress, RunOptions, RunResult, translate_documents
from .corpus.publish import BuildResult, PublishResult, build_dataset, publish, push_dataset
from .distributed.tasks import Loaders, model_loaders
from .readers import decode_bytes, normalize_text, read_documents
from .records import Document, Sentence, SentencePair, Summary, TranslatedDocument
from .references import Reference, ReferenceSet, read_references
from .segment import segment_document, sentence_spans, split_paragraphs, split_sentences
from .summarize import Summarizer
from .translate import Translator

__version__ = "0.1.0"

__all__ = [
    "BuildResult",
    "EvalReport",
    "Reference",
    "ReferenceSet",
    "RougeScores",
    "evaluate",
    "read_references",
    "rouge_scores",
    "ExportResult",
    "export_corpus",
    "FilterCounts",
    "PairFilter",
    "PairRow",
    "PublishError",
    "PublishResult",
    "RunOutput",
    "build_dataset",
    "publish",
    "push_dataset",
    "DEFAULT_SUMMARY_MODEL",
    "DEFAULT_TRANSLATION_MODEL",
    "DecodeError",
    "DeviceError",
    "EngineError",
    "Loaders",
    "Document",
    "InputError",
    "Ja2enError",
    "ModelError",
    "OutputError",
    "Progress",
    "ResolvedModel",
    "RunOptions",
    "RunResult",
    "Sentence",
    "SentencePair",
    "Summarizer",
    "Summary",
    "TranslatedDocument",
    "Translator",
    "__version__",
    "decode_bytes",
    "normalize_text",
    "read_documents",
    "resolve_model",
    "segment_document",
    "sentence_spans",
    "split_paragraphs",
    "split_sentences",
    "translate_dataset",
    "translate_documents",
    "translate_on_ray",
    "model_loaders",
]
