"""Tutorial exports: one command turns a session into a notebook that tells its story and
that a reader with no API key re-runs top to bottom (nbclient, a real kernel)."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from conftest import gpu_available
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from openai_server import Reply, serve
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_cli_optimize import kernelmagic
from test_fsr_llm import KEY, fenced
from test_loop import RENAMED, SLOW_SAXPY, WRONG
from test_notebooks import execute, outputs_of

import kernelmagic as km
from kernelmagic.loop.options import LLMOptions, OptimizeOptions
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore, session_file

ROOT = Path(__file__).resolve().parents[1]
# A fast kernel whose source holds what could break the embedded JSON or the markdown.
TRICKY = NUMBA_SAXPY + '\n# tricky: """ \\" r""" ``` </div>\n'
HOSTILE_WHY = f"Drop the slow loop. <script>alert(1)</script> ```` the key is {KEY}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, pool):
    """A 2-round `llm` session on the simulator: a wrong kernel and a fast one (accepted),
    then a tie (kept out); the session object, its database and the endpoint's URL."""
    root = tmp_path_factory.mktemp("export")
    db = root / "sessions.sqlite"
    with serve() as server:
        url = server.url
        server.script(
            Reply(fenced(WRONG, "Subtract instead.")),
            Reply(fenced(TRICKY, HOSTILE_WHY)),
            Reply(fenced(RENAMED, "Rename things.")),
        )
        session = optimize(
            SLOW_SAXPY,
            km.Problem(saxpy_reference, saxpy_inputs),
            proposer="llm",
            llm=LLMOptions(model="test-model", base_url=url, api_key=KEY, max_retries=1),
            backend="numba-sim",
            session_db=db,
            pool=pool,
            options=OptimizeOptions(rounds=2, candidates=2, patience=None),
        )
    assert session.best is not None and session.best.source.startswith(NUMBA_SAXPY.strip())
    return session, db, url


@pytest.fixture(scope="module")
def exported(recorded, tmp_path_factory):
    session, db, _ = recorded
    path = tmp_path_factory.mktemp("tutorial") / "tutorial.ipynb"
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    run = kernelmagic("export", session.id[:6], "--session-db", str(db), "-o", str(path), env=env)
    assert run.returncode == 0, run.stderr
    assert f"wrote {path}: session {session.id}, 1 accepted step\n" in run.stdout
    return path


def headings(nb: nbformat.NotebookNode) -> list[str]:
    """The first line of each markdown cell that starts with a heading (one per section)."""
    firsts = [c.source.split("\n", 1)[0] for c in nb.cells if c.cell_type == "markdown"]
    return [line for line in firsts if line.startswith("#")]


def embedded(nb: nbformat.NotebookNode) -> dict:
    (cell,) = [c for c in nb.cells if "session_from_json(" in c.source]
    return json.loads(re.search(r'r"""\n(.*)\n"""\)', cell.source, re.S).group(1))


def test_the_export_tells_the_story_step_by_step(exported, recorded):
    session, _, _ = recorded
    nb = nbformat.read(exported, as_version=4)
    nbformat.validate(nb)
    titles = headings(nb)
    assert titles[0].startswith("# Tuning `saxpy`: ")
    assert "x faster in CPU simulator time (95% CI " in titles[0]
    assert [t.split(":")[0] for t in titles[1:]] == [
        "## The problem",
        "## The starting kernel",
        "## The whole session",
        "## Step 1",
        "## The final kernel",
        "## Re-run this session on your machine",
    ]
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    (step,) = [c.source for c in nb.cells if c.source.startswith("## Step 1")]
    assert "Drop the slow loop" in step and "test-model" in text
    assert "```diff" in step and "-        for _ in range(120):" in step
    assert "Interleaved against the previous kernel: " in step and "95% CI" in step
    assert "CPU simulator time" in step
    # The LLM's text cannot inject HTML, and its backticks cannot close our fences.
    assert "<script>" not in text and "&lt;script&gt;" in text
    (chart,) = [c.source for c in nb.cells if "data:image/svg+xml;base64," in c.source]
    uri = re.search(r'<img alt="[^"]+" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', chart)
    uri = uri.group(1)
    svg = base64.b64decode(uri).decode()
    assert svg.startswith("<svg") and "best so far" in svg
    # Every code cell but the magic's is Python; the magic's holds the starting kernel.
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.source.startswith("%"):
            ast.parse(cell.source)
    (magic,) = [c for c in nb.cells if c.source.startswith("%%cuda_optimize")]
    line, body = magic.source.split("\n", 1)
    assert "--replay recorded --wait --out rerun" in line and "--reference saxpy_reference" in line
    assert body.strip() == SLOW_SAXPY.strip()
    data = embedded(nb)
    assert [c["candidate"]["source"] for c in data["candidates"]] == [
        c.source for c in session.candidates
    ]


def test_the_export_holds_no_key_no_endpoint_and_no_dialogue(exported, recorded):
    _, _, url = recorded
    raw = exported.read_text()
    assert KEY not in raw and "[redacted]" in raw  # the rationale that quoted it
    host = url.split("//")[1].split("/")[0]
    assert host not in raw and "Authorization" not in raw
    data = embedded(nbformat.read(exported, as_version=4))
    assert data["exchanges"] == [] and "base_url" not in data["meta"]
    assert set(data["meta"]["rerun"]) == {"problem_code"}  # no paths of the author's machine


def test_secrets_the_store_never_saw_are_redacted_on_export(recorded, tmp_path, monkeypatch):
    session, db, _ = recorded
    data = session_file.to_dict(SessionStore(db).load(session.id))
    data["candidates"][1]["rationale"] = "uses sk-proj-ABCDEFGHIJKLMNOPQRST and env-secret-42"
    (tmp_path / "s.json").write_text(json.dumps(data))
    monkeypatch.setenv("OPENAI_API_KEY", "env-secret-42")
    done = km.export_tutorial(str(tmp_path / "s.json"), tmp_path / "t")
    assert done.path == tmp_path / "t.ipynb"
    raw = done.path.read_text()
    assert "sk-proj-ABCDEFGHIJKLMNOPQRST" not in raw and "env-secret-42" not in raw


def test_an_export_into_a_folder_is_written_inside_it(recorded, tmp_path):
    # `-o /tmp` wrote /tmp.ipynb beside the folder.
    session, db, _ = recorded
    folder = tmp_path / "tutorials"
    folder.mkdir()
    done = km.export_tutorial(session.id, folder, session_db=db)
    assert done.path.parent == folder and done.path.name.startswith("tutorial-")
    assert done.path.suffix == ".ipynb" and done.path.is_file()
    assert not (tmp_path / "tutorials.ipynb").exists()


def test_exported_cells_use_only_the_public_api(exported):
    """A reader's kernelmagic may be newer: its private modules may have moved, not __all__."""
    nb = nbformat.read(exported, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    imported = re.findall(r"^from kernelmagic(\S*) import (.+)$", code, re.M)
    assert imported and all(module == "" for module, _ in imported), imported
    names = {n.strip() for _, listed in imported for n in listed.split(",")}
    assert names <= set(km.__all__), names - set(km.__all__)
    assert not re.search(r"^import kernelmagic", code, re.M)


@pytest.mark.slow
def test_a_reader_without_a_key_runs_it_top_to_bottom(exported, tmp_path, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "KERNELMAGIC_MODEL"):
        monkeypatch.delenv(name, raising=False)
    reader_db = tmp_path / "reader.sqlite"
    monkeypatch.setenv("KERNELMAGIC_SESSION_DB", str(reader_db))
    nb = nbformat.read(exported, as_version=4)
    execute(nb, tmp_path)  # raises on any error in any cell
    _, report = outputs_of(nb.cells[-1])
    for label in ("starting kernel", "step 1"):
        (row,) = [line for line in report.splitlines() if line.strip().startswith(label)]
        assert "recorded: correct" in row and "same verdict (simulator: correctness only)" in row
    assert "Every kernel of the story got the same verdict" in report
    (info,) = SessionStore(reader_db).sessions()
    assert info.proposer == "replay" and info.candidates == 4 and info.state == "finished"


def test_the_line_magic_exports_a_session_by_its_variable(recorded, tmp_path, capsys):
    session, db, _ = recorded
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "kernelmagic")
    ip.user_ns["tuned"] = session
    ip.run_line_magic("cuda_optimize_export", f"tuned -o {tmp_path / 'mine.ipynb'}")
    assert "1 accepted step\n" in capsys.readouterr().out
    nb = nbformat.read(tmp_path / "mine.ipynb", as_version=4)
    assert nb.metadata["kernelmagic"]["session"] == session.id
    # With no SESSION, the session the magic last ran in this shell, from its own store.
    ip.magics_manager.registry["CudaOptimize"].last_run = session
    ip.run_line_magic("cuda_optimize_export", f"-o {tmp_path / 'last.ipynb'}")
    last = nbformat.read(tmp_path / "last.ipynb", as_version=4)
    assert last.metadata["kernelmagic"]["session"] == session.id
    with pytest.raises(UsageError, match="no session"):
        ip.run_line_magic("cuda_optimize_export", f"nosuch --session-db {db}")


def test_the_cli_says_what_went_wrong_in_one_line(recorded, tmp_path):
    session, db, _ = recorded
    missing = kernelmagic("export", "nosuch", "--session-db", str(db))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "no session" in missing.stderr
    blocked = tmp_path / "file"
    blocked.write_text("")
    bad = kernelmagic("export", session.id, "--session-db", str(db), "-o", f"{blocked}/t.ipynb")
    assert bad.returncode == 2 and "cannot write" in bad.stderr and "Traceback" not in bad.stderr


def test_an_older_session_without_the_problem_source_still_exports(recorded, tmp_path):
    session, db, _ = recorded
    data = session_file.to_dict(SessionStore(db).load(session.id))
    data["meta"]["rerun"] = {}
    (tmp_path / "old.json").write_text(json.dumps(data))
    run = kernelmagic("export", str(tmp_path / "old.json"), "-o", str(tmp_path / "old.ipynb"))
    assert run.returncode == 0 and "does not hold the problem's source" in run.stderr
    nb = nbformat.read(tmp_path / "old.ipynb", as_version=4)
    (problem,) = [c for c in nb.cells if "def inputs(seed)" in c.source]
    assert "def saxpy_reference" in problem.source and "NotImplementedError" in problem.source


@pytest.mark.slow
def test_a_cuda_c_tutorial_replays_with_its_launch_settings(pool, tmp_path, monkeypatch):
    """CUDA C carries its NVRTC options into the replay cell; without a GPU the reader's
    re-run compiles each kernel and the report says that nothing could be run."""
    db = tmp_path / "s.sqlite"
    source = (ROOT / "examples" / "saxpy" / "saxpy.cu").read_text()
    session = optimize(
        km.Candidate.from_source(source, compile_options=("-use_fast_math",)),
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer="search",
        session_db=db,
        pool=pool,
        options=OptimizeOptions(rounds=1, candidates=2),
    )
    done = km.export_tutorial(session.id, tmp_path / "cuda.ipynb", session_db=db)
    nb = nbformat.read(done.path, as_version=4)
    (magic,) = [c for c in nb.cells if c.source.startswith("%%cuda_optimize")]
    assert "--option=-use_fast_math" in magic.source.splitlines()[0]
    assert "```cuda" in "\n".join(c.source for c in nb.cells)
    monkeypatch.setenv("KERNELMAGIC_SESSION_DB", str(tmp_path / "reader.sqlite"))
    execute(nb, tmp_path)
    _, report = outputs_of(nb.cells[-1])
    (row,) = [line for line in report.splitlines() if line.strip().startswith("starting kernel")]
    if gpu_available():
        assert "here: correct" in row
    else:
        assert "recorded: unverified" in row and "compiles here" in row
        assert "none could be run" in report
    (rerun,) = [s for s in SessionStore(tmp_path / "reader.sqlite").sessions()]
    assert rerun.candidates == len(session.candidates)
