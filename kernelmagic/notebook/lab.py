"""The kernel's end of the comm with the kernelmagic JupyterLab extension.

At `%load_ext kernelmagic` the kernel opens a comm to the front end's `kernelmagic`
target and says hello; the extension answers, which is how the kernel knows it is there
(VS Code, Colab and a JupyterLab without the extension never answer). Requests name the
magic's cell by the id the front end sent with the execute request, never "the active
cell". Replies come back while the kernel is idle and are handed to the request's callback.

    kernel -> lab  {"type": "hello"}
    lab -> kernel  {"type": "hello", "version": ...}
    kernel -> lab  {"type": "apply", "request": n, "cell_id", "source", "mode": replace|insert}
    lab -> kernel  {"type": "applied", "request": n, "ok", "cell_id" | "message"}
    kernel -> lab  {"type": "tutorial", "request": n, "anchor_id", "markdown", "code"}
    lab -> kernel  {"type": "inserted", "request": n, "ok", "cell_ids" | "message"}
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

TARGET = "kernelmagic"
ApplyMode = Literal["replace", "insert"]
Reply = Mapping[str, Any]


class LabBridge:
    """Sends apply and tutorial requests to the lab extension, if one answered hello."""

    def __init__(self) -> None:
        self.version: str | None = None
        self._comm: Any = None
        self._waiting: dict[int, Callable[[Reply], None]] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def present(self) -> bool:
        return self.version is not None

    def open(self) -> None:
        """Say hello to the front end (a no-op outside a Jupyter kernel).

        Called again by every `%%cuda_optimize` run: a reloaded page or another browser
        tab has a new front end, and only a fresh hello finds it.
        """
        if self._comm is not None:
            with contextlib.suppress(Exception):  # the old front end is gone: nothing to say
                self._comm.close()
        self.version = None
        try:
            from comm import create_comm

            self._comm = create_comm(target_name=TARGET, data={"type": "hello"})
        except Exception:  # no kernel, or a frontend without comms: no extension, no bridge
            self._comm = None
            return
        self._comm.on_msg(self._on_msg)

    def apply(
        self, cell_id: str, source: str, mode: ApplyMode, done: Callable[[Reply], None]
    ) -> bool:
        """Ask the lab to put `source` into cell `cell_id`; False if no extension answered."""
        return self._send(
            {"type": "apply", "cell_id": cell_id, "source": source, "mode": mode}, done
        )

    def tutorial(
        self, anchor_id: str, markdown: str, code: str, done: Callable[[Reply], None]
    ) -> bool:
        """Ask the lab to insert a markdown and a code cell below cell `anchor_id`."""
        return self._send(
            {"type": "tutorial", "anchor_id": anchor_id, "markdown": markdown, "code": code}, done
        )

    def _send(self, message: dict[str, Any], done: Callable[[Reply], None]) -> bool:
        if self._comm is None or not self.present:
            return False
        with self._lock:
            number = next(self._numbers)
            self._waiting[number] = done
        self._comm.send({**message, "request": number})
        return True

    def _on_msg(self, msg: Mapping[str, Any]) -> None:
        data = msg.get("content", {}).get("data", {})
        if data.get("type") == "hello":
            self.version = str(data.get("version", "?"))
            return
        with self._lock:
            done = self._waiting.pop(data.get("request", -1), None)
        if done is not None:
            done(data)


_bridge: LabBridge | None = None


def bridge() -> LabBridge:
    """The kernel's one bridge (opened by `%load_ext kernelmagic`)."""
    global _bridge
    if _bridge is None:
        _bridge = LabBridge()
    return _bridge
