"""Parsers and the docs table, generated from the option spec (`_options.OPTIONS`).

`add_arguments` fills an argparse parser for one scope: a `kernelmagic` command, or a
magic (IPython's magic parsers are argparse parsers). In a magic, an option that is also a
trait is parsed as None when not given, so the trait (`%config CudaOptimize...`) fills it.
`python -m kernelmagic._option_build docs/options.md` rewrites the docs table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kernelmagic._option import Option, Scope
from kernelmagic._options import OPTIONS, options_for

BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"
_MAGICS: tuple[Scope, ...] = ("magic", "magic_export")
_SCOPE_NAMES: dict[Scope, str] = {
    "check": "`check`",
    "optimize": "`optimize`",
    "sessions": "`sessions`",
    "export": "`export`",
    "magic": "`%%cuda_optimize`",
    "magic_export": "`%cuda_optimize_export`",
}


def add_arguments(parser: argparse.ArgumentParser, scope: Scope) -> None:
    """Add the options of `scope` to `parser`, in spec order, under their headings."""
    groups: dict[str, Any] = {}
    for option in options_for(scope):
        if not option.flags:
            continue  # a trait alone
        target: Any = parser
        if option.group is not None:
            if option.group not in groups:
                groups[option.group] = parser.add_argument_group(option.group)
            target = groups[option.group]
        target.add_argument(*option.flags, **argument_fields(option, scope))


def argument_fields(option: Option, scope: Scope) -> dict[str, Any]:
    """`add_argument`'s keywords for `option` in `scope`."""
    fields: dict[str, Any] = {"help": option.help, "default": parsed_default(option, scope)}
    if option.action != "store":
        fields["action"] = option.action
    if option.action != "store_true":
        fields["metavar"] = option.metavar
    if option.action == "store":
        fields["choices"] = option.choices
        if option.type is not str:
            fields["type"] = option.type
    if option.positional:
        fields["nargs"] = None if scope in option.required_in else "?"
    else:
        fields["required"] = scope in option.required_in
    return fields


def parsed_default(option: Option, scope: Scope) -> Any:
    """What the parser holds when `option` is not given in `scope`."""
    if scope in _MAGICS and "config" in option.where:
        return None  # the trait's value, filled in by the magic
    if option.action == "append":
        return list(option.default)
    return option.default


def markdown_table() -> str:
    """Every option as one Markdown table: how to write it, what it means, its default, where."""
    lines = ["| option | meaning | default | where |", "|---|---|---|---|"]
    for option in OPTIONS:
        cells = (_spelling(option), option.doc or option.help or "", _default(option))
        escaped = (cell.replace("|", "\\|") for cell in (*cells, _where(option)))
        lines.append("| " + " | ".join(escaped) + " |")
    return "\n".join(lines)


def _spelling(option: Option) -> str:
    if not option.flags:
        return f"`{option.dest}` (a trait only)"
    value = option.metavar
    if value is None and option.choices:
        value = "|".join(option.choices)
    elif value is None and option.action != "store_true" and not option.positional:
        value = option.dest.upper()
    if option.positional:
        return f"`{value or option.dest}`"
    *short, long = option.flags
    return ", ".join(
        [*(f"`{flag}`" for flag in short), f"`{long} {value}`" if value else f"`{long}`"]
    )


def _default(option: Option) -> str:
    if option.default_doc is not None:
        return option.default_doc
    if option.default in (None, False, ()):
        return ""
    if isinstance(option.default, float):
        return f"{option.default:g}"
    return f"`{option.default}`" if isinstance(option.default, str) else str(option.default)


def _where(option: Option) -> str:
    names = []
    for scope, name in _SCOPE_NAMES.items():
        if scope in option.where:
            names.append(name + (" (required)" if scope in option.required_in else ""))
    if "config" in option.where:
        names.append(f"trait `{option.dest}`")
    return ", ".join(names)


def rewrite_docs(path: Path) -> bool:
    """Put the current table between the markers in `path`; True when it changed."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{markdown_table()}\n{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {'rewritten' if rewrite_docs(Path(name)) else 'up to date'}")
