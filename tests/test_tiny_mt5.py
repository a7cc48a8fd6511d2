"""The tiny mT5 fixture is known-good: an mT5 folder whose summary of a Japanese document is
its first sentence, exactly, with greedy decoding and with its own 4-beam settings.

That CTranslate2 (through ja2en's conversion) decodes it as transformers does is tested in
test_summary_ja.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_mt5: Path):
    return AutoModelForSeq2SeqLM.from_pretrained(tiny_mt5).eval(), AutoTokenizer.from_pretrained(tiny_mt5)


def _documents(corpus: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(document, first sentence): sentences joined without spaces, as Japanese is written."""
    ja = [j for j, _ in corpus]
    runs = [ja[5:8], ja[20:22], [ja[45], ja[0], ja[12], ja[30]]]
    return [("".join(run), run[0]) for run in runs]


def test_layout_is_that_of_an_mt5_repository(tiny_mt5: Path, model_and_tokenizer) -> None:
    model, tok = model_and_tokenizer
    files = {p.name for p in tiny_mt5.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "spiece.model", "tokenizer.json"} <= files
    assert (type(model).__name__, model.config.model_type, type(tok).__name__) == (
        "MT5ForConditionalGeneration", "mt5", "T5Tokenizer",
    )  # fmt: skip
    # T5 conventions: <pad>=0 starts decoding, </s>=1 ends the input and the output, no <s>.
    assert (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id) == (0, 1, None)
    assert model.config.decoder_start_token_id == model.generation_config.decoder_start_token_id == 0
    assert tok("会議は延期された。")["input_ids"][-1] == tok.eos_token_id
    assert tok.model_max_length == 256
    generation = model.generation_config
    assert (generation.num_beams, generation.max_length, generation.no_repeat_ngram_size) == (4, 84, 3)


@pytest.mark.parametrize("decoding", [{"num_beams": 1}, {}], ids=["greedy", "generation_config"])
def test_the_summary_is_the_first_sentence(corpus, model_and_tokenizer, decoding) -> None:
    model, tok = model_and_tokenizer
    documents = _documents(corpus)
    batch = tok([doc for doc, _ in documents], padding=True, truncation=True, return_tensors="pt")
    summaries = tok.batch_decode(model.generate(**batch, **decoding), skip_special_tokens=True)
    assert summaries == [lead for _, lead in documents]
