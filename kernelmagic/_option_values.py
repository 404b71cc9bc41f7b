"""The options objects built from parsed options, the same way for the CLI and the magic.

Each takes the parsed values (an `argparse.Namespace` whose names are the spec's `dest`s)
and builds the frozen options the harness, the loop and the LLM proposer take; where to
find the reference and the inputs (a file, the notebook) is left to the caller.
"""

from __future__ import annotations

import argparse
from typing import Any

from kernelmagic.harness.options import ClusterOptions, HarnessOptions, TimingOptions
from kernelmagic.loop.options import LLMOptions, OptimizeOptions


def problem_fields(values: argparse.Namespace) -> dict[str, Any]:
    """`Problem`'s fields other than its functions: cases, tolerances, the roofline's work,
    the stated sizes."""
    return {
        "cases": values.cases,
        "atol": values.atol,
        "rtol": values.rtol,
        "bytes_moved": values.bytes,
        "flops": values.flops,
        "allowed_imports": tuple(values.allow_import),
        "sizes": tuple(values.sizes or ()),  # a list once resumed from the store
    }


def launch_options(values: argparse.Namespace) -> dict[str, Any]:
    """The launch settings of a candidate: `Candidate.from_file`'s or `from_source`'s keywords."""
    return {
        "entry": values.entry,
        "kernel": values.kernel,
        "grid": values.grid,
        "block": values.block,
        "shared": values.shared,
        "compile_options": tuple(values.option),
    }


def harness_options(values: argparse.Namespace) -> HarnessOptions:
    """Where and how long candidates run."""
    return HarnessOptions(
        timeout_s=values.timeout,
        arch=values.arch,
        timing=TimingOptions(budget_ms=values.timing_budget_ms),
        cluster=ClusterOptions(
            scheduler_address=values.scheduler,
            sim_workers=values.sim_workers,
            sandbox=values.sandbox,
        ),
    )


def optimize_options(values: argparse.Namespace) -> OptimizeOptions:
    """The loop's budgets and what it tells the proposer."""
    return OptimizeOptions(
        rounds=values.rounds,
        candidates=values.candidates,
        patience=values.patience,
        time_budget_s=values.time_budget,
        max_tokens=values.max_tokens,
        target=values.target,
        task=values.task or "",
    )


def llm_options(values: argparse.Namespace) -> LLMOptions:
    """The LLM endpoint and how to ask it; an option left out keeps `LLMOptions`' default.

    Always built: `proposers.choose` decides whether the llm proposer is the one used.
    """
    fields: dict[str, Any] = {"model": values.model, "base_url": values.base_url}
    chosen = {
        "temperature": values.temperature,
        "request_timeout_s": values.llm_timeout,
        "max_retries": values.llm_retries,
    }
    fields.update((k, v) for k, v in chosen.items() if v is not None)
    return LLMOptions(**fields)
