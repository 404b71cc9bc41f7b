"""`optimize()`: set up a session (new or resumed) and run its loop, here or in a thread.

The start-up code (the composition root) is the one place that puts the stages together:
it opens the SQLite `SessionStore`, reads a session to replay, creates (or reopens) the
session's row, and hands the loop its `Storage` on the store. The loop never names the
store; the magic and the command line start sessions only through here.
"""

from __future__ import annotations

import contextvars
import dataclasses
import os
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from kernelmagic import _redact as redact
from kernelmagic.candidate import Candidate
from kernelmagic.candidate.naming import tuned_function
from kernelmagic.errors import OptionError
from kernelmagic.harness.cluster import WorkerPool
from kernelmagic.harness.devices import DeviceInfo, profile
from kernelmagic.harness.evaluate import Harness
from kernelmagic.harness.options import HarnessOptions
from kernelmagic.loop import proposers
from kernelmagic.loop.brief import make_brief
from kernelmagic.loop.engine import Approver, Loop
from kernelmagic.loop.fingerprint import evaluation_key, problem_key
from kernelmagic.loop.options import LLMOptions, OptimizeOptions
from kernelmagic.loop.proposal import Proposer
from kernelmagic.loop.proposers.replay import ReplayProposer
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.problem import Problem, tuning_title
from kernelmagic.problem.source import capture
from kernelmagic.start._storage import SqliteStorage
from kernelmagic.store import SessionStore, StoredSession
from kernelmagic.store.recorded import recorded


def optimize(
    candidate: Candidate | str | os.PathLike[str] | None,
    problem: Problem,
    *,
    proposer: str | Proposer = "auto",
    backend: str = "auto",
    options: OptimizeOptions | None = None,
    llm: LLMOptions | None = None,
    replay: str | StoredSession | None = None,
    session_db: str | os.PathLike[str] | SessionStore | None = None,
    harness_options: HarnessOptions | None = None,
    approve: Approver | None = None,
    resume: str | None = None,
    wait: bool = True,
    pool: WorkerPool | None = None,
    rerun: Mapping[str, Any] | None = None,
) -> Session:
    """Tune `candidate` against `problem`; returns the session (finished, unless `wait=False`).

    `proposer` is ``auto`` (an LLM where an endpoint is configured, else ``search``),
    ``llm``, ``search``, ``replay`` (with `replay` naming a stored session or a session
    file) or a `Proposer`. `approve(challenge) -> bool` vets each round's new best.
    `resume` takes up a stored session where it stopped (`candidate` may then be None).
    With `wait=False` the loop runs in a background thread: follow `session.events()`.
    """
    store = (
        session_db
        if isinstance(session_db, SessionStore)
        else SessionStore(session_db, create=resume is None)  # a resume needs its database
    )
    harness = Harness(
        problem, backend=backend, options=harness_options or HarnessOptions(), pool=pool
    )
    # The workers start while the problem is drawn; a round's candidates are judged at once.
    harness.start_workers((options or OptimizeOptions()).candidates)
    harness.cases  # noqa: B018 - a broken reference or generator fails here, before any session
    key = problem_key(problem, harness.identity_cases)
    stored: StoredSession | None = None
    if resume is not None:
        stored = store.load(store.resolve(resume))
        if stored.meta["problem_key"] != key:
            raise OptionError(
                f"session {stored.info.id} was tuning a different problem (its reference, "
                "inputs or tolerances changed): start a new session instead"
            )
        base = next(c for c in stored.candidates if c.id == stored.meta["baseline_id"])
        first = base.candidate
        if candidate is not None and as_candidate(candidate).source.strip() != first.source.strip():
            raise OptionError(
                f"session {stored.info.id} started from another kernel: leave the kernel out "
                "to continue the stored one, or start a new session without resume"
            )
        saved = dict(stored.meta["options"] or {})
        replay = replay or saved.pop("replay", None)
        llm = _stored_endpoint(llm, stored)
        if options is None:
            fields = {f.name for f in dataclasses.fields(OptimizeOptions)}
            options = OptimizeOptions(**{k: v for k, v in saved.items() if k in fields})
    elif candidate is None:
        raise OptionError("give a candidate kernel to tune (or resume= a stored session)")
    else:
        first = as_candidate(candidate)
    options = options or OptimizeOptions()
    if stored is not None and isinstance(proposer, str) and proposer == "auto":
        proposer = stored.meta["proposer"]
    if isinstance(proposer, str):
        name = proposers.choose(proposer, llm, replay=replay)
        session = recorded(replay, store) if name == "replay" and replay else None
        proposer = proposers.make(name, llm=llm, replay=session)
    if isinstance(proposer, ReplayProposer):
        options = dataclasses.replace(
            options,
            patience=None,
            rounds=proposer.last_round if options.rounds is None else options.rounds,
            candidates=max(options.candidates, proposer.widest_round),
        )
    device = harness.device_info(first)
    arch = harness.options.arch or "sm_90"
    label = device.describe() if device else f"no GPU (compiled for {arch})"
    brief = make_brief(problem, harness.cases, task=options.task)
    session_id = stored.info.id if stored else uuid.uuid4().hex[:12]
    resolved_llm = getattr(proposer, "options", llm)  # the llm proposer's, with the env's key
    redact.remember(getattr(resolved_llm, "api_key", None))
    store.add_secret(getattr(resolved_llm, "api_key", None))
    if stored is None:
        store.create_session(
            session_id,
            title=tuning_title(problem.title, tuned_function(first)),
            problem_key=key,
            problem_json=dataclasses.asdict(brief),
            backend=backend,
            device=label,
            device_json=dataclasses.asdict(device) if device else None,
            proposer=proposer.name,
            model=getattr(proposer, "model", None),
            base_url=getattr(proposer, "url", None),
            options_json={**dataclasses.asdict(options), "replay": _replay_ref(replay)},
            # How to define the problem again elsewhere: what a tutorial export needs.
            rerun_json={**(rerun or {}), "problem_code": capture(problem).to_dict()},
        )
    else:
        store.update_session(session_id, state="running", stop_reason="")
    loop = Loop(
        session_id,
        storage=SqliteStorage(
            store, lambda rec: evaluation_key(rec.candidate, key, harness.backend, label)
        ),
        store_path=str(store.path),
        harness=harness,
        proposer=proposer,
        options=options,
        brief_device=_described_target(harness, device, options.target),
        device_label=label,
        brief=brief,
        resumed=stored,
        approve=approve,
    )
    baseline = CandidateRecord(
        id=f"{session_id}.0", session=session_id, seq=0, round=0, origin="user", candidate=first
    )
    if wait:
        loop.run(baseline)
        return loop.session.wait()
    # The loop runs in a copy of the caller's context: in a notebook kernel that carries
    # the cell's parent header, so whatever the loop displays lands in the calling cell.
    thread = threading.Thread(
        target=contextvars.copy_context().run,
        args=(loop.run, baseline),
        name=f"kernelmagic-{session_id}",
        daemon=True,
    )
    thread.start()
    return loop.session


def as_candidate(value: Candidate | str | os.PathLike[str]) -> Candidate:
    """A `Candidate` from a candidate, source text, or a path (`os.PathLike`)."""
    if isinstance(value, Candidate):
        return value
    if isinstance(value, os.PathLike):
        return Candidate.from_file(value)
    return Candidate.from_source(value)


def _described_target(
    harness: Harness, candidate_device: DeviceInfo | None, target: str | None
) -> DeviceInfo:
    """The GPU described to proposers: the real one, else a named profile."""
    if candidate_device is not None and not candidate_device.simulated:
        return candidate_device
    return profile(target or harness.options.arch or "h100")


def _stored_endpoint(llm: LLMOptions | None, stored: StoredSession) -> LLMOptions | None:
    """The LLM options of a resumed session: the endpoint and model it was started with
    wherever the caller names none (never $OPENAI_BASE_URL's: the key goes nowhere else)."""
    if stored.meta.get("proposer") != "llm":
        return llm
    given = llm or LLMOptions()
    return dataclasses.replace(
        given,
        base_url=given.base_url or stored.meta.get("base_url"),
        model=given.model or stored.meta.get("model"),
    )


def _replay_ref(replay: str | StoredSession | None) -> str | None:
    """How the options name the replayed session: a recorded one given as data by its id."""
    return replay.info.id if isinstance(replay, StoredSession) else replay
