"""Windows and prompts of the LLM client (src/ja2en/llm/windows.py, prompts.py): exact text sent."""

from __future__ import annotations

import json

import pytest

from ja2en.errors import InputError
from ja2en.llm import (
    ContextPair,
    SourceSentence,
    Window,
    attach_context,
    builtin_template,
    cut_windows,
    load_template,
    render_prompt,
    source_sentences,
)
from ja2en.llm.prompts import response_format
from ja2en.records import Sentence


def _doc(*paragraphs: list[str]) -> list[SourceSentence]:
    sentences = [Sentence(p, i, 0, len(ja), ja) for p, texts in enumerate(paragraphs) for i, ja in enumerate(texts)]
    return source_sentences(sentences)


def test_windows_follow_paragraphs_and_the_token_budget() -> None:
    doc = _doc(["会議は延期された。", "参加費は無料です。"], ["株価は大幅に下落した。", "東京都は発表した。", "大会は予定通り開催される。"])
    assert [[s.id for s in w] for w in cut_windows(doc)] == [["s1", "s2"], ["s3", "s4", "s5"]]
    # 9 + 9 tokens fit a budget of 20, the third sentence would not: never across a paragraph either.
    assert [[s.id for s in w] for w in cut_windows(doc, max_tokens=20)] == [["s1", "s2"], ["s3", "s4"], ["s5"]]
    # A sentence longer than the budget goes alone rather than being dropped.
    assert [[s.id for s in w] for w in cut_windows(doc, max_tokens=3)] == [["s1"], ["s2"], ["s3"], ["s4"], ["s5"]]
    assert [[s.id for s in w] for w in cut_windows(doc, max_sentences=2)] == [["s1", "s2"], ["s3", "s4"], ["s5"]]


def test_context_is_the_title_and_the_previous_sentences_with_their_english() -> None:
    doc = _doc(["会議は延期された。", "参加費は無料です。", "株価は大幅に下落した。", "東京都は発表した。"])
    finished = {"s2": "Participation is free of charge.", "s3": "Stock prices fell sharply."}
    window = attach_context(doc[3:], doc[:3], finished, title="お知らせ", context_sentences=2)
    assert window.context == (
        ContextPair("参加費は無料です。", "Participation is free of charge."),
        ContextPair("株価は大幅に下落した。", "Stock prices fell sharply."),
    )
    assert attach_context(doc[3:], doc[:3], {}, context_sentences=0).context == ()
    # Halves: the second one's context moves on by the first one's sources (English not known yet).
    first, second = Window(tuple(doc), "T", (ContextPair("前の文。", "Before."),)).halves()
    assert (first.ids, first.context) == (("s1", "s2"), (ContextPair("前の文。", "Before."),))
    assert (second.ids, second.context) == (("s3", "s4"), (ContextPair("参加費は無料です。", None),))


def test_the_chat_prompt_carries_ids_context_and_the_reply_form() -> None:
    doc = _doc(["会議は延期された。", "参加費は無料です。"])
    window = Window(tuple(doc), "お知らせ", (ContextPair("東京都は発表した。", "The Tokyo Metropolitan Government made an announcement."),))
    prompt = render_prompt(builtin_template("chat"), window)
    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    user = prompt.messages[1]["content"]
    assert user.endswith(
        "one entry per id (s1, s2), in the same order.\n"
        "Document title: お知らせ\n"
        "The text just before (Japanese, then its English where already translated):\n"
        "東京都は発表した。\n"
        "  -> The Tokyo Metropolitan Government made an announcement.\n"
        "\nSentences:\n[s1] 会議は延期された。\n[s2] 参加費は無料です。"
    )
    assert '{"translations": [{"id": "<id>", "en": "<English>"}]}' in user
    assert (prompt.api, prompt.reply, prompt.ids) == ("chat", "json", ("s1", "s2"))


def test_the_plamo_template_is_its_documented_raw_format_one_sentence_at_a_time() -> None:
    template = builtin_template("plamo")
    assert (template.api, template.reply, template.max_sentences, template.stop) == ("completions", "text", 1, ("<|plamo:op|>",))
    prompt = render_prompt(template, Window((SourceSentence("s7", 0, "会議は延期された。"),)))
    assert prompt.prompt == (
        "<|plamo:op|>dataset\ntranslation\n<|plamo:op|>input lang=Japanese\n会議は延期された。\n<|plamo:op|>output lang=English\n"
    )


def test_the_few_shot_completions_prompt_ends_where_the_model_writes() -> None:
    prompt = render_prompt(builtin_template("completions"), Window(tuple(_doc(["会議は延期された。"]))))
    assert prompt.prompt.endswith("\nJapanese:\n[s1] 会議は延期された。\nEnglish:\n")
    assert prompt.stop == ("\nJapanese:", "\n\n")


def test_a_user_template_extends_a_built_in_one(tmp_path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"extends": "chat", "user": "Costs $$0. Title: $title\n$sentences"}), encoding="utf-8")
    template = load_template(path)
    assert template.system == builtin_template("chat").system
    prompt = render_prompt(template, Window(tuple(_doc(["会議は延期された。"])), "題"))
    assert prompt.messages[1]["content"] == "Costs $0. Title: 題\n[s1] 会議は延期された。"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"extends": "chat", "user": "$sentence"}', ': unknown placeholder $sentence; use $sentences, $text, $ids, $count, $title, $context (and $$ for a literal $)'),
        ('{"api": "chat"}', ': a chat template needs a "user" text'),
        ('{"api": "completions", "prompt": "$text", "colour": 1}', ': unknown key "colour"; the keys are api, extends, max_sentences, prompt, reply, stop, system, user'),
        ('{"extends": "chat", "api": "completions", "prompt": "$text"}', ': it extends \'chat\', a chat template, but sets "api": "completions"; extend a completions template or drop "extends"'),
        ('{"api": "chat", "reply": "xml", "user": "$text"}', ': "reply" must be one of json, lines, text'),
        ('{"extends": "plamo", "stop": 5}', ': "stop" must be a text or a list of texts'),
        ('{"extends": "chat", "max_sentences": 0}', ': "max_sentences" must be a whole number of 1 or more, or null'),
        ('{"extends": "chat", "user": "Costs $5: $sentences"}', ": Invalid placeholder in string: line 1, col 7; write $$ for a literal $"),
        ("[]", " is not a JSON object; see the README for the format"),
        ("{not json", " is not a UTF-8 JSON object (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); see the README for the format"),
    ],
)
def test_a_bad_template_file_is_one_line_that_says_what_to_fix(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_template(path)
    assert str(caught.value) == f"prompt template {path}{message}"


def test_a_missing_template_file_and_an_unknown_built_in(tmp_path) -> None:
    with pytest.raises(InputError, match=r"^prompt template .*nope\.json cannot be read \(No such file or directory\); check the path$"):
        load_template(tmp_path / "nope.json")
    with pytest.raises(InputError, match="^no built-in prompt template 'gpt'; use one of chat, completions, plamo or a template file$"):
        builtin_template("gpt")


def test_response_format_for_servers_that_enforce_a_schema() -> None:
    strict = response_format("json_schema", ("s1", "s2"))
    assert strict["type"] == "json_schema" and strict["json_schema"]["strict"] is True
    item = strict["json_schema"]["schema"]["properties"]["translations"]["items"]
    assert item["properties"]["id"] == {"type": "string", "enum": ["s1", "s2"]}
    llama = response_format("json_object", ("s1",))
    assert llama["type"] == "json_object" and llama["schema"]["required"] == ["translations"]
    assert response_format(None, ("s1",)) is None
