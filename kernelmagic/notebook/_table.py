"""The candidates table's lines: one per candidate, a column per tuned parameter.

Labels are cached per row: a 500-candidate session re-renders several times a second, and
only the rows that changed (or all of them, when a parameter column appears or the session
ends) are formatted again.
"""

from __future__ import annotations

from kernelmagic.notebook._params_chart import param_names
from kernelmagic.notebook._view_text import param_columns, row_label, row_label_head
from kernelmagic.render.rows import Row


class TableLines:
    """The table's head and `(label, id)` options, as they stand after `update`."""

    def __init__(self) -> None:
        self.head = row_label_head()
        self._key: tuple[object, ...] | None = None  # the columns and the session's state
        self._labels: dict[str, tuple[Row, bool, str]] = {}

    def update(
        self, everything: list[Row], best_id: str | None, state: str
    ) -> list[tuple[str, str]]:
        """The options for `everything`; `state` "running" until the session has ended."""
        columns = param_columns(everything, param_names(everything))
        if (columns, state) != self._key:
            self._key = (columns, state)
            self._labels.clear()
            self.head = row_label_head(columns)
        options = []
        for row in everything:
            cached = self._labels.get(row.id)
            is_best = row.id == best_id
            if cached is None or cached[0] != row or cached[1] != is_best:
                label = row_label(row, best=is_best, params=columns, state=state)
                cached = (row, is_best, label)
                self._labels[row.id] = cached
            options.append((cached[2], row.id))
        return options
