"""Secrets taken out of text before it is kept or shared: known values and key-like tokens.

The one redaction of kernelmagic: the loop applies it to proposals as they come in, the
store to everything it writes, exports to everything they write, and the command line
and progress output to everything they print. Besides the values passed in, it always
takes out the API keys of this environment and every key `remember`ed in this process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)(authorization\s*[:=]\s*bearer\s+)\S+|(bearer\s+)[A-Za-z0-9._\-]{12,}")
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")
KEY_VARIABLES = ("OPENAI_API_KEY",)  # where kernelmagic reads a key from


_remembered: set[str] = set()
# Shorter values of a key variable are placeholders for keyless local servers ("none",
# "EMPTY"): taking them out of every text would garble code and messages.
_SHORTEST_KEY = 8


def remember(secret: str | None) -> None:
    """Redact `secret` (an API key given other than through the environment) from now on."""
    if secret and len(secret) >= _SHORTEST_KEY:
        _remembered.add(secret)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets`, the known keys, bearer tokens and `sk-...` keys replaced."""
    known = {*secrets, *_remembered, *environment_secrets()}
    for secret in sorted(known, key=len, reverse=True):  # a longer key first: no partial leaks
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)
    return _KEY_LIKE.sub(REDACTED, text)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`redact_text` applied to every string inside JSON-like data (keys too)."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, Mapping):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    return value


def environment_secrets(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The API keys set in this environment."""
    return tuple(v for k in KEY_VARIABLES if len(v := environ.get(k, "")) >= _SHORTEST_KEY)
