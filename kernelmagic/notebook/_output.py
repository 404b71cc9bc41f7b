"""The magic's one output: what its cell shows, from before start-up to the session's end.

The cell holds a single display, replaced in place through its display id, never a second
output beside it:

1. at once, before the slow start-up, a one-line note, so the cell is never blank;
2. the live widget;
3. at the end, the same output as a bundle of the widget view, the static record
   (`text/html`) and its text, marked in the output's metadata as kernelmagic's record.

Each frontend then picks one of them. A live JupyterLab prefers the widget view, so a live
user sees the widget only. nbconvert (nbviewer) skips a widget view whose model is not in
the notebook's widget state, which JupyterLab does not save by default, and renders the
record. JupyterLab renders the record of an untrusted notebook (a widget view is not a
"safe" mime type), and of a trusted one once kernelmagic's lab extension has dropped the
view of a marked output whose model its kernel does not hold (labextension/src/records.ts):
without that, a reopened notebook shows "Error displaying widget: model not found". Saving
no widget view at all would instead cost a live user the widget after a page reload.
"""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MARK = "kernelmagic"  # the metadata key the lab extension looks for (records.ts: MARK)


class CellOutput:
    """The magic's one output in its cell; each method replaces what it shows."""

    def __init__(self, text: str) -> None:
        """Show `text` now: what the cell says while the session starts."""
        from IPython.display import display

        self._handle: Any = display({"text/plain": text}, raw=True, display_id=True)

    def say(self, text: str) -> None:
        """Replace the output with one line of text (the session did not start, say)."""
        self._handle.update({"text/plain": text}, raw=True)

    def show_widget(self, widget: Any, session_id: str) -> None:
        """The live widget; the plain text is for frontends without ipywidgets."""
        self._handle.update(
            {
                WIDGET_VIEW: widget._repr_mimebundle_()[WIDGET_VIEW],
                "text/plain": (
                    f"kernelmagic session {session_id}: a live widget, shown while its kernel "
                    "runs (the session's record replaces this note when it ends)"
                ),
            },
            raw=True,
            metadata={MARK: {"live": session_id}},
        )

    def show_record(self, widget: Any, session_id: str, *, html: str, text: str) -> None:
        """The widget and the session's static record, as one output.

        A plain-text step comes first: JupyterLab hands an updated output to its existing
        renderer when the preferred mime type stays the same, and the widget renderer then
        wipes the old view's nodes and adds a new view without disposing the old one, which
        lives on detached, still following the model. Through another mime type the old
        renderer and its view are disposed, and a fresh renderer shows the one view.
        """
        self.say(f"kernelmagic session {session_id}: ended")
        self._handle.update(
            {
                WIDGET_VIEW: widget._repr_mimebundle_()[WIDGET_VIEW],
                "text/html": html,
                "text/plain": text,
            },
            raw=True,
            metadata={MARK: {"record": session_id}},
        )
