"""Tunables of a CUDA C candidate: `// kernelmagic: tune` markers, the launch block written
into the directive, and NVRTC compile options.

A marker is a `//` comment of its own: one inside a `/* ... */` comment, another `//`
comment or a string literal is text. The literal block is left alone when the code reads
that number (a literal, or a `#define`/constant defined as it) or the dynamic shared-memory
size does: ``__shared__ float tile[256]`` or ``__launch_bounds__(256)`` under ``block=256``
is written for one block size, and any other would only give wrong or crashing variants.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from kernelmagic.candidate import Candidate, cuda_directive, cuda_lexer
from kernelmagic.candidate.cuda_directive import FAST_MATH_OPTION, REGISTER_CAP_OPTION
from kernelmagic.errors import CandidateError
from kernelmagic.loop.proposers._tunables_base import (
    EXAMPLE,
    FAST_MATH,
    REGISTER_CAPS,
    REGISTERS,
    Edit,
    Feature,
    Tunable,
    Value,
    block_sizes,
    lines,
    typed_values,
)

_MARKER = re.compile(r"//\s*kernelmagic\s*:\s*tune\b(.*)")
_DEFINE = re.compile(r"\s*#\s*define\s+(?P<name>[A-Za-z_]\w*)\s+\(?\s*(?P<value>[^\s()]+)\s*\)?\s*")
_DECLARATION = re.compile(
    r"\s*[A-Za-z_][\w:<>]*(?:\s+[A-Za-z_][\w:<>]*)*\s+(?P<name>[A-Za-z_]\w*)"
    r"\s*=\s*(?P<value>[^;]+?)\s*;\s*"
)
_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)")
_FLOAT = re.compile(r"([+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)([fFlL]?)")
_TOKEN = re.compile(r"[A-Za-z_]\w*|\b\d(?:'?[\w.])*")


def features(candidate: Candidate) -> list[Feature]:
    """The marked constants, the launch block unless the code is written for it, and the
    compile options the directive does not pin."""
    found = [
        _marker(head, text, number, offset)
        for number, offset, head, text in _markers(candidate.source)
    ]
    try:
        directive = cuda_directive.parse_directive(candidate.source)
    except cuda_directive.DirectiveError as exc:
        raise CandidateError(str(exc)) from None
    block = directive.block or candidate.block
    if block is not None and re.fullmatch(r"\s*[1-9]\d*\s*", block):
        size, shared = int(block), directive.shared or candidate.shared or ""
        if not _reads(candidate.source, size) and size not in map(int, re.findall(r"\d+", shared)):
            found.append(_launch(candidate, size, directive.grid or candidate.grid))
    return found + _option_features(candidate.compile_options, directive.options)


def _markers(source: str) -> Iterator[tuple[int, int, str, str]]:
    """(line number, line offset, the line before the marker, the marker's values)."""
    starts = [offset for _, offset, _ in lines(source)]
    heads = cuda_lexer.mask(source, ["block"])  # /* sizes */ before a value is no part of it
    for at, comment in cuda_lexer.line_comments(source):
        if marker := _MARKER.match(comment):
            index = bisect.bisect_right(starts, at) - 1
            yield index + 1, starts[index], heads[starts[index] : at], marker.group(1)


def _marker(head: str, text: str, number: int, offset: int) -> Feature:
    match = _DEFINE.fullmatch(head) or _DECLARATION.fullmatch(head)
    if match is None:
        raise CandidateError(
            f"line {number}: the tune marker is not on a #define or a constant declaration "
            f"({EXAMPLE})"
        )
    name, literal = match.group("name"), match.group("value")
    parsed = _literal(literal)
    if parsed is None:
        raise CandidateError(
            f"line {number}: {name} = {literal} is not a literal: a tunable constant is an "
            "integer, floating-point or bool literal"
        )
    original, suffix = parsed
    values = []
    for item in text.strip().removeprefix("[").removesuffix("]").split(","):
        value = _literal(item.strip())
        if value is None:
            raise CandidateError(
                f"line {number}: {item.strip()!r} in the tune marker is not a literal "
                "(write e.g. '// kernelmagic: tune 8, 16, 32')"
            )
        values.append(value[0])
    start, end = offset + match.start("value"), offset + match.end("value")

    def render(value: Value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return f"{value!r}{suffix}"  # 16u stays unsigned, 0.5f stays a float

    tunable = Tunable(
        name, typed_values(values, original, number, name), original, f"line {number}"
    )
    return Feature(tunable, lambda value: [(start, end, render(value))], marked=True)


def _literal(text: str) -> tuple[Value, str] | None:
    """(value, suffix) of a C literal: true/false, an integer, a float; None otherwise."""
    if text in ("true", "false"):
        return text == "true", ""
    if match := _INT.fullmatch(text):
        sign, digits, suffix = match.groups()
        octal = len(digits) > 1 and digits[0] == "0"
        value = int(digits, 16 if digits[:2] in ("0x", "0X") else 8 if octal else 10)
        return (-value if sign == "-" else value), suffix
    if (match := _FLOAT.fullmatch(text)) and re.search(r"[.eEfF]", text):
        return float(match.group(1)), match.group(2)
    return None


def _is_int(text: str, size: int) -> bool:
    parsed = _literal(text)
    return parsed is not None and type(parsed[0]) is int and parsed[0] == size


def _reads(source: str, size: int) -> bool:
    """Whether the code reads `size`: an integer literal, or a constant defined as one.

    Shared arrays sized for one block are what this is for; any other read
    (``__launch_bounds__(256)``, ``blockIdx.x * 256``) is as likely tied to the block, so
    it counts too. A constant's own definition is not a read of it."""
    code = cuda_lexer.mask(source, cuda_lexer.NOT_CODE)
    names: set[str] = set()
    definitions: list[tuple[int, int]] = []  # from a constant's name to the end of its value
    for _, offset, line in lines(code):
        match = _DEFINE.fullmatch(line) or _DECLARATION.fullmatch(line)
        if match and _is_int(match.group("value"), size):
            names.add(match.group("name"))
            definitions.append((offset + match.start("name"), offset + match.end("value")))
    for token in _TOKEN.finditer(code):
        if any(start <= token.start() < end for start, end in definitions):
            continue
        if token.group() in names or _is_int(token.group(), size):
            return True
    return False


def _launch(candidate: Candidate, old: int, grid: str | None) -> Feature:
    def edits(value: int) -> list[Edit]:
        def follow(match: re.Match[str]) -> str:
            number = int(match.group())
            return str(value + number - old) if number in (old, old - 1) else match.group()

        new_grid = re.sub(r"\b\d+\b", follow, grid or "")
        new = {"grid": new_grid} if grid and new_grid != grid else {}
        return _directive_edits(candidate.source, {**new, "block": str(value)})

    return Feature(Tunable("block", block_sizes(old), old, "the launch block"), edits)


def _directive_edits(source: str, new: dict[str, str]) -> list[Edit]:
    """Set `new` keys in the directive: in the last line that sets each, else in a new
    first line (the directive's lines merge, later keys winning)."""
    spans = {
        item.key: (item.start, item.end)
        for item in cuda_directive.directive_items(source)
        if item.value is not None and item.key in new
    }
    edits = [(*spans[key], text) for key, text in new.items() if key in spans]
    added = "; ".join(f"{key}={text}" for key, text in new.items() if key not in spans)
    return [*edits, (0, 0, f"// kernelmagic: {added}\n")] if added else edits


def _option_features(own: tuple[str, ...], pinned: tuple[str, ...]) -> list[Feature]:
    """-use_fast_math and -maxrregcount, unless the directive's options pin them."""
    features = []
    if not any(FAST_MATH_OPTION.fullmatch(o) for o in pinned):

        def fast_math(options: tuple[str, ...], value: bool) -> tuple[str, ...]:
            kept = tuple(o for o in options if not FAST_MATH_OPTION.fullmatch(o))
            return (*kept, FAST_MATH) if value else kept

        on = any(FAST_MATH_OPTION.fullmatch(o) for o in own)
        features.append(
            Feature(Tunable(FAST_MATH, (False, True), on, "compile options"), options=fast_math)
        )
    if not any(REGISTER_CAP_OPTION.fullmatch(o) for o in pinned):

        def registers(options: tuple[str, ...], value: int | None) -> tuple[str, ...]:
            kept = tuple(o for o in options if not REGISTER_CAP_OPTION.fullmatch(o))
            return kept if value is None else (*kept, f"{REGISTERS}={value}")

        caps = [int(m.group(1)) for o in own if (m := REGISTER_CAP_OPTION.fullmatch(o))]
        original = caps[-1] if caps else None
        values = (None, *sorted({c for c in (*REGISTER_CAPS, original) if c is not None}))
        features.append(
            Feature(Tunable(REGISTERS, values, original, "compile options"), options=registers)
        )
    return features
