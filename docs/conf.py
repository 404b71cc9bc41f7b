"""Sphinx configuration of kernelmagic's user guide: MyST Markdown pages and the example notebooks.

The notebooks live in examples/ beside the code. Sphinx reads sources only inside docs/, so
each build copies examples/*.ipynb into docs/examples/ (git-ignored) before it looks for
sources: one copy in git, and a new notebook is rendered without editing anything here. They
are rendered as stored, outputs included or not (the test suite executes them separately);
only the highlighting metadata Jupyter records on save is filled in where it is missing.

Build: python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sphinx.errors import ConfigError

from kernelmagic import _extras as extras
from kernelmagic.errors import BackendUnavailable

try:  # without the docs extra, one line that says how to install it
    for _tool in ("myst_nb", "furo"):
        extras.require(_tool)
except BackendUnavailable as exc:
    raise ConfigError(str(exc)) from None

DOCS = Path(__file__).resolve().parent
EXAMPLES = DOCS.parent / "examples"
RENDERED = DOCS / "examples"

project = "kernelmagic"
author = "kernelmagic developers"
copyright = "kernelmagic developers"

extensions = ["myst_nb"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "jupyter_execute", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
# Links such as [the loop](loop.md#proposers) resolve to headings up to level 3.
myst_heading_anchors = 3

nb_execution_mode = "off"

html_theme = "furo"
html_title = "kernelmagic"


def copy_examples(app: Any = None) -> None:
    """Mirror examples/*.ipynb into docs/examples/, rewriting only what changed."""
    RENDERED.mkdir(exist_ok=True)
    wanted = {p.name: p for p in sorted(EXAMPLES.glob("*.ipynb"))}
    for old in RENDERED.glob("*.ipynb"):
        if old.name not in wanted:
            old.unlink(missing_ok=True)
    for name, source in wanted.items():
        text = _with_lexer(source.read_text(encoding="utf-8"))
        target = RENDERED / name
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue  # an unchanged file keeps its mtime, so incremental builds skip it
        # Written beside and renamed: a build running at the same time never reads half a file.
        partial = RENDERED / f".{name}.{os.getpid()}.part"
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)


def _with_lexer(text: str) -> str:
    """The notebook, with the lexer Jupyter records on save where the stored file has none.

    Without `language_info`, MyST-NB highlights cells as plain Python, which fails on the
    `%%cuda_optimize` cells that hold CUDA C (a `?:` is an error token there).
    """
    nb = json.loads(text)
    info = nb.setdefault("metadata", {}).setdefault("language_info", {})
    if "pygments_lexer" in info:
        return text
    info.setdefault("name", "python")
    info["pygments_lexer"] = "ipython3"
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def setup(app: Any) -> None:
    # builder-inited comes before Sphinx lists the source files.
    app.connect("builder-inited", copy_examples)
