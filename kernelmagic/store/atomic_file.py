"""Files written whole or not at all: exported notebooks, rescued sessions."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from kernelmagic.errors import StoreError


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file renamed over it.

    A crash or a full disk never leaves half a file where the old one was. The directory
    must exist: a mistyped one is reported, not created.
    """
    folder = path.parent
    if not folder.is_dir():
        why = "is not a directory" if folder.exists() else "does not exist"
        raise StoreError(f"cannot write {path}: the directory {folder} {why}")
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        # os.open with 0o666 honours the umask, as a plain open() would (mkstemp would not).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
