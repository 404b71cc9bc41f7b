"""How a command ends: its exit status, the one JSON object of --json, a clean shutdown."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from typing import Any

from kernelmagic._redact import redact_text

EXIT_CORRECT, EXIT_OTHER, EXIT_USAGE = 0, 1, 2


def emit_json(obj: dict[str, Any]) -> None:
    """The one JSON object of --json, with secrets taken out like everything printed."""
    print(redact_text(json.dumps(obj, indent=None, default=str)))


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C is ignored meanwhile: shutting the workers down is short and must finish."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
