"""The client side of translating with an LLM behind an OpenAI-compatible server.

One module per step of a request, so the flow reads from the file list:

windows.py    a document's sentences → windows (a paragraph, or up to a token budget) with context
prompts.py    templates (package data in templates/, or a user's JSON file) → a window's prompt
client.py     the HTTP side: chat and completions calls, concurrency, rate limits, retries, servers
replies.py    a reply → the English of each id, or the named problems that reject it
split.py      a failed window → halves, down to one sentence; SentenceResult per sentence
translate.py  LLMTranslator: all of the above for one document at a time

A run wires it like this (the flags of each SentenceResult join the pair's flags):

    client = OpenAIClient(ClientSettings(base_urls=("http://localhost:8000/v1",), model="NAME"))
    client.check()  # the server answers, takes the key and serves the model
    translator = LLMTranslator(client, builtin_template("chat"))
    done = translator.translate_document(source_sentences(sentences), title=document.title)
    done.sentences  # one SentenceResult per sentence, in order: .en (None when failed) and .flags
    done.usage      # this document's tokens and requests, for the manifest
"""

from .client import ClientSettings, Completion, ContextWindowError, Decoding, OpenAIClient, Usage
from .prompts import BUILTIN_TEMPLATES, PLACEHOLDERS, Prompt, Template, builtin_template, load_template, render_prompt
from .replies import CheckedReply, check_reply
from .split import LLM_FALLBACK, LLM_RETRY, LLM_SPLIT, SentenceResult, SplitPolicy, translate_window
from .translate import DocumentResult, LLMTranslator, WindowSettings
from .windows import ContextPair, SourceSentence, Window, attach_context, cut_windows, estimate_tokens, source_sentences

__all__ = [
    "BUILTIN_TEMPLATES", "LLM_FALLBACK", "LLM_RETRY", "LLM_SPLIT", "PLACEHOLDERS",
    "CheckedReply", "ClientSettings", "DocumentResult", "Completion", "ContextPair", "ContextWindowError", "Decoding", "LLMTranslator",
    "OpenAIClient", "Prompt", "SentenceResult", "SourceSentence", "SplitPolicy", "Template", "Usage", "Window",
    "WindowSettings", "attach_context", "builtin_template", "check_reply", "cut_windows", "estimate_tokens",
    "load_template", "render_prompt", "source_sentences", "translate_window",
]  # fmt: skip
