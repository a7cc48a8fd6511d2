from __future__ import annotations

import pytest

from ja2en import Summarizer


def test_short_document_is_summarized_in_one_call(summarizer: Summarizer, corpus) -> None:
    sentences = [en for _, en in corpus[:2]]
    summary = summarizer.summarize(sentences)
    assert summary.text
    assert (summary.chunks, summary.rounds) == (1, 1)
    assert summary.input_tokens == summarizer.count_tokens(" ".join(sentences))
    assert summary.input_tokens <= summary.max_input_tokens


def test_long_document_is_summarized_by_map_reduce_without_truncation(summarizer: Summarizer, corpus) -> None:
    sentences = [en for _, en in corpus]
    summary = summarizer.summarize(sentences)
    assert summary.text
    assert summary.input_tokens > 3 * summarizer.max_input_tokens
    assert summary.chunks >= 4
    assert summary.rounds >= 2
    assert summary.model == summarizer.model_id


def test_chunks_cover_all_text_in_order_and_respect_the_limit(summarizer: Summarizer, corpus) -> None:
    sentences = [en for _, en in corpus]
    chunks = summarizer.pack(sentences)
    assert " ".join(chunks) == " ".join(sentences)
    assert all(summarizer.count_tokens(c) <= summarizer.max_input_tokens for c in chunks)


def test_sentence_longer_than_the_limit_is_split_at_spaces(summarizer: Summarizer) -> None:
    words = [f"word{i}" for i in range(200)]
    chunks = summarizer.pack([" ".join(words)])
    assert len(chunks) > 1
    assert " ".join(chunks).split() == words
    assert all(summarizer.count_tokens(c) <= summarizer.max_input_tokens for c in chunks)


def test_summaries_never_take_more_than_a_third_of_the_input_limit(summarizer: Summarizer) -> None:
    # What guarantees the reduce rounds converge: each chunk holds at least two summaries.
    assert 1 <= summarizer.max_new_tokens <= summarizer.max_input_tokens // 3


def test_empty_document_has_an_empty_summary(summarizer: Summarizer) -> None:
    summary = summarizer.summarize(["", "  "])
    assert (summary.text, summary.chunks, summary.rounds, summary.input_tokens) == ("", 0, 0, 0)


def test_summaries_are_deterministic(summarizer: Summarizer, corpus) -> None:
    sentences = [en for _, en in corpus[:20]]
    assert summarizer.summarize(sentences) == summarizer.summarize(sentences)


def test_summaries_skip_the_scoring_pass(summarizer: Summarizer, corpus, monkeypatch) -> None:
    # Nothing reads a summary's score; computing it would cost a second forward pass.
    expected = summarizer.summarize([en for _, en in corpus[:2]]).text

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored a summary")

    monkeypatch.setattr(summarizer.backend, "_score", no_scoring)
    assert summarizer.summarize([en for _, en in corpus[:2]]).text == expected


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.summarize("The meeting was postponed."), TypeError,
         "summarize() takes a list of sentences, not a str; wrap it: summarize([text])"),
        (lambda s: s.summarize(["The meeting was postponed.", None]), TypeError,
         "summarize(): sentence 1 is None (NoneType), not a str"),
        (lambda s: s.summarize(["Half an emoji: \ud83d."]), ValueError,
         "summarize(): sentence 0 holds a lone surrogate ('\\ud83d' at character 15, half an emoji?), "
         "which is not text; fix the text or the escape it came from"),
        (lambda s: s.summarize_many("The meeting was postponed."), TypeError,
         "summarize_many() takes a list of documents, each a list of sentences, not a str; "
         "wrap it: summarize_many([[text]])"),
        (lambda s: s.summarize_many([["One."], "The meeting was postponed."]), TypeError,
         "summarize_many(): document 1 is a str, not a list of sentences; wrap it: [text]"),
        (lambda s: s.summarize_many([["One."], ["Two.", 3]]), TypeError,
         "summarize_many(): document 1, sentence 1 is 3 (int), not a str"),
        (lambda s: s.pack("The meeting was postponed."), TypeError,
         "pack() takes a list of sentences, not a str; wrap it: pack([text])"),
    ],
)  # fmt: skip
def test_text_that_is_not_a_list_of_sentences_is_refused_with_how_to_fix_it(
    summarizer: Summarizer, call, error: type[Exception], message: str, monkeypatch
) -> None:
    def no_model(texts, decoding):
        raise AssertionError(f"the model was asked to summarize {texts}")

    monkeypatch.setattr(summarizer.backend, "generate", no_model)
    with pytest.raises(error) as raised:
        call(summarizer)
    assert str(raised.value) == message
