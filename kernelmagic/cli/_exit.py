"""How a command ends: its exit status, the one JSON object of --json, a clean shutdown."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from kernelmagic._redact import redact_text

EXIT_CORRECT, EXIT_OTHER, EXIT_USAGE = 0, 1, 2


# Where --json's object goes while `json_stdout` sends everything else to stderr.
_JSON_OUT: list[TextIO] = []


def emit_json(obj: dict[str, Any]) -> None:
    """The one JSON object of --json, with secrets taken out like everything printed."""
    out = _JSON_OUT[-1] if _JSON_OUT else sys.stdout
    print(redact_text(json.dumps(obj, indent=None, default=str)), file=out, flush=True)


@contextlib.contextmanager
def json_stdout(enabled: bool) -> Iterator[None]:
    """With --json, stdout holds the JSON object alone: what else is printed meanwhile (by
    the user's reference or input generator, say) goes to stderr."""
    if not enabled:
        yield
        return
    _JSON_OUT.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _JSON_OUT.pop()


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
