"""Build tiny seq2seq models on the fly for the test suite.

No model hub is reachable from the test machines, so the tests train their own
miniature models:

* :func:`train_tiny_marian` -- a MarianMT model in the opus-mt folder layout
  (``source.spm``/``target.spm``/``vocab.json``) that has memorised a small
  Japanese-English corpus, so translations of the corpus sentences are exact.
* :func:`build_tiny_bart` -- a tiny BART summariser with a byte-level BPE
  tokenizer and a short context, briefly trained to copy the start of its input.

Run ``python tests/tiny_models.py`` for a self-check with timings.
"""

from __future__ import annotations

import io
import json
import logging
import random
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sentencepiece as spm
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    BartTokenizer,
    GenerationConfig,
    MarianConfig,
    MarianMTModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

__all__ = ["load_corpus", "train_tiny_marian", "build_tiny_bart", "DEFAULT_CORPUS"]

logger = logging.getLogger(__name__)

DEFAULT_CORPUS = Path(__file__).resolve().parent / "data" / "corpus.tsv"

# Marian special tokens, laid out as in the Helsinki-NLP opus-mt vocab.json files.
_M_EOS, _M_UNK, _M_PAD = "</s>", "<unk>", "<pad>"
# BART special tokens in their conventional id order; <mask> is appended last.
_B_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
_B_MASK = "<mask>"


def load_corpus(path: Path | None = None) -> list[tuple[str, str]]:
    """Read ``ja<TAB>en`` pairs, skipping blank lines and ``#`` comments."""
    path = DEFAULT_CORPUS if path is None else Path(path)
    pairs: list[tuple[str, str]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        ja, sep, en = line.partition("\t")
        if not sep or not ja.strip() or not en.strip():
            raise ValueError(f"{path}:{lineno}: expected 'ja<TAB>en', got {line!r}")
        pairs.append((ja.strip(), en.strip()))
    return pairs


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Silence the tqdm bars transformers shows when saving/loading weights."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    # MarianTokenizer warns "Recommended: pip install sacremoses." on every load
    # although it never uses the Moses normaliser during encoding.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*sacremoses.*")
        return AutoTokenizer.from_pretrained(path)


# --------------------------------------------------------------------------- Marian


def _train_spm(texts: Sequence[str], vocab_size: int, model_path: Path) -> spm.SentencePieceProcessor:
    """Train a unigram sentencepiece model covering every character of ``texts``."""
    n_chars = len(set("".join(texts)))
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=buf,
        # character_coverage=1.0 needs one piece per distinct character, so a
        # kanji-heavy corpus needs more pieces than an English one.
        vocab_size=max(vocab_size, n_chars + 64),
        hard_vocab_limit=False,
        character_coverage=1.0,
        model_type="unigram",
        num_threads=1,  # single-threaded training is reproducible
        minloglevel=2,
    )
    model_path.write_bytes(buf.getvalue())
    return spm.SentencePieceProcessor(model_file=str(model_path))


def _write_marian_tokenizer(pairs: Sequence[tuple[str, str]], out_dir: Path) -> PreTrainedTokenizerBase:
    """Write the opus-mt tokenizer files and load them back through AutoTokenizer."""
    src = _train_spm([ja for ja, _ in pairs], 400, out_dir / "source.spm")
    tgt = _train_spm([en for _, en in pairs], 300, out_dir / "target.spm")

    # Joint vocab like opus-mt: </s>=0, <unk>=1, then the pieces of both spm
    # models (the spm-internal <unk>/<s>/</s> are dropped), <pad> last.
    vocab: dict[str, int] = {_M_EOS: 0, _M_UNK: 1}
    for sp in (src, tgt):
        for i in range(sp.get_piece_size()):
            if not (sp.is_control(i) or sp.is_unknown(i)):
                vocab.setdefault(sp.id_to_piece(i), len(vocab))
    vocab[_M_PAD] = len(vocab)

    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1), encoding="utf-8")
    tok_config = {
        "tokenizer_class": "MarianTokenizer",
        "eos_token": _M_EOS,
        "unk_token": _M_UNK,
        "pad_token": _M_PAD,
        "model_max_length": 512,
        "separate_vocabs": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=1), encoding="utf-8")
    return _load_tokenizer(out_dir)


def _marian_model(vocab_size: int, pad_id: int, eos_id: int) -> MarianMTModel:
    config = MarianConfig(
        vocab_size=vocab_size,
        decoder_vocab_size=vocab_size,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        max_position_embeddings=512,
        activation_function="swish",  # what opus-mt models use
        scale_embedding=True,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        forced_eos_token_id=eos_id,
        decoder_start_token_id=pad_id,  # Marian starts decoding from <pad>
    )
    model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=pad_id,
        eos_token_id=eos_id,
        forced_eos_token_id=eos_id,
        pad_token_id=pad_id,
        bad_words_ids=[[pad_id]],  # as in opus-mt: never emit <pad> mid-sentence
        max_length=256,
        num_beams=1,
        do_sample=False,
    )
    _zero_row(model.get_input_embeddings().weight, pad_id)
    return model


@torch.no_grad()
def _zero_row(weight: torch.Tensor, row: int) -> None:
    # CTranslate2 feeds a zero vector as the first decoder input, which only
    # matches transformers if the <pad> (= decoder start) embedding is zero.
    weight[row].zero_()


@torch.no_grad()
def _translate(model: MarianMTModel, tok: PreTrainedTokenizerBase, src: Sequence[str], **gen_kwargs) -> list[str]:
    batch = tok(list(src), return_tensors="pt", padding=True)
    out = model.generate(**batch, **gen_kwargs)
    return tok.batch_decode(out, skip_special_tokens=True)


def _marian_mismatches(
    model: MarianMTModel, tok: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]]
) -> list[str]:
    """Check exact reproduction in every decoding mode; return failure descriptions."""
    src = [ja for ja, _ in pairs]
    ref = [en for _, en in pairs]
    model.eval()
    modes = {
        "greedy, one padded batch": lambda: _translate(model, tok, src),
        "greedy, batches of 3": lambda: [
            hyp for i in range(0, len(src), 3) for hyp in _translate(model, tok, src[i : i + 3])
        ],
        "beam 4, one padded batch": lambda: _translate(model, tok, src, num_beams=4),
    }
    for name, run in modes.items():
        bad = [f"{name}: {s!r} -> {h!r} (want {r!r})" for s, r, h in zip(src, ref, run()) if h != r]
        if bad:  # later modes are slower; no point running them
            return bad
    return []


# Required gap between the reference token's logit and the best other logit at
# every target position (teacher forced) before decoding is checked for real.
_MIN_MARGIN = 3.0


def _min_logit_margin(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Smallest (reference logit - best other logit) over all non-ignored positions."""
    mask = labels != -100
    logits, target = logits[mask], labels[mask]
    ref = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf"))
    return float((ref - others.max(1).values).min())


def train_tiny_marian(
    pairs: list[tuple[str, str]], out_dir: Path, *, seed: int = 0, max_steps: int = 2000
) -> Path:
    """Train a tiny MarianMT model that reproduces ``pairs`` exactly and save it.

    The folder has the opus-mt layout, so ``AutoTokenizer`` gives a
    ``MarianTokenizer`` and ``AutoModelForSeq2SeqLM`` a ``MarianMTModel``.
    Training stops once greedy (batched and in batches of 3) and 4-beam
    decoding reproduce every pair; RuntimeError if ``max_steps`` optimizer
    steps (counted in whole epochs of a few length-bucketed batches) run out first.
    """
    if not pairs:
        raise ValueError("need at least one sentence pair")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = _write_marian_tokenizer(pairs, out_dir)

    torch.manual_seed(seed)
    model = _marian_model(len(tok), tok.pad_token_id, tok.eos_token_id)
    assert model.config.pad_token_id == tok.pad_token_id == len(tok) - 1
    batches = _length_buckets(tok, pairs)
    embeddings = model.get_input_embeddings().weight
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)

    step, last_check, epoch = 0, -(10**9), 0
    while step < max_steps:
        epoch += 1
        model.train()
        margin, loss = float("inf"), 0.0
        for batch in batches:
            out = model(**batch)
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            # The tied output projection still pushes gradient into the <pad> row.
            _zero_row(embeddings, tok.pad_token_id)
            step += 1
            loss = max(loss, out.loss.item())
            margin = min(margin, _min_logit_margin(out.logits.detach(), batch["labels"]))

        # A clear teacher-forced margin (free: the logits are already computed)
        # is a cheap proxy for exact decoding that also survives the tiny float
        # differences of other batch compositions and thread counts; only then
        # run the slow real decoding checks.
        if margin >= _MIN_MARGIN and step - last_check >= 10 * len(batches):
            last_check = step
            bad = _marian_mismatches(model, tok, pairs)
            logger.info(
                "epoch %d (step %d): loss %.4f, margin %.2f, %d mismatches", epoch, step, loss, margin, len(bad)
            )
            if not bad:
                break
        elif epoch % 20 == 0:
            logger.info("epoch %d (step %d): loss %.4f, margin %.2f", epoch, step, loss, margin)
    else:
        raise RuntimeError(
            f"tiny Marian did not reproduce all {len(pairs)} training pairs within {max_steps} steps "
            f"(worst batch loss {loss:.4f}, margin {margin:.2f})"
        )

    with _no_progress_bars():
        model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
        reloaded = AutoModelForSeq2SeqLM.from_pretrained(out_dir)
    # Weights round-trip bit-exactly, so one quick decoding pass suffices here.
    src = [ja for ja, _ in pairs]
    if _translate(reloaded, _load_tokenizer(out_dir), src) != [en for _, en in pairs]:
        raise RuntimeError(f"tiny Marian saved in {out_dir} lost exact reproduction after reload")
    logger.info("tiny Marian trained in %d steps, saved to %s", step, out_dir)
    return out_dir


def _length_buckets(
    tok: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]], size: int = 16
) -> list[dict[str, torch.Tensor]]:
    """Split pairs into padded training batches of similar length.

    Compared with one whole-corpus batch this wastes far less compute on
    padding and takes several optimizer steps per epoch: about 2x faster.
    """

    def n_tokens(pair: tuple[str, str]) -> tuple[int, int]:
        return len(tok(text_target=pair[1])["input_ids"]), len(tok(pair[0])["input_ids"])

    ordered = sorted(pairs, key=n_tokens)
    n = -(-len(ordered) // size)
    batches = []
    for k in range(n):
        chunk = ordered[k * len(ordered) // n : (k + 1) * len(ordered) // n]
        batch = tok([ja for ja, _ in chunk], text_target=[en for _, en in chunk], padding=True, return_tensors="pt")
        batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tok.pad_token_id, -100)
        batches.append(dict(batch))
    return batches


# --------------------------------------------------------------------------- BART


def _train_bpe(texts: Sequence[str], vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE; return vocab (BART special ids, <mask> last) and merges."""
    bpe = Tokenizer(models.BPE())
    # Same pre-tokenisation as RobertaTokenizer (= BartTokenizer in transformers 5).
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_B_SPECIALS,  # ids 0..3 in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte stays encodable
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    data = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = data["vocab"]
    assert [vocab[t] for t in _B_SPECIALS] == [0, 1, 2, 3], vocab
    vocab[_B_MASK] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["merges"]]
    return vocab, merges


def _lead_examples(
    tok: PreTrainedTokenizerBase, texts: Sequence[str], n: int, target_len: int, seed: int
) -> list[tuple[list[int], list[int]]]:
    """Make (document ids, lead ids) pairs: random runs of sentences and their first tokens."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        doc = " ".join(rng.choices(texts, k=rng.randint(1, 6)))
        ids = tok(doc, truncation=True)["input_ids"]  # <s> ... </s>, cut to model_max_length
        examples.append((ids, [*ids[: target_len + 1], tok.eos_token_id]))
    return examples


def build_tiny_bart(texts: list[str], out_dir: Path, *, seed: int = 0, max_positions: int = 64) -> Path:
    """Build and save a tiny BART summariser with a byte-level BPE tokenizer.

    The model is trained for a few seconds to "summarise" a document by copying
    its first tokens, so outputs are text-like. Generation is greedy with
    ``min_length=5``/``max_length=20``: always a short, non-empty summary.
    """
    if not texts:
        raise ValueError("need at least one text")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    vocab, merges = _train_bpe(texts, 400)
    BartTokenizer(vocab=vocab, merges=merges, model_max_length=max_positions).save_pretrained(out_dir)
    tok = _load_tokenizer(out_dir)
    bos, pad, eos, unk, mask = (tok.convert_tokens_to_ids(t) for t in [*_B_SPECIALS, _B_MASK])
    assert (bos, pad, eos, unk, mask) == (0, 1, 2, 3, len(tok) - 1)

    torch.manual_seed(seed)
    config = BartConfig(
        vocab_size=len(tok),
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=max_positions,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        bos_token_id=bos,
        pad_token_id=pad,
        eos_token_id=eos,
        decoder_start_token_id=eos,
        forced_eos_token_id=eos,
    )
    model = BartForConditionalGeneration(config)
    # forced_bos_token_id is no longer a BartConfig field in transformers 5.
    model.generation_config = GenerationConfig(
        bos_token_id=bos,
        pad_token_id=pad,
        eos_token_id=eos,
        decoder_start_token_id=eos,
        forced_bos_token_id=bos,
        forced_eos_token_id=eos,
        # Banning specials keeps the decoded text non-empty. bad_words_ids is
        # applied before ForcedBOS, so <s> is still forced at the first step
        # (suppress_tokens would run after it and break that).
        bad_words_ids=[[bos], [pad], [unk], [mask]],
        min_length=5,
        max_length=20,
        num_beams=1,
        do_sample=False,
    )

    # Brief "lead" training: summary = the first 12 tokens of the document.
    examples = _lead_examples(tok, texts, 256, 12, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for step in range(150):
        chunk = [examples[(step * 32 + i) % len(examples)] for i in range(32)]
        src = tok.pad({"input_ids": [s for s, _ in chunk]}, return_tensors="pt")
        tgt = tok.pad({"input_ids": [t for _, t in chunk]}, return_tensors="pt")["input_ids"]
        labels = tgt.masked_fill(tgt == pad, -100)
        loss = model(**src, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    logger.info("tiny BART lead-training loss %.3f", loss.item())

    with _no_progress_bars():
        model.save_pretrained(out_dir)
        _verify_bart(out_dir, texts)
    return out_dir


def _verify_bart(out_dir: Path, texts: Sequence[str]) -> None:
    """Reload from disk; check tokenizer round trip and non-empty, deterministic summaries."""
    tok = _load_tokenizer(out_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(out_dir).eval()
    # About 40 tokens, comfortably inside the short context.
    words = " ".join(texts).split()
    sample = words[0]
    for word in words[1:]:
        if len(tok(f"{sample} {word}")["input_ids"]) > 40:
            break
        sample = f"{sample} {word}"
    ids = tok(sample)["input_ids"]
    if ids[0] != tok.bos_token_id or ids[-1] != tok.eos_token_id:
        raise RuntimeError(f"BART tokenizer does not add <s> ... </s>: {ids[:3]}...{ids[-3:]}")
    if tok.decode(ids, skip_special_tokens=True) != sample:
        raise RuntimeError("BART tokenizer does not round-trip text")
    batch = tok([sample, texts[0]], return_tensors="pt", padding=True, truncation=True)
    with torch.no_grad():
        first, second = (model.generate(**batch) for _ in range(2))
    if not torch.equal(first, second):
        raise RuntimeError("BART generation is not deterministic")
    summaries = tok.batch_decode(first, skip_special_tokens=True)
    if not all(s.strip() for s in summaries):
        raise RuntimeError(f"BART produced an empty summary: {summaries!r}")


# --------------------------------------------------------------------------- self-check


def _self_check() -> None:
    """Build both models in a temp dir, report timings, re-verify from disk."""
    import tempfile
    import time

    corpus = load_corpus()
    english = [en for _, en in corpus]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        marian_dir = train_tiny_marian(corpus, Path(tmp) / "marian")
        t1 = time.perf_counter()
        bart_dir = build_tiny_bart(english, Path(tmp) / "bart")
        t2 = time.perf_counter()

        # Reload exactly as the library would and watch for any warning (Python
        # warnings or transformers log records) while loading and generating.
        caught: list[str] = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: caught.append(record.getMessage())  # type: ignore[method-assign]
        hf_logging.get_logger().addHandler(handler)
        with _no_progress_bars(), warnings.catch_warnings(record=True) as py_warnings:
            warnings.simplefilter("always")
            tok = AutoTokenizer.from_pretrained(marian_dir)
            model = AutoModelForSeq2SeqLM.from_pretrained(marian_dir)
            marian_bad = _marian_mismatches(model, tok, corpus)
            btok = AutoTokenizer.from_pretrained(bart_dir)
            bmodel = AutoModelForSeq2SeqLM.from_pretrained(bart_dir)
            doc = " ".join(english[5:10])
            summary_ids = bmodel.generate(**btok(doc, return_tensors="pt", truncation=True))
        hf_logging.get_logger().removeHandler(handler)
        caught += [str(w.message) for w in py_warnings]
        # MarianTokenizer always warns when sacremoses is missing; harmless here.
        known = [m for m in caught if "sacremoses" in m]
        caught = [m for m in caught if m not in known]

        cfg, bcfg = model.config, bmodel.config
        print(f"marian: {t1 - t0:5.1f}s  {type(tok).__name__}/{type(model).__name__}  vocab={len(tok)}")
        print(f"  eos={cfg.eos_token_id} unk={tok.unk_token_id} pad={cfg.pad_token_id} "
              f"decoder_start={cfg.decoder_start_token_id} files={sorted(p.name for p in marian_dir.iterdir())}")
        print(f"  exact reproduction of {len(corpus)} pairs after reload: {not marian_bad}")
        print(f"  {corpus[-1][0]} -> {_translate(model, tok, [corpus[-1][0]])[0]}")
        print(f"bart:   {t2 - t1:5.1f}s  {type(btok).__name__}/{type(bmodel).__name__}  vocab={len(btok)}")
        print(f"  bos={bcfg.bos_token_id} pad={bcfg.pad_token_id} eos={bcfg.eos_token_id} "
              f"unk={btok.unk_token_id} mask={btok.mask_token_id} decoder_start={bcfg.decoder_start_token_id} "
              f"max_positions={bcfg.max_position_embeddings} model_max_length={btok.model_max_length}")
        print(f"  summary ({summary_ids.shape[1]} ids): {btok.decode(summary_ids[0], skip_special_tokens=True)!r}")
        print(f"warnings while loading/generating: {caught or 'none'} (known, ignored: {known or 'none'})")
        if marian_bad or caught:
            raise SystemExit("self-check FAILED")
        print("self-check OK")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    _self_check()
