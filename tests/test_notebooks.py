"""Notebooks executed headless in a real kernel (nbclient): the quickstart, and the size of
a saved notebook after a 50-candidate session."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_loop import Scripted

import kernelmagic as km
from kernelmagic.loop.options import OptimizeOptions
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore, session_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        store_widget_state=True,
    )
    client.execute()
    return nb


def outputs_of(cell: nbformat.NotebookNode) -> tuple[list[str], str]:
    """The mime types of a cell's outputs, and all its text and HTML together."""
    kinds, text = [], []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            kinds.append("stream")
            text.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            kinds.extend(out.data)
            text.extend(str(v) for k, v in out.data.items() if k.startswith("text/"))
        elif out.output_type == "error":
            kinds.append("error")
            text.append("\n".join(out.traceback))
    return kinds, "\n".join(text)


def test_the_quickstart_runs_headless_and_saves_small(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNELMAGIC_SESSION_DB", str(tmp_path / "sessions.sqlite"))
    nb = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    (magic,) = [c for c in nb.cells if c.source.startswith("%%cuda_optimize")]
    # Nobody can click Accept in a headless run: run the same cell in automatic mode.
    assert " --interactive" in magic.source.splitlines()[0]
    magic.source = magic.source.replace(" --interactive", " --wait", 1)
    execute(nb, tmp_path)
    kinds, text = outputs_of(magic)
    assert WIDGET_VIEW in kinds  # the live widget
    assert "text/html" in kinds and "<svg" in text  # the static record with its chart
    assert "correct" in text and "simulated" in text
    (result,) = [c for c in nb.cells if c.source.startswith("if not tuned.done")]
    _, last = outputs_of(result)
    assert "kernelmagic Session" in last and "def saxpy" in last
    _, shared = outputs_of(nb.cells[-1])
    assert "wrote quickstart-tutorial.ipynb" in shared
    nbformat.validate(nbformat.read(tmp_path / "quickstart-tutorial.ipynb", as_version=4))
    (info,) = SessionStore(tmp_path / "sessions.sqlite").sessions()
    assert info.state == "finished" and info.best_status == "correct"
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    print(f"saved quickstart: {path.stat().st_size} bytes")
    assert path.stat().st_size < 300_000


@pytest.fixture(scope="module")
def fifty(pool, tmp_path_factory) -> Path:
    """A recorded session of 50 candidates (reformatted copies: one evaluation, the rest
    reused from the store), as a session file."""
    root = tmp_path_factory.mktemp("fifty")
    copies = [[f"# variant {r}.{i}\n" + NUMBA_SAXPY for i in range(5)] for r in range(10)]
    session = optimize(
        NUMBA_SAXPY,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer=Scripted(*copies),
        backend="numba-sim",
        session_db=root / "s.sqlite",
        pool=pool,
        options=OptimizeOptions(rounds=10, candidates=5, patience=None),
    )
    assert len(session.candidates) == 51
    session_file.write(SessionStore(root / "s.sqlite").load(session.id), root / "fifty.json")
    return root / "fifty.json"


def test_a_saved_50_candidate_session_stays_under_300_kb(fifty, tmp_path, monkeypatch):
    monkeypatch.setenv("KERNELMAGIC_SESSION_DB", str(tmp_path / "sessions.sqlite"))
    problem = Path(__file__).with_name("problems.py").read_text()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext kernelmagic"),
        nbformat.v4.new_code_cell(problem),
        nbformat.v4.new_code_cell(
            "%%cuda_optimize --reference saxpy_reference --inputs saxpy_inputs "
            f"--backend numba-sim --replay {fifty} --wait --out s\n" + NUMBA_SAXPY
        ),
        nbformat.v4.new_code_cell("print(len(s.candidates), s.state)"),
    ]
    execute(nb, tmp_path)
    _, last = outputs_of(nb.cells[-1])
    assert "51 finished" in last
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    size = path.stat().st_size
    print(f"saved 50-candidate notebook: {size} bytes")
    assert size < 300_000, f"{size} bytes"
    assert "plotly.min.js" not in path.read_text()[:10_000_000]


def test_the_tutorial_of_a_50_candidate_session_stays_small(fifty, tmp_path):
    done = km.export_tutorial(str(fifty), tmp_path / "tutorial.ipynb")
    size = done.path.stat().st_size
    print(f"tutorial of a 50-candidate session: {size} bytes")
    assert size < 300_000, f"{size} bytes"
    nb = nbformat.read(done.path, as_version=4)
    recorded = next(c for c in nb.cells if "session_from_json(" in c.source)
    assert recorded.source.count('"seq":') == 51  # every candidate travels with it
