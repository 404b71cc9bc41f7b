"""`%%cuda_optimize` in an IPython shell: options, configuration, bad input, --wait, --out."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_loop import SLOW_SAXPY

import kernelmagic as km


@pytest.fixture(scope="module")
def ip(tmp_path_factory):
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kernelmagic")
    db = tmp_path_factory.mktemp("magic") / "sessions.sqlite"
    shell.run_line_magic("config", f"CudaOptimize.session_db = {str(db)!r}")
    shell.user_ns.update(ref=saxpy_reference, gen=saxpy_inputs)
    yield shell
    shell.run_line_magic("config", "CudaOptimize.session_db = None")


def run(ip, line: str, cell: str = NUMBA_SAXPY):
    return ip.run_cell(f"%%cuda_optimize {line}\n{cell}")


def usage_error(ip, capsys, line: str, cell: str = NUMBA_SAXPY) -> str:
    result = run(ip, line, cell)
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return str(result.error_in_exec)


def test_the_magic_documents_every_option(ip):
    doc = ip.find_cell_magic("cuda_optimize").__doc__
    for option in (
        "--reference",
        "--inputs",
        "--backend",
        "--proposer",
        "--model",
        "--base-url",
        "--rounds",
        "--candidates",
        "--timeout",
        "--session-db",
        "--interactive",
        "--wait",
        "--out",
    ):
        assert option in doc


def test_wait_and_out_bind_a_finished_session(ip, capsys):
    ip.user_ns["slow_kernel"] = None
    result = run(
        ip,
        "--reference ref --inputs gen --backend numba-sim --proposer search --rounds 1 "
        "--candidates 2 --wait --out tuned",
        SLOW_SAXPY,
    )
    assert result.error_in_exec is None, result.error_in_exec
    session = ip.user_ns["tuned"]
    assert isinstance(session, km.Session) and session.done
    assert session.best is not None and session.best.status is km.Status.CORRECT
    assert len(session.candidates) == 3 and len(session.rounds) == 1
    printed = capsys.readouterr().out
    assert "round 1/1" in printed  # text progress: this shell has no widgets
    assert "best" in printed and session.id in printed  # and the record at the end


def test_configuration_sets_defaults(ip):
    ip.run_line_magic("config", "CudaOptimize.rounds = 0")
    try:
        result = run(ip, "--reference ref --inputs gen --backend numba-sim --wait --out s0")
        assert result.error_in_exec is None
        session = ip.user_ns["s0"]
        assert session.rounds == [] and session.planned_rounds == 0
        assert session.best is not None
    finally:
        ip.run_line_magic("config", "CudaOptimize.rounds = None")
    magic = next(c for c in ip.configurables if type(c).__name__ == "CudaOptimize")
    assert magic.rounds is None and magic.candidates == 4


def test_unknown_reference(ip, capsys):
    msg = usage_error(ip, capsys, "--reference nope --inputs gen")
    assert "--reference nope" in msg and "define" in msg


def test_reference_that_is_not_a_function(ip, capsys):
    ip.user_ns["number"] = 3
    assert "not a function" in usage_error(ip, capsys, "--reference number --inputs gen")


def test_reference_that_raises(ip, capsys):
    ip.run_cell("def bad_ref(a, x, y):\n    raise ValueError('reference exploded')")
    msg = usage_error(ip, capsys, "--reference bad_ref --inputs gen --backend numba-sim")
    assert "reference exploded" in msg


def test_inputs_of_the_wrong_type(ip, capsys):
    ip.run_cell("def listy(seed):\n    return [1, 2, 3]")
    msg = usage_error(ip, capsys, "--reference ref --inputs listy --backend numba-sim")
    assert "dict" in msg


def test_a_cell_with_no_kernel(ip, capsys):
    msg = usage_error(ip, capsys, "--reference ref --inputs gen", "x = 1\nprint(x)\n")
    assert "no kernel" in msg
    assert "empty" in usage_error(ip, capsys, "--reference ref --inputs gen", "\n\n")


def test_unknown_options(ip, capsys):
    assert "unrecognized" in usage_error(ip, capsys, "--reference ref --inputs gen --bogus 1")
    assert "required" in usage_error(ip, capsys, "--inputs gen")


def test_a_gpu_backend_without_a_gpu_says_what_to_use(ip, capsys, pool):
    if pool.gpus:
        pytest.skip("this machine has a GPU: backend numba runs")
    msg = usage_error(ip, capsys, "--reference ref --inputs gen --backend numba --wait")
    assert "numba-sim" in msg


def test_interactive_needs_widgets(ip, capsys):
    msg = usage_error(ip, capsys, "--reference ref --inputs gen --backend numba-sim --interactive")
    assert "Accept/Reject" in msg


def test_quoted_values_are_split_as_a_shell_splits_them(ip, capsys, tmp_path):
    db = tmp_path / "quoted.sqlite"
    result = run(
        ip,
        f"--reference ref --inputs gen --backend numba-sim --rounds 0 --session-db {db} "
        "--task 'adds a scaled vector' --bytes '3 * n * 4' --wait --out quoted",
    )
    assert result.error_in_exec is None, result.error_in_exec
    stored = km.SessionStore(db).load(ip.user_ns["quoted"].id)
    assert stored.meta["options"]["task"] == "adds a scaled vector"  # no quotes kept
    assert stored.meta["rerun"]["args"]["bytes"] == "3 * n * 4"
    msg = usage_error(ip, capsys, "--reference ref --inputs gen --task 'no end")
    assert "quot" in msg


def test_resume_continues_a_stored_session_with_its_own_options(ip, capsys, tmp_path):
    db = tmp_path / "resume.sqlite"
    common = f"--reference ref --inputs gen --session-db {db} --wait"
    first = run(
        ip, f"{common} --backend numba-sim --proposer search --rounds 1 --candidates 2 --out first"
    )
    assert first.error_in_exec is None, first.error_in_exec
    sid = ip.user_ns["first"].id
    # The line magic continues the stored kernel; --candidates and --backend are the session's.
    again = ip.run_cell(f"%cuda_optimize {common} --resume {sid} --rounds 2 --out again")
    assert again.error_in_exec is None, again.error_in_exec
    resumed = ip.user_ns["again"]
    assert resumed.id == sid and resumed.done and len(resumed.rounds) == 2
    assert all(len(r.candidates) <= 2 for r in resumed.rounds), resumed.rounds
    stored = km.SessionStore(db).load(sid)
    assert stored.info.backend == "numba-sim"
    # The session's own kernel in the cell is fine; another kernel is refused, clearly.
    same = run(ip, f"{common} --resume {sid} --rounds 2 --out same")
    assert same.error_in_exec is None, same.error_in_exec
    msg = usage_error(ip, capsys, f"{common} --resume {sid}", SLOW_SAXPY)
    assert "another kernel" in msg
    assert "no session" in usage_error(ip, capsys, f"{common} --resume nosuchid").lower()
    alone = ip.run_cell(f"%cuda_optimize {common}")
    assert "--resume" in str(alone.error_in_exec)


def test_a_cell_is_titled_by_its_kernel_and_numbered_as_the_cell(ip, tmp_path):
    """A `def reference` says nothing of what is tuned: the session is titled by the cell's
    entry function; a failing line is numbered as the cell shows it (the magic's is 1)."""
    db = tmp_path / "titled.sqlite"
    ip.user_ns["reference"] = saxpy_reference
    broken = NUMBA_SAXPY.replace("    return out\n", "    raise ValueError('boom')\n")
    line = f"--reference reference --inputs gen --backend numba-sim --rounds 0 --session-db {db}"
    result = run(ip, f"{line} --wait --out titled", broken)
    assert result.error_in_exec is None, result.error_in_exec
    (info,) = km.SessionStore(db).sessions()
    assert info.title == "saxpy"
    cell = f"%%cuda_optimize {line}\n{broken}".splitlines()
    failing = next(n for n, text in enumerate(cell, 1) if "raise ValueError" in text)
    assert f"line {failing}, in saxpy" in ip.user_ns["titled"].baseline.verdict.message
