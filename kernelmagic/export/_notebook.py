"""A stored session written out as a tutorial notebook that re-runs itself.

The notebook tells the session's story in markdown (readable on GitHub without running
anything) and ends with cells that replay the recorded proposals on the reader's machine.
It carries the recorded session itself, trimmed to what a replay needs and redacted.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kernelmagic._redact import environment_secrets, redact
from kernelmagic._version import __version__
from kernelmagic.export import _sections as sections
from kernelmagic.export._story import Story, story
from kernelmagic.loop.session import Session
from kernelmagic.render.svg_chart import latency_svg
from kernelmagic.store import StoredSession, session_file

RECORDED = "recorded"  # the notebook variable holding the recorded session
RERUN = "rerun"  # the one holding the re-run


def tutorial(stored: StoredSession, *, secrets: Iterable[str] = ()) -> NotebookNode:
    """The tutorial notebook of `stored`, validated; no secret of `secrets` or the
    environment appears in it."""
    secrets = (*secrets, *environment_secrets())
    # Everything below is built from the redacted data, the chart (base64, which a last
    # redaction pass could not read) included.
    shared = session_file.shareable(stored, secrets)
    s = story(session_file.from_dict(shared))
    cells = [
        new_markdown_cell(sections.introduction(s)),
        new_code_cell("%load_ext kernelmagic"),
        new_markdown_cell(sections.problem(s)),
        new_code_cell(_problem_source(s)),
        new_markdown_cell(sections.starting_kernel(s)),
        new_markdown_cell(sections.chart(latency_svg(Session.of_stored(s.stored)))),
        *(new_markdown_cell(sections.step(s, step)) for step in s.steps),
        new_markdown_cell(sections.final_kernel(s)),
        new_markdown_cell(sections.rerun()),
        new_code_cell(_recorded_cell(shared)),
        new_code_cell(_replay_cell(s)),
        new_code_cell(
            f"from kernelmagic import replay_report\n\nreplay_report({RECORDED}, {RERUN})"
        ),
    ]
    nb = new_notebook(
        cells=[_redacted(c, secrets) for c in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            # Highlight cells as IPython: a magic cell holding CUDA C is not Python.
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
            "kernelmagic": {"session": s.stored.info.id, "exported_by": __version__},
        },
    )
    nbformat.validate(nb)
    return nb


def _problem_source(s: Story) -> str:
    if s.code is not None:
        return s.code.source.rstrip()
    brief = s.stored.meta.get("problem") or {}
    return (
        "# "
        + sections.MISSING_CODE.replace(": ", ":\n# ", 1)
        + "\n"
        + brief.get("reference_source", "").rstrip()
        + "\n\n\ndef inputs(seed):\n    raise NotImplementedError('write the input generator')"
    )


def _recorded_cell(shared: dict[str, Any]) -> str:
    info = shared["info"]
    text = json.dumps(shared, indent=1, sort_keys=False, default=str)
    # A raw string: JSON escapes every quote inside its strings, so no '"""' can occur.
    return (
        "from kernelmagic import session_from_json\n\n"
        f"# Session {info['id']} as recorded on {info['device']}: every proposal and its verdict.\n"
        f'{RECORDED} = session_from_json(r"""\n{text}\n""")'
    )


def _replay_cell(s: Story) -> str:
    code, c = s.code, s.baseline.candidate
    reference = code.reference if code else "reference"
    inputs = code.inputs if code else "inputs"
    args = ["--reference", reference, "--inputs", inputs]
    if code and code.timing_inputs:
        args += ["--timing-inputs", code.timing_inputs]
    if code:
        args += ["--cases", str(code.cases)]
        args += [
            x for k, v in (("--atol", code.atol), ("--rtol", code.rtol)) if v for x in (k, repr(v))
        ]
        args += ["--sizes", ",".join(map(str, code.sizes))] if code.sizes else []
    for flag, value in (
        ("--entry", c.entry),
        ("--kernel", c.kernel),
        ("--grid", c.grid),
        ("--block", c.block),
        ("--shared", c.shared),
    ):
        if value:
            args += [flag, value]
    for option in c.compile_options:
        args.append(f"--option={option}")
    args += ["--replay", RECORDED, "--wait", "--out", RERUN]
    return "%%cuda_optimize " + " ".join(shlex.quote(a) for a in args) + "\n" + c.source.rstrip()


def _redacted(cell: NotebookNode, secrets: Iterable[str]) -> NotebookNode:
    cell.source = redact(cell.source, secrets)
    return cell
