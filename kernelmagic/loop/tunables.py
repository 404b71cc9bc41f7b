"""A candidate's tunable features, found in its source and rewritten: what `search` searches.

A constant is tunable when a marker comment lists the values to try (its own value is
always one of them; every value is a literal of the constant's type):

    BLOCK = 128  # kernelmagic: tune 64, 128, 256           Python (also `tune [64, 128]`)
    #define TILE 16 // kernelmagic: tune 8, 16, 32          CUDA C
    constexpr int TILE = 16; // kernelmagic: tune 8, 16, 32 CUDA C (also const int,
                                                            static constexpr, float...)

Python markers sit on an assignment of an int, float or bool literal to a plain name, at
module level or in a function. A marker that cannot be followed (values that are not
literals or not of the constant's type, no constant on its line, a name marked twice)
raises `CandidateError` naming the line: searching without it would quietly ignore what
the user asked for.

Found without a marker, and searched over the powers of two 32..1024 (plus the original):

* the block size of a numba launch ``kernel[blocks, threads](...)`` in a host function,
  when it is an int literal or a name bound once to one, in the function or the module
  (``threads = 256``). Literals equal to the block size, or to one less, in the grid
  expression (or in the one assignment of the grid's name) change with it, so that
  ``(n + 255) // 256`` stays a ceiling division;
* the block size of CUDA C, from the ``// kernelmagic: grid=...; block=...`` directive or
  the candidate's `block`, when it is an integer literal; the grid expression changes
  with it by the same rule (``cdiv(n, 256)``). New values go into the directive, which
  the harness prefers over the candidate's fields, so the source carries its launch
  wherever it is copied;
* CUDA C compile options: ``-use_fast_math`` on or off and a ``-maxrregcount`` cap (none,
  32, 64, 128), merged with the candidate's own compile options. An option set in the
  source's directive is the author's fixed choice and is not searched.

`apply` with the original values returns the candidate unchanged, byte for byte.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import math
import re
import tokenize
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .. import cuda_source, safety
from ..candidate import Candidate
from ..errors import CandidateError

Value = int | float | bool | None

BLOCK_SIZES = (32, 64, 128, 256, 512, 1024)
REGISTER_CAPS: tuple[int | None, ...] = (None, 32, 64, 128)
FAST_MATH = "-use_fast_math"  # option tunables are named as flags: no identifier collides
REGISTERS = "-maxrregcount"
EXAMPLE = (
    "mark a constant tunable with the values to try, e.g. "
    "`BLOCK = 128  # kernelmagic: tune 64, 128, 256` (Python) or "
    "`#define TILE 16 // kernelmagic: tune 8, 16, 32` (CUDA C)"
)


@dataclasses.dataclass(frozen=True)
class Tunable:
    """One searchable feature: its name and the values to try, the original among them."""

    name: str
    values: tuple[Value, ...]
    original: Value
    where: str  # for people: "line 12", "the launch of saxpy_kernel (line 14)"


_Edit = tuple[int, int, str]  # replace source[start:end] with the text


@dataclasses.dataclass(frozen=True)
class _Feature:
    """A tunable and how to write a value of it: source edits, compile options, or both."""

    tunable: Tunable
    edits: Callable[[Any], list[_Edit]] = lambda value: []
    options: Callable[[tuple[str, ...], Any], tuple[str, ...]] | None = None
    marked: bool = False  # by the user, with a marker comment


def find(candidate: Candidate) -> tuple[Tunable, ...]:
    """The candidate's tunable features; raises CandidateError for a marker it cannot follow."""
    return tuple(feature.tunable for feature in _features(candidate))


def apply(candidate: Candidate, params: Mapping[str, Any]) -> Candidate:
    """The candidate with `params` written in; tunables not named keep their values."""
    features = _features(candidate)
    unknown = sorted(set(params) - {f.tunable.name for f in features})
    if unknown:
        raise ValueError(f"no tunable named {', '.join(unknown)} in the candidate")
    edits: list[_Edit] = []
    options = candidate.compile_options
    for feature in features:
        tunable = feature.tunable
        wanted = params.get(tunable.name, tunable.original)
        matches = [v for v in tunable.values if v == wanted]  # as the tunable's own type
        if not matches:
            raise ValueError(f"{wanted!r} is not a value of {tunable.name} {tunable.values}")
        if matches[0] == tunable.original:
            continue  # untouched, so the original values give the original bytes
        edits += feature.edits(matches[0])
        if feature.options is not None:
            options = feature.options(options, matches[0])
    source = candidate.source
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    if source == candidate.source and options == candidate.compile_options:
        return candidate
    return dataclasses.replace(candidate, source=source, compile_options=options)


def describe(tunable: Tunable, value: Value) -> str:
    """A value as people write it: "threads=128", "-use_fast_math", "no -maxrregcount"."""
    if tunable.name == FAST_MATH:
        return FAST_MATH if value else f"no {FAST_MATH}"
    if tunable.name == REGISTERS and value is None:
        return f"no {REGISTERS}"
    return f"{tunable.name}={value}"


def _features(candidate: Candidate) -> list[_Feature]:
    found = _cuda_features(candidate) if candidate.kind == "cuda_c" else _python_features(candidate)
    marked: dict[str, str] = {}
    for tunable in (f.tunable for f in found if f.marked):
        if tunable.name in marked:
            also = marked[tunable.name]
            raise CandidateError(f"{tunable.where}: {tunable.name} is marked twice (also {also})")
        marked[tunable.name] = tunable.where
    unique: list[_Feature] = []
    for feature in found:  # an unmarked feature yields its name to a marked one: "block_2"
        name, n = feature.tunable.name, 1
        while name in {u.tunable.name for u in unique} or (not feature.marked and name in marked):
            n += 1
            name = f"{feature.tunable.name}_{n}"
        unique.append(
            dataclasses.replace(feature, tunable=dataclasses.replace(feature.tunable, name=name))
        )
    return unique


def _typed(values: Sequence[Value], original: Value, line: int, name: str) -> tuple[Value, ...]:
    """Marker values as the constant's type, without repeats, the original included."""
    kind = type(original)
    out: list[Value] = []
    for value in values:
        value = float(value) if kind is float and type(value) is int else value
        if type(value) is not kind:
            kinds = {bool: "a bool", int: "an int", float: "a float"}
            raise CandidateError(
                f"line {line}: {name} is {kinds[kind]} but the tune marker lists {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise CandidateError(f"line {line}: {value!r} in the tune marker is not finite")
        out += [] if value in out else [value]
    return (*out, original) if original not in out else tuple(out)


def _sizes(original: int) -> tuple[Value, ...]:
    return tuple(sorted({*BLOCK_SIZES, original}))


def _lines(source: str) -> Iterator[tuple[int, int, str]]:
    """(number, offset, text without its end) of each line."""
    offset = 0
    for number, line in enumerate(re.split(r"(?<=\r\n)|(?<=\n)|(?<=\r)(?!\n)", source), 1):
        yield number, offset, line.rstrip("\r\n")
        offset += len(line)


# -- Python ------------------------------------------------------------------------------

_PY_MARKER = re.compile(r"#\s*kernelmagic\s*:\s*tune\b(.*)$")


def _python_features(candidate: Candidate) -> list[_Feature]:
    try:
        tree = ast.parse(candidate.source)
    except SyntaxError as exc:
        raise CandidateError(
            f"line {exc.lineno}: SyntaxError: {exc.msg} (tunables are read from the source)"
        ) from None
    starts = {number: offset for number, offset, _ in _lines(candidate.source)}

    def offset(line: int, col: int) -> int:  # ast's columns count UTF-8 bytes
        return starts[line] + len(candidate.source[starts[line] :].encode()[:col].decode())

    def span(node: ast.expr) -> tuple[int, int]:
        end = (node.end_lineno or node.lineno, node.end_col_offset or node.col_offset)
        return offset(node.lineno, node.col_offset), offset(*end)

    tokens = tokenize.generate_tokens(io.StringIO(candidate.source).readline)
    markers = [
        (token.start[0], match.group(1))
        for token in tokens
        if token.type == tokenize.COMMENT and (match := _PY_MARKER.match(token.string))
    ]
    marked = [_python_marker(line, text, tree, span) for line, text in markers]
    claimed = {id(node) for _, node in marked}
    return [feature for feature, _ in marked] + _launches(candidate, tree, span, claimed)


def _python_marker(
    line: int, text: str, tree: ast.Module, span: Callable[[ast.expr], tuple[int, int]]
) -> tuple[_Feature, ast.expr]:
    """The feature a marker on `line` makes of the assignment that ends there."""
    ends = [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.end_lineno == line
    ]
    node = max(ends, key=lambda n: n.col_offset, default=None)
    targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
    value_node = getattr(node, "value", None)
    if value_node is None or len(targets) != 1 or not isinstance(targets[0], ast.Name):
        raise CandidateError(
            f"line {line}: the tune marker is not on an assignment to one name ({EXAMPLE})"
        )
    name = targets[0].id
    original = _py_literal(value_node)
    if original is None:
        raise CandidateError(
            f"line {line}: {name} = {ast.unparse(value_node)} is not a literal: a tunable "
            "constant is an int, float or bool literal"
        )
    inner = text.strip()
    inner = inner[1:-1] if inner.startswith("[") and inner.endswith("]") else inner
    try:
        parsed = ast.parse(f"({inner},)", mode="eval").body if inner.strip() else None
    except SyntaxError:
        parsed = None
    elements = parsed.elts if isinstance(parsed, ast.Tuple) else []
    if not elements:
        raise CandidateError(
            f"line {line}: cannot read the values {text.strip()!r} of the tune marker "
            "(write e.g. '# kernelmagic: tune 64, 128, 256')"
        )
    values = [_py_literal(element) for element in elements]
    for element, value in zip(elements, values, strict=True):
        if value is None:
            raise CandidateError(
                f"line {line}: {ast.unparse(element)!r} in the tune marker is not a literal"
            )
    tunable = Tunable(name, _typed(values, original, line, name), original, f"line {line}")
    start, end = span(value_node)
    return _Feature(tunable, lambda v: [(start, end, repr(v))], marked=True), value_node


def _py_literal(node: ast.expr) -> Value:
    """The int, float or bool a literal spells (a sign allowed on numbers), else None."""
    negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
    if negative or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd)):
        node = node.operand  # type: ignore[attr-defined]
        if isinstance(node, ast.Constant) and type(node.value) is bool:
            return None
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, (int, float)):  # bools too
        return -value if negative else value
    return None


def _launches(
    candidate: Candidate,
    tree: ast.Module,
    span: Callable[[ast.expr], tuple[int, int]],
    claimed: set[int],
) -> list[_Feature]:
    """One feature per block-size literal of the numba launches in host functions."""
    device = safety.device_functions(tree)
    hosts = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and (node.name == candidate.entry if candidate.entry else node.name not in device)
    ]
    # id of the size literal -> (name, size, where, {span: its offset from the size})
    found: dict[int, tuple[str, int, str, dict[tuple[int, int], int]]] = {}
    for host in hosts:
        for call in ast.walk(host):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Subscript)
                and isinstance(call.func.slice, ast.Tuple)
                and 2 <= len(call.func.slice.elts) <= 4
            ):
                continue
            grid, block = call.func.slice.elts[:2]
            name, literal = "block", block
            if isinstance(block, ast.Name):
                name, literal = block.id, _bound_value(block.id, host, tree) or block
            size = _positive_int(literal)
            if size is None or id(literal) in claimed:
                continue
            where = f"the launch of {ast.unparse(call.func.value)} (line {literal.lineno})"
            _, _, _, spans = found.setdefault(id(literal), (name, size, where, {span(literal): 0}))
            if isinstance(grid, ast.Name):
                grid = _bound_value(grid.id, host, tree) or grid
            for node in ast.walk(grid):
                spelled = _positive_int(node)
                if spelled is not None and spelled - size in ((0, -1) if size > 1 else (0,)):
                    spans.setdefault(span(node), spelled - size)  # type: ignore[arg-type]
    features = []
    for name, size, where, spans in found.values():

        def edits(value: int, spans: dict[tuple[int, int], int] = spans) -> list[_Edit]:
            return [(start, end, str(value + delta)) for (start, end), delta in spans.items()]

        features.append(_Feature(Tunable(name, _sizes(size), size, where), edits))
    return features


def _positive_int(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value > 0:
        return node.value
    return None


def _bound_value(name: str, host: ast.FunctionDef, tree: ast.Module) -> ast.expr | None:
    """What `name` is assigned if it is bound exactly once: in `host`, else in the module."""
    args = host.args
    if name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}:
        return None
    module = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    for scopes in ([host], module):
        nodes = [n for scope in scopes for n in ast.walk(scope)]
        stores = [n for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
        stores = [n for n in stores if n.id == name]
        if len(stores) > 1:
            return None
        if stores:
            assigned = (n.value for n in nodes if isinstance(n, ast.Assign) and n.targets == stores)
            return next(assigned, None)
    return None


# -- CUDA C ------------------------------------------------------------------------------

_C_MARKER = re.compile(r"//\s*kernelmagic\s*:\s*tune\b(.*)$")
_C_DEFINE = re.compile(
    r"\s*#\s*define\s+(?P<name>[A-Za-z_]\w*)\s+\(?\s*(?P<value>[^\s()]+)\s*\)?\s*"
)
_C_DECLARATION = re.compile(
    r"\s*[A-Za-z_][\w:<>]*(?:\s+[A-Za-z_][\w:<>]*)*\s+(?P<name>[A-Za-z_]\w*)"
    r"\s*=\s*(?P<value>[^;]+?)\s*;\s*"
)
_C_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)")
_C_FLOAT = re.compile(r"([+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)([fFlL]?)")
_DIRECTIVE_LINE = re.compile(r"[ \t]*//[ \t]*kernelmagic[ \t]*:(.*)")
_FAST = re.compile(r"--?use_fast_math")
_CAP = re.compile(r"--?maxrregcount=(\d+)")


def _cuda_features(candidate: Candidate) -> list[_Feature]:
    features = [
        _c_marker(line[: marker.start()], marker.group(1), number, offset)
        for number, offset, line in _lines(candidate.source)
        if (marker := _C_MARKER.search(line))
    ]
    try:
        directive = cuda_source.parse_directive(candidate.source)
    except cuda_source.DirectiveError as exc:
        raise CandidateError(str(exc)) from None
    block = directive.block or candidate.block
    if block is not None and re.fullmatch(r"\s*[1-9]\d*\s*", block):
        features.append(_c_launch(candidate, int(block), directive.grid or candidate.grid))
    return features + _option_features(candidate.compile_options, directive.options)


def _c_marker(head: str, text: str, number: int, offset: int) -> _Feature:
    match = _C_DEFINE.fullmatch(head) or _C_DECLARATION.fullmatch(head)
    if match is None:
        raise CandidateError(
            f"line {number}: the tune marker is not on a #define or a constant declaration "
            f"({EXAMPLE})"
        )
    name, literal = match.group("name"), match.group("value")
    parsed = _c_literal(literal)
    if parsed is None:
        raise CandidateError(
            f"line {number}: {name} = {literal} is not a literal: a tunable constant is an "
            "integer, floating-point or bool literal"
        )
    original, suffix = parsed
    values = []
    for item in text.strip().removeprefix("[").removesuffix("]").split(","):
        value = _c_literal(item.strip())
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

    tunable = Tunable(name, _typed(values, original, number, name), original, f"line {number}")
    return _Feature(tunable, lambda value: [(start, end, render(value))], marked=True)


def _c_literal(text: str) -> tuple[Value, str] | None:
    """(value, suffix) of a C literal: true/false, an integer, a float; None otherwise."""
    if text in ("true", "false"):
        return text == "true", ""
    if match := _C_INT.fullmatch(text):
        sign, digits, suffix = match.groups()
        octal = len(digits) > 1 and digits[0] == "0"
        value = int(digits, 16 if digits[:2] in ("0x", "0X") else 8 if octal else 10)
        return (-value if sign == "-" else value), suffix
    if (match := _C_FLOAT.fullmatch(text)) and re.search(r"[.eEfF]", text):
        return float(match.group(1)), match.group(2)
    return None


def _c_launch(candidate: Candidate, old: int, grid: str | None) -> _Feature:
    def edits(value: int) -> list[_Edit]:
        def follow(match: re.Match[str]) -> str:
            number = int(match.group())
            return str(value + number - old) if number in (old, old - 1) else match.group()

        new_grid = re.sub(r"\b\d+\b", follow, grid or "")
        new = {"grid": new_grid} if grid and new_grid != grid else {}
        return _directive_edits(candidate.source, {**new, "block": str(value)})

    return _Feature(Tunable("block", _sizes(old), old, "the launch block"), edits)


def _directive_edits(source: str, new: dict[str, str]) -> list[_Edit]:
    """Set `new` keys in the directive: in the last line that sets each, else in a new
    first line (the directive's lines merge, later keys winning)."""
    spans: dict[str, tuple[int, int]] = {}
    for _, offset, line in _lines(source):
        match = _DIRECTIVE_LINE.fullmatch(line)
        at = offset + match.start(1) if match else 0
        for item in match.group(1).split(";") if match else ():
            key, sep, value = item.partition("=")
            if sep and key.strip() in new:
                first = at + len(key) + 1 + len(value) - len(value.lstrip())
                spans[key.strip()] = (first, first + len(value.strip()))
            at += len(item) + 1
    edits = [(*spans[key], text) for key, text in new.items() if key in spans]
    added = "; ".join(f"{key}={text}" for key, text in new.items() if key not in spans)
    return [*edits, (0, 0, f"// kernelmagic: {added}\n")] if added else edits


def _option_features(own: tuple[str, ...], pinned: tuple[str, ...]) -> list[_Feature]:
    """-use_fast_math and -maxrregcount, unless the directive's options pin them."""
    features = []
    if not any(_FAST.fullmatch(o) for o in pinned):

        def fast_math(options: tuple[str, ...], value: bool) -> tuple[str, ...]:
            kept = tuple(o for o in options if not _FAST.fullmatch(o))
            return (*kept, FAST_MATH) if value else kept

        on = any(_FAST.fullmatch(o) for o in own)
        features.append(
            _Feature(Tunable(FAST_MATH, (False, True), on, "compile options"), options=fast_math)
        )
    if not any(_CAP.fullmatch(o) for o in pinned):

        def registers(options: tuple[str, ...], value: int | None) -> tuple[str, ...]:
            kept = tuple(o for o in options if not _CAP.fullmatch(o))
            return kept if value is None else (*kept, f"{REGISTERS}={value}")

        caps = [int(m.group(1)) for o in own if (m := _CAP.fullmatch(o))]
        original = caps[-1] if caps else None
        values = (None, *sorted({c for c in (*REGISTER_CAPS, original) if c is not None}))
        features.append(
            _Feature(Tunable(REGISTERS, values, original, "compile options"), options=registers)
        )
    return features
