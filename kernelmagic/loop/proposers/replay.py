"""The `replay` proposer: an earlier session's proposals again, round by round.

No endpoint and no key: this is how a shared tutorial re-runs for a reader and how tests
drive the loop deterministically. Round r gets exactly the candidates recorded for round
r, whatever the feedback or the per-round cap; the harness judges them afresh here.
"""

from __future__ import annotations

import dataclasses

from kernelmagic.loop.proposal import Proposal, ProposerReply, RoundRequest
from kernelmagic.loop.records import Recorded


class ReplayProposer:
    """Proposes what `recorded` proposed, in the same rounds and order."""

    name = "replay"

    def __init__(self, recorded: Recorded) -> None:
        self.recorded = recorded
        self._by_round: dict[int, list[Proposal]] = {}
        for c in recorded.candidates:
            if c.round > 0:
                self._by_round.setdefault(c.round, []).append(
                    Proposal(
                        candidate=c.candidate,
                        origin="replay",
                        rationale=c.rationale,
                        params=c.params,
                        seeds=(c.verdict.seeds or None) if c.verdict else None,
                    )
                )
        self.last_round = max(self._by_round, default=0)
        self.widest_round = max((len(p) for p in self._by_round.values()), default=1)

    def propose(self, request: RoundRequest) -> ProposerReply:
        parent = request.best.id if request.best else request.baseline.id
        proposals = tuple(
            dataclasses.replace(p, parent=parent) for p in self._by_round.get(request.round, [])
        )
        notes: tuple[str, ...] = ()
        if len(proposals) > request.k:
            notes = (
                f"round {request.round} recorded {len(proposals)} candidates; "
                f"--candidates {request.k} keeps the first {request.k}",
            )
        return ProposerReply(proposals, notes=notes, exhausted=request.round >= self.last_round)
