"""What the widget's buttons ask of the controller: plain callables, so the view stays dumb."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class ViewActions:
    """The controller's answers to clicks; each returns at once (the loop runs elsewhere).

    `accept`/`reject` answer the challenge on show (interactive mode); `choose` makes an
    earlier correct candidate the best; `apply` puts a candidate's source to use.
    """

    accept: Callable[[], None]
    reject: Callable[[], None]
    stop: Callable[[], None]
    choose: Callable[[str], None]
    apply: Callable[[str], None]
