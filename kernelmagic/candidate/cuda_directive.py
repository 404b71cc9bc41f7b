"""How a CUDA C source says to launch and compile itself: the `// kernelmagic:` directive
and the compile options it (or the candidate) may give.

The one directive reader: the harness launches what `parse_directive` reads, and the
tunables finder edits the spans `directive_items` gives, so a search can only change a
setting the harness will read. Options are checked here because an option can read files
into the compile: an `-I` would pull a file of this machine into it and its log back to
the user (or LLM).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence


class DirectiveError(ValueError):
    """A `// kernelmagic:` line cannot be read."""


@dataclasses.dataclass(frozen=True)
class Directive:
    """Launch settings read from `// kernelmagic:` comment lines; None where not given."""

    grid: str | None = None
    block: str | None = None
    shared: str | None = None
    kernel: str | None = None
    options: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class DirectiveItem:
    """One `key=value` of a directive line as written (`value` None: it has no '=');
    `start:end` spans the value, stripped, in the source."""

    line: int
    text: str
    key: str
    value: str | None
    start: int
    end: int


_DIRECTIVE = re.compile(r"\s*//\s*kernelmagic\s*:(.*)")
_FIELDS = tuple(field.name for field in dataclasses.fields(Directive))


def is_directive(line: str) -> bool:
    """Whether `line` is a `// kernelmagic:` line (the one rule the parser reads them by)."""
    return _DIRECTIVE.match(line) is not None


def directive_items(source: str) -> Iterator[DirectiveItem]:
    """The non-blank items of every `// kernelmagic:` line, in source order."""
    offset = 0
    for number, (line, whole) in enumerate(
        zip(source.splitlines(), source.splitlines(keepends=True), strict=True), start=1
    ):
        match = _DIRECTIVE.match(line)
        at = offset + match.start(1) if match else 0
        offset += len(whole)
        for item in match.group(1).split(";") if match else ():
            key, sep, value = item.partition("=")
            start = at + len(key) + len(sep) + len(value) - len(value.lstrip())
            at += len(item) + 1
            if item.strip():
                yield DirectiveItem(
                    number, item.strip(), key.strip(), value.strip() if sep else None,
                    start, start + len(value.strip()),
                )  # fmt: skip


def parse_directive(source: str) -> Directive:
    """Merge the `// kernelmagic: key=value; ...` lines of `source` (later keys win).

    Keys: grid, block, shared, kernel, options (whitespace-separated compile options).
    """
    keys = ", ".join(sorted(_FIELDS))
    values: dict[str, object] = {}
    for item in directive_items(source):
        if item.value is None:
            raise DirectiveError(
                f"line {item.line}: {item.text!r} in the kernelmagic directive has no '='"
                f" (expected key=value; keys: {keys})"
            )
        if item.key not in _FIELDS:
            raise DirectiveError(
                f"line {item.line}: unknown key {item.key!r} in the kernelmagic directive"
                f" (keys: {keys})"
            )
        if not item.value:
            raise DirectiveError(f"line {item.line}: {item.key!r} has an empty value")
        values[item.key] = tuple(item.value.split()) if item.key == "options" else item.value
    return Directive(**values)  # type: ignore[arg-type]


# The two options the tunables search switches, spelled once for it and for the check.
_FAST_MATH = r"--?use_fast_math"
_REGISTER_CAP = r"--?maxrregcount="
FAST_MATH_OPTION = re.compile(_FAST_MATH)
REGISTER_CAP_OPTION = re.compile(_REGISTER_CAP + r"(\d+)")  # group 1: the cap

_ALLOWED_OPTIONS = re.compile(
    rf"""{_FAST_MATH}
      | {_REGISTER_CAP}\d{{1,3}}
      | --?(?:ftz|prec-div|prec-sqrt|fmad)=(?:true|false)
      | --?extra-device-vectorization
      | -lineinfo | --generate-line-info
      | (?:-D|--define-macro=)[A-Za-z_]\w*(?:=[\w.+-]*)?
      | --?std=c\+\+(?:17|20)
      | --?default-device
      | --?restrict
      | (?:-Xptxas=|--ptxas-options=)-O[0-3]""",
    re.X,
)
_OPTION_HINTS = (
    (re.compile(r"-I|--include-path|-include|--pre-include|-isystem"),
     "it would read files of this machine into the compile"),
    (re.compile(r"-arch|--gpu-architecture|-code"), "the harness picks the architecture"),
    (re.compile(r"-O\d"), "NVRTC has no -O option; use -Xptxas=-O3"),
    (re.compile(r"-G$|--device-debug"), "debug builds would distort the timings"),
)  # fmt: skip


def check_options(options: Sequence[str]) -> list[str]:
    """Problems with user compile options, one message each; [] when all are allowed.

    Only options that tune code generation pass: fast math, register caps, precision
    switches, -D macros, the C++ standard (17 or 20) and the ptxas optimization level.
    """
    problems = []
    for option in options:
        if isinstance(option, str) and _ALLOWED_OPTIONS.fullmatch(option):
            continue
        hint = next(
            (why for pattern, why in _OPTION_HINTS if pattern.match(str(option))),
            "only code-generation options (fast math, -maxrregcount, -ftz, -prec-*, -fmad,"
            " -D, -std, -Xptxas=-O) are allowed",
        )
        problems.append(f"compile option {option!r} is not allowed: {hint}")
    return problems
