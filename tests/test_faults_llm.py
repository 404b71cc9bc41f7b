"""What each way an LLM endpoint can misbehave costs: the real `openai` client against a
scripted server on loopback (tests/openai_server.py, tests/llm_faults.py).

For each fault: whether the request yields a kernel anyway, fails (one failed exchange,
the session goes on) or ends the session, what the message says, and that the wall time
is bounded. Test settings: a 1 s LLM timeout, 2 retries, a 1.5 s reply limit.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass, field

import llm_faults as faults
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from openai_server import Fail, Raw, Reply, Step
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_cli_optimize import PROBLEM, kernelmagic
from test_loop import SLOW_SAXPY

import kernelmagic as km
from kernelmagic.errors import ProposerError
from kernelmagic.harness.devices import PROFILES
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.options import LLMOptions, OptimizeOptions
from kernelmagic.loop.proposal import Attempt, ProblemBrief, RoundRequest
from kernelmagic.loop.proposers._llm_wire import MAX_REPLY_BYTES
from kernelmagic.loop.proposers.llm import LLMProposer
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore

KEY = "sk-test-key-123456"
TIMEOUT_S, RETRIES, LIMIT_S = 1.0, 2, 1.5
FASTER = SLOW_SAXPY.replace("range(120)", "range(2)")
KERNEL = f"Fewer iterations.\n\n```python\n{FASTER}```\n"
HALF = KERNEL[: len(KERNEL) // 2]
BASE = km.Candidate.from_source(SLOW_SAXPY, name="slow.py")
BRIEF = ProblemBrief("saxpy", "out = a * x + y", "def reference(a, x, y): ...", "", "", "")


def options(url: str, **fields) -> LLMOptions:
    given = {
        "model": "test-model",
        "base_url": url,
        "api_key": KEY,
        "request_timeout_s": TIMEOUT_S,
        "max_retries": RETRIES,
        "reply_limit_s": LIMIT_S,
    }
    return LLMOptions(**{**given, **fields})


def one_request() -> RoundRequest:
    base = Attempt("s.0", 0, "user", BASE, Status.CORRECT, "correct", latency_ms=1.0)
    return RoundRequest(1, "optimize", 1, BRIEF, PROFILES["h100"], base, base)


def ask(url: str, **fields):
    """One round of one request; (the reply, its only exchange, wall seconds)."""
    proposer = LLMProposer(options(url, **fields), environ={})
    started = time.monotonic()
    reply = proposer.propose(one_request())
    (exchange,) = reply.exchanges
    return reply, exchange, time.monotonic() - started


@dataclass(frozen=True)
class Fault:
    """A misbehaviour, and what it must cost: `outcome` is `kernel` (a proposal all the
    same), `failed` (the request failed) or `unusable` (a reply without a usable kernel);
    `message` is a regular expression the exchange's error must match."""

    steps: tuple[Step, ...]
    outcome: str
    message: str = ""
    seconds: tuple[float, float] = (0.0, 1.5)
    fields: dict[str, object] = field(default_factory=dict)


def tries(step: Step) -> tuple[Step, ...]:
    """`step` for every try a request may make."""
    return (step,) * (RETRIES + 1)


HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
REFUSED = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
AFTER_1 = "after 1 retry"  # the second backoff (about 1 s) no longer fits in the timeout
SILENT = f"{TIMEOUT_S:g} s without a byte of reply, the LLM timeout"

FAULTS = {
    "hang": Fault((faults.hang(),), "failed", re.escape(f"no answer: {SILENT}"), (TIMEOUT_S, 2.5)),
    "hang-after-headers": Fault(
        (faults.hang_after_headers(),),
        "failed",
        re.escape(f"the reply stopped after its headers: {SILENT}"),
        (TIMEOUT_S, 2.5),
    ),
    # What streamed before the hang held the whole kernel: it is used.
    "hang-after-the-kernel": Fault(
        (faults.hang_mid_stream(KERNEL),), "kernel", seconds=(TIMEOUT_S, 2.5)
    ),
    "hang-mid-kernel": Fault(
        (faults.hang_mid_stream(HALF),),
        "unusable",
        r"the reply was cut off \(1 s without a byte after [\d,]+ bytes, the LLM timeout\) "
        "before the kernel was complete",
        (TIMEOUT_S, 2.5),
    ),
    "trickle": Fault(
        (faults.trickle(),),
        "failed",
        r"an event stream without events; the endpoint answered 200 \(kernelmagic stopped "
        r"reading after 1.5 s\), text/event-stream, \d+ bytes: ':::",
        (LIMIT_S, 3.0),
    ),
    "slow-but-working": Fault(
        # Twelve events 0.19 s apart: 2.25 s in all, longer than the 1 s timeout twice over.
        (faults.slow_stream(KERNEL, chunks=8, seconds=1.5),),
        "kernel",
        seconds=(2.0, 3.5),
        fields={"reply_limit_s": 10.0},
    ),
    "500": Fault(
        tries(Fail(500, "The server had an error")),
        "failed",
        f"^the endpoint answered 500 {AFTER_1}: The server had an error$",
        (0.35, 2.0),
    ),
    "502-html": Fault(
        tries(Raw(HTML, "text/html", status=502)),
        "failed",
        f"^the endpoint answered 502 {AFTER_1}: text/html, 74 bytes: '<html><head><title>502",
        (0.35, 2.0),
    ),
    "503-without-a-message": Fault(
        tries(Raw(b'{"detail": "Service Unavailable"}', "application/json", status=503)),
        "failed",
        f"^the endpoint answered 503 {AFTER_1}: application/json, 33 bytes: "
        """'{"detail": "Service Unavailable"}'$""",
        (0.35, 2.0),
    ),
    "429-short-retry-after": Fault(
        (Fail(429, "slow down", retry_after_s=0.3), Reply(KERNEL)), "kernel", seconds=(0.3, 1.5)
    ),
    "429-long-retry-after": Fault(
        (Fail(429, "slow down", retry_after_s=30),),
        "failed",
        r"^rate limited \(429\): slow down; the server asks to wait 30 s, more than the "
        r"[\d.]+ s left of the LLM timeout$",
    ),
    "malformed-json": Fault(
        (Raw(b'{"id": "x", "choices": [{"message":', "application/json"),),
        "failed",
        r"^not JSON \(Expecting value: line 1 column 36 \(char 35\)\); the endpoint answered "
        r"200, application/json, 35 bytes: '\{\"id\": \"x\", \"choices\": \[\{\"message\":'$",
    ),
    "truncated-body": Fault(
        tries(faults.truncated(KERNEL)),
        "failed",
        # Bytes of reply came: the timeout counts from them, and the second retry fits.
        r"^the connection broke after [\d,]+ bytes of the reply \(RemoteProtocolError: .+\) "
        "after 2 retries$",
        (1.0, 2.8),
    ),
    "closed-without-answer": Fault(
        tries(faults.close_at_once()),
        "failed",
        r"^the connection broke before an answer \(RemoteProtocolError: .+\) " + AFTER_1,
        (0.35, 2.0),
    ),
    "connection-reset": Fault(
        tries(faults.reset()),
        "failed",
        r"^the connection broke before an answer \(\w+: .+\) " + AFTER_1,
        (0.35, 2.0),
    ),
    "text-plain": Fault(
        (Raw(b"upstream connect error or disconnect/reset before headers", "text/plain"),),
        "failed",
        "^not JSON; the endpoint answered 200, text/plain, 57 bytes: 'upstream connect",
    ),
    "empty-body": Fault(
        (Raw(b"", "application/json"),),
        "failed",
        "^an empty body; the endpoint answered 200, application/json, 0 bytes: ''$",
    ),
    "empty-choices": Fault(
        (Raw(b'{"object": "chat.completion", "choices": []}', "application/json"),),
        "failed",
        "^the reply held no choices; the endpoint answered 200, application/json, 44 bytes",
    ),
    "error-in-a-200": Fault(
        (Raw(b'{"error": {"message": "model overloaded", "code": 503}}', "application/json"),),
        "failed",
        "^an error: model overloaded; the endpoint answered 200",
    ),
    "error-in-the-stream": Fault(
        (faults.error_in_stream("CUDA out of memory"),),
        "failed",
        "^an error in the stream: CUDA out of memory; the endpoint answered 200, text/event-stream",
    ),
    "null-content": Fault(
        (Reply(None),), "failed", r"^the reply had no content \(null; finish_reason stop\)$"
    ),
    "refusal": Fault(
        (
            Raw(
                json.dumps({"choices": [{"message": REFUSED, "finish_reason": "stop"}]}).encode(),
                "application/json",
            ),
        ),
        "failed",
        "^the model refused: I can't help with that.$",
    ),
    "finish-reason-length": Fault(
        (Reply(HALF, finish_reason="length"),),
        "unusable",
        r"^the reply was cut off \(finish_reason=length\) before the kernel was complete$",
    ),
    "no-code-block": Fault(
        (Reply("Use more threads per block."),),
        "unusable",
        "^the reply holds no code, only prose$",
    ),
    "invalid-utf8": Fault((faults.invalid_utf8(KERNEL),), "kernel"),
    "huge-reply": Fault(
        (faults.huge(MAX_REPLY_BYTES // 2**20 + 1),),
        "unusable",
        r"^the reply was cut off \(kernelmagic stopped reading at 16 MiB\) before the kernel",
        (0.0, 8.0),
    ),
    "echoes-the-key": Fault((Reply(f"As {KEY} allows:\n\n" + KERNEL),), "kernel"),
    "not-streamed": Fault((Reply(KERNEL, streamed=False),), "kernel"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_costs_one_reply_at_most(openai_server, name):
    fault = FAULTS[name]
    openai_server.script(*fault.steps)
    reply, exchange, seconds = ask(openai_server.url, **fault.fields)
    low, high = fault.seconds
    assert low <= seconds < high, f"{name} took {seconds:.2f} s"
    if fault.outcome == "kernel":
        (proposal,) = reply.proposals
        assert proposal.candidate.source.strip() == FASTER.strip()
        assert exchange.error is None and reply.notes == ()
    else:
        assert reply.proposals == ()
        assert re.search(fault.message, exchange.error or ""), exchange.error
        said = "request 1 of 1 failed" if fault.outcome == "failed" else "reply 1 of 1 held no"
        (note,) = reply.notes
        assert note.startswith(said) and note.endswith(exchange.error)
    assert KEY not in repr(reply)


def test_the_key_echoed_by_the_model_is_taken_out(openai_server):
    openai_server.script(Reply(f"As {KEY} allows:\n\n" + KERNEL))
    reply, exchange, _ = ask(openai_server.url)
    assert exchange.reply.startswith("As [redacted] allows:")
    assert reply.proposals[0].rationale.startswith("As [redacted] allows:")


def test_a_byte_that_is_not_utf8_is_replaced(openai_server):
    openai_server.script(faults.invalid_utf8(KERNEL))
    _, exchange, _ = ask(openai_server.url)
    assert exchange.reply.startswith("Faster \ufffd. ")


def test_a_server_that_refuses_stream_options_is_asked_without_them(openai_server):
    refused = "Unsupported parameter: 'stream_options' is not supported by this server."
    openai_server.script(Fail(400, refused, "invalid_request_error"), Reply(KERNEL))
    reply, exchange, _ = ask(openai_server.url)
    assert len(reply.proposals) == 1 and exchange.tokens == 0  # streams then have no usage
    first, second = (r.body for r in openai_server.chat_requests())
    assert first["stream_options"] == {"include_usage": True} and "stream_options" not in second
    assert second["stream"] is True


def test_a_rejected_key_ends_the_session_without_showing_it(openai_server):
    openai_server.script(Fail(401, f"Incorrect API key provided: {KEY}.", code="invalid_api_key"))
    started = time.monotonic()
    with pytest.raises(ProposerError) as info:
        ask(openai_server.url)
    assert time.monotonic() - started < 1.5
    message = str(info.value)
    assert message.startswith(f"the endpoint {openai_server.url} rejected the API key (401: ")
    assert "Incorrect API key provided: [redacted]." in message and KEY not in message


def test_an_unknown_model_ends_the_session(openai_server):
    started = time.monotonic()
    with pytest.raises(ProposerError, match=r"does not serve the model 'gpt-nope'.*serves"):
        ask(openai_server.url, model="gpt-nope")
    assert time.monotonic() - started < 1.5


def test_a_server_never_reached_ends_the_session():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    started = time.monotonic()
    with pytest.raises(ProposerError) as info:
        ask(url)
    assert time.monotonic() - started < TIMEOUT_S + 1.0
    assert re.fullmatch(
        rf"cannot reach {re.escape(url)}: cannot connect \(ConnectError: .+\) {AFTER_1}",
        str(info.value),
    )


def test_a_server_that_goes_away_later_costs_one_reply(openai_server):
    openai_server.script(Reply(KERNEL))
    proposer = LLMProposer(options(openai_server.url, max_retries=0), environ={})
    assert len(proposer.propose(one_request()).proposals) == 1
    openai_server.stop()
    (exchange,) = proposer.propose(one_request()).exchanges
    assert exchange.error.startswith("cannot connect (ConnectError: ")


def test_the_session_goes_on_past_a_round_of_faults(openai_server, pool, tmp_path):
    # Round 1: four requests, four faults; round 2: the server's default, a faster kernel.
    openai_server.script(
        faults.hang(),
        Raw(b"{", "application/json"),
        Reply(None),
        Raw(HTML, "text/html"),
    )
    openai_server.default = Reply(KERNEL)
    db = tmp_path / "s.sqlite"
    started = time.monotonic()
    session = optimize(
        SLOW_SAXPY,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer="llm",
        llm=options(openai_server.url),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=OptimizeOptions(rounds=2, candidates=4, patience=None),
    )
    assert session.state == "finished"
    assert session.best is not None and session.best.record.round == 2
    stored = SessionStore(db).load(session.id)
    errors = sorted(e.error for r, e in stored.exchanges if r == 1)
    assert [e.split(";")[0].split(":")[0] for e in errors] == [
        "no answer",
        "not JSON (Expecting property name enclosed in double quotes",
        "not JSON",
        "the reply had no content (null",
    ]
    assert all(e.error is None for r, e in stored.exchanges if r == 2)
    assert KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert time.monotonic() - started < 60


def test_the_command_line_sets_the_timeout_and_survives_a_hang(openai_server, tmp_path):
    (tmp_path / "problem.py").write_text(PROBLEM)
    (tmp_path / "kernel.py").write_text(NUMBA_SAXPY)
    openai_server.script(faults.hang())
    problem = f"{tmp_path / 'problem.py'}"
    args = [
        *("optimize", str(tmp_path / "kernel.py"), "--backend", "numba-sim"),
        *("--reference", f"{problem}:reference", "--inputs", f"{problem}:inputs"),
        *("--session-db", str(tmp_path / "s.sqlite"), "--proposer", "llm"),
        *("--base-url", openai_server.url, "--model", "test-model"),
        *("--rounds", "1", "--candidates", "1", "--json"),
    ]
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    bad = kernelmagic(*args, "--llm-timeout", "0", env=env)
    assert (
        bad.returncode == 2
        and "the LLM timeout (s) must be a finite number more than 0, not 0.0" in bad.stderr
    )
    assert "Traceback" not in bad.stderr
    started = time.monotonic()
    run = kernelmagic(*args, "--llm-timeout", "0.5", "--llm-retries", "0", env=env)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and KEY not in run.stdout + run.stderr
    assert "request 1 of 1 failed: no answer: 0.5 s without a byte of reply" in run.stderr
    assert json.loads(run.stdout)["state"] == "finished"
    assert time.monotonic() - started < 60
    (sent,) = openai_server.chat_requests()
    assert sent.body["stream"] is True


def test_the_magic_passes_the_timeout_and_retries_on():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kernelmagic")
    shell.user_ns.update(ref=saxpy_reference, gen=saxpy_inputs)
    line = "%%cuda_optimize --reference ref --inputs gen --proposer llm"
    for given, problem in (
        ("--llm-timeout 0", "the LLM timeout (s) must be a finite number more than 0, not 0.0"),
        ("--llm-retries -1", "LLM retries must be 0 or more, not -1"),
    ):
        result = shell.run_cell(f"{line} {given}\n{NUMBA_SAXPY}")
        assert isinstance(result.error_in_exec, UsageError)
        assert str(result.error_in_exec) == problem
    shell.run_line_magic("config", "CudaOptimize.llm_timeout = -5.0")
    try:
        result = shell.run_cell(f"{line}\n{NUMBA_SAXPY}")
        assert (
            str(result.error_in_exec)
            == "the LLM timeout (s) must be a finite number more than 0, not -5.0"
        )
    finally:
        shell.run_line_magic("config", "CudaOptimize.llm_timeout = 60.0")
