"""Hub repos → local files: which files a seq2seq model needs, and one download path for them.

Both `resolve_model` (into the Hugging Face cache) and `ja2en models download` (into the
local store) download through `download_snapshot`, so a model's files are chosen, and the
Hub's failures worded, the same way for both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ModelError

# Configs and tokenizer files: what a seq2seq model needs beside its weights.
CONFIG_SUFFIXES = (".json", ".spm", ".model", ".txt")


def weight_patterns(files: list[str]) -> list[str]:
    """Download patterns for a repo holding `files`: configs, tokenizer and one copy of the weights.

    Weights are chosen per repo so a download never takes both the safetensors and the .bin
    copy (or TF/Flax weights) of the same model.
    """
    weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model*.bin"]
    return [f"*{suffix}" for suffix in CONFIG_SUFFIXES] + weights


def is_network_error(exc: BaseException) -> bool:
    """Whether `exc` comes from an HTTP library (httpx connection errors are not OSErrors)."""
    return type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3"))


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
    ("the id"); a Hub that cannot be reached or refuses is the ModelError `failed(exc)` words.
    """
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().model_info(repo_id, revision=revision)
        files = [s.rfilename for s in info.siblings or []]
        commit = info.sha or revision or "main"
        path = snapshot_download(repo_id, revision=commit, local_dir=local_dir, allow_patterns=weight_patterns(files))
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
    return Path(path), commit
