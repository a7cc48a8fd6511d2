"""Reading and checking LLM replies (src/ja2en/llm/replies.py) and the split strategy (split.py)."""

from __future__ import annotations

import json

import pytest

from ja2en.llm import CheckedReply, SourceSentence, SplitPolicy, Window, check_reply, translate_window
from ja2en.llm.replies import strip_reasoning

SOURCES = (
    SourceSentence("s1", 0, "会議は延期された。"),
    SourceSentence("s2", 0, "参加費は無料です。"),
    SourceSentence("s3", 0, "株価は大幅に下落した。"),
)
ENGLISH = {"s1": "The meeting was postponed.", "s2": "Participation is free of charge.", "s3": "Stock prices fell sharply."}


def _json(entries: list[tuple[str, str]]) -> str:
    return json.dumps({"translations": [{"id": i, "en": en} for i, en in entries]}, ensure_ascii=False)


GOOD = _json(list(ENGLISH.items()))


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        f"Sure! Here are the translations:\n```json\n{GOOD}\n```\nLet me know if you need more.",
        f"<think>\nThe user wants English. 会議 means meeting.\n</think>\n{GOOD}",
        f"the reasoning, its opening tag dropped by the server</think>{GOOD}",
        f"<THINKING>x</THINKING>{GOOD}",
        json.dumps([{"id": i, "en": en} for i, en in ENGLISH.items()]),
        _json([(f"[{i}]", f"[{i}] {en}") for i, en in ENGLISH.items()]),  # tags copied into the reply
    ],
)
def test_a_good_reply_is_read_whatever_wraps_it(text: str) -> None:
    reply = check_reply(text, SOURCES)
    assert reply.ok and reply.translations == ENGLISH


@pytest.mark.parametrize(
    ("text", "finish_reason", "problems"),
    [
        (GOOD[: len(GOOD) // 2], "stop", ("llm_format",)),  # torn JSON
        (_json([("s1", ENGLISH["s1"]), ("s2", ENGLISH["s2"])]), "stop", ("llm_missing",)),
        # Two sentences merged into one entry: the second is missing, whatever the first holds.
        (_json([("s1", f"{ENGLISH['s1']} {ENGLISH['s2']}"), ("s3", ENGLISH["s3"])]), "stop", ("llm_missing",)),
        (_json([("s2", ENGLISH["s1"]), ("s1", ENGLISH["s2"]), ("s3", ENGLISH["s3"])]), "stop", ("llm_order",)),
        (_json([*ENGLISH.items(), ("s4", "More.")]), "stop", ("llm_extra",)),
        (_json([*ENGLISH.items(), ("s3", ENGLISH["s3"])]), "stop", ("llm_extra",)),
        (_json([("s1", ""), ("s2", ENGLISH["s2"]), ("s3", ENGLISH["s3"])]), "stop", ("empty",)),
        (_json([("s1", "会議は延期された。"), ("s2", ENGLISH["s2"]), ("s3", ENGLISH["s3"])]), "stop", ("untranslated",)),
        (_json([("s1", "The 会議 was postponed."), ("s2", ENGLISH["s2"]), ("s3", ENGLISH["s3"])]), "stop", ("untranslated",)),
        (_json([("s1", "OK"), ("s2", ENGLISH["s2"]), ("s3", ENGLISH["s3"])]), "stop", ("length_ratio",)),
        (GOOD, "length", ("truncated",)),
        (GOOD[:-10], "length", ("truncated", "llm_format")),
        ("I'm sorry, but I can't help with translating this text.", "stop", ("llm_refusal",)),
        ("<think>a long think that never ends", "length", ("truncated", "llm_format")),
    ],
)
def test_a_bad_reply_is_rejected_whole_with_its_named_problems(text: str, finish_reason: str, problems: tuple[str, ...]) -> None:
    reply = check_reply(text, SOURCES, finish_reason=finish_reason)
    assert (reply.ok, reply.translations, reply.problems) == (False, {}, problems)


def test_japanese_names_may_stay_in_quotes_or_brackets() -> None:
    sources = (SourceSentence("s1", 0, "看板には「東京」と書いてあった。"),)
    for en in ('The sign said "東京".', "The sign said “Tokyo” (東京).", "The sign read 「東京」."):
        assert check_reply(_json([("s1", en)]), sources).ok, en


def test_the_servers_own_refusal_field_rejects_the_reply() -> None:
    assert check_reply(GOOD, SOURCES, refusal="I can't assist with that.").problems == ("llm_refusal",)


def test_lines_and_text_replies() -> None:
    lines = "[s1] The meeting\n  was postponed.\n[s2] Participation is free of charge.\n[s3] Stock prices fell sharply.\n"
    assert check_reply(lines, SOURCES, reply="lines").translations == ENGLISH
    assert check_reply("no tags at all", SOURCES, reply="lines").problems == ("llm_format",)
    one = SOURCES[:1]
    assert check_reply("<think>hm</think> The meeting was postponed.\n", one, reply="text").translations == {"s1": ENGLISH["s1"]}
    assert check_reply("I am unable to translate that.", one, reply="text").problems == ("llm_refusal",)
    # An apology or an "I can't" in the source's own English is no refusal.
    laughing = (SourceSentence("s1", 0, "笑わずにはいられなかった。"),)
    assert check_reply("I couldn't help laughing.", laughing, reply="text").ok
    assert check_reply("I can't help laughing about it.", laughing, reply="text").ok
    with pytest.raises(ValueError):
        check_reply("x", SOURCES, reply="text")


def test_strip_reasoning_keeps_the_answer_only() -> None:
    assert strip_reasoning("<think>a\nb</think>\n\nAnswer <reasoning>x</reasoning>here") == "Answer here"


# -- the split strategy ---------------------------------------------------------------------

WINDOW = Window(tuple(SourceSentence(f"s{n}", 0, f"文{n}。") for n in range(1, 9)))


def _scripted(bad: set[str], log: list[tuple[str, ...]], *, refuse_multi: bool = False):
    """An `ask` that fails any window holding a `bad` id (or any multi-sentence one), else translates."""

    def ask(window: Window) -> CheckedReply:
        log.append(window.ids)
        if bad & set(window.ids) or (refuse_multi and len(window.ids) > 1):
            return CheckedReply({}, ("untranslated",))
        return CheckedReply({i: f"Sentence {i[1:]}." for i in window.ids}, ())

    return ask


def test_a_failed_window_is_halved_down_to_the_sentence_that_fails() -> None:
    log: list[tuple[str, ...]] = []
    results = translate_window(WINDOW, _scripted({"s6"}, log), SplitPolicy())
    assert [(r.id, r.en, r.flags) for r in results] == [
        ("s1", "Sentence 1.", ("llm_split",)), ("s2", "Sentence 2.", ("llm_split",)),
        ("s3", "Sentence 3.", ("llm_split",)), ("s4", "Sentence 4.", ("llm_split",)),
        ("s5", "Sentence 5.", ("llm_split",)), ("s6", None, ("llm_split", "untranslated")),
        ("s7", "Sentence 7.", ("llm_split",)), ("s8", "Sentence 8.", ("llm_split",)),
    ]  # fmt: skip
    assert log == [WINDOW.ids, WINDOW.ids[:4], WINDOW.ids[4:], ("s5", "s6"), ("s5",), ("s6",), ("s7", "s8")]


def test_a_good_window_is_one_request_without_flags() -> None:
    log: list[tuple[str, ...]] = []
    results = translate_window(WINDOW, _scripted(set(), log), SplitPolicy())
    assert [(r.en, r.flags) for r in results] == [(f"Sentence {n}.", ()) for n in range(1, 9)] and len(log) == 1


def test_a_model_that_cannot_keep_the_format_settles_on_one_sentence_per_request() -> None:
    policy, log = SplitPolicy(give_up_after=2, probe_every=4), []
    ask = _scripted(set(), log, refuse_multi=True)
    first = translate_window(WINDOW, ask, policy)
    # 8 → 4 fail (two in a row): the rest goes one sentence at a time, no more halving.
    assert log[:3] == [WINDOW.ids, WINDOW.ids[:4], ("s1",)] and len(log) == 2 + 8 and policy.single
    assert [r.en for r in first] == [f"Sentence {n}." for n in range(1, 9)]
    log.clear()
    for _ in range(4):
        translate_window(WINDOW, ask, policy)
    # Three windows straight to one sentence each, the fourth probes the whole window once.
    assert sum(len(ids) > 1 for ids in log) == 1 and len(log) == 4 * 8 + 1


def test_a_probe_that_succeeds_goes_back_to_whole_windows() -> None:
    policy, log = SplitPolicy(give_up_after=1, probe_every=1), []
    translate_window(WINDOW, _scripted(set(), log, refuse_multi=True), policy)
    assert policy.single
    log.clear()
    translate_window(WINDOW, _scripted(set(), log), policy)
    assert log == [WINDOW.ids] and not policy.single
