"""The tiny mT5 fixture is known-good: an mT5 folder whose summary of a Japanese document is
its first sentence, exactly, with greedy decoding and with its own 4-beam settings, in
transformers and in CTranslate2."""

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


def test_ctranslate2_decodes_it_as_transformers_does(tiny_mt5: Path, corpus, model_and_tokenizer, tmp_path) -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")

    class Untied(ctranslate2.converters.TransformersConverter):
        # transformers 5 forces MT5Config.tie_word_embeddings=True yet never scales mT5's
        # decoder output; CTranslate2 scales it by d_model**-0.5 when the flag is set, which
        # keeps greedy argmaxes but flattens the scores beam search ranks by.
        def load_model(self, model_class, model_name_or_path, **kwargs):
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            model.config.tie_word_embeddings = False
            return model

    model, tok = model_and_tokenizer
    Untied(str(tiny_mt5)).convert(str(tmp_path / "ct2"), quantization="float32")
    translator = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu")
    documents = _documents(corpus)
    # The source ends with </s>. No target prefix: CT2 starts from the decoder_start_token
    # (<pad>) of the converted config.json by itself and leaves it out of the hypothesis.
    source = [tok.convert_ids_to_tokens(tok(doc)["input_ids"]) for doc, _ in documents]
    leads = [lead for _, lead in documents]
    greedy = translator.translate_batch(source, beam_size=1)
    assert [tok.convert_tokens_to_string(r.hypotheses[0]) for r in greedy] == leads
    # As generate() with the model's settings; patience > 1 because CT2 stops once beam_size
    # hypotheses have ended, where transformers goes on while a running beam may still win.
    generation = model.generation_config
    beam = translator.translate_batch(
        source, beam_size=generation.num_beams, length_penalty=generation.length_penalty,
        no_repeat_ngram_size=generation.no_repeat_ngram_size, max_decoding_length=generation.max_length - 1, patience=4,
    )  # fmt: skip
    assert [tok.convert_tokens_to_string(r.hypotheses[0]) for r in beam] == leads
