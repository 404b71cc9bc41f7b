"""What the widget's buttons ask of the controller: plain callables, so the view stays dumb."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class ViewActions:
    """The controller's answers to clicks; each returns at once (the loop runs elsewhere).

    `accept`/`reject` answer the challenge on show (interactive mode); `choose` makes an
    earlier correct candidate the best; `apply` puts a candidate's source into the notebook
    (replacing the magic cell's body, or in a new cell below: `mode`); `tutorial` inserts
    a markdown cell on the step and a code cell with its kernel.
    """

    accept: Callable[[], None]
    reject: Callable[[], None]
    stop: Callable[[], None]
    choose: Callable[[str], None]
    apply: Callable[[str, str], None]  # candidate id, "replace" | "insert"
    tutorial: Callable[[str], None]
