"""kernelmagic's version: read by the package, the build (pyproject) and exported notebooks."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


@functools.cache
def build() -> str:
    """The version and a digest of the package's Python sources.

    Two installs of the same version can still differ (a checkout with local changes, a
    wheel of an older commit): the jobs a process sends its workers are kernelmagic's own
    functions and types, so the workers must run the same sources, not only the same number.
    """
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
