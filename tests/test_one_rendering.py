"""One rendering per cell: the magic's cell holds one output, from a start-up note shown at
once, through the live widget, to the widget and the static record in that same output.

A real kernel runs a replayed 50-candidate session (nbclient), as JupyterLab would; every
message the cell gets is logged, so the order of what it showed can be checked, then the
saved notebook's size and what nbconvert's HTML (nbviewer's renderer) shows of it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from problems import NUMBA_SAXPY
from test_notebooks import WIDGET_VIEW, fifty  # noqa: F401 - `fifty` is a fixture

from kernelmagic.notebook._output import MARK

MAGIC = "%%cuda_optimize --reference saxpy_reference --inputs saxpy_inputs --backend numba-sim"


class LoggingClient(NotebookClient):
    """An nbclient that notes when each message of each cell arrived."""

    def __init__(self, nb: nbformat.NotebookNode, **kw: Any) -> None:
        super().__init__(nb, **kw)
        self.log_of: dict[int, list[tuple[float, str, dict[str, Any]]]] = {}

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        self.log_of.setdefault(cell_index, []).append(
            (time.monotonic(), msg["msg_type"], msg["content"])
        )
        return super().process_message(msg, cell, cell_index)


@pytest.fixture(scope="module")
def ran(fifty, tmp_path_factory):  # noqa: F811 - the imported fixture
    """The notebook after a fresh kernel ran a 50-candidate session and a failed start."""
    root = tmp_path_factory.mktemp("one-rendering")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KERNELMAGIC_SESSION_DB", str(root / "sessions.sqlite"))
        source = (
            Path(__file__).with_name("problems.py").read_text()
            + "\n\ndef broken_reference(a, x, y):\n    raise ValueError('no answer')\n"
        )
        nb = nbformat.v4.new_notebook()
        failing = nbformat.v4.new_code_cell(
            MAGIC.replace("saxpy_reference", "broken_reference") + " --wait\n" + NUMBA_SAXPY
        )
        failing.metadata["tags"] = ["raises-exception"]  # a UsageError, as expected
        nb.cells = [
            nbformat.v4.new_code_cell("%load_ext kernelmagic"),
            nbformat.v4.new_code_cell(source),
            nbformat.v4.new_code_cell(f"{MAGIC} --replay {fifty} --wait --out s\n{NUMBA_SAXPY}"),
            nbformat.v4.new_code_cell("print(s.id, len(s.candidates), s.state)"),
            failing,
        ]
        client = LoggingClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(root)}},
            store_widget_state=True,  # the worst case for the file's size
        )
        client.execute()
    return nb, client.log_of, root


def displays(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]


def test_the_cell_shows_a_note_at_once_then_the_widget_in_the_same_output(ran):
    nb, log_of, _ = ran
    log = log_of[2]
    started = next(t for t, kind, _ in log if kind == "execute_input")
    shown = [(t, kind, c) for t, kind, c in log if kind.endswith("display_data")]
    first_t, first_kind, first = shown[0]
    assert first_kind == "display_data"
    assert first["data"]["text/plain"].startswith("kernelmagic: starting the session")
    # The kernel's own pool: one simulator worker per core, up to a round's candidates.
    assert re.search(r"\(\d simulator workers?, and one per GPU\)", first["data"]["text/plain"])
    assert first_t - started < 10, "the note must not wait for the workers"
    widgets = [
        t for t, kind, c in log if kind == "comm_open" and c["target_name"] == "jupyter.widget"
    ]
    assert widgets and first_t < min(widgets)  # before the slow start-up, not after it
    display_id = first["transient"]["display_id"]
    assert all(c["transient"]["display_id"] == display_id for _, _, c in shown)
    assert [kind for _, kind, _ in shown[1:]] == ["update_display_data"] * (len(shown) - 1)
    assert WIDGET_VIEW in shown[1][2]["data"]  # the note became the live widget
    assert len(displays(nb.cells[2])) == 1


def test_the_one_output_ends_as_the_widget_view_and_the_record(ran):
    nb, _, _ = ran
    session_id, candidates, state = nb.cells[3].outputs[0].text.split()
    assert (candidates, state) == ("51", "finished")
    (output,) = displays(nb.cells[2])
    assert set(output.data) == {WIDGET_VIEW, "text/html", "text/plain"}
    assert output.metadata[MARK] == {"record": session_id}
    html, text = output.data["text/html"], output.data["text/plain"]
    assert f"kernelmagic session {session_id}: finished" in html and "<svg" in html
    assert "<table" in html and "#50" in html
    assert text.startswith(f"kernelmagic session {session_id}: finished") and "<" not in text[:200]
    assert not [o for o in nb.cells[2].outputs if "starting the session" in str(o)]


def test_a_session_that_does_not_start_says_so_instead_of_starting(ran):
    nb, _, _ = ran
    cell = nb.cells[4]
    (note,) = displays(cell)
    assert note.data == {"text/plain": "kernelmagic: the session did not start"}
    errors = "".join(o.text for o in cell.outputs if o.get("name") == "stderr")
    assert errors.startswith("UsageError: ") and "no answer" in errors, cell.outputs


def test_the_saved_notebook_is_small_and_carries_no_plotly_bundle(ran):
    nb, _, root = ran
    with_state = root / "with-widget-state.ipynb"
    nbformat.write(nb, with_state)
    plain = nbformat.from_dict(nb)
    del plain.metadata["widgets"]  # as JupyterLab saves by default (no widget state)
    without = root / "saved.ipynb"
    nbformat.write(plain, without)
    sizes = {p.name: p.stat().st_size for p in (with_state, without)}
    print(f"saved 50-candidate notebook: {sizes}")
    assert all(size < 300_000 for size in sizes.values()), sizes
    for path in (with_state, without):
        text = path.read_text()
        assert "plotly.min.js" not in text and "FigureModel" not in text


def test_nbconvert_html_of_the_saved_notebook_shows_the_record_not_a_widget(ran):
    nb, _, _ = ran
    plain = nbformat.from_dict(nb)
    del plain.metadata["widgets"]
    session_id = nb.cells[3].outputs[0].text.split()[0]
    body, _ = HTMLExporter().from_notebook_node(plain)
    assert f"kernelmagic session {session_id}: finished" in body
    assert body.count("<svg") == 1 and "<circle" in body  # the record's chart, drawn once
    assert WIDGET_VIEW not in body  # no widget view to fail without a model
    assert "a live widget" not in body and "model not found" not in body
