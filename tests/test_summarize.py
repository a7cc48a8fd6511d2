from __future__ import annotations

import json
from pathlib import Path

import pytest

from ja2en import Summarizer, translate_documents


def test_short_document_is_summarized_in_one_call(summarizer: Summarizer, corpus) -> None:
    sentences = [en for _, en in corpus[:2]]
    summary = summarizer.summarize(sentences)
    # One call: the summary of the sentences joined, as if they were one.
    assert summary.text.strip() != ""
    assert summary.text == summarizer.summarize([" ".join(sentences)]).text
    assert (summary.chunks, summary.rounds) == (1, 1)
    assert summary.input_tokens == summarizer.count_tokens(" ".join(sentences))
    assert summary.input_tokens <= summary.max_input_tokens


def test_long_document_is_summarized_by_map_reduce_without_truncation(
    summarizer: Summarizer, corpus, tiny_bart: Path
) -> None:
    sentences = [en for _, en in corpus]
    summary = summarizer.summarize(sentences)
    assert summary.text
    assert summary.input_tokens > 3 * summarizer.max_input_tokens
    assert summary.chunks >= 4
    assert summary.rounds >= 2
    assert summary.model == str(tiny_bart)  # the model the user named, as records and manifests show it


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


def test_summaries_never_take_more_than_a_third_of_the_input_limit(summarizer: Summarizer, corpus, monkeypatch) -> None:
    # What guarantees the reduce rounds converge: each chunk holds at least two summaries,
    # even when the user asks for longer summaries than that.
    greedy = Summarizer(summarizer.model_id, loaded=summarizer.loaded, max_new_tokens=500, backend="torch", quantize=False)
    generate, caps = greedy.backend.generate, []

    def recording(texts, decoding):
        caps.append(decoding.max_new_tokens)
        return generate(texts, decoding)

    monkeypatch.setattr(greedy.backend, "generate", recording)
    summary = greedy.summarize([en for _, en in corpus])
    assert summary.rounds >= 2 and summary.text
    assert caps and all(1 <= cap <= greedy.max_input_tokens // 3 for cap in caps)


def _group(sentences: list[str]) -> list[list[str]]:
    """Documents of different lengths, none in length order, each starting with another sentence:
    one sentence, several, one long enough for map-reduce, an empty one."""
    return [
        sentences[3:6],
        sentences[10:11],
        sentences[12:40],  # several chunks and rounds, while the others finish in one
        [],
        sentences[41:43],
        [sentences[45], sentences[0], sentences[30], sentences[8]],
    ]


def test_each_document_of_a_group_gets_its_own_summary(summarizer: Summarizer, corpus) -> None:
    # summarize_many sorts every round's chunks by length across documents and hands the
    # summaries back. One chunk per generate() call, so each is decoded exactly as
    # summarize() decodes it alone (padding among other chunks may move a near-tie).
    single = Summarizer(summarizer.model_id, loaded=summarizer.loaded, batch_size=1, backend="torch", quantize=False)
    documents = _group([en for _, en in corpus])
    together = single.summarize_many(documents)
    alone = [single.summarize(d) for d in documents]
    assert together == alone
    assert len({s.text for s in together if s.text}) == len(documents) - 1  # the tiny BART keeps each lead
    assert (together[1].rounds, together[3].rounds) == (1, 0) and together[2].rounds >= 2  # finished in other rounds


@pytest.fixture(scope="module")
def ja_summarizer(tiny_mt5: Path) -> Summarizer:
    return Summarizer(str(tiny_mt5), language="ja", device="cpu", backend="torch", quantize=False)


def test_each_japanese_document_of_a_group_gets_its_own_summary(ja_summarizer: Summarizer, corpus) -> None:
    # The tiny mT5 summarizes a document of corpus sentences as its first sentence, exactly,
    # batched and padded or not: so here the group shares batches of eight chunks.
    documents = _group([ja for ja, _ in corpus])
    together = ja_summarizer.summarize_many(documents)
    assert [s.text for s in together] == [d[0] if d else "" for d in documents]
    assert together == [ja_summarizer.summarize(d) for d in documents]
    assert together[2].chunks > 1 and together[2].rounds >= 2  # the long one went through map-reduce


def test_empty_document_has_an_empty_summary(summarizer: Summarizer) -> None:
    summary = summarizer.summarize(["", "  "])
    assert (summary.text, summary.chunks, summary.rounds, summary.input_tokens) == ("", 0, 0, 0)


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


def _failing_summaries(summarizer: Summarizer, poison: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make summarizing any text holding `poison` fail as a model call can; return the sizes of summarize_many's groups."""
    generate, summarize_many, groups = summarizer.backend.generate, summarizer.summarize_many, []

    def failing(texts, decoding):
        if any(poison in text for text in texts):
            raise RuntimeError("The size of tensor a (1025) must match the size of tensor b (1024)")
        return generate(texts, decoding)

    def counting(documents):
        groups.append(len(documents))
        return summarize_many(documents)

    monkeypatch.setattr(summarizer.backend, "generate", failing)
    monkeypatch.setattr(summarizer, "summarize_many", counting)
    return groups


def test_a_summary_that_fails_is_reported_for_its_document_alone(
    tmp_path: Path, translator, summarizer: Summarizer, corpus, expected, monkeypatch
) -> None:
    # The group's summaries fail together; each document is then summarized alone, so only
    # the one at fault is reported and the others are written with their summaries.
    sentences = [ja for ja, _ in corpus]
    documents = {"doc0": sentences[3:6], "doc1": sentences[10:13], "doc2": sentences[20:22]}
    (tmp_path / "in").mkdir()
    for name, own in documents.items():
        (tmp_path / "in" / f"{name}.txt").write_text("".join(own) + "\n", encoding="utf-8")
    english = {name: [expected[ja] for ja in own] for name, own in documents.items()}
    wanted = {name: summarizer.summarize(own).text for name, own in english.items() if name != "doc1"}
    groups = _failing_summaries(summarizer, english["doc1"][1], monkeypatch)

    result = translate_documents(tmp_path / "in", output_dir=tmp_path / "out", translator=translator, summarizer=summarizer)
    assert groups == [3]  # tried together first
    [error] = result.errors
    assert error == (
        f"{(tmp_path / 'in' / 'doc1.txt').as_posix()}: summarization failed (RuntimeError: The size of tensor a "
        "(1025) must match the size of tensor b (1024)); the other documents were written, re-run the same "
        "command to retry this one"
    )
    lines = (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    records = {record["id"]: record for record in map(json.loads, lines)}
    assert {name: record["summary_en"] for name, record in records.items()} == wanted
    assert all(records[name]["en"] == " ".join(english[name]) for name in wanted)
