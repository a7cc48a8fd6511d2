"""Build tiny seq2seq models on the fly for the test suite.

No model hub is reachable from the test machines, so the tests train their own
miniature models:

* :func:`train_tiny_marian` -- a MarianMT model in the opus-mt folder layout
  (``source.spm``/``target.spm``/``vocab.json``) that has memorised a small
  Japanese-English corpus, so translations of the corpus sentences are exact.
* :func:`build_tiny_bart` -- a tiny BART summariser with a byte-level BPE
  tokenizer and a short context, briefly trained to copy the start of its input.
* :func:`build_tiny_mt5` -- a tiny mT5 Japanese summariser in the layout of an mT5
  repository (``spiece.model``, a ``T5Tokenizer``, XLSum-like generation settings)
  trained as a "lead summariser": the summary of a document made of corpus sentences
  (joined without spaces, as Japanese is) is exactly its first sentence.

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
    MT5Config,
    MT5ForConditionalGeneration,
    PreTrainedTokenizerBase,
)
from transformers.models.mt5.modeling_mt5 import MT5Attention
from transformers.utils import logging as hf_logging

__all__ = ["load_corpus", "train_tiny_marian", "build_tiny_bart", "build_tiny_mt5", "DEFAULT_CORPUS"]

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


def _train_spm(
    texts: Sequence[str], vocab_size: int, model_path: Path, **options: int
) -> spm.SentencePieceProcessor:
    """Train a unigram sentencepiece model covering every character of ``texts``.

    ``options`` go to the trainer as they are (special-token ids, for instance).
    """
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
        **options,
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


# --------------------------------------------------------------------------- mT5

# T5/mT5 spiece.model ids: <pad> (also the decoder start token), </s>, <unk>; no <s>.
_T5_PAD, _T5_EOS, _T5_UNK = 0, 1, 2
# Extra self-attention bias given at initialisation to some heads for nearby positions
# (encoder: 1 and 2 before and after, decoder: the last two tokens); see _mt5_model.
_NEIGHBOUR_BIAS = 8.0
_NEIGHBOURS = {"encoder": (-1, 1, -2, 2), "decoder": (-1, -2)}
# Training documents whose teacher-forced margin is below this are "low": they come back
# the next epoch, and once at most 1% of an epoch's are, the decoding checks run.
_MT5_MIN_MARGIN = 1.0


def _write_t5_tokenizer(texts: Sequence[str], out_dir: Path, max_length: int) -> PreTrainedTokenizerBase:
    """Train ``spiece.model``, load it the way mT5 repositories load, and save the result.

    mT5 repositories (csebuetnlp/mT5_multilingual_XLSum included) ship ``spiece.model``
    and a ``tokenizer_config.json`` without sentinel tokens; transformers 5 converts that
    into its tokenizers-backed ``T5Tokenizer``, and ``save_pretrained`` then writes
    ``tokenizer.json``. ``spiece.model`` is kept beside it, as in those repositories.
    """
    _train_spm(texts, 600, out_dir / "spiece.model", pad_id=_T5_PAD, eos_id=_T5_EOS, unk_id=_T5_UNK, bos_id=-1)
    tok_config = {
        "tokenizer_class": "T5Tokenizer",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "extra_ids": 0,
        "additional_special_tokens": None,
        "model_max_length": max_length,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=1), encoding="utf-8")
    _load_tokenizer(out_dir).save_pretrained(out_dir)
    tok = _load_tokenizer(out_dir)
    ids = (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id)
    if ids != (_T5_PAD, _T5_EOS, _T5_UNK) or tok.bos_token_id is not None:
        raise RuntimeError(f"unexpected T5 special ids <pad>/</s>/<unk> = {ids}, <s> = {tok.bos_token_id}")
    return tok


def _mt5_model(n_pieces: int) -> MT5ForConditionalGeneration:
    config = MT5Config(
        vocab_size=-(-n_pieces // 64) * 64,  # padded past the tokenizer, as mT5's 250112 for 250100 pieces
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        pad_token_id=_T5_PAD,
        eos_token_id=_T5_EOS,
        decoder_start_token_id=_T5_PAD,  # T5 starts decoding from <pad>
    )
    model = MT5ForConditionalGeneration(config)
    # mT5 checkpoints have an output projection of their own. transformers 5 forces
    # tie_word_embeddings=True in MT5Config, but loads a checkpoint whose lm_head differs
    # from the shared embeddings untied (warning that they differ), so untie it here the
    # same way; N(0, 1) is mT5's initialisation of an untied lm_head.
    model.lm_head.weight = torch.nn.Parameter(torch.randn(config.vocab_size, config.d_model))
    model.generation_config = GenerationConfig(
        decoder_start_token_id=_T5_PAD,
        eos_token_id=_T5_EOS,
        pad_token_id=_T5_PAD,
        # As csebuetnlp/mT5_multilingual_XLSum is used, but with trigrams: a corpus
        # sentence repeats a bigram ("%増の" twice), which no_repeat_ngram_size=2 would forbid.
        num_beams=4,
        max_length=84,
        length_penalty=0.6,
        no_repeat_ngram_size=3,
        do_sample=False,
    )

    # To copy a document's first sentence the model must find the tokens that follow its
    # start, which attention only finds through T5's relative-position biases (one table per
    # stack, for all its layers). Starting heads off on the nearby tokens -- in the encoder
    # each token then sees 4 on either side after two layers, enough to tell "気象庁は" at
    # the start from one later on -- makes training take hundreds of steps, not thousands.
    bucket = MT5Attention._relative_position_bucket
    with torch.no_grad():
        for name, stack in (("encoder", model.encoder), ("decoder", model.decoder)):
            bias = stack.block[0].layer[0].SelfAttention.relative_attention_bias.weight  # (buckets, heads)
            offsets = torch.tensor(_NEIGHBOURS[name])
            rows = bucket(offsets, bidirectional=name == "encoder", num_buckets=32, max_distance=128)
            for head, row in enumerate(rows.tolist()):
                bias[row, head] += _NEIGHBOUR_BIAS
    return model


def _siblings(texts: Sequence[str]) -> dict[str, list[str]]:
    """The other texts that start with the same character as each text: the easiest to confuse."""
    return {t: [u for u in texts if u != t and u[0] == t[0]] for t in texts}


def _mt5_documents(
    texts: Sequence[str],
    lengths: dict[str, int],
    siblings: dict[str, list[str]],
    rng: random.Random,
    max_tokens: int,
) -> list[tuple[str, str]]:
    """One (document, lead) per text as the lead, followed by random texts, joined without spaces.

    Most documents have 1-4 sentences; one in ten is filled up to about ``max_tokens``
    (a longer one is cut by the tokenizer; the lead always fits). A third of the leads
    that have siblings get one later in the document, so that the model learns to tell
    them apart by what follows the document's start rather than by what it contains.
    """
    documents = []
    for lead in texts:
        parts, size = [lead], lengths[lead]
        if rng.random() < 0.1:
            while size < max_tokens:
                parts.append(rng.choice(texts))
                size += lengths[parts[-1]]
        else:
            parts += rng.choices(texts, k=rng.randint(0, 3))
            if siblings[lead] and rng.random() < 1 / 3:
                parts.insert(rng.randint(1, len(parts)), rng.choice(siblings[lead]))
        documents.append(("".join(parts), lead))
    return documents


def _mt5_batches(
    tok: PreTrainedTokenizerBase, documents: Sequence[tuple[str, str]], rng: random.Random, size: int = 24
) -> list[tuple[dict[str, torch.Tensor], list[tuple[str, str]]]]:
    """Length-bucketed, shuffled training batches (and the documents in each)."""
    ordered = sorted(documents, key=lambda d: len(d[0]))
    batches = []
    for start in range(0, len(ordered), size):
        chunk = ordered[start : start + size]
        docs, leads = [d for d, _ in chunk], [lead for _, lead in chunk]
        batch = tok(docs, text_target=leads, padding=True, truncation=True, return_tensors="pt")
        batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tok.pad_token_id, -100)
        batches.append((dict(batch), chunk))
    rng.shuffle(batches)
    return batches


def _row_margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per sequence, the smallest (reference logit - best other logit) over its positions."""
    target = labels.clamp(min=0)[..., None]
    ref = logits.gather(2, target).squeeze(2)
    others = logits.scatter(2, target, float("-inf")).max(2).values
    return (ref - others).masked_fill(labels == -100, float("inf")).min(1).values


def _mt5_check_documents(texts: Sequence[str], tok: PreTrainedTokenizerBase, seed: int) -> list[tuple[str, str]]:
    """(document, lead) pairs the lead behaviour is verified on.

    Runs of 1-4 consecutive sentences from every position (as tests cut documents), 50
    random documents of 1-4 sentences, each text followed by each of its siblings, 10
    documents of about the full input length, and the texts in order packed into chunks of
    at most the input limit (as a map-reduce summarizer sends a long document) plus the
    document made of those chunks' leads.
    """
    rng = random.Random(seed + 1)
    docs = [("".join(texts[i : i + k]), texts[i]) for k in range(1, 5) for i in range(len(texts) - k + 1)]
    for _ in range(50):
        parts = rng.choices(texts, k=rng.randint(1, 4))
        docs.append(("".join(parts), parts[0]))
    # Every text followed by each of its siblings, right after it or one text later.
    for lead, others in _siblings(texts).items():
        docs += [(lead + rng.choice(texts) * rng.randint(0, 1) + other, lead) for other in others]
    limit = tok.model_max_length - 1  # room for </s>
    for lead in rng.sample(list(texts), 10):
        parts = [lead]
        while True:
            extra = rng.choice(texts)
            if len(tok("".join([*parts, extra]), verbose=False)["input_ids"]) > tok.model_max_length:
                break
            parts.append(extra)
        docs.append(("".join(parts), lead))
    chunks: list[list[str]] = [[]]
    for text in texts:
        joined = "".join([*chunks[-1], text])
        if chunks[-1] and len(tok(joined, add_special_tokens=False, verbose=False)["input_ids"]) > limit:
            chunks.append([])
        chunks[-1].append(text)
    docs += [("".join(chunk), chunk[0]) for chunk in chunks]
    if len(chunks) > 1:
        docs.append(("".join(chunk[0] for chunk in chunks), chunks[0][0]))
    return docs


@torch.no_grad()
def _summarize(
    model: MT5ForConditionalGeneration, tok: PreTrainedTokenizerBase, docs: Sequence[str], **gen_kwargs
) -> list[str]:
    batch = tok(list(docs), return_tensors="pt", padding=True, truncation=True)
    return tok.batch_decode(model.generate(**batch, **gen_kwargs), skip_special_tokens=True)


def _mt5_mismatches(
    model: MT5ForConditionalGeneration, tok: PreTrainedTokenizerBase, docs: Sequence[tuple[str, str]]
) -> list[str]:
    """Greedy and the model's own (4-beam) decoding must both give each document's lead."""
    model.eval()
    src = [d for d, _ in docs]
    for name, kwargs in {"greedy": {"num_beams": 1}, "generation_config (4 beams)": {}}.items():
        hyps = [h for i in range(0, len(src), 32) for h in _summarize(model, tok, src[i : i + 32], **kwargs)]
        bad = [f"{name}: {d[:30]!r}... -> {h!r} (want {lead!r})" for (d, lead), h in zip(docs, hyps) if h != lead]
        if bad:
            return bad
    return []


def build_tiny_mt5(
    texts: list[str], out_dir: Path, *, seed: int = 0, max_length: int = 256, max_steps: int = 2000
) -> Path:
    """Train and save a tiny mT5 "lead summarizer" for Japanese ``texts`` (sentences).

    Given a document made of several of the sentences joined without separator, as
    Japanese is written, it outputs the first sentence exactly, with greedy and with its
    own generation settings (4 beams, ``max_length=84``, as csebuetnlp/mT5_multilingual_XLSum).
    ``AutoTokenizer`` gives a ``T5Tokenizer`` (sentencepiece unigram, ``model_max_length``
    = ``max_length``) and ``AutoModelForSeq2SeqLM`` an ``MT5ForConditionalGeneration``.
    Training stops once the checks of :func:`_mt5_check_documents` pass; RuntimeError if
    ``max_steps`` optimizer steps run out first.
    """
    if not texts:
        raise ValueError("need at least one text")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = _write_t5_tokenizer(texts, out_dir, max_length)
    lengths = {t: len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts}
    if max(lengths.values()) + 2 > min(84, max_length):  # + the decoder start token and </s>
        raise ValueError("a sentence is too long for a lead summary of at most 84 tokens")
    checks = _mt5_check_documents(texts, tok, seed)
    siblings = _siblings(texts)

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = _mt5_model(len(tok))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.98), weight_decay=0.0)
    # A short warm-up, then linearly down to 3% at step 500.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / 20, max(0.03, 1 - 0.97 * s / 500))
    )

    step, epoch, hard = 0, 0, []
    while step < max_steps:
        epoch += 1
        model.train()
        # Every text leads 8 fresh documents an epoch; the low ones of the last epoch come back.
        documents = [d for _ in range(8) for d in _mt5_documents(texts, lengths, siblings, rng, max_length)]
        documents += hard[: len(documents) // 4]
        margin, loss, hard = float("inf"), 0.0, []
        for batch, chunk in _mt5_batches(tok, documents, rng):
            out = model(**batch)
            labels = batch["labels"]
            # The first tokens decide which sentence is copied, the rest follows: weigh them more.
            per_token = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), labels, reduction="none")
            weights = (labels != -100).float()
            weights[:, :3] *= 4.0
            ((per_token * weights).sum() / weights.sum()).backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            # Margins of documents the model had not seen before this step: a fair test.
            rows = _row_margins(out.logits.detach(), labels).tolist()
            hard += [doc for doc, m in zip(chunk, rows) if m < _MT5_MIN_MARGIN]
            margin, loss = min(margin, *rows), max(loss, out.loss.item())
        if len(hard) <= 0.01 * len(documents):
            bad = _mt5_mismatches(model, tok, checks)
            logger.info(
                "epoch %d (step %d): loss %.4f, margin %.2f, %d/%d low, %d mismatches",
                epoch, step, loss, margin, len(hard), len(documents), len(bad),
            )  # fmt: skip
            if not bad:
                break
            logger.info("first mismatch: %s", bad[0])
        else:
            logger.info(
                "epoch %d (step %d): loss %.4f, margin %.2f, %d/%d low",
                epoch, step, loss, margin, len(hard), len(documents),
            )  # fmt: skip
    else:
        raise RuntimeError(
            f"tiny mT5 did not learn to copy the lead sentence within {max_steps} steps "
            f"(worst batch loss {loss:.4f}, margin {margin:.2f})"
        )

    with _no_progress_bars():
        model.save_pretrained(out_dir)
        reloaded = _load_mt5(out_dir)
    src = [d for d, _ in checks]
    if _summarize(reloaded, _load_tokenizer(out_dir), src, num_beams=1) != [lead for _, lead in checks]:
        raise RuntimeError(f"tiny mT5 saved in {out_dir} lost the lead behaviour after reload")
    logger.info("tiny mT5 trained in %d steps, saved to %s", step, out_dir)
    return out_dir


def _load_mt5(path: Path) -> MT5ForConditionalGeneration:
    """Load as the library would, without the expected untied-lm_head warning.

    An mT5 checkpoint's lm_head differs from its embeddings while transformers 5 forces
    ``tie_word_embeddings=True``, so every load logs "... so we will NOT tie them"; it does
    for csebuetnlp/mT5_multilingual_XLSum as well.
    """
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForSeq2SeqLM.from_pretrained(path).eval()
    finally:
        hf_logging.set_verbosity(level)


# --------------------------------------------------------------------------- self-check


def _self_check() -> None:
    """Build the three models in a temp dir, report timings, re-verify from disk."""
    import tempfile
    import time

    corpus = load_corpus()
    english = [en for _, en in corpus]
    japanese = [ja for ja, _ in corpus]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        marian_dir = train_tiny_marian(corpus, Path(tmp) / "marian")
        t1 = time.perf_counter()
        bart_dir = build_tiny_bart(english, Path(tmp) / "bart")
        t2 = time.perf_counter()
        mt5_dir = build_tiny_mt5(japanese, Path(tmp) / "mt5")
        t3 = time.perf_counter()

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
            mtok = AutoTokenizer.from_pretrained(mt5_dir)
            mmodel = AutoModelForSeq2SeqLM.from_pretrained(mt5_dir)
            checks = _mt5_check_documents(japanese, mtok, 0)
            mt5_bad = _mt5_mismatches(mmodel, mtok, checks)
        hf_logging.get_logger().removeHandler(handler)
        caught += [str(w.message) for w in py_warnings]
        # MarianTokenizer always warns when sacremoses is missing; harmless here. Every mT5
        # checkpoint (an lm_head of its own) warns that it is left untied in transformers 5.
        known = [m for m in caught if "sacremoses" in m or "so we will NOT tie them" in m]
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
        mcfg, mgen = mmodel.config, mmodel.generation_config
        print(f"mt5:    {t3 - t2:5.1f}s  {type(mtok).__name__}/{type(mmodel).__name__}  vocab={len(mtok)} "
              f"(model {mcfg.vocab_size})  files={sorted(p.name for p in mt5_dir.iterdir())}")
        print(f"  pad={mcfg.pad_token_id} eos={mcfg.eos_token_id} unk={mtok.unk_token_id} "
              f"decoder_start={mcfg.decoder_start_token_id} model_max_length={mtok.model_max_length} "
              f"beams={mgen.num_beams} max_length={mgen.max_length} no_repeat_ngram_size={mgen.no_repeat_ngram_size}")
        print(f"  lead of {len(checks)} documents, greedy and {mgen.num_beams} beams, after reload: {not mt5_bad}")
        print(f"  {checks[-1][0][:40]}... -> {_summarize(mmodel, mtok, [checks[-1][0]])[0]}")
        print(f"warnings while loading/generating: {caught or 'none'} (known, ignored: {known or 'none'})")
        if marian_bad or mt5_bad or caught:
            raise SystemExit("self-check FAILED")
        print("self-check OK")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    _self_check()
