"""Text, tables, diffs and charts of a session, shared by the terminal, the widget and exports."""
