"""The JupyterLab extension: installed with the package, and its own unit tests (jest)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[1] / "labextension"


def test_pip_install_enables_the_prebuilt_extension():
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(
        (x for x in listed.stderr.splitlines() + listed.stdout.splitlines() if "kernelmagic" in x),
        "",
    )
    assert "enabled" in line and "OK" in line, listed.stdout + listed.stderr


def test_the_extensions_jest_tests_pass():
    jlpm = shutil.which("jlpm")
    if shutil.which("node") is None or jlpm is None:
        pytest.skip("needs Node.js (and jlpm, from jupyterlab) to run the extension's jest tests")
    if not (LABEXTENSION / "node_modules").exists():
        subprocess.run(
            [jlpm, "install", "--immutable"],
            cwd=LABEXTENSION,
            check=True,
            capture_output=True,
            timeout=900,
        )
    run = subprocess.run(
        [jlpm, "test"], cwd=LABEXTENSION, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "failed" not in run.stderr.split("Tests:")[-1].splitlines()[0]
