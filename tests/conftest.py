"""Session fixtures: no network, a private HF cache, and tiny models built on the spot.

The tiny Marian model is trained until it reproduces every pair of tests/data/corpus.tsv
exactly, so tests can assert the exact English of every sentence; the tiny mT5 until its
summary of a Japanese document made of corpus sentences is exactly the first sentence. The
tiny models are cached in pytest's cache folder keyed by the corpus and the builders'
source, so only the first run (and CI's fresh clone) pays for training: ~30 s for Marian
and BART, and about a minute more for mT5, built only when a test asks for it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports huggingface_hub, which reads these once at import time.
_HF_HOME = tempfile.mkdtemp(prefix="ja2en-hf-home-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["JA2EN_CACHE_DIR"] = os.path.join(_HF_HOME, "ja2en-cache")
os.environ.pop("JA2EN_MODELS_DIR", None)
os.environ.pop("JA2EN_DEBUG", None)

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

import tiny_models  # noqa: E402

TESTS = Path(__file__).parent

# CI: the same examples on every run, so a failure there is reproducible and a red build
# means a bug, not an unlucky draw; no deadline, as two loaded cores make timing noise.
# Elsewhere examples stay random (and remembered), to keep finding new failures.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HF_HOME, ignore_errors=True)


def _builder_key(*parts: object) -> str:
    digest = hashlib.sha256()
    digest.update((TESTS / "tiny_models.py").read_bytes())
    digest.update((TESTS / "data" / "corpus.tsv").read_bytes())
    for part in parts:
        digest.update(repr(part).encode())
    return digest.hexdigest()[:16]


def _cached_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:
    """Build a model once per (builder source, corpus) and reuse it across sessions."""
    key = f"{name}-{_builder_key(name)}"
    cache = getattr(request.config, "cache", None)
    root = Path(cache.mkdir("ja2en-tiny-models")) if cache is not None else tmp_path_factory.mktemp("models")
    target = root / key
    if (target / "config.json").is_file():
        return target
    staging = tmp_path_factory.mktemp(name)
    build(staging)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(staging, target)
    return target


@pytest.fixture(scope="session")
def corpus() -> list[tuple[str, str]]:
    """The fixture ja/en pairs the tiny translator reproduces exactly."""
    return tiny_models.load_corpus()


@pytest.fixture(scope="session")
def expected(corpus: list[tuple[str, str]]) -> dict[str, str]:
    return dict(corpus)


@pytest.fixture(scope="session")
def tiny_marian(request, tmp_path_factory, corpus) -> Path:
    return _cached_model(request, tmp_path_factory, "marian", lambda out: tiny_models.train_tiny_marian(corpus, out))


@pytest.fixture(scope="session")
def tiny_bart(request, tmp_path_factory, corpus) -> Path:
    return _cached_model(
        request, tmp_path_factory, "bart", lambda out: tiny_models.build_tiny_bart([en for _, en in corpus], out)
    )


@pytest.fixture(scope="session")
def tiny_mt5(request, tmp_path_factory, corpus) -> Path:
    """A tiny mT5 Japanese "lead summarizer": a document's summary is its first sentence, exactly."""
    return _cached_model(
        request, tmp_path_factory, "mt5", lambda out: tiny_models.build_tiny_mt5([ja for ja, _ in corpus], out)
    )


def _build_random_mt5(texts: list[str], out: Path, *, max_length: int = 96) -> Path:
    """An mT5 with random weights and a sentencepiece tokenizer trained on `texts`, laid out
    as mT5 repos are (spiece.model + tokenizer_config.json): for code paths, not outputs."""
    import io
    import json

    import sentencepiece as spm
    import torch
    from transformers import AutoTokenizer, GenerationConfig, MT5Config, MT5ForConditionalGeneration

    out.mkdir(parents=True, exist_ok=True)
    stream = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=stream, vocab_size=600, hard_vocab_limit=False,
        model_type="unigram", character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2,
    )  # fmt: skip
    (out / "spiece.model").write_bytes(stream.getvalue())
    settings = {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    settings |= {"extra_ids": 0, "additional_special_tokens": None, "model_max_length": max_length}
    (out / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    AutoTokenizer.from_pretrained(out).save_pretrained(out)  # writes tokenizer.json, as transformers 5 reads it
    torch.manual_seed(0)
    config = MT5Config(
        vocab_size=len(AutoTokenizer.from_pretrained(out)), d_model=32, d_kv=8, d_ff=64, num_layers=2,
        num_decoder_layers=2, num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
        tie_word_embeddings=False,
    )  # fmt: skip
    model = MT5ForConditionalGeneration(config).eval()
    # Like csebuetnlp/mT5_multilingual_XLSum, no summary settings of its own beyond a length.
    model.generation_config = GenerationConfig(decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, max_length=24)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def random_mt5(tmp_path_factory, corpus) -> Path:
    """A random-weight mT5 Japanese summarizer (0.2 s to build, so not cached)."""
    return _build_random_mt5([ja for ja, _ in corpus], tmp_path_factory.mktemp("mt5"))


@pytest.fixture(scope="session")
def translator(tiny_marian: Path):
    from ja2en import Translator

    # float32 torch: the reference path; ct2 and int8 are compared against it in their own tests
    return Translator(str(tiny_marian), beams=1, batch_size=4, device="cpu", backend="torch", quantize=False)


@pytest.fixture(scope="session")
def summarizer(tiny_bart: Path):
    from ja2en import Summarizer

    return Summarizer(str(tiny_bart), device="cpu", backend="torch", quantize=False)


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports of Ray fail, as on a machine without the ray extra."""
    import builtins

    real_import = builtins.__import__

    def without_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_ray)


@pytest.fixture(scope="module")
def ct2_home(tmp_path_factory: pytest.TempPathFactory):
    """One model store and cache for a test module, so each tiny model is converted to CT2 once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JA2EN_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
        patch.setenv("JA2EN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield

