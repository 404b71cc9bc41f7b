"""The kernel's side of the comm with the JupyterLab extension, and tutorial markdown."""

from __future__ import annotations

import kernelmagic as km
from kernelmagic.candidate import Candidate
from kernelmagic.loop.events import Event, EventFeed
from kernelmagic.loop.records import CandidateRecord
from kernelmagic.loop.session import Session
from kernelmagic.notebook._tutorial import step_markdown
from kernelmagic.notebook.lab import LabBridge


class FakeComm:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.handler = None

    def send(self, data: dict) -> None:
        self.sent.append(data)

    def on_msg(self, handler) -> None:
        self.handler = handler


def reply(bridge_comm: FakeComm, data: dict) -> None:
    bridge_comm.handler({"content": {"data": data}})


def test_requests_go_out_only_after_the_extension_said_hello():
    bridge, comm = LabBridge(), FakeComm()
    bridge._comm = comm
    comm.on_msg(bridge._on_msg)
    got: list = []
    assert not bridge.apply("cell-1", "src", "replace", got.append)  # nobody answered yet
    assert comm.sent == []
    reply(comm, {"type": "hello", "version": "0.1.0"})
    assert bridge.present and bridge.version == "0.1.0"
    assert bridge.apply("cell-1", "def k(): ...", "insert", got.append)
    assert bridge.tutorial("cell-1", "### step", "def k(): ...", got.append)
    first, second = comm.sent
    assert first == {
        "type": "apply",
        "cell_id": "cell-1",
        "source": "def k(): ...",
        "mode": "insert",
        "request": 1,
    }
    assert second["type"] == "tutorial" and second["request"] == 2
    # Replies find their own callbacks, in whatever order they come.
    reply(comm, {"type": "inserted", "request": 2, "ok": True, "cell_ids": ["a", "b"]})
    reply(comm, {"type": "applied", "request": 1, "ok": False, "message": "cell deleted"})
    reply(comm, {"type": "applied", "request": 99, "ok": True})  # unknown: ignored
    assert [r["request"] for r in got] == [2, 1]


def test_outside_a_kernel_there_is_no_bridge():
    bridge = LabBridge()
    bridge.open()  # a plain Python process: no kernel to open a comm in
    assert not bridge.present
    assert not bridge.apply("c", "s", "replace", lambda r: None)


def test_a_tutorial_step_says_what_changed_and_escapes_the_rationale():
    feed = EventFeed()
    session = Session("s1", store_path=":memory:", planned_rounds=1, per_round=1, feed=feed)
    record = CandidateRecord(
        "s1.3", "s1", 3, 2, "llm", Candidate("def k(): ..."), rationale="Use <script> tiles."
    )
    feed.publish(Event("proposed", "s1", 2, candidate=record))
    text = step_markdown(session, record)
    assert text.startswith("### Step: candidate #3 (round 2, llm)")
    assert "&lt;script&gt;" in text and "<script>" not in text


def test_a_tutorial_step_gives_the_comparisons_estimate_and_the_simulator_caveat():
    import numpy as np
    from test_ui import verdict

    from kernelmagic.harness.comparison import estimate
    from kernelmagic.loop.records import Decision

    feed = EventFeed()
    session = Session("s1", store_path=":memory:", planned_rounds=1, per_round=1, feed=feed)
    base = CandidateRecord(
        "s1.0", "s1", 0, 0, "user", Candidate("def k(): ..."),
        verdict=verdict(km.Status.CORRECT, 3.0),
    )  # fmt: skip
    record = CandidateRecord(
        "s1.1", "s1", 1, 1, "llm", Candidate("def k(): pass"), rationale="fewer loads",
        verdict=verdict(km.Status.CORRECT, 1.0),
    )  # fmt: skip
    found = estimate(np.full(24, 3.0), np.ones(24), simulated=True)
    feed.publish(Event("started", "s1", 0, candidate=base))
    feed.publish(Event("evaluated", "s1", 1, candidate=record))
    decision = Decision("s1", 1, "s1.1", "s1.0", True, "loop", "faster", found)
    feed.publish(Event("decision", "s1", 1, decision=decision))
    text = step_markdown(session, record)
    assert f"against the best of its round: {found.describe()}" in text
    assert "screening: 3.00x the original kernel's median" in text
    assert "ranked on the CPU simulator" in text
