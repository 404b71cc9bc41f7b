"""The `llm` proposer: K kernels a round from an OpenAI-compatible chat endpoint.

Works with OpenAI and with local servers that speak its protocol (vLLM, Ollama,
llama.cpp, LM Studio). The official client retries rate limits, server errors and
timeouts with backoff; what still fails after that costs one reply, not the session.
Only what the user must fix (a rejected key, an unknown model, an unreachable server)
raises `ProposerError`. The API key stays inside the client: it is in no exchange, note,
error message or repr.

`openai` is imported only when a proposer is built: it takes a second to load.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import OptionError, ProposerError
from ..verdict import Status
from .prompt import build_messages
from .proposal import Attempt, Exchange, Proposal, ProposerReply, RoundRequest
from .replies import parse_reply

if TYPE_CHECKING:
    import openai

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the client will not send a request without one.
NO_KEY = "no-key-needed"
MAX_PARALLEL = 16
_ERROR_CHARS = 300
_NOT_COMPILED = (Status.COMPILE_ERROR, Status.REJECTED)
_ADAPTABLE = ("temperature", "max_tokens")  # what reasoning models refuse
_UNKNOWN_MODEL = re.compile(
    r"not (?:be )?found|does not exist|doesn't exist|unknown|invalid model|not supported|"
    r"no such model|not available",
    re.I,
)


@dataclasses.dataclass(frozen=True)
class LLMOptions:
    """Which endpoint and model, and how to sample; `resolve` fills what is left unset.

    `base_url` None means OpenAI. `max_tokens` caps each reply (None: the server's
    default). `request_timeout_s` bounds each try; `max_retries` more tries follow a
    timeout, a 429 or a 5xx.
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = dataclasses.field(default=None, repr=False)
    temperature: float = 0.7
    request_timeout_s: float = 120.0
    max_retries: int = 3
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.temperature <= 2:
            raise OptionError(f"temperature must be between 0 and 2, not {self.temperature}")
        if self.request_timeout_s <= 0:
            raise OptionError("the LLM request timeout must be positive")
        if self.max_retries < 0:
            raise OptionError(f"max_retries must be 0 or more, not {self.max_retries}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise OptionError(f"max_tokens per reply must be positive, not {self.max_tokens}")


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
        self._unsupported: set[str] = set()  # parameters this model refused
        self._client = openai.OpenAI(
            api_key=self.options.api_key,
            base_url=self.options.base_url or OPENAI_URL,
            timeout=self.options.request_timeout_s,
            max_retries=self.options.max_retries,
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
        for i, exchange in enumerate(replies, start=1):
            if exchange.error is not None:
                exchanges.append(exchange)
                notes.append(f"request {i} of {request.k} failed: {exchange.error}")
                continue
            parsed = parse_reply(
                exchange.reply,
                base=start.candidate,
                finish_reason=exchange.finish_reason,
                name=f"llm-r{request.round}-{i}{suffix}",
            )
            exchanges.append(dataclasses.replace(exchange, error=parsed.problem))
            if parsed.candidate is None:
                notes.append(f"reply {i} of {request.k} held no usable kernel: {parsed.problem}")
                continue
            proposals.append(Proposal(parsed.candidate, "llm", parsed.rationale, start.id))
        return ProposerReply(tuple(proposals), tuple(exchanges), tuple(notes))

    def _ask(self, messages: list[dict[str, str]]) -> Exchange:
        """One chat completion as an exchange; raises ProposerError for what the user must fix."""
        import openai

        sent = tuple(dict(m) for m in messages)
        started = time.monotonic()
        for _ in range(len(_ADAPTABLE) + 1):
            try:
                completion = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    **self._sampling(),
                )
                break
            except openai.BadRequestError as exc:
                if not self._adapt(exc):
                    error = self._failure(exc)
                    return Exchange(
                        self.model, sent, error=error, seconds=time.monotonic() - started
                    )
            except openai.OpenAIError as exc:
                error = self._failure(exc)
                return Exchange(self.model, sent, error=error, seconds=time.monotonic() - started)
            except ValueError as exc:  # a body that is not JSON
                raise ProposerError(self._not_chat(f"invalid JSON: {exc}")) from None
        else:
            return Exchange(
                self.model,
                sent,
                error="the model refused every way of setting temperature and reply length",
                seconds=time.monotonic() - started,
            )
        seconds = time.monotonic() - started
        # Servers that are only OpenAI-like leave fields out: read each one defensively.
        if not isinstance(completion, openai.types.chat.ChatCompletion):
            raise ProposerError(self._not_chat("its answer is not a chat completion"))
        usage = completion.usage
        choice = completion.choices[0] if completion.choices else None
        content = getattr(choice.message, "content", None) if choice else None
        return Exchange(
            self.model,
            sent,
            reply=content if isinstance(content, str) else None,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            finish_reason=choice.finish_reason if choice else None,
            error=None if choice else "the reply held no choices",
            seconds=seconds,
        )

    def _sampling(self) -> dict[str, Any]:
        """Temperature and reply cap, as far as this model takes them."""
        params: dict[str, Any] = {}
        if "temperature" not in self._unsupported:
            params["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            name = "max_completion_tokens" if "max_tokens" in self._unsupported else "max_tokens"
            params[name] = self.options.max_tokens
        return params

    def _adapt(self, exc: openai.BadRequestError) -> bool:
        """Reasoning models (OpenAI's o-series, gpt-5) refuse `temperature` and want
        `max_completion_tokens`: note what was refused, so the request can go again."""
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

    def _not_chat(self, what: str) -> str:
        return (
            f"the endpoint {self.url} did not answer like an OpenAI chat endpoint ({what}); "
            "check the base URL (it usually ends in /v1)"
        )

    def _failure(self, exc: openai.OpenAIError) -> str:
        """What went wrong, for an exchange; raises ProposerError when the user must act."""
        import openai

        retries = self.options.max_retries
        after = f"after {retries} {'retry' if retries == 1 else 'retries'}"
        if isinstance(exc, openai.APITimeoutError):
            tries = retries + 1
            return (
                f"timed out after {self.options.request_timeout_s:g} s "
                f"({tries} {'try' if tries == 1 else 'tries'})"
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = self._say(exc.__cause__ or exc)
            raise ProposerError(f"cannot reach {self.url}: {cause}") from None
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            if self.options.api_key == NO_KEY:
                raise ProposerError(
                    f"the endpoint {self.url} wants an API key ({exc.status_code}: "
                    f"{self._say(exc)}); set OPENAI_API_KEY"
                ) from None
            raise ProposerError(
                f"the endpoint {self.url} rejected the API key ({exc.status_code}: "
                f"{self._say(exc)}); check OPENAI_API_KEY"
            ) from None
        hint = "choose one with --model or KERNELMAGIC_MODEL"
        if isinstance(exc, openai.NotFoundError):
            raise ProposerError(
                f"the endpoint {self.url} does not serve the model {self.model!r} "
                f"({exc.status_code}: {self._say(exc)}){self._served()}; {hint}, and check "
                "that the base URL ends where /chat/completions is (often .../v1)"
            ) from None
        if isinstance(exc, openai.BadRequestError) and _about_model(exc):
            raise ProposerError(
                f"the endpoint {self.url} refused the request for the model {self.model!r} "
                f"({exc.status_code}: {self._say(exc)}){self._served()}; {hint}"
            ) from None
        if isinstance(exc, openai.RateLimitError):
            return f"rate limited (429) {after}: {self._say(exc)}"
        if isinstance(exc, openai.APIStatusError):
            return f"the endpoint answered {exc.status_code} {after}: {self._say(exc)}"
        return f"the request failed ({type(exc).__name__}): {self._say(exc)}"

    def _served(self) -> str:
        """The models the endpoint lists, to make an unknown-model error actionable."""
        import openai

        try:
            listed = self._client.with_options(timeout=5.0, max_retries=0).models.list()
            names = sorted(str(m.id) for m in listed.data)
        except (openai.OpenAIError, ValueError, AttributeError, TypeError):
            return ""  # a server without a usable model list: the error is clear without it
        if not names:
            return ""
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return f"; it serves {shown}"

    def _say(self, exc: BaseException) -> str:
        """The server's own words about `exc`, short, with the key and tokens blanked."""
        body = getattr(exc, "body", None)
        message = body.get("message") if isinstance(body, Mapping) else None
        text = " ".join(str(message or exc).split())
        key = self.options.api_key
        if key and key != NO_KEY:
            text = text.replace(key, "***")
        text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
        return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


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
