"""Hub repos → local files: which files a seq2seq model needs, and one download path for them.

Both `resolve_model` (into the Hugging Face cache) and `ja2en models download` (into the
local store) download through `download_snapshot`, so a model's files are chosen, and the
Hub's failures worded, the same way for both.

Every request ja2en makes to the Hub goes through `call_hub`: huggingface_hub sends most of
its requests with no timeout, so a Hub that accepts a connection and never answers would
hang a run forever, and its download threads would keep Ctrl-C from ending it.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import InputError, ModelError, first_line

# Configs and tokenizer files: what a seq2seq model needs beside its weights.
CONFIG_SUFFIXES = (".json", ".spm", ".model", ".txt")

TIMEOUT_VARIABLE = "JA2EN_HUB_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0

T = TypeVar("T")


def weight_patterns(files: list[str]) -> list[str]:
    """Download patterns for a repo holding `files`: configs, tokenizer and one copy of the weights.

    Weights are chosen per repo so a download never takes both the safetensors and the .bin
    copy (or TF/Flax weights) of the same model.
    """
    weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model*.bin"]
    return [f"*{suffix}" for suffix in CONFIG_SUFFIXES] + weights


def is_network_error(exc: BaseException) -> bool:
    """Whether `exc` comes from an HTTP library (httpx connection errors are not OSErrors), or is a Hub timeout."""
    return isinstance(exc, HubTimeout) or type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3"))


def hub_timeout() -> float:
    """How long ja2en waits for the Hub to connect, or to send its next bytes: $JA2EN_HUB_TIMEOUT, else 30 s."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(
            f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds; set it to one above 0, such as 30 (the default)"
        )
    return seconds


def describe_hub_failure(exc: BaseException) -> str:
    """Why a Hub call failed, for a message: no answer in time, no connection (naming the Hub), or its own words."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):  # the Hub answered, and refused
        return first_line(exc)
    seen: BaseException | None = exc
    while seen is not None:  # huggingface_hub wraps what went wrong in its own errors
        if type(seen).__name__.endswith(("Timeout", "TimeoutException")):
            return (
                f"the Hugging Face Hub at {constants.ENDPOINT} did not answer within {hub_timeout():g} s; "
                f"raise {TIMEOUT_VARIABLE} if it is only slow"
            )
        if is_network_error(seen):
            return f"cannot reach the Hugging Face Hub at {constants.ENDPOINT}"
        seen = seen.__cause__ or seen.__context__
    return first_line(exc)  # not the network: a full disk, say


class HubTimeout(Exception):
    """A Hub call's request got no answer within the timeout, so the call sends no more (no retries)."""


class _HubCall(threading.Thread):
    """A daemon thread running Hub requests, so that neither Ctrl-C nor the exit waits for them."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(name="ja2en-hub", daemon=True)
        self.work = work
        self.outcome: tuple[bool, Any] = (False, None)
        self.abandoned = threading.Event()  # Ctrl-C: start no further request
        self.silent = False  # a request timed out: huggingface_hub's retries would multiply the wait

    def run(self) -> None:
        try:
            self.outcome = (True, self.work())
        except BaseException as exc:  # handed to the caller's thread, which raises it
            self.outcome = (False, exc)
        finally:
            with _ACTIVE_GUARD:
                _ACTIVE_CALLS.remove(self)

    def watch(self, chained: Callable[[str, dict[str, Any]], Any] | None) -> Callable[[str, dict[str, Any]], Any]:
        """An httpcore `trace` callback that notes a timed-out request, then calls the one it replaces."""

        def trace(event: str, info: dict[str, Any]) -> Any:
            if event.endswith(".failed") and type(info.get("exception")).__name__.endswith("Timeout"):
                self.silent = True
            return chained(event, info) if chained else None

        return trace


def _bound_request(request: Any) -> None:
    """An httpx request hook: no wait longer than the Hub timeout, no retry after one, none once abandoned."""
    thread = threading.current_thread()
    if isinstance(thread, _HubCall) and thread.abandoned.is_set():
        raise HubTimeout("abandoned on Ctrl-C")
    if not _ACTIVE_CALLS:
        return
    limit = hub_timeout()
    if isinstance(thread, _HubCall) and thread.silent:
        raise HubTimeout(f"no answer within {limit:g} s")
    timeouts = dict(request.extensions.get("timeout") or {})
    given = timeouts.get("read")
    for phase in ("connect", "read", "write", "pool"):
        timeouts[phase] = limit if timeouts.get(phase) is None else min(timeouts[phase], limit)
    request.extensions["timeout"] = timeouts
    # Only a request that waited the whole limit tells the Hub is silent: huggingface_hub's
    # best-effort requests with shorter timeouts of their own may time out and go on.
    if isinstance(thread, _HubCall) and (given is None or given >= limit):
        request.extensions["trace"] = thread.watch(request.extensions.get("trace"))


_ACTIVE_CALLS: list[_HubCall] = []  # the Hub calls under way in this process; other requests are left alone
_ACTIVE_GUARD = threading.Lock()


def bound_session() -> None:
    """Put the request hook on huggingface_hub's shared HTTP client, once (it may have made a new client)."""
    from huggingface_hub import get_session

    hooks = get_session().event_hooks
    if _bound_request not in hooks["request"]:
        hooks["request"].append(_bound_request)


def call_hub(work: Callable[[], T]) -> T:
    """Run `work` (requests to the Hub) with each request bounded by `hub_timeout()`; Ctrl-C ends it at once.

    The work runs in a daemon thread that this thread waits for: on Ctrl-C this thread goes
    on at once, and a request already sent ends on its own timeout, unwaited for.
    """
    hub_timeout()  # a bad setting fails here, not inside the work
    call = _HubCall(work)
    bound_session()
    with _ACTIVE_GUARD:
        _ACTIVE_CALLS.append(call)
    call.start()
    try:
        call.join()
    except KeyboardInterrupt:
        call.abandoned.set()
        raise
    done, value = call.outcome
    if not done:
        raise value
    return value


def download_snapshot(
    repo_id: str,
    *,
    revision: str | None,
    subject: str,
    check: str,
    failed: Callable[[BaseException], ModelError],
    local_dir: Path | None = None,
) -> tuple[Path, str]:
    """Download what `repo_id` needs at `revision` (the Hugging Face cache, or `local_dir`); resumable.

    Returns the folder and the Hub commit downloaded. An unknown repo or revision is a
    ModelError about `subject` ("translation model 'x'"), whose fix says to check `check`
    ("the id"); a Hub that cannot be reached, does not answer or refuses is the ModelError
    `failed(exc)` words.
    """
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        return call_hub(lambda: _download_files(repo_id, revision, subject, local_dir))
    except RepositoryNotFoundError:
        raise ModelError(
            f"{subject} was not found on the Hugging Face Hub; check {check}, "
            "or log in with `hf auth login` if it is private"
        ) from None
    except RevisionNotFoundError:
        raise ModelError(f"{subject} has no revision '{revision}'; check --revision") from None
    except (HfHubHTTPError, OSError) as exc:
        raise failed(exc) from None
    except Exception as exc:
        if is_network_error(exc):
            raise failed(exc) from None
        raise


def _download_files(repo_id: str, revision: str | None, subject: str, local_dir: Path | None) -> tuple[Path, str]:
    """The Hub requests of `download_snapshot`, one file after another in this thread.

    Not `snapshot_download`: its pool threads are not daemons, so a process whose download
    stalled would wait for them at exit however it was told to stop.
    """
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.utils import filter_repo_objects

    info = HfApi().model_info(repo_id, revision=revision, timeout=hub_timeout())
    files = [s.rfilename for s in info.siblings or []]
    commit = info.sha or revision or "main"
    if "config.json" not in files:
        raise ModelError(f"{subject} has no config.json on the Hub; it is not a transformers model")
    # config.json first: it is at the top of the repo, so its path gives the snapshot folder.
    others = [name for name in filter_repo_objects(files, allow_patterns=weight_patterns(files)) if name != "config.json"]
    folder = Path(hf_hub_download(repo_id, "config.json", revision=commit, local_dir=local_dir, etag_timeout=hub_timeout())).parent
    for name in others:
        bound_session()  # again: huggingface_hub makes a new client after a connection error
        hf_hub_download(repo_id, name, revision=commit, local_dir=local_dir, etag_timeout=hub_timeout())
    return folder, commit
