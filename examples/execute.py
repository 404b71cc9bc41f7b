"""Execute the example notebooks headless, as a reader would run them top to bottom.

    python examples/execute.py                    # run every examples/*.ipynb, report times
    python examples/execute.py --write            # ... and save them back with their outputs
    python examples/execute.py examples/matmul.ipynb

Each notebook runs in a fresh python3 kernel (nbclient) whose working directory is a
scratch folder, with KERNELMAGIC_SESSION_DB pointed into it so that the sessions a run
stores never land in your own session store. Saved outputs hold the static record (inline
SVG and HTML) and the widget state, so GitHub and nbviewer show what the run found.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXAMPLES = Path(__file__).resolve().parent
SESSION_DB = "KERNELMAGIC_SESSION_DB"
MAGIC = "%%cuda_optimize"


def execute(path: Path, workdir: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run the notebook at `path` in a python3 kernel started in `workdir`, with the session
    store in `workdir`; return it with its outputs (the file itself is left alone).

    Nobody can click Accept in a headless run, so a `%%cuda_optimize --interactive` cell runs
    as `--wait` (the loop decides, and says so in its record); it keeps its own source.
    """
    nb = nbformat.read(path, as_version=4)
    interactive = {}  # cell index -> its source
    for index, cell in enumerate(nb.cells):
        head, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and head.startswith(MAGIC) and " --interactive" in head:
            interactive[index] = cell.source
            cell.source = head.replace(" --interactive", " --wait", 1) + "\n" + body
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        store_widget_state=True,
    )
    # The kernel gets its own environment: this process's stays as it is.
    try:
        client.execute(env={**os.environ, SESSION_DB: str(workdir / "sessions.sqlite")})
    finally:
        for index, source in interactive.items():
            nb.cells[index].source = source
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks to run (default: examples/*.ipynb)"
    )
    parser.add_argument("--write", action="store_true", help="save them back with outputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds for each cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(EXAMPLES.glob("*.ipynb"))
    failed = 0
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="kernelmagic-example-") as scratch:
            start = time.perf_counter()
            try:
                nb = execute(path, Path(scratch), args.timeout)
            except CellExecutionError as exc:  # the others still run; the file is left alone
                print(f"{path}: a cell failed\n{exc}", file=sys.stderr)
                failed += 1
                continue
            seconds = time.perf_counter() - start
        if args.write:
            nbformat.validate(nb)
            nbformat.write(nb, path)
        saved = " (saved with outputs)" if args.write else ""
        print(f"{path}: ran in {seconds:.1f} s{saved}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
