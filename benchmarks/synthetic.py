"""Synthetic text and full-size random models for benchmarks/run.py.

No hub is reachable here, so the benchmark builds models with the real shapes and random
weights: speed depends on the shapes, not on what the weights learnt. Their tokenizers
are real (trained on generated text) so every code path, tokenization included, runs as it
would on the real models.

- Marian shaped like Helsinki-NLP/opus-mt-ja-en (vocab 60,716, d_model 512, 6+6 layers,
  8 heads, ffn 2048), opus-mt folder layout: source.spm, target.spm, vocab.json.
- BART shaped like sshleifer/distilbart-cnn-12-6 (vocab 50,264, d_model 1024, 12+6 layers,
  16 heads, ffn 4096, 1,024 positions), byte-level BPE tokenizer, distilbart's generation
  settings.

The Marian tokenizer's sentencepiece vocabularies are smaller than the model's; vocab.json
is filled up to the model's size (CTranslate2's converter requires it) with pseudo-English
word pieces, so the random model's output decodes to words. BART's byte-level BPE is
trained to the model's full size on English plus those words, so the summarizer reads
about as many tokens per translated sentence as it would with real models.
"""

from __future__ import annotations

import io
import json
import random
import warnings
from pathlib import Path

MARIAN_VOCAB = 60_716
BART_VOCAB = 50_264
BART_POSITIONS = 1024

# Common kanji; nouns are compounds of two of them.
_KANJI = (
    "日本東京都政府発表会社事業計画経済市場国際関係大臣首相議会選挙地域住民生活環境"
    "問題対策調査結果報告予算財政金融銀行投資企業産業技術研究開発教育学校大学医療病院"
    "健康安全交通道路鉄道空港港湾建設工事災害地震台風防災警察事件裁判法律制度改正委員"
    "会議協議合意提案要請支援制度情報通信放送新聞記者電力資源価格物価賃金雇用労働人口"
    "高齢少子子育保育福祉年金保険税金消費輸出輸入貿易外交安全保障防衛自衛米国中国韓国"
    "欧州世界平和文化芸術観光旅行食品農業漁業林業水産気候温暖化排出削減目標達成期間"
)
_PARTICLES = ("は", "が", "を", "に", "で", "と", "から", "まで", "について", "により", "として")
_ENDINGS = (
    "と発表した。", "を明らかにした。", "を検討している。", "を行う予定だ。", "と述べた。",
    "を決めた。", "を開始する。", "を求めている。", "が見込まれる。", "に取り組む方針だ。",
    "を強調した。", "が課題となっている。",
)
_KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモラリルレロワン"
_ENGLISH = (
    "the government said on monday that it would announce a new plan to support local "
    "communities and businesses affected by rising prices while the ministry of finance "
    "expects the economy to grow by about two percent this year according to officials "
    "who spoke at a press conference in tokyo after the cabinet meeting where ministers "
    "discussed measures for energy security climate change education health care and "
    "public safety including new rules for companies investment in technology research "
    "and development as well as support for families with young children elderly people "
    "and workers in rural areas the prime minister told reporters that the policy would "
    "take effect next april and that talks with other countries will continue"
).split()


def pseudo_words(count: int, seed: int) -> list[str]:
    """`count` distinct lower-case pseudo-English words (consonant-vowel syllables)."""
    rng = random.Random(seed)
    onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "pr", "tr", "ch"]
    vowels = ["a", "e", "i", "o", "u", "ea", "ou"]
    codas = ["", "", "n", "r", "s", "t", "ng", "nd"]
    words: dict[str, None] = {}
    while len(words) < count:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        words["".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables))] = None
    return list(words)


def english_sentences(count: int, seed: int, lexicon: list[str]) -> list[str]:
    """English-looking sentences: real function words mixed with pseudo-words."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = [rng.choice(_ENGLISH) if rng.random() < 0.6 else rng.choice(lexicon) for _ in range(rng.randint(10, 28))]
        out.append(" ".join(words).capitalize() + ".")
    return out


class JapaneseText:
    """Generator of news-like Japanese sentences from a fixed lexicon."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        lexicon_rng = random.Random(seed + 1)
        self.nouns = list(dict.fromkeys(lexicon_rng.choice(_KANJI) + lexicon_rng.choice(_KANJI) for _ in range(3000)))
        self.katakana = [
            "".join(lexicon_rng.choice(_KATAKANA) for _ in range(lexicon_rng.randint(3, 5))) + "ー" * lexicon_rng.randint(0, 1)
            for _ in range(300)
        ]

    def _noun(self) -> str:
        r = self.rng.random()
        if r < 0.1:
            return f"{self.rng.randint(1, 2024)}年"
        if r < 0.2:
            return self.rng.choice(self.katakana)
        return self.rng.choice(self.nouns) + (self.rng.choice(self.nouns) if self.rng.random() < 0.4 else "")

    def sentence(self, clauses: int) -> str:
        parts = []
        for i in range(clauses):
            parts.append(self._noun() + ("の" + self._noun() if self.rng.random() < 0.5 else "") + self.rng.choice(_PARTICLES))
            if i and self.rng.random() < 0.3:
                parts.append("、")
        return "".join(parts) + self._noun() + self.rng.choice(_ENDINGS)


# --------------------------------------------------------------------------- Marian


def build_marian(out_dir: Path, *, seed: int = 0) -> Path:
    """An opus-mt-ja-en-shaped random Marian model with a working opus-mt tokenizer."""
    import sentencepiece as spm
    import torch
    from transformers import AutoTokenizer, GenerationConfig, MarianConfig, MarianMTModel

    out_dir.mkdir(parents=True, exist_ok=True)
    japanese = JapaneseText(seed)
    ja_corpus = [japanese.sentence(japanese.rng.randint(2, 7)) for _ in range(20_000)]
    lexicon = pseudo_words(MARIAN_VOCAB, seed)
    en_corpus = english_sentences(20_000, seed, lexicon[:8000])

    def train(texts: list[str], size: int, path: Path) -> spm.SentencePieceProcessor:
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=buf, vocab_size=size, character_coverage=1.0,
            model_type="unigram", num_threads=2, minloglevel=2, hard_vocab_limit=False,
        )  # fmt: skip
        path.write_bytes(buf.getvalue())
        return spm.SentencePieceProcessor(model_file=str(path))

    # Joint vocab as in opus-mt: </s>=0, <unk>=1, both spm models' pieces, <pad> last.
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for sp in (train(ja_corpus, 8000, out_dir / "source.spm"), train(en_corpus, 8000, out_dir / "target.spm")):
        for i in range(sp.get_piece_size()):
            if not (sp.is_control(i) or sp.is_unknown(i)):
                vocab.setdefault(sp.id_to_piece(i), len(vocab))
    # Fill up to the model's size with word pieces, so random outputs decode to words.
    for word in lexicon:
        if len(vocab) >= MARIAN_VOCAB - 1:
            break
        vocab.setdefault("▁" + word, len(vocab))
    vocab["<pad>"] = len(vocab)
    assert len(vocab) == MARIAN_VOCAB
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps({
            "tokenizer_class": "MarianTokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
            "model_max_length": 512, "separate_vocabs": False, "source_lang": "ja", "target_lang": "en",
        }),  # fmt: skip
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*sacremoses.*")
        tokenizer = AutoTokenizer.from_pretrained(out_dir)
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    assert (len(tokenizer), pad, eos) == (MARIAN_VOCAB, MARIAN_VOCAB - 1, 0)

    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=MARIAN_VOCAB, decoder_vocab_size=MARIAN_VOCAB, d_model=512,
        encoder_layers=6, decoder_layers=6, encoder_attention_heads=8, decoder_attention_heads=8,
        encoder_ffn_dim=2048, decoder_ffn_dim=2048, max_position_embeddings=512,
        activation_function="swish", scale_embedding=True, share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True, pad_token_id=pad, eos_token_id=eos, forced_eos_token_id=eos,
        decoder_start_token_id=pad,
    )  # fmt: skip
    model = MarianMTModel(config).eval()
    # opus-mt-ja-en's generation settings.
    model.generation_config = GenerationConfig(
        decoder_start_token_id=pad, eos_token_id=eos, forced_eos_token_id=eos, pad_token_id=pad,
        bad_words_ids=[[pad]], max_length=512, num_beams=4, do_sample=False,
    )  # fmt: skip
    with torch.no_grad():  # CTranslate2 starts decoding from a zero vector: keep <pad>'s embedding zero
        model.get_input_embeddings().weight[pad].zero_()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


# --------------------------------------------------------------------------- BART


def build_bart(out_dir: Path, *, seed: int = 0) -> Path:
    """A distilbart-cnn-12-6-shaped random BART with a byte-level BPE tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration, BartTokenizer, GenerationConfig

    out_dir.mkdir(parents=True, exist_ok=True)
    # Train on what the summarizer will read: English, and every Marian fill-up word a few
    # times, so that those become single tokens as real English words mostly are; a random
    # Marian's 40-token output is then ~45 BART tokens, as a real translation would be.
    lexicon = pseudo_words(MARIAN_VOCAB, seed)
    rng = random.Random(seed + 7)
    repeated = lexicon * 4
    rng.shuffle(repeated)
    texts = english_sentences(30_000, seed + 7, lexicon) + [" ".join(repeated[i : i + 20]) for i in range(0, len(repeated), 20)]
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BART_VOCAB - 1, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )  # fmt: skip
    bpe.train_from_iterator(texts, trainer=trainer)
    data = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = data["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["merges"]]
    # Unused entries up to the model's size (never produced by the merges), <mask> last.
    for i in range(BART_VOCAB - 1 - len(vocab)):
        vocab[f"<unused{i}>"] = len(vocab)
    vocab["<mask>"] = len(vocab)
    BartTokenizer(vocab=vocab, merges=merges, model_max_length=BART_POSITIONS).save_pretrained(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    assert len(tokenizer) == BART_VOCAB, len(tokenizer)

    torch.manual_seed(seed)
    config = BartConfig(
        vocab_size=BART_VOCAB, d_model=1024, encoder_layers=12, decoder_layers=6,
        encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
        max_position_embeddings=BART_POSITIONS, activation_function="gelu", scale_embedding=False,
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
    )  # fmt: skip
    model = BartForConditionalGeneration(config).eval()
    # distilbart-cnn-12-6's generation settings.
    model.generation_config = GenerationConfig(
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=0,
        forced_eos_token_id=2, num_beams=4, length_penalty=2.0, max_length=142, min_length=56,
        no_repeat_ngram_size=3, early_stopping=True, do_sample=False,
    )  # fmt: skip
    model.save_pretrained(out_dir)
    return out_dir


# --------------------------------------------------------------------------- inputs


def engine_sentences(tokenizer, count: int, *, target: int = 30, seed: int = 1) -> list[str]:
    """`count` distinct Japanese sentences of `target` tokens (± 1, </s> included)."""
    japanese = JapaneseText(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        batch = [japanese.sentence(japanese.rng.randint(3, 8)) for _ in range(256)]
        for text, ids in zip(batch, tokenizer(batch)["input_ids"], strict=True):
            if abs(len(ids) - target) <= 1 and len(found) < count:
                found[text] = None
    return list(found)


def write_corpus(folder: Path, documents: int, *, seed: int = 2) -> dict[str, int]:
    """`documents` news-like .txt files of 2-4 paragraphs of 1-3 sentences each."""
    folder.mkdir(parents=True, exist_ok=True)
    japanese = JapaneseText(seed)
    rng = japanese.rng
    sentences = paragraphs = 0
    for index in range(documents):
        lines = []
        for _ in range(rng.randint(2, 4)):
            own = [japanese.sentence(rng.randint(2, 7)) for _ in range(rng.randint(1, 3))]
            sentences += len(own)
            lines.append("".join(own))
        paragraphs += len(lines)
        (folder / f"doc{index:04d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"documents": documents, "paragraphs": paragraphs, "sentences": sentences}


def summary_document(tokenizer, *, tokens: int = BART_POSITIONS, seed: int = 3) -> list[str]:
    """English sentences that together take `tokens` tokens with the special tokens."""
    sentences = english_sentences(400, seed, pseudo_words(MARIAN_VOCAB, 0))
    budget = tokens - tokenizer.num_special_tokens_to_add()
    chosen: list[str] = []
    for sentence in sentences:  # fill up to the budget, skipping sentences that overflow it
        if len(tokenizer(" ".join([*chosen, sentence]), add_special_tokens=False)["input_ids"]) <= budget:
            chosen.append(sentence)
    return chosen


def real_sentences(root: Path) -> list[str]:
    """Real Japanese sentences of varied length, distinct, in order: the seed article's (split
    as ja2en splits it), then the fixture corpus's. 84 today: 6-361 tokens, median 26, mean 54."""
    import sys

    sys.path.insert(0, str(root / "src"))
    from ja2en import split_paragraphs, split_sentences

    out: list[str] = []
    for seed in sorted((root / "seeds").glob("*.txt")):
        text = seed.read_text(encoding="utf-8")
        for start, end in split_paragraphs(text):
            out.extend(s.strip() for s in split_sentences(text[start:end]))
    for line in (root / "tests/data/corpus.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out.append(line.split("\t")[0].strip())
    # ja2en translates each distinct sentence once; every engine gets the same distinct work.
    return list(dict.fromkeys(s for s in out if s))

