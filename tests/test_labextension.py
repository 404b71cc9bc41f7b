"""The JupyterLab extension: installed with the package, and its own unit tests (jest).

The jest tests need the extension's node modules, which tests/node_modules.py installs (once
per clone, under its own time limit) so that an install cut short is redone, not tripped over.
The tests after the jest one check that on a stand-in jlpm.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from node_modules import INPUTS, INSTALL_TIMEOUT_S, MARKER, InstallError, installed

LABEXTENSION = Path(__file__).resolve().parents[1] / "labextension"
JEST_TIMEOUT_S = 300  # 3 s on an idle 2-core machine, 17 s beside 4 busy loops


def test_pip_install_enables_the_prebuilt_extension():
    listed = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(
        (x for x in listed.stderr.splitlines() + listed.stdout.splitlines() if "kernelmagic" in x),
        "",
    )
    assert "enabled" in line and "OK" in line, listed.stdout + listed.stderr


# The install (on a fresh clone) and jest each have their own limit; this covers both.
@pytest.mark.timeout(INSTALL_TIMEOUT_S + JEST_TIMEOUT_S + 60)
def test_the_extensions_jest_tests_pass():
    jlpm = shutil.which("jlpm")
    if shutil.which("node") is None or jlpm is None:
        pytest.skip("needs Node.js (and jlpm, from jupyterlab) to run the extension's jest tests")
    try:
        with installed(LABEXTENSION, jlpm=jlpm):
            run = subprocess.run(
                [jlpm, "test"],
                cwd=LABEXTENSION,
                capture_output=True,
                text=True,
                timeout=JEST_TIMEOUT_S,
            )
    except InstallError as e:
        raise pytest.fail.Exception(str(e), pytrace=False) from None  # the message alone
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "failed" not in run.stderr.split("Tests:")[-1].splitlines()[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the extension's install inputs, without node_modules."""
    root = tmp_path / "labextension"
    root.mkdir()
    for name in INPUTS:
        shutil.copy(LABEXTENSION / name, root / name)
    return root


def fake_jlpm(tmp_path: Path, name: str, body: str) -> str:
    """An executable `jlpm` that runs `body` (sh) in the project; each call appends to calls.log."""
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls.log"}\n{body}\n')
    path.chmod(0o755)
    return str(path)


def calls(tmp_path: Path) -> int:
    log = tmp_path / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


GOOD = "mkdir -p node_modules/pkg && echo ok > node_modules/pkg/index.js"


def test_an_interrupted_install_is_removed_and_redone(project, tmp_path):
    # What a killed `jlpm install` leaves: some packages, and no yarn state file.
    (project / "node_modules" / "half").mkdir(parents=True)
    (project / "node_modules" / "half" / "index.js").write_text("cut off here")
    jlpm = fake_jlpm(tmp_path, "jlpm", GOOD)
    with installed(project, jlpm=jlpm) as modules:
        assert (modules / "pkg" / "index.js").exists()
        assert not (modules / "half").exists()
        assert (modules / MARKER).exists()
    assert calls(tmp_path) == 1
    with installed(project, jlpm=jlpm):
        pass
    assert calls(tmp_path) == 1  # a complete tree is kept as it is
    (project / "yarn.lock").write_text((project / "yarn.lock").read_text() + "\n")
    with installed(project, jlpm=jlpm):
        pass
    assert calls(tmp_path) == 2  # and installed again once its inputs change


def test_an_install_cut_short_by_its_time_limit_is_redone_by_the_next_run(project, tmp_path):
    slow = fake_jlpm(tmp_path, "slow", "mkdir -p node_modules/half && exec sleep 60")
    started = time.monotonic()
    with (
        pytest.raises(InstallError, match="did not finish in time"),
        installed(project, jlpm=slow, timeout_s=1),
    ):
        pass
    assert time.monotonic() - started < 20  # killed, not waited for
    assert (project / "node_modules" / "half").exists()
    assert not (project / "node_modules" / MARKER).exists()
    with installed(project, jlpm=fake_jlpm(tmp_path, "jlpm", GOOD)) as modules:
        assert sorted(p.name for p in modules.iterdir()) == [MARKER, "pkg"]


def test_an_unreachable_registry_fails_at_once_and_says_so(project, tmp_path):
    # yarn's report of a request that failed after its retries; it then goes on retrying.
    offline = fake_jlpm(
        tmp_path,
        "offline",
        "echo '➤ YN0001: │ RequestError: getaddrinfo ENOTFOUND registry.yarnpkg.com'\n"
        "exec sleep 60",
    )
    started = time.monotonic()
    with (
        pytest.raises(InstallError, match="cannot reach the npm registry") as failed,
        installed(project, jlpm=offline),
    ):
        pass
    assert time.monotonic() - started < 20
    assert "ENOTFOUND registry.yarnpkg.com" in str(failed.value)
    assert not (project / "node_modules" / MARKER).exists()


def test_two_runs_at_once_install_once(project, tmp_path):
    jlpm = fake_jlpm(tmp_path, "jlpm", f"sleep 1 && {GOOD}")
    seen: list[bool] = []

    def run() -> None:
        with installed(project, jlpm=jlpm) as modules:
            seen.append((modules / "pkg" / "index.js").exists())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [True, True]
    assert calls(tmp_path) == 1
