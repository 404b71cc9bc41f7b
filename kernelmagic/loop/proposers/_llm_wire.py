"""One chat completion on the wire: how long to wait for it, and what its bytes are.

A request's time is counted here (`Clock`): silence since the last byte, and the whole. Its
body is read here too, from the bytes rather than through the client's models: servers
that are only OpenAI-like answer a stream request with one JSON body, put an error in a
200, send a proxy's HTML page, null content or no choices, and each of those becomes a
sentence that says what came back, where a parser would raise about a missing attribute.
"""

from __future__ import annotations

import dataclasses
import email.utils
import importlib
import json
import math
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kernelmagic._redact import redact_text

CONNECT_S = 10.0  # to open a connection, within the request's timeout
MAX_REPLY_BYTES = 16 * 2**20  # a streamed 16k-token reply is about 3 MiB
SHOWN_CHARS = 120  # of a body that is not a chat completion, in a message
ERROR_CHARS = 300
_BACKOFF_S = 0.5  # doubled after each retry, up to 8 s, as the openai client does


@dataclasses.dataclass(frozen=True)
class Completion:
    """The first choice of a chat completion: its text, why it ended, and the token counts."""

    content: str | None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    refusal: str | None = None  # OpenAI's models say why they will not answer here


class NotACompletion(ValueError):
    """The body is not a chat completion; the message says what it is instead."""


class Broken(Exception):
    """A try that got no whole answer: no connection, a timeout, or a connection that broke."""

    def __init__(self, message: str, *, connect: bool = False) -> None:
        super().__init__(message)
        self.connect = connect


class Clock:
    """One request's time: `quiet_s` without a byte of reply, `limit_s` in all."""

    def __init__(self, quiet_s: float, limit_s: float) -> None:
        self.quiet_s, self.limit_s = quiet_s, limit_s
        self.start = self.heard = time.monotonic()

    def heard_now(self) -> None:
        self.heard = time.monotonic()

    def left(self) -> float:
        """Seconds until the request must end, unless a byte comes first."""
        return min(self.heard + self.quiet_s, self.start + self.limit_s) - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def timed_out(self) -> str:
        return f"{self.quiet_s:g} s without a byte of reply, the LLM timeout"


def read_body(response: Any, clock: Clock, secrets: Iterable[str]) -> tuple[bytes, str | None]:
    """The body of `response` as it comes, and why reading stopped early (None if it did
    not): at MAX_REPLY_BYTES, at the clock's limit (a server that trickles bytes), or when
    the reply stopped coming. A connection that breaks raises `Broken`: a retry may help."""
    http = http_library()
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            clock.heard_now()
            body += chunk
            if len(body) > MAX_REPLY_BYTES:
                return bytes(body[:MAX_REPLY_BYTES]), (
                    f"kernelmagic stopped reading at {MAX_REPLY_BYTES >> 20} MiB"
                )
            if clock.elapsed() > clock.limit_s:
                return bytes(body), f"kernelmagic stopped reading after {clock.limit_s:g} s"
    except http.TimeoutException:
        if not body:
            raise Broken(f"the reply stopped after its headers: {clock.timed_out()}") from None
        # What came may hold the whole kernel; a retry would find no time left anyway.
        return bytes(body), (
            f"{clock.quiet_s:g} s without a byte after {len(body):,} bytes, the LLM timeout"
        )
    except http.HTTPError as exc:
        raise Broken(
            f"the connection broke after {len(body):,} bytes of the reply ({cause(exc, secrets)})"
        ) from None
    return bytes(body), None


def broken(exc: BaseException, clock: Clock, secrets: Iterable[str]) -> Broken:
    """`exc`, which ended a try before the answer's headers, as the user should read it."""
    http = http_library()
    if isinstance(exc, (http.ConnectError, http.ConnectTimeout)):
        return Broken(f"cannot connect ({cause(exc, secrets)})", connect=True)
    if isinstance(exc, http.TimeoutException):
        return Broken(f"no answer: {clock.timed_out()}")
    return Broken(f"the connection broke before an answer ({cause(exc, secrets)})")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait in seconds that an answer asks for: retry-after-ms (OpenAI's), Retry-After."""
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return None


def backoff(retries: int) -> float:
    """The pause before retry `retries + 1` when the server names none, with jitter."""
    return min(_BACKOFF_S * 2**retries, 8.0) * (1 - 0.25 * random.random())


def http_library() -> Any:
    """The HTTP library the openai client runs on (httpx; httpx2 from openai 3), whose
    errors escape the client while a streamed body is read."""
    import openai

    client = next(c for c in openai.DefaultHttpxClient.__mro__ if c.__module__ != "openai")
    return importlib.import_module(client.__module__.partition(".")[0])


def read_completion(body: bytes, content_type: str, *, partial: bool = False) -> Completion:
    """The completion in `body`: an event stream, or one JSON object.

    `partial`: reading stopped early, so a stream's unfinished last event is dropped. Bytes
    that are not UTF-8 become U+FFFD: one bad byte in the prose must not cost the kernel.
    """
    text = body.decode("utf-8", errors="replace")
    if "event-stream" in content_type or text.lstrip().startswith("data:"):
        return _streamed(text, partial)
    if partial:
        raise NotACompletion("a reply that is not streamed is of no use unfinished")
    try:
        data = json.loads(text)
    except ValueError as exc:
        if not text.strip():
            raise NotACompletion("an empty body") from None
        detail = f" ({exc})" if "json" in content_type else ""
        raise NotACompletion(f"not JSON{detail}") from None
    return _whole(data)


def describe(content_type: str, body: bytes, secrets: Iterable[str] = ()) -> str:
    """A body as a message may show it: its type, its size and its first characters."""
    window = SHOWN_CHARS * 4
    # Redacted before it is clipped, so that a clip cannot leave half a key to be seen.
    shown = " ".join(redact_text(body[:window].decode("utf-8", errors="replace"), secrets).split())
    if len(shown) > SHOWN_CHARS or len(body) > window:
        shown = shown[: SHOWN_CHARS - 1] + "…"
    size = f"{len(body):,} byte{'' if len(body) == 1 else 's'}"
    return f"{content_type or 'no content type'}, {size}: {shown!r}"


def cause(exc: BaseException, secrets: Iterable[str]) -> str:
    """An exception's class and words, for a message."""
    text = str(exc).strip()
    return clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, secrets)


def clip(text: str, secrets: Iterable[str]) -> str:
    """`text` on one line and short, with the key and any token taken out."""
    text = redact_text(" ".join(text.split()), secrets)
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _whole(data: Any) -> Completion:
    if not isinstance(data, dict):
        raise NotACompletion(f"JSON, but a {type(data).__name__}, not a chat completion")
    if data.get("error") and not data.get("choices"):
        raise NotACompletion(f"an error: {_error_text(data['error'])}")
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise NotACompletion("JSON without `choices`: not a chat completion")
    if not choices:
        raise NotACompletion("the reply held no choices")
    choice = _mapping(choices[0])
    message = _mapping(choice.get("message"))
    prompt, completion = _usage(data.get("usage"))
    return Completion(
        _text(message.get("content")),
        _str(choice.get("finish_reason")),
        prompt,
        completion,
        _str(message.get("refusal")),
    )


def _streamed(text: str, partial: bool) -> Completion:
    pieces: list[str] = []
    refusal: list[str] = []
    finish: str | None = None
    usage: Any = None
    events = chose = 0
    for data in _events(text, partial):
        if data == "[DONE]":
            break
        try:
            event = json.loads(data)
        except ValueError:
            raise NotACompletion("an event of the stream is not JSON") from None
        events += 1
        event = _mapping(event)
        if event.get("error"):
            raise NotACompletion(f"an error in the stream: {_error_text(event['error'])}")
        usage = event.get("usage") or usage
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices:
            continue
        chose += 1
        choice = _mapping(choices[0])
        delta = _mapping(choice.get("delta"))
        piece = _text(delta.get("content"))
        if piece is not None:
            pieces.append(piece)
        refusal.append(_str(delta.get("refusal")) or "")
        finish = _str(choice.get("finish_reason")) or finish
    if not events:
        raise NotACompletion("an event stream without events")
    if not chose:
        raise NotACompletion("the reply held no choices")
    prompt, completion = _usage(usage)
    content = "".join(pieces) if pieces else None
    return Completion(content, finish, prompt, completion, "".join(refusal) or None)


def _events(text: str, partial: bool) -> Iterator[str]:
    """The data of each server-sent event (its `data:` lines joined), in order."""
    lines = text.splitlines()
    if partial and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # cut in the middle of a line
    data: list[str] = []
    for line in [*lines, ""]:
        if not line.strip():
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def _error_text(error: Any) -> str:
    """The message of an error object (clipped by the caller, after redaction)."""
    if isinstance(error, Mapping):
        error = error.get("message") or error
    return " ".join(str(error).split())


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    """Content as a string; some servers send a list of parts ({"type": "text", ...})."""
    if isinstance(value, list):
        parts = [p.get("text") for p in value if isinstance(p, Mapping)]
        return "".join(p for p in parts if isinstance(p, str)) or None
    return value if isinstance(value, str) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _usage(usage: Any) -> tuple[int | None, int | None]:
    usage = _mapping(usage)
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
