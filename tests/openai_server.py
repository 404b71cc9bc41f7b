"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests of the `llm` proposer.

It speaks enough of the protocol for the official `openai` client (`POST
/v1/chat/completions`, streamed as server-sent events when the request asks for a stream,
and `GET /v1/models`), so tests exercise the real client: its error classes, its
connections. Each request takes the next scripted step (a reply, an HTTP error, any body,
or raw bytes on the socket: tests/llm_faults.py has a catalogue of misbehaviours); with none
left it sends the default reply. Every request is recorded.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass(frozen=True)
class Reply:
    """A chat completion; `delay_s` is slept before answering (to provoke timeouts).

    Asked for a stream, the server sends the content in `chunks` pieces, `chunk_delay_s`
    apart (a slow model that keeps sending); `streamed=False` answers with one JSON body
    all the same, as some servers do.
    """

    content: str | None
    finish_reason: str = "stop"
    prompt_tokens: int = 120
    completion_tokens: int = 80
    delay_s: float = 0.0
    chunks: int = 4
    chunk_delay_s: float = 0.0
    streamed: bool = True


@dataclasses.dataclass(frozen=True)
class Fail:
    """An HTTP error with an OpenAI-style body; `retry_after_s` sets the retry headers
    (at least 1 ms: the client ignores a zero wait and backs off for half a second)."""

    status: int
    message: str = "scripted failure"
    type: str = "server_error"
    code: str | None = None
    retry_after_s: float | None = None


@dataclasses.dataclass(frozen=True)
class Raw:
    """An answer with any body: a server that is not an OpenAI endpoint, or a proxy."""

    body: bytes
    content_type: str = "text/html"
    status: int = 200


@dataclasses.dataclass(frozen=True)
class Wire:
    """Whatever `respond(handler)` writes to the socket (or does not): faults below HTTP.
    `handler.server_closing` is set when the server stops, for steps that hang."""

    respond: Callable[[BaseHTTPRequestHandler], None]


Step = Reply | Fail | Raw | Wire


@dataclasses.dataclass(frozen=True)
class Request:
    """What the server received: method, path, headers (lower-case names) and JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeOpenAI:
    """The server; start it with `serve()` (a context manager) or the `openai_server` fixture."""

    def __init__(
        self,
        *,
        api_key: str | None = "sk-test-key-123456",
        models: tuple[str, ...] = ("test-model", "other-model"),
        default: Step = Reply("I have no further ideas."),
    ) -> None:
        self.api_key = api_key  # None accepts any key
        self.models = models
        self.default = default
        self.requests: list[Request] = []
        self._steps: collections.deque[Step] = collections.deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.closing = threading.Event()  # releases steps that hang

    @property
    def url(self) -> str:
        """The base URL to give the client (ends in /v1)."""
        assert self._httpd is not None, "the server is not running"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *steps: Step) -> None:
        """Queue steps; each request takes the next one."""
        with self._lock:
            self._steps.extend(steps)

    def chat_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def start(self) -> None:
        self.closing.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        # A short poll interval: `shutdown` waits for one, once per test.
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        self.closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- what the handler calls ---------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self) -> Step:
        with self._lock:
            return self._steps.popleft() if self._steps else self.default


@contextmanager
def serve(**kwargs: Any) -> Iterator[FakeOpenAI]:
    """A running FakeOpenAI, stopped on exit."""
    server = FakeOpenAI(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_closing = server.closing

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            self._take(None)
            if not self._authorized():
                return
            if self.path.rstrip("/").endswith("/models"):
                data = [{"id": m, "object": "model", "owned_by": "test"} for m in server.models]
                self._json(200, {"object": "list", "data": data})
            else:
                self._error(404, "no such route", "invalid_request_error", "not_found")

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            self._take(body)
            if not self._authorized():
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._error(404, "no such route", "invalid_request_error", "not_found")
                return
            model = body.get("model") if isinstance(body, dict) else None
            if model not in server.models:
                self._error(
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                )
                return
            step = server._next()
            if isinstance(step, Fail):
                headers = {}
                if step.retry_after_s is not None:
                    headers["retry-after-ms"] = str(max(1, int(step.retry_after_s * 1000)))
                    headers["retry-after"] = str(int(step.retry_after_s))
                self._error(step.status, step.message, step.type, step.code, headers)
                return
            if isinstance(step, Raw):
                self._send(step.status, step.body, step.content_type)
                return
            if isinstance(step, Wire):
                self.close_connection = True
                # OSError: the client gave up, or the step broke the connection itself.
                with suppress(OSError):
                    step.respond(self)
                return
            time.sleep(step.delay_s)
            if isinstance(body, dict) and body.get("stream") and step.streamed:
                options = body.get("stream_options") or {}
                self._stream(model, step, usage=bool(options.get("include_usage")))
            else:
                self._json(200, completion(model, step))

        def _take(self, body: Any) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record(Request(self.command, self.path, headers, body))

        def _authorized(self) -> bool:
            if server.api_key is None:
                return True
            given = self.headers.get("authorization", "")
            if given == f"Bearer {server.api_key}":
                return True
            # Like some servers, this one echoes the key it got: the client must not repeat it.
            shown = given.removeprefix("Bearer ")
            self._error(
                401,
                f"Incorrect API key provided: {shown}.",
                "invalid_request_error",
                "invalid_api_key",
            )
            return False

        def _error(
            self,
            status: int,
            message: str,
            type_: str,
            code: str | None,
            headers: dict[str, str] | None = None,
        ) -> None:
            body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
            self._json(status, body, headers)

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(body).encode(), "application/json", headers)

        def _stream(self, model: str, reply: Reply, *, usage: bool) -> None:
            self.close_connection = True  # the end of the stream is the end of the body
            try:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for event in stream_events(model, reply, usage=usage):
                    self.wfile.write(event)
                    time.sleep(reply.chunk_delay_s)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _send(
            self,
            status: int,
            data: bytes,
            content_type: str,
            headers: dict[str, str] | None = None,
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

    return Handler


def completion(model: str, reply: Reply) -> dict[str, Any]:
    """`reply` as one chat completion (what a server sends when not asked for a stream)."""
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def stream_events(model: str, reply: Reply, *, usage: bool = True) -> list[bytes]:
    """`reply` as server-sent events: the role, the content in pieces, the finish reason,
    the usage (when asked for), and [DONE]."""
    content = reply.content or ""
    size = max(1, -(-len(content) // max(1, reply.chunks)))
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if reply.content is None:
        deltas = [{"role": "assistant", "content": None}]
    deltas += [{"content": content[i : i + size]} for i in range(0, len(content), size)]
    chunks = [_chunk(model, [{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
    chunks.append(_chunk(model, [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]))
    if usage:
        tokens = completion(model, reply)["usage"]
        chunks.append({**_chunk(model, []), "usage": tokens})
    return [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _chunk(model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
