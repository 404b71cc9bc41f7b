"""The `llm` proposer: K kernels a round from an OpenAI-compatible chat endpoint.

Works with OpenAI and with local servers that speak its protocol (vLLM, Ollama,
llama.cpp, LM Studio). Replies are streamed, so that the timeout bounds silence, not
length: a hung endpoint costs `request_timeout_s` once per request, all tries together,
while a slow model that keeps sending is not cut off. Retries (429, 5xx, a broken
connection) happen here rather than in the client, so that they and any Retry-After fit in
that time. What still fails costs one reply, recorded as a failed exchange that says what
came back. Only what the user must fix (a rejected key, an unknown model, a server never
reached) raises `ProposerError`. The API key stays inside the client: `redact` takes it out
of replies and errors.

`openai` is imported only when a proposer is built: it takes a second to load.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from kernelmagic._redact import redact_text
from kernelmagic.errors import ProposerError
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.options import LLMOptions
from kernelmagic.loop.proposal import Attempt, Exchange, Proposal, ProposerReply, RoundRequest
from kernelmagic.loop.proposers._llm_wire import (
    CONNECT_S,
    Broken,
    Clock,
    Completion,
    NotACompletion,
    backoff,
    broken,
    cause,
    clip,
    describe,
    read_body,
    read_completion,
    retry_after,
)
from kernelmagic.loop.proposers._prompt import build_messages
from kernelmagic.loop.proposers._replies import parse_reply

if TYPE_CHECKING:
    import openai

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the client will not send a request without one.
NO_KEY = "no-key-needed"
MAX_PARALLEL = 16
_NOT_COMPILED = (Status.COMPILE_ERROR, Status.REJECTED)
# What some models or servers refuse: reasoning models temperature and max_tokens, some
# servers usage in streams, or streams altogether.
_ADAPTABLE = ("temperature", "max_tokens", "stream_options", "stream")
_UNKNOWN_MODEL = re.compile(
    r"not (?:be )?found|does not exist|doesn't exist|unknown|invalid model|not supported|"
    r"no such model|not available",
    re.I,
)


def resolve(options: LLMOptions, environ: Mapping[str, str] = os.environ) -> LLMOptions:
    """`options` with key, endpoint and model filled in from the environment.

    The key comes from OPENAI_API_KEY, the endpoint from OPENAI_BASE_URL, the model from
    KERNELMAGIC_MODEL, else gpt-4o-mini. An endpoint without a key gets a placeholder
    key (local servers ignore it); neither one is an error the user must fix.
    """
    api_key = options.api_key or environ.get("OPENAI_API_KEY") or None
    base_url = options.base_url or environ.get("OPENAI_BASE_URL") or None
    model = options.model or environ.get("KERNELMAGIC_MODEL") or DEFAULT_MODEL
    if not api_key:
        if not base_url:
            raise ProposerError(
                "no LLM endpoint is configured: set OPENAI_API_KEY for OpenAI, or pass "
                "--base-url (or set OPENAI_BASE_URL) for an OpenAI-compatible server such as "
                "vLLM, Ollama or llama.cpp"
            )
        api_key = NO_KEY
    return dataclasses.replace(options, api_key=api_key, base_url=base_url, model=model)


def public_url(url: str) -> str:
    """`url` as it may be shown: without user:password and without a query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class _Failed(Exception):
    """A request that will not be tried again; its message goes into the exchange."""


class LLMProposer:
    """Sends the round's prompt K times in parallel; each reply may hold one candidate."""

    name = "llm"

    def __init__(
        self, options: LLMOptions | None = None, *, environ: Mapping[str, str] = os.environ
    ) -> None:
        import openai

        self.options = resolve(options or LLMOptions(), environ)
        self.model: str = self.options.model or DEFAULT_MODEL
        self.url = public_url(self.options.base_url or OPENAI_URL)
        key = self.options.api_key
        self._secrets = (key,) if key and key != NO_KEY else ()
        self._unsupported: set[str] = set()  # parameters this model or server refused
        self._reached = False  # whether the endpoint ever answered, even with an error
        self._client = openai.OpenAI(
            api_key=key,
            base_url=self.options.base_url or OPENAI_URL,
            timeout=openai.Timeout(self.options.request_timeout_s, connect=CONNECT_S),
            max_retries=0,  # `_complete` retries, within the request's timeout
        )

    def __repr__(self) -> str:
        return f"LLMProposer(model={self.model!r}, url={self.url!r})"

    def propose(self, request: RoundRequest) -> ProposerReply:
        """Ask for `request.k` kernels derived from the best (or the one to repair)."""
        start = _base(request)
        messages = build_messages(request, base=start.candidate)
        with ThreadPoolExecutor(max_workers=max(1, min(request.k, MAX_PARALLEL))) as pool:
            replies = list(pool.map(lambda _: self._ask(messages), range(request.k)))
        proposals: list[Proposal] = []
        exchanges: list[Exchange] = []
        notes: list[str] = []
        suffix = ".py" if start.candidate.kind == "python" else ".cu"
        for i, (exchange, cut) in enumerate(replies, start=1):
            if exchange.error is not None:
                exchanges.append(exchange)
                notes.append(f"request {i} of {request.k} failed: {exchange.error}")
                continue
            parsed = parse_reply(
                exchange.reply,
                base=start.candidate,
                finish_reason=exchange.finish_reason,
                cut=cut,
                name=f"llm-r{request.round}-{i}{suffix}",
            )
            exchanges.append(dataclasses.replace(exchange, error=parsed.problem))
            if parsed.candidate is None:
                notes.append(f"reply {i} of {request.k} held no usable kernel: {parsed.problem}")
                continue
            proposals.append(Proposal(parsed.candidate, "llm", parsed.rationale, start.id))
        return ProposerReply(tuple(proposals), tuple(exchanges), tuple(notes))

    def _ask(self, messages: list[dict[str, str]]) -> tuple[Exchange, str | None]:
        """One chat completion as an exchange, and why its reading stopped early if it did."""
        sent = tuple(dict(m) for m in messages)
        clock = Clock(self.options.request_timeout_s, self.options.reply_limit_s)
        try:
            completion, cut = self._complete(messages, clock)
        except _Failed as failed:
            return Exchange(self.model, sent, error=str(failed), seconds=clock.elapsed()), None
        reply = completion.content
        return Exchange(
            self.model,
            sent,
            reply=None if reply is None else redact_text(reply, self._secrets),
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
            error=None if reply is not None else self._no_content(completion),
            seconds=clock.elapsed(),
        ), cut

    def _complete(
        self, messages: list[dict[str, str]], clock: Clock
    ) -> tuple[Completion, str | None]:
        """Try until a whole answer comes, the retries are spent or the timeout runs out;
        raises `_Failed` for what costs this reply, ProposerError for what ends the session."""
        import openai

        retries = 0
        while True:
            wait: float | None = None
            try:
                return self._once(messages, clock)
            except openai.BadRequestError as exc:
                if self._adapt(exc):
                    continue
                raise _Failed(self._failure(exc, retries)) from None
            except openai.APIStatusError as exc:
                if exc.status_code not in (408, 409, 429) and exc.status_code < 500:
                    raise _Failed(self._failure(exc, retries)) from None
                failure: Exception = exc
                wait = retry_after(exc.response.headers)
            except Broken as exc:
                failure = exc
            except openai.OpenAIError as exc:  # any other error of the client
                raise _Failed(f"the request failed: {cause(exc, self._secrets)}") from None
            left = clock.left()
            pause = backoff(retries) if wait is None else wait
            if retries < self.options.max_retries and pause < left:
                time.sleep(pause)
                retries += 1
                continue
            message = self._failure(failure, retries)
            if wait is not None and retries < self.options.max_retries and left > 0:
                message += (
                    f"; the server asks to wait {wait:.3g} s, more than the {left:.3g} s "
                    "left of the LLM timeout"
                )
            raise _Failed(message)

    def _once(self, messages: list[dict[str, str]], clock: Clock) -> tuple[Completion, str | None]:
        """One try: the answer, and why reading it stopped early (None when it did not)."""
        import openai

        left = max(clock.left(), 0.001)
        try:
            with self._client.chat.completions.with_streaming_response.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                timeout=openai.Timeout(left, connect=min(left, CONNECT_S)),
                **self._params(),
            ) as response:
                self._reached = True
                body, cut = read_body(response, clock, self._secrets)
                status = response.status_code
                content_type = response.headers.get("content-type", "")
        except openai.APIStatusError:
            self._reached = True
            raise
        except openai.APIConnectionError as exc:
            raise broken(exc.__cause__ or exc, clock, self._secrets) from None
        try:
            return read_completion(body, content_type, partial=cut is not None), cut
        except NotACompletion as exc:
            what = describe(content_type, body, self._secrets)
            stopped = f" ({cut})" if cut else ""
            said = clip(f"{exc}; the endpoint answered {status}{stopped}", self._secrets)
            raise _Failed(f"{said}, {what}") from None

    def _params(self) -> dict[str, Any]:
        """Temperature, reply cap and streaming, as far as this model and server take them."""
        params: dict[str, Any] = {}
        if "temperature" not in self._unsupported:
            params["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            name = "max_completion_tokens" if "max_tokens" in self._unsupported else "max_tokens"
            params[name] = self.options.max_tokens
        if "stream" not in self._unsupported:
            params["stream"] = True
            if "stream_options" not in self._unsupported:
                params["stream_options"] = {"include_usage": True}
        return params

    def _adapt(self, exc: openai.BadRequestError) -> bool:
        """Reasoning models (OpenAI's o-series, gpt-5) refuse `temperature` and want
        `max_completion_tokens`; some servers refuse streams or their usage: note what was
        refused, so that the request can go again without it."""
        body = exc.body if isinstance(exc.body, Mapping) else {}
        text = f"{body.get('param', '')} {body.get('message', '')} {exc}"
        refused = next(
            (
                p
                for p in _ADAPTABLE
                if p not in self._unsupported
                and re.search(rf"unsupported (?:parameter|value)\W+'?{p}\b", text, re.I)
            ),
            None,
        )
        if refused is None:
            return False
        self._unsupported.add(refused)
        return True

    def _failure(self, exc: Exception, retries: int) -> str:
        """What went wrong, for an exchange; raises ProposerError when the user must act."""
        import openai

        after = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
        if isinstance(exc, Broken):
            if exc.connect and not self._reached:
                raise ProposerError(f"cannot reach {self.url}: {exc}{after}") from None
            return f"{exc}{after}"
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            if self.options.api_key == NO_KEY:
                raise ProposerError(
                    f"the endpoint {self.url} wants an API key ({exc.status_code}: "
                    f"{self._said(exc)}); set OPENAI_API_KEY"
                ) from None
            raise ProposerError(
                f"the endpoint {self.url} rejected the API key ({exc.status_code}: "
                f"{self._said(exc)}); check OPENAI_API_KEY"
            ) from None
        hint = "choose one with --model or KERNELMAGIC_MODEL"
        if isinstance(exc, openai.NotFoundError):
            raise ProposerError(
                f"the endpoint {self.url} does not serve the model {self.model!r} "
                f"({exc.status_code}: {self._said(exc)}){self._served()}; {hint}, and check "
                "that the base URL ends where /chat/completions is (often .../v1)"
            ) from None
        if isinstance(exc, openai.BadRequestError) and _about_model(exc):
            raise ProposerError(
                f"the endpoint {self.url} refused the request for the model {self.model!r} "
                f"({exc.status_code}: {self._said(exc)}){self._served()}; {hint}"
            ) from None
        if isinstance(exc, openai.RateLimitError):
            return f"rate limited (429){after}: {self._said(exc)}"
        if isinstance(exc, openai.APIStatusError):
            return f"the endpoint answered {exc.status_code}{after}: {self._said(exc)}"
        return f"the request failed{after}: {cause(exc, self._secrets)}"

    def _served(self) -> str:
        """The models the endpoint lists, to make an unknown-model error actionable."""
        import openai

        try:
            listed = self._client.with_options(timeout=5.0).models.list()
            names = sorted(str(m.id) for m in listed.data)
        except (openai.OpenAIError, ValueError, AttributeError, TypeError):
            return ""  # a server without a usable model list: the error is clear without it
        if not names:
            return ""
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return f"; it serves {shown}"

    def _no_content(self, completion: Completion) -> str:
        if completion.refusal:
            return f"the model refused: {self._clip(completion.refusal)}"
        finish = completion.finish_reason or "none given"
        return f"the reply had no content (null; finish_reason {finish})"

    def _said(self, exc: openai.APIStatusError) -> str:
        """The server's own words about `exc`, or what its body was when it had none."""
        body = exc.body
        message = body.get("message") if isinstance(body, Mapping) else None
        if isinstance(message, str) and message.strip():
            return self._clip(message)
        raw = body if isinstance(body, str) else "" if body is None else json.dumps(body)
        content_type = exc.response.headers.get("content-type", "")
        return describe(content_type, raw.encode(), self._secrets)

    def _clip(self, text: str) -> str:
        return clip(text, self._secrets)


def _base(request: RoundRequest) -> Attempt:
    """Optimize from the best; repair the latest attempt that compiled, else the baseline."""
    if request.mode == "optimize" and request.best is not None:
        return request.best
    for attempt in reversed(request.history):
        if attempt.status not in _NOT_COMPILED:
            return attempt
    return request.baseline


def _about_model(exc: openai.BadRequestError) -> bool:
    if exc.code in ("model_not_found", "invalid_model"):
        return True
    body = exc.body
    message = str(body.get("message", "") if isinstance(body, Mapping) else exc)
    return bool(re.search(r"\bmodel\b", message, re.I) and _UNKNOWN_MODEL.search(message))
