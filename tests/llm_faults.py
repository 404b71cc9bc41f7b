"""Misbehaviours of an LLM endpoint below the protocol, as `Wire` steps of openai_server.

Each writes to the raw socket what a broken server, proxy or network does: hang, hang after
the headers or in the middle of a stream, trickle bytes forever, close or reset the
connection, send less than its Content-Length, bytes that are not UTF-8, an error inside
a stream, more than any reply should hold. Steps that hang wait for the server to stop.
"""

from __future__ import annotations

import json
import socket
import struct
from http.server import BaseHTTPRequestHandler

from openai_server import Reply, Wire, completion, stream_events

MODEL = "test-model"


def _headers(handler: BaseHTTPRequestHandler, content_type: str, length: int | None) -> None:
    handler.send_response(200)
    handler.send_header("content-type", content_type)
    if length is not None:
        handler.send_header("content-length", str(length))
    handler.end_headers()
    handler.wfile.flush()


def _hang(handler: BaseHTTPRequestHandler) -> None:
    handler.server_closing.wait()  # type: ignore[attr-defined]


def hang() -> Wire:
    """Reads the request and never answers."""
    return Wire(_hang)


def hang_after_headers() -> Wire:
    """Sends a stream's headers, then nothing."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        _headers(handler, "text/event-stream", None)
        _hang(handler)

    return Wire(respond)


def hang_mid_stream(content: str) -> Wire:
    """Streams `content`, then neither finishes nor closes."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        _headers(handler, "text/event-stream", None)
        for event in stream_events(MODEL, Reply(content), usage=False)[:-2]:
            handler.wfile.write(event)
        _hang(handler)

    return Wire(respond)


def trickle(every_s: float = 0.05) -> Wire:
    """Sends one byte at a time, forever: never silent long enough to time out."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        _headers(handler, "text/event-stream", None)
        while not handler.server_closing.wait(every_s):  # type: ignore[attr-defined]
            handler.wfile.write(b":")

    return Wire(respond)


def truncated(content: str) -> Wire:
    """A JSON body that promises more bytes than it sends, then closes the connection."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps(completion(MODEL, Reply(content))).encode()
        _headers(handler, "application/json", len(body))
        handler.wfile.write(body[: len(body) // 2])

    return Wire(respond)


def close_at_once() -> Wire:
    """Closes the connection without a byte of answer."""
    return Wire(lambda handler: None)


def reset() -> Wire:
    """Resets the connection (TCP RST) instead of answering."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        conn = handler.connection
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    return Wire(respond)


def invalid_utf8(content: str) -> Wire:
    """A chat completion whose content holds a byte that is not UTF-8 (in the prose)."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps(completion(MODEL, Reply("Faster \udcff. " + content)))
        raw = body.replace("\\udcff", "\udcff").encode("utf-8", "surrogateescape")
        _headers(handler, "application/json", len(raw))
        handler.wfile.write(raw)

    return Wire(respond)


def error_in_stream(message: str) -> Wire:
    """A 200 stream whose only event is an error, as vLLM sends when generation fails."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        _headers(handler, "text/event-stream", None)
        error = {"error": {"message": message, "type": "server_error", "code": 500}}
        handler.wfile.write(b"data: " + json.dumps(error).encode() + b"\n\n")

    return Wire(respond)


def huge(megabytes: int) -> Wire:
    """A stream of `megabytes` MiB of prose, as fast as the socket takes it."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        _headers(handler, "text/event-stream", None)
        piece = {"choices": [{"index": 0, "delta": {"content": "word " * 2000}}]}
        event = b"data: " + json.dumps(piece).encode() + b"\n\n"
        for _ in range(megabytes * 2**20 // len(event) + 1):
            handler.wfile.write(event)
        handler.wfile.write(b"data: [DONE]\n\n")

    return Wire(respond)


def slow_stream(content: str, chunks: int, seconds: float) -> Reply:
    """A slow model that keeps sending: `content` in `chunks` pieces, `seconds / chunks`
    apart (the role, finish and usage events come at the same pace)."""
    return Reply(content, chunks=chunks, chunk_delay_s=seconds / chunks)
