"""The options of a session: the loop's budgets and knobs, and the LLM endpoint's.

Plain frozen values, checked when made: the start-up code, the magic and the command line
build them from the option spec; the loop and the llm proposer read them.
"""

from __future__ import annotations

import dataclasses

from kernelmagic.errors import OptionError
from kernelmagic.harness.options import at_least


@dataclasses.dataclass(frozen=True)
class OptimizeOptions:
    """Budgets and knobs of a session.

    `rounds` (default 5) of up to `candidates` proposals each; stop early after `patience` rounds
    without a new best, after `time_budget_s` of wall clock, or once `max_tokens` LLM
    tokens are spent. `target` names the GPU profile described to proposers where no GPU
    is present (default: the harness's arch, else ``h100``). `task` says in words what the
    kernel computes (default: the reference's docstring).
    """

    rounds: int | None = None  # default 5; for replay, every recorded round
    candidates: int = 4
    patience: int | None = 3  # replay ignores it: a replay runs every recorded round
    time_budget_s: float | None = None
    max_tokens: int | None = None
    target: str | None = None
    task: str = ""

    def __post_init__(self) -> None:
        if self.rounds is not None and self.rounds < 0:
            raise OptionError(f"rounds must be 0 or more, not {self.rounds}")
        if self.candidates < 1:
            raise OptionError(f"candidates per round must be at least 1, not {self.candidates}")
        if self.patience is not None and self.patience < 1:
            raise OptionError(f"patience must be at least 1 round, not {self.patience}")
        if self.time_budget_s is not None:
            at_least("the time budget (s)", self.time_budget_s, 0, above=True, infinite=True)
        if self.max_tokens is not None and self.max_tokens <= 0:
            raise OptionError("the token budget must be positive")


@dataclasses.dataclass(frozen=True)
class LLMOptions:
    """Which endpoint and model, how to sample and how long to wait; `resolve` fills the rest.

    `base_url` None means OpenAI. `max_tokens` caps each reply (None: the server's
    default). `request_timeout_s` is how long one request may go without a byte of its
    reply, over all its tries and the pauses between them; `max_retries` more tries follow
    a 429, a 5xx or a broken connection while that lasts. `reply_limit_s` bounds a request
    in all, for a server that sends a byte now and then forever.
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = dataclasses.field(default=None, repr=False)
    temperature: float = 0.7
    request_timeout_s: float = 60.0
    max_retries: int = 3
    max_tokens: int | None = None
    reply_limit_s: float = 600.0

    def __post_init__(self) -> None:
        if not 0 <= self.temperature <= 2:
            raise OptionError(f"temperature must be between 0 and 2, not {self.temperature}")
        at_least("the LLM timeout (s)", self.request_timeout_s, 0, above=True)
        if self.max_retries < 0:
            raise OptionError(f"LLM retries must be 0 or more, not {self.max_retries}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise OptionError(f"max_tokens per reply must be positive, not {self.max_tokens}")
        at_least("the reply limit (s)", self.reply_limit_s, 0, above=True)
