"""benchmarks/gpu_check.sh without a usable CUDA GPU: one JSON line saying why, exit 0, nothing heavy run.

On a machine whose torch sees a CUDA GPU the script does the real check (minutes), so
these tests skip there; they guard that it stays safe to run unattended everywhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason="a CUDA GPU is present: benchmarks/gpu_check.sh runs the real check there"
)


def _run_check(path: str) -> dict:
    """Run the script with `path` as PATH; assert exit 0 and exactly one JSON line on stdout."""
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        cwd=ROOT, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


def _fake_nvidia_smi(folder: Path, script: str) -> str:
    """A PATH whose nvidia-smi runs `script` (sh), ahead of the real PATH."""
    folder.mkdir()
    smi = folder / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    smi.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def test_it_skips_cleanly_here_and_says_why() -> None:
    result = _run_check(os.environ["PATH"])
    assert set(result) <= {"cuda", "skipped", "gpu"} and result["cuda"] is False
    if shutil.which("nvidia-smi") is None:
        assert result == {"cuda": False, "skipped": "no CUDA GPU: nvidia-smi not found"}
    else:  # a GPU without a driver, or one this torch cannot use: named by the tests below
        assert result["skipped"].startswith("no CUDA GPU: nvidia-smi ")


def test_a_driver_that_does_not_answer_is_named(tmp_path: Path) -> None:
    message = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    result = _run_check(_fake_nvidia_smi(tmp_path / "bin", f'echo "{message}"; exit 9'))
    assert result == {"cuda": False, "skipped": f"no CUDA GPU: nvidia-smi failed: {message}"}


def test_a_gpu_that_torch_cannot_use_is_named_with_the_fix(tmp_path: Path) -> None:
    # A GPU is there (nvidia-smi lists one) but this torch cannot use it: a CPU-only build
    # here, as `make setup` installs by default. The check must say so, not run anything.
    result = _run_check(_fake_nvidia_smi(tmp_path / "bin", 'echo "NVIDIA H200"'))
    assert result["cuda"] is False and result["gpu"] == "NVIDIA H200"
    if torch.version.cuda is None:
        assert result["skipped"] == (
            f"no CUDA GPU: nvidia-smi sees NVIDIA H200 but torch {torch.__version__} is a CPU-only build; "
            "install a CUDA build of torch into .venv"
        )
    else:
        assert result["skipped"].startswith("no CUDA GPU: nvidia-smi sees NVIDIA H200 but torch ")
        assert result["skipped"].endswith("cannot use it: torch.cuda.is_available() is False")
