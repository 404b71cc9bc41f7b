"""`kernelmagic optimize` and `kernelmagic sessions`: the contract scripts depend on."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from problems import NUMBA_SAXPY
from test_loop import RENAMED, SLOW_SAXPY, WRONG, Scripted

import kernelmagic as km
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore, session_file

PROBLEM = """
import numpy as np

def reference(a, x, y):
    return a * x + y

def inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(150, 600)) | 1
    return {
        "a": np.float32(rng.uniform(0.5, 2.0)),
        "x": rng.standard_normal(n, dtype=np.float32),
        "y": rng.standard_normal(n, dtype=np.float32),
        "n": n,
    }
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory, pool):
    """A problem file, a slow kernel file, and a recorded 3-round session file for it."""
    root = tmp_path_factory.mktemp("cli")
    (root / "problem.py").write_text(PROBLEM)
    (root / "slow.py").write_text(SLOW_SAXPY)
    sys.path.insert(0, str(root))
    try:
        import problem as loaded  # the same functions the CLI will load
    finally:
        sys.path.remove(str(root))
    session = optimize(
        SLOW_SAXPY,
        km.Problem(loaded.reference, loaded.inputs),
        proposer=Scripted([WRONG, NUMBA_SAXPY], [RENAMED], [NUMBA_SAXPY + "\n# again\n"]),
        backend="numba-sim",
        session_db=root / "recorded.sqlite",
        pool=pool,
        options=OptimizeOptions(rounds=3, patience=None),
    )
    stored = SessionStore(root / "recorded.sqlite").load(session.id)
    session_file.write(stored, root / "recorded.json")
    return root


def kernelmagic(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kernelmagic", *args],
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


def base_args(root: Path, db: Path) -> list[str]:
    return [
        "optimize",
        str(root / "slow.py"),
        "--reference",
        f"{root / 'problem.py'}:reference",
        "--inputs",
        f"{root / 'problem.py'}:inputs",
        "--backend",
        "numba-sim",
        "--session-db",
        str(db),
    ]


def test_optimize_json_contract_and_exit_0(files, tmp_path):
    db = tmp_path / "s.sqlite"
    result = kernelmagic(*base_args(files, db), "--replay", str(files / "recorded.json"), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert out["best"]["status"] == "correct" and out["best"]["source"] == NUMBA_SAXPY
    assert out["best"]["latency_ms"] > 0
    assert out["rounds"] == 3
    assert [c["origin"] for c in out["candidates"]] == ["user"] + ["replay"] * 4
    assert [c["round"] for c in out["candidates"]] == [0, 1, 1, 2, 3]
    assert out["candidates"][1]["status"] == "wrong_result"
    # Progress went to stderr as plain lines (not a terminal).
    assert "round 1/3" in result.stderr and "new best" in result.stderr
    # One speedup everywhere: the interleaved estimate against your kernel, with its interval.
    speedup = out["best"]["speedup"]
    if out["best"]["id"] != out["candidates"][0]["id"]:
        assert speedup["low"] <= speedup["speedup"] <= speedup["high"]
        assert speedup["outcome"] in ("faster", "slower", "no clear difference")
        assert "speedup over your kernel: " in result.stderr
    else:
        assert speedup is None and out["best"]["screening"] == 1.0
    assert all("p=" not in d["reason"] for d in out["decisions"])
    listed = kernelmagic("sessions", "--session-db", str(db))
    assert listed.returncode == 0 and out["session"] in listed.stdout
    assert "95% CI" in listed.stdout or "not compared" in listed.stdout or speedup is None
    shown = kernelmagic("sessions", out["session"], "--session-db", str(db), "--json")
    assert json.loads(shown.stdout)["format"] == "kernelmagic-session"
    listed_json = json.loads(kernelmagic("sessions", "--session-db", str(db), "--json").stdout)
    (info,) = listed_json["sessions"]
    assert info["speedup"] == speedup


def test_no_correct_kernel_exits_1(files, tmp_path):
    (tmp_path / "wrong.py").write_text(WRONG)
    args = base_args(files, tmp_path / "s.sqlite")
    args[1] = str(tmp_path / "wrong.py")
    result = kernelmagic(*args, "--replay", str(files / "recorded.json"), "--rounds", "0", "--json")
    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert out["best"] is None and out["candidates"][0]["status"] == "wrong_result"


@pytest.mark.parametrize(
    "extra, expect",
    [
        (["--proposer", "replay"], "needs --replay"),
        (["--replay", "no-such-session"], "no session 'no-such-session'"),
        (["--rounds", "-1"], "rounds must be"),
        (["--candidates", "0"], "at least 1"),
        (["--proposer", "bogus"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(files, tmp_path, extra, expect):
    result = kernelmagic(*base_args(files, tmp_path / "s.sqlite"), *extra, "--json")
    assert result.returncode == 2
    assert expect in result.stderr
    assert json.loads(result.stdout)["status"] == "usage_error"


def test_resume_after_the_process_is_killed_mid_round(files, tmp_path):
    db = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kernelmagic",
            *base_args(files, db),
            "--replay",
            str(files / "recorded.json"),
            # One worker: round 1's two verdicts come one after the other, with time to
            # kill between them (two workers judge them at once).
            "--sim-workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    judged_before: dict[str, float] = {}
    deadline = time.monotonic() + 300
    try:
        # Kill it once round 1 has one verdict but not both: mid-round.
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if not db.exists():
                continue
            try:
                with sqlite3.connect(db) as con:
                    rows = con.execute(
                        "SELECT c.id, v.created FROM candidates c JOIN verdicts v "
                        "ON v.candidate_id = c.id WHERE c.round = 1"
                    ).fetchall()
            except sqlite3.OperationalError:
                continue
            if len(rows) == 1:
                judged_before = dict(rows)
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert judged_before, "the session ended before it could be killed mid-round"
    store = SessionStore(db)
    (info,) = store.sessions()
    assert info.state == "interrupted"  # it never got to say so: its process is gone
    result = kernelmagic("optimize", "--resume", info.id, "--session-db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["session"] == info.id and out["state"] == "finished"
    assert [c["round"] for c in out["candidates"]] == [0, 1, 1, 2, 3]
    with sqlite3.connect(db) as con:
        after = dict(con.execute("SELECT candidate_id, created FROM verdicts").fetchall())
    for cid, created in judged_before.items():
        assert after[cid] == created  # judged before the kill: not judged again
    recorded = session_file.read(files / "recorded.json")
    assert [c["status"] for c in out["candidates"]] == [c.status.value for c in recorded.candidates]
