"""The notebook side: the `%%cuda_optimize` magic, its live widget and the lab bridge.

The widget only reads a `Session` and its records, and forwards clicks to the
controller through `ViewActions`; it never reaches into the loop or the harness."""
