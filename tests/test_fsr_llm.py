"""The FSR loop with the `llm` proposer, end to end: the real `openai` client talks to a
scripted OpenAI-compatible server on loopback; candidates run on the CPU simulator."""

from __future__ import annotations

import json
import os

import pytest
from openai_server import Fail, Reply
from problems import NUMBA_SAXPY, saxpy_inputs, saxpy_reference
from test_cli_optimize import base_args, files, kernelmagic  # noqa: F401 (a fixture)
from test_loop import BROKEN, RENAMED, SLOW_SAXPY, WRONG

import kernelmagic as km
from kernelmagic.errors import ProposerError
from kernelmagic.loop.options import LLMOptions, OptimizeOptions
from kernelmagic.start import optimize
from kernelmagic.store import SessionStore

KEY = "sk-test-key-123456"


def fenced(source: str, why: str = "Because it is faster.") -> str:
    return f"{why}\n\n```python\n{source}```\n"


def llm(server, **kw) -> LLMOptions:
    return LLMOptions(model="test-model", base_url=server.url, api_key=KEY, max_retries=1, **kw)


def test_repair_then_optimize_rounds_are_driven_by_feedback(openai_server, pool, tmp_path):
    # Round 1 (repair: the user's kernel does not even parse): prose, a wrong kernel and a
    # slow correct one. Round 2 (optimize, from the slow one): a rate limit, then faster code.
    openai_server.script(
        Reply("I would use shared memory, but I will not show code."),
        Reply(fenced(WRONG, "Subtract instead.")),
        Reply(fenced(SLOW_SAXPY, "Fix the signature.")),
        Fail(429, "slow down", "rate_limit_error", retry_after_s=0.001),
        Reply(fenced(NUMBA_SAXPY, "Drop the redundant loop.")),
        Reply(fenced(RENAMED, "Rename things.")),
    )
    db = tmp_path / "s.sqlite"
    session = optimize(
        BROKEN,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer="llm",
        llm=llm(openai_server),
        backend="numba-sim",
        session_db=db,
        pool=pool,
        options=OptimizeOptions(rounds=2, candidates=3, patience=None),
    )
    assert session.state == "finished"
    # Either loop-free kernel of round 2 (they tie) beats the slow one of round 1.
    assert session.best is not None and session.best.record.round == 2
    assert session.best.source.strip() in (NUMBA_SAXPY.strip(), RENAMED.strip())
    rounds = {c.round: set() for c in session.candidates}
    for c in session.candidates:
        rounds[c.round].add(c.status)
    assert rounds[0] == {km.Status.COMPILE_ERROR}
    assert rounds[1] == {km.Status.WRONG_RESULT, km.Status.CORRECT}
    assert rounds[2] == {km.Status.CORRECT}
    assert [r.mode for r in session.rounds] == ["repair", "optimize"]

    first, *_, last = openai_server.chat_requests()
    first_prompt = first.body["messages"][-1]["content"]
    assert "SyntaxError" in first_prompt and "def saxpy_reference" in first_prompt
    last_prompt = last.body["messages"][-1]["content"]
    assert "wrong_result" in last_prompt  # the failure of round 1 is fed back
    assert "ms" in last_prompt and "Fix the signature" in last_prompt

    stored = SessionStore(db).load(session.id)
    assert len(stored.exchanges) == 6
    # The prose-only reply, and whichever request of round 2 was retried after the 429
    # (its retry found the script used up and got the server's no-code default reply).
    assert sum(1 for _, e in stored.exchanges if e.error) == 2
    assert session.tokens == sum(e.tokens for _, e in stored.exchanges) > 0
    assert stored.meta["model"] == "test-model" and stored.meta["proposer"] == "llm"
    assert stored.meta["base_url"] == openai_server.url
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert KEY.encode() not in raw

    # The whole session replays with no server at all.
    openai_server.stop()
    again = optimize(
        BROKEN,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer="replay",
        replay=session.id,
        backend="numba-sim",
        session_db=db,
        pool=pool,
    )
    assert [c.source for c in again.candidates] == [c.source for c in session.candidates]


def test_a_rejected_key_fails_the_session_clearly_and_keeps_it(openai_server, pool, tmp_path):
    session = optimize(
        NUMBA_SAXPY,
        km.Problem(saxpy_reference, saxpy_inputs),
        proposer="llm",
        llm=LLMOptions(model="test-model", base_url=openai_server.url, api_key="sk-wrong-1234"),
        backend="numba-sim",
        session_db=tmp_path / "s.sqlite",
        pool=pool,
        wait=False,
    )
    with pytest.raises(ProposerError, match="rejected the API key") as err:
        session.wait()
    assert "sk-wrong-1234" not in str(err.value)
    assert session.state == "failed"
    (info,) = SessionStore(tmp_path / "s.sqlite").sessions()
    assert info.state == "failed" and info.best_status == "correct"  # the baseline survives


def test_the_cli_talks_to_an_endpoint_and_keeps_the_key_out(openai_server, files, tmp_path):  # noqa: F811
    openai_server.script(Reply(fenced(NUMBA_SAXPY, "No loop.")))
    db = tmp_path / "s.sqlite"
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    endpoint = ("--proposer", "llm", "--base-url", openai_server.url)
    run = kernelmagic(
        *base_args(files, db),
        *endpoint,
        *("--model", "test-model", "--rounds", "1", "--candidates", "1", "--json"),
        env=env,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["best"]["source"].strip() == NUMBA_SAXPY.strip() and out["tokens"] == 200
    assert KEY not in run.stdout + run.stderr
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert KEY.encode() not in raw

    bad = kernelmagic(*base_args(files, db), *endpoint, "--model", "no-such-model", env=env)
    assert bad.returncode == 2
    assert "no-such-model" in bad.stderr and "Traceback" not in bad.stderr
