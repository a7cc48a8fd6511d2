"""The suite's own guards: a hung test fails instead of stalling CI, and CI's property-test
examples are the same on every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).parent.parent


def test_a_hung_test_fails_after_the_default_timeout(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    assert request.config.getini("timeout") == "300"
    # The same plugin with a 2 s limit, on a test that would sleep for a minute.
    (tmp_path / "pytest.ini").write_text("[pytest]\ntimeout = 2\n", encoding="utf-8")
    (tmp_path / "test_hang.py").write_text("import time\n\ndef test_hang():\n    time.sleep(60)\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_hang.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert "Failed: Timeout (>2.0s) from pytest-timeout." in done.stdout


def test_property_examples_are_fixed_exactly_when_ci_is_set() -> None:
    assert settings.default.derandomize == bool(os.environ.get("CI"))
    assert settings.default.database is None or not os.environ.get("CI")


def test_ci_selects_the_reproducible_hypothesis_profile() -> None:
    this = f"{Path(__file__).relative_to(ROOT)}::test_property_examples_are_fixed_exactly_when_ci_is_set"
    env = {**os.environ, "CI": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", this],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_without_ray_the_ray_tests_fail_under_ci_and_are_skipped_elsewhere(tmp_path: Path, ci: str, outcome: str) -> None:
    (tmp_path / "ray.py").write_text("raise ImportError(\"No module named 'ray'\")\n", encoding="utf-8")
    one = "tests/test_ray.py::test_a_model_that_cannot_load_fails_as_in_a_single_process_run"
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(tmp_path)}  # the stand-in shadows the real Ray
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", one],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert outcome in done.stdout, done.stdout + done.stderr
    why = "Ray is not installed (pip install -e '.[ray]')"
    assert (f"{why}; CI must run the Ray tests" if ci else why) in done.stdout
