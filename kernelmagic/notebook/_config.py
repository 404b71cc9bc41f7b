"""The magic's configurable defaults, generated from the option spec.

Each option the spec marks `config` is a trait of `CudaOptimize` with the option's default
(``%config CudaOptimize.rounds = 8``); in a cell, an option given wins over the trait.
"""

from __future__ import annotations

import argparse
from typing import Any

from traitlets import Bool, Enum, Float, Int, TraitType, Unicode

from kernelmagic._option import Option
from kernelmagic._options import options_for


def config_traits() -> dict[str, TraitType[Any, Any]]:
    """One configurable trait per `config` option, named by its `dest`."""
    return {option.dest: _trait(option).tag(config=True) for option in options_for("config")}


def _trait(option: Option) -> TraitType[Any, Any]:
    # Keywords as a dict: whether None is allowed is known only here, not to the type checker.
    fields: dict[str, Any] = {
        "allow_none": option.default is None,
        "help": option.help or option.doc or "",
    }
    if option.choices is not None:
        return Enum(option.choices, option.default, **fields)
    if option.action == "store_true":
        return Bool(option.default, help=fields["help"])
    if option.type is int:
        return Int(option.default, **fields)
    if option.type is float:
        return Float(option.default, **fields)
    return Unicode(option.default, **fields)


def with_config(values: argparse.Namespace, magic: Any) -> argparse.Namespace:
    """`values` with every trait filled in where the cell gave no value (parsed as None)."""
    merged = argparse.Namespace(**vars(values))
    for option in options_for("config"):
        if getattr(merged, option.dest, None) is None:
            setattr(merged, option.dest, getattr(magic, option.dest))
    return merged
