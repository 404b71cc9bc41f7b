"""What a session looks like in a notebook: the live widget and the static record it leaves.

The UI only reads a `Session` and its records, and forwards clicks to the controller through
`ViewActions`; it never reaches into the loop or the harness.
"""
