"""The CUDA paths: float16/bfloat16 torch, int8_float16 CTranslate2, and the OOM back-off.

Marked `cuda` and skipped without a CUDA GPU; `benchmarks/gpu_check.sh` runs them with
`pytest -m cuda`. The out-of-memory halving is also checked on CPU, where it runs the same
code: `TorchBackend.generate` catches `torch.OutOfMemoryError` whatever the device.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ja2en import Translator


def _no_cuda_reason() -> str | None:
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"no CUDA GPU: torch {torch.__version__} is a CPU-only build"
    return "no CUDA GPU: torch.cuda.is_available() is False"


def _no_ct2_cuda_reason() -> str | None:
    reason = _no_cuda_reason()
    if reason:
        return reason
    import ctranslate2

    if ctranslate2.get_cuda_device_count() == 0:
        return f"ctranslate2 {ctranslate2.__version__} sees no CUDA GPU (a build without CUDA, or no CUDA libraries)"
    return None


NO_CUDA, NO_CT2_CUDA = _no_cuda_reason(), _no_ct2_cuda_reason()
# Marks, not skips at run time: `pytest -m cuda` selects by them at collection.
needs_cuda = pytest.mark.skipif(NO_CUDA is not None, reason=str(NO_CUDA))
needs_ct2_cuda = pytest.mark.skipif(NO_CT2_CUDA is not None, reason=str(NO_CT2_CUDA))

# Reduced precision is not exact by construction, so those tests allow a few sentences to
# differ. The builder (tests/tiny_models.py) trains until the reference token leads every
# other by >= 3 logits at every teacher-forced position; on CPU, bfloat16 moves the logits
# by up to 0.51 and float16 by 0.04 (measured on this corpus), so greedy decoding keeps
# every argmax unless the GPU's kernels err three times more. Beam search ranks whole
# sequences and has less headroom. Misalignment (sorting, batching) would scramble most
# sentences, and float32 on the same GPU below must still match every one exactly.
_REDUCED_PRECISION_MISSES = 0.05


def _sources(corpus: list[tuple[str, str]]) -> list[str]:
    # Reversed, so the length sorting must really be undone.
    return [ja for ja, _ in corpus][::-1]


def _misses(english: list[str], sources: list[str], expected: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(ja, en, expected[ja]) for ja, en in zip(sources, english, strict=True) if en != expected[ja]]


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("beams", [1, 4])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_torch_on_cuda_translates_the_corpus(tiny_marian: Path, corpus, expected, dtype: str, beams: int) -> None:
    if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        pytest.skip(f"{torch.cuda.get_device_name()} has no bfloat16")
    translator = Translator(str(tiny_marian), beams=beams, batch_size=16, device="cuda", dtype=dtype, backend="torch")
    model = translator.backend.model
    assert (model.device.type, model.dtype) == ("cuda", getattr(torch, dtype))  # not silently float32 or CPU
    assert translator.settings()["dtype"] == dtype
    sources = _sources(corpus)
    english = translator.translate(sources)
    misses = _misses(english, sources, expected)
    if dtype == "float32":
        assert misses == []
    else:
        assert len(misses) <= _REDUCED_PRECISION_MISSES * len(sources), misses
    assert all(english)


@pytest.mark.cuda
@needs_ct2_cuda
@pytest.mark.parametrize("beams", [1, 4])
def test_ct2_on_cuda_picks_int8_float16_and_translates_the_corpus(
    tiny_marian: Path, corpus, expected, beams: int, tmp_path: Path, monkeypatch
) -> None:
    import ctranslate2

    if "int8_float16" not in ctranslate2.get_supported_compute_types("cuda"):
        pytest.skip(f"{torch.cuda.get_device_name()} lacks int8_float16 in ctranslate2 {ctranslate2.__version__}")
    monkeypatch.setenv("JA2EN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("JA2EN_CACHE_DIR", str(tmp_path / "cache"))
    # compute_type="auto", as the CLI: int8 weights with float16 activations on a GPU that has them.
    translator = Translator(str(tiny_marian), beams=beams, batch_size=16, device="cuda", backend="ct2")
    assert translator.backend.describe()["compute_type"] == "int8_float16"
    assert "-int8_float16-" in translator.backend.path.name  # stored quantized, not re-quantized at each load
    sources = _sources(corpus)
    english = translator.translate(sources)
    # int8 weights and float16 activations: reduced precision, as above.
    misses = _misses(english, sources, expected)
    assert len(misses) <= _REDUCED_PRECISION_MISSES * len(sources), misses
    assert all(english)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, needs_cuda])])
def test_out_of_memory_inside_the_model_halves_the_batch_and_every_sentence_comes_back(
    tiny_marian: Path, corpus, expected, device: str, monkeypatch
) -> None:
    # float32: the halved batches must give exactly the English of the corpus.
    translator = Translator(str(tiny_marian), beams=1, batch_size=16, device=device, dtype="float32", backend="torch")
    model = translator.backend.model
    real_generate, rows, failed = model.generate, [], []

    def out_of_memory_once(*args, **kwargs):
        batch = kwargs["input_ids"].shape[0]
        rows.append(batch)
        if batch > 8 and not failed:  # the first big batch does not fit, once
            failed.append(batch)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", out_of_memory_once)  # the instance attribute shadows the method
    sources = _sources(corpus)
    english = translator.translate(sources)
    assert english == [expected[ja] for ja in sources]
    assert failed == [16]  # the first batch was full, and it failed
    first = rows.index(16)
    assert rows[first + 1 : first + 3] == [8, 8]  # retried as two halves
    # Later batches of 16 fit again: one failure does not shrink the rest of the run.
    assert rows.count(16) >= 2
