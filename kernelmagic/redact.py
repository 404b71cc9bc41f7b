"""Secrets taken out of text before it is kept or shared: known values and key-like tokens.

The store applies this to everything it writes, and exports apply it again to everything
they write, with the API key of the environment they run in.
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


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets`, bearer tokens and `sk-...` keys replaced."""
    for secret in secrets:
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
    return tuple(v for k in KEY_VARIABLES if (v := environ.get(k, "")))
