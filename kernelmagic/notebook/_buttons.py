"""Which of the widget's buttons can act now, and if not, why: the tooltip of a disabled one.

Only a correct kernel can be chosen, applied or made a tutorial step: a button that would
put a broken kernel into the notebook is disabled, and says so, rather than failing later.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kernelmagic.harness.verdict import Status
from kernelmagic.render.rows import Row

STYLES = {"accept": "success", "reject": "danger", "stop": "warning", "apply": "info"}


@dataclasses.dataclass(frozen=True)
class Armed:
    """A button's state: `why` says what keeps a disabled button off."""

    enabled: bool
    why: str = ""


ON = Armed(True)


def button_labels(interactive: bool) -> dict[str, str]:
    """Each button's name and text, in the order shown."""
    return {
        "accept": "Accept" if interactive else "Use this kernel",
        "reject": "Reject",
        "stop": "Stop",
        "apply": "Apply",
        "tutorial": "Tutorial step",
    }


def arm(button: Any, name: str, armed: Armed) -> None:
    """Enable or disable an ipywidgets `Button`: a disabled one loses its colour (the CSS
    of `VIEW_CSS` greys and dashes it) and its tooltip says why it is off."""
    button.disabled = not armed.enabled
    button.button_style = STYLES.get(name, "") if armed.enabled else ""
    button.tooltip = armed.why


def button_states(
    *,
    selected: Row | None,
    target: Row | None,
    best_id: str | None,
    interactive: bool,
    challenge_open: bool,
    finished: bool,
    stopping: bool,
) -> dict[str, Armed]:
    """Each button's state by name: accept, reject, stop, apply, tutorial.

    `selected`: the table's selection; `target`: what Apply acts on (the selection, else
    the best); `challenge_open`: a proposal waits for the user's Accept/Reject.
    """
    if interactive:
        answer = ON if challenge_open and not finished else Armed(False, "no proposal waits")
        accept = reject = answer
    else:
        accept = _correct(selected, "chosen", "select a correct candidate to make it the best")
        if accept.enabled and selected is not None and selected.id == best_id:
            accept = Armed(False, f"#{selected.seq} is already the best")
        reject = Armed(False, "")
    if finished:
        stop = Armed(False, "the session has ended")
    elif stopping:
        stop = Armed(False, "stopping after the evaluation in flight")
    else:
        stop = ON
    return {
        "accept": accept,
        "reject": reject,
        "stop": stop,
        "apply": _correct(target, "applied", "no correct kernel to apply yet"),
        "tutorial": _correct(
            selected, "made a tutorial step", "select a correct candidate for a tutorial step"
        ),
    }


def only_correct(seq: int, status: Status | None, done: str) -> str:
    """Why a kernel that is not correct cannot be `done`: a disabled button's tooltip, or
    the error of a click that crossed a change of selection."""
    state = status.value if status else "not evaluated"
    return f"#{seq} is {state}: only a correct kernel can be {done}"


def _correct(row: Row | None, done: str, none: str) -> Armed:
    if row is None:
        return Armed(False, none)
    if row.status is Status.CORRECT:
        return ON
    return Armed(False, only_correct(row.seq, row.status, done))
