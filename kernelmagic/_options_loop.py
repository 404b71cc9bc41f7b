"""The options of the refinement loop: the proposer, its LLM, budgets, resuming."""

from __future__ import annotations

from kernelmagic._option import LOOP, Option, option
from kernelmagic.loop.options import LLMOptions, OptimizeOptions
from kernelmagic.loop.proposers import PROPOSERS

LOOP_OPTIONS: tuple[Option, ...] = (
    option(
        "--proposer",
        where="optimize magic config",
        group=LOOP,
        default="auto",
        choices=PROPOSERS,
        help="llm (an OpenAI-compatible endpoint), search (offline), replay; auto picks llm "
        "when an endpoint is configured, else search",
        doc="who proposes; `auto` is `replay` with `--replay`, `llm` when an endpoint is "
        "configured (`OPENAI_API_KEY`, `OPENAI_BASE_URL` or `--base-url`), else `search`",
    ),
    option(
        "--model",
        where="optimize magic config",
        group=LOOP,
        help="the LLM's model name (default $KERNELMAGIC_MODEL)",
        default_doc="`$KERNELMAGIC_MODEL`, else `gpt-4o-mini`",
    ),
    option(
        "--base-url",
        where="optimize magic config",
        group=LOOP,
        help="an OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI)",
        default_doc="`$OPENAI_BASE_URL`, else OpenAI",
    ),
    option(
        "--temperature",
        where="optimize magic",
        group=LOOP,
        type=float,
        help="LLM sampling temperature",
        doc="LLM sampling temperature, 0 to 2",
        default_doc=f"{LLMOptions.temperature:g}",
    ),
    option(
        "--llm-timeout",
        where="optimize magic config",
        group=LOOP,
        type=float,
        metavar="SECONDS",
        help="the longest one LLM request may go without a byte of reply, all its tries "
        f"together ({LLMOptions.request_timeout_s:g}); a reply that keeps coming is not cut",
        doc="the longest one LLM request may go without a byte of reply, all its tries and "
        "pauses together; a reply that keeps streaming is not cut by it "
        "([timeouts](llm.md#timeouts-retries-and-faults))",
        default_doc=f"{LLMOptions.request_timeout_s:g}",
    ),
    option(
        "--llm-retries",
        where="optimize magic config",
        group=LOOP,
        type=int,
        metavar="N",
        help="more tries of an LLM request after a 429, a 5xx or a broken connection, "
        f"within --llm-timeout ({LLMOptions.max_retries})",
        default_doc=f"{LLMOptions.max_retries}",
    ),
    option(
        "--replay",
        where="optimize",
        group=LOOP,
        metavar="SESSION_ID_OR_FILE",
        help="the session to replay (--proposer replay)",
    ),
    option(
        "--replay",
        where="magic",
        group=LOOP,
        metavar="SESSION",
        help="the session to replay: an id, a session file, or a notebook variable holding "
        "a recorded session (as exported tutorials do)",
    ),
    option(
        "--rounds",
        where="optimize magic config",
        group=LOOP,
        type=int,
        help="rounds of proposals (default 5)",
        default_doc="5 (a replay: every recorded round)",
    ),
    option(
        "--candidates",
        where="optimize magic config",
        group=LOOP,
        type=int,
        default=OptimizeOptions.candidates,
        help="candidates per round (4)",
    ),
    option(
        "--patience",
        where="optimize magic config",
        group=LOOP,
        type=int,
        default=OptimizeOptions.patience,
        help="stop after this many rounds without a new best",
        doc="stop after this many rounds without a new best (a replay ignores it)",
    ),
    option(
        "--time-budget",
        where="optimize magic",
        group=LOOP,
        type=float,
        metavar="SECONDS",
        help="wall-clock budget",
        default_doc="none",
    ),
    option(
        "--max-tokens",
        where="optimize magic",
        group=LOOP,
        type=int,
        help="LLM token budget for the session",
        doc="LLM tokens (prompt and reply) for the whole session",
        default_doc="none",
    ),
    option(
        "--target",
        where="optimize magic config",
        group=LOOP,
        help="GPU profile described to the LLM without a GPU (h100)",
        doc="the GPU described to the LLM where there is no GPU (`h100`, `a100`, `sm_80`...)",
        default_doc="the `--arch` target, else `h100`",
    ),
    option(
        "--task",
        where="optimize magic",
        group=LOOP,
        help="what the kernel computes, in words, for the LLM",
        default_doc="the reference's docstring",
    ),
    option(
        "--resume",
        where="optimize magic",
        group=LOOP,
        metavar="SESSION_ID",
        help="continue a stored session",
        doc="continue a stored session (leave out `CANDIDATE_FILE`; in a notebook, the line "
        "magic, or a cell holding the session's own kernel): every option not named again is "
        "the stored session's, its endpoint and model included",
    ),
    option(
        "--session-db",
        where="optimize",
        group=LOOP,
        metavar="PATH",
        help="the session database (default $KERNELMAGIC_SESSION_DB or the user data dir)",
        doc="the session database",
        default_doc="`$KERNELMAGIC_SESSION_DB`, else the user data directory",
    ),
)
