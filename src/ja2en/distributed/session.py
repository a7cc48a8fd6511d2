"""Ray plumbing for engine.py: joining a cluster, execution settings, retries, errors.

Ray is imported only through `import_ray`, so ja2en works (and `--help` is instant)
without the `ray` extra.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

from ..errors import EngineError, Ja2enError, first_line


def import_ray() -> Any:
    """Ray, or an EngineError with the command that installs it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise EngineError.missing_extra("ray", "Ray", "ray") from None
    return ray


def get(ray: Any, ref: Any) -> Any:
    """`ray.get`, with a failure turned into the ja2en error behind it."""
    try:
        return ray.get(ref)
    except Exception as exc:
        raise unwrap(exc) from None


def unwrap(exc: BaseException) -> Ja2enError:
    """The ja2en error inside a Ray error (a model that cannot load), else an EngineError."""
    seen: BaseException | None = exc
    while seen is not None:
        # A RayTaskError keeps the worker's exception as `cause` (and may also pose as its
        # class, with the remote traceback for a message: the cause has the clean one).
        cause = getattr(seen, "cause", None)
        if isinstance(cause, Ja2enError):
            return cause
        if isinstance(seen, Ja2enError) and cause is None:
            return seen
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
    detail = first_line(exc, empty="")
    return EngineError(
        f"the Ray run failed ({type(exc).__name__}: {detail}); documents finished so far are kept, "
        "re-run the same command to resume (the Ray logs are in /tmp/ray/session_latest/logs)"
    )


def task_retry_options(retries: int) -> dict[str, Any]:
    # Ray Data's default is to retry forever; a file that kills its reader must end.
    return {"max_retries": retries}


def actor_retry_options(retries: int) -> dict[str, Any]:
    # An actor is restarted whenever it dies (a preempted node, an OOM kill); each batch
    # is tried retries + 1 times. Ray Data's defaults retry a batch forever.
    return {"max_restarts": -1, "max_task_retries": retries}


@contextlib.contextmanager
def connected(ray: Any, address: str | None) -> Iterator[None]:
    """Use the Ray session in place, else join `address` (or start a local one) for this run."""
    if ray.is_initialized():
        yield
        return
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        detail = first_line(exc, empty="")
        # Without --ray-address, Ray joins the cluster $RAY_ADDRESS names: that is what to check.
        where, check = (address, "--ray-address") if address else (os.environ.get("RAY_ADDRESS"), "$RAY_ADDRESS")
        raise EngineError(
            f"cannot connect to the Ray cluster at {where} ({detail}); check {check} "
            "(ray://HEAD:10001 or HEAD:6379), or leave it out to start Ray on this machine"
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def ray_data_execution(context: Any, *, preserve_order: bool | None = None, **settings: Any) -> Iterator[None]:
    """One Ray Data execution run ja2en's way: `settings` (and `preserve_order`) on its
    DataContext, nothing on the console, and a failure turned into the ja2en error behind
    it (or an EngineError).

    The library prints nothing: Ray Data's progress bars are turned off and its console
    log handler muted, while its log file (/tmp/ray/session_latest/logs/ray-data) keeps
    everything, the batches it dropped after their last try included.
    """
    settings = {"enable_progress_bars": False, "print_on_execution_start": False, **settings}
    with _ja2en_errors(), _data_context(context, preserve_order, settings), _console_muted():
        yield


@contextlib.contextmanager
def _ja2en_errors() -> Iterator[None]:
    try:
        yield
    except Ja2enError:
        raise
    except Exception as exc:  # a Ray failure no retry cured: a lost node, models that cannot load
        raise unwrap(exc) from exc


@contextlib.contextmanager
def _data_context(context: Any, preserve_order: bool | None, settings: dict[str, Any]) -> Iterator[None]:
    """`settings` and `preserve_order` on a DataContext for one execution; the old values after."""
    old = {name: getattr(context, name) for name in settings}
    old_order = context.execution_options.preserve_order
    try:
        for name, value in settings.items():
            setattr(context, name, value)
        if preserve_order is not None:
            context.execution_options.preserve_order = preserve_order
        yield
    finally:
        for name, value in old.items():
            setattr(context, name, value)
        context.execution_options.preserve_order = old_order


@contextlib.contextmanager
def _console_muted() -> Iterator[None]:
    """Ray Data's console log handlers and console warnings off; its log file keeps everything."""
    console = [h for h in logging.getLogger("ray.data").handlers if not isinstance(h, logging.FileHandler)]
    console = [h for h in console if "File" not in type(h).__name__]
    old_levels = [h.level for h in console]
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing max_restarts and the like through ray_remote_args
        # but offers no other way to set them yet.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        # Tuning hints about pool sizes, meant for a console.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.data")
        try:
            for handler in console:
                handler.setLevel(logging.CRITICAL + 1)
            yield
        finally:
            for handler, level in zip(console, old_levels, strict=True):
                handler.setLevel(level)

