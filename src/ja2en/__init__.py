"""ja2en: Japanese documents → a sentence-aligned Japanese-English corpus with English summaries.

    >>> import ja2en
    >>> result = ja2en.translate_documents(["seeds/"], output_dir="outputs")

Heavy libraries (torch, transformers) are imported only when a model is loaded, so
`import ja2en` and `ja2en --help` stay fast.
"""

from .corpus.export import ExportResult, export_corpus
from .corpus.output import FilterCounts, PairFilter
from .corpus.publish import PublishResult, publish
from .distributed.engine import translate_dataset, translate_on_ray
from .errors import (
    DecodeError,
    DeviceError,
    DocumentError,
    EngineError,
    InputError,
    Ja2enError,
    Ja2enWarning,
    ModelError,
    OutputError,
    PublishError,
    RunInterrupted,
)
from .corpus.report import write_report
from .evaluate import EvalReport, evaluate
from .models.presets import DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSLATION_MODEL
from .readers import read_documents
from .records import Document, Sentence, SentencePair, Summary, TranslatedDocument, Translation
from .references import Reference, ReferenceSet, read_references
from .run import Progress, RunOptions, RunResult, translate_documents
from .segment import segment_document, split_paragraphs, split_sentences
from .summarize import Summarizer
from .translate import Translator

__version__ = "0.1.0"

# What a user needs; everything else stays importable from its module (ja2en.corpus.publish
# for build_dataset and push_dataset, ja2en.readers for decode_bytes, ...). The README's
# "As a library" section describes these.
__all__ = [
    "DEFAULT_SUMMARY_MODEL",
    "DEFAULT_TRANSLATION_MODEL",
    "DecodeError",
    "DeviceError",
    "Document",
    "DocumentError",
    "EngineError",
    "EvalReport",
    "ExportResult",
    "FilterCounts",
    "InputError",
    "Ja2enError",
    "Ja2enWarning",
    "ModelError",
    "OutputError",
    "PairFilter",
    "Progress",
    "PublishError",
    "PublishResult",
    "Reference",
    "ReferenceSet",
    "RunInterrupted",
    "RunOptions",
    "RunResult",
    "Sentence",
    "SentencePair",
    "Summarizer",
    "Summary",
    "TranslatedDocument",
    "Translation",
    "Translator",
    "__version__",
    "evaluate",
    "export_corpus",
    "publish",
    "read_documents",
    "read_references",
    "segment_document",
    "split_paragraphs",
    "split_sentences",
    "translate_dataset",
    "translate_documents",
    "translate_on_ray",
    "write_report",
]
