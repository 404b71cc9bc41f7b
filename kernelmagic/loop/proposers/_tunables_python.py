"""Tunables of a Python candidate: `# kernelmagic: tune` markers and numba launch blocks.

A launch's block size is left alone when the kernel it launches reads that number (a
literal, or a name bound once to one): ``cuda.shared.array(256, float32)`` under a
``kernel[blocks, 256]`` launch sizes the array for one block, and any other size would
only give wrong or crashing variants. A marker on the constant searches it regardless.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.candidate import Candidate, safety
from kernelmagic.errors import CandidateError, syntax_error
from kernelmagic.loop.proposers._tunables_base import (
    EXAMPLE,
    Edit,
    Feature,
    Tunable,
    Value,
    block_sizes,
    lines,
    typed_values,
)

_MARKER = re.compile(r"#\s*kernelmagic\s*:\s*tune\b(.*)$")

_Span = Callable[[ast.expr], tuple[int, int]]


def features(candidate: Candidate) -> list[Feature]:
    """The marked constants, then the launch blocks no marker claims."""
    try:
        tree = parse_python(candidate.source)
    except SyntaxError as exc:
        raise CandidateError(f"{syntax_error(exc)} (tunables are read from the source)") from None
    starts = {number: offset for number, offset, _ in lines(candidate.source)}

    def offset(line: int, col: int) -> int:  # ast's columns count UTF-8 bytes
        return starts[line] + len(candidate.source[starts[line] :].encode()[:col].decode())

    def span(node: ast.expr) -> tuple[int, int]:
        end = (node.end_lineno or node.lineno, node.end_col_offset or node.col_offset)
        return offset(node.lineno, node.col_offset), offset(*end)

    tokens = tokenize.generate_tokens(io.StringIO(candidate.source).readline)
    markers = [
        (token.start[0], match.group(1))
        for token in tokens
        if token.type == tokenize.COMMENT and (match := _MARKER.match(token.string))
    ]
    marked = [_marker(line, text, tree, span) for line, text in markers]
    claimed = {id(node) for _, node in marked}
    return [feature for feature, _ in marked] + _launches(candidate, tree, span, claimed)


def _marker(line: int, text: str, tree: ast.Module, span: _Span) -> tuple[Feature, ast.expr]:
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
    original = _literal(value_node)
    if original is None:
        raise CandidateError(
            f"line {line}: {name} = {ast.unparse(value_node)} is not a literal: a tunable "
            "constant is an int, float or bool literal"
        )
    inner = text.strip()
    inner = inner[1:-1] if inner.startswith("[") and inner.endswith("]") else inner
    try:
        parsed = parse_python(f"({inner},)", mode="eval").body if inner.strip() else None
    except SyntaxError:
        parsed = None
    elements = parsed.elts if isinstance(parsed, ast.Tuple) else []
    if not elements:
        raise CandidateError(
            f"line {line}: cannot read the values {text.strip()!r} of the tune marker "
            "(write e.g. '# kernelmagic: tune 64, 128, 256')"
        )
    values = [_literal(element) for element in elements]
    for element, value in zip(elements, values, strict=True):
        if value is None:
            raise CandidateError(
                f"line {line}: {ast.unparse(element)!r} in the tune marker is not a literal"
            )
    tunable = Tunable(name, typed_values(values, original, line, name), original, f"line {line}")
    start, end = span(value_node)
    return Feature(tunable, lambda v: [(start, end, repr(v))], marked=True), value_node


def _literal(node: ast.expr) -> Value:
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
    candidate: Candidate, tree: ast.Module, span: _Span, claimed: set[int]
) -> list[Feature]:
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
    tied: set[int] = set()  # literals some launched kernel reads: searched by none
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
            if _reads(_kernels(call.func.value, tree, device), size, tree):
                tied.add(id(literal))
            where = f"the launch of {ast.unparse(call.func.value)} (line {literal.lineno})"
            _, _, _, spans = found.setdefault(id(literal), (name, size, where, {span(literal): 0}))
            if isinstance(grid, ast.Name):
                grid = _bound_value(grid.id, host, tree) or grid
            for node in ast.walk(grid):
                spelled = _positive_int(node)
                if spelled is not None and spelled - size in ((0, -1) if size > 1 else (0,)):
                    spans.setdefault(span(node), spelled - size)  # type: ignore[arg-type]
    features = []
    for key, (name, size, where, spans) in found.items():
        if key in tied:
            continue

        def edits(value: int, spans: dict[tuple[int, int], int] = spans) -> list[Edit]:
            return [(start, end, str(value + delta)) for (start, end), delta in spans.items()]

        features.append(Feature(Tunable(name, block_sizes(size), size, where), edits))
    return features


def _kernels(launched: ast.expr, tree: ast.Module, device: frozenset[str]) -> list[ast.FunctionDef]:
    """The device functions a launch runs: the kernel and those it calls by name, or all of
    them when the launched expression is not a module-level kernel's name."""
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name in device
    }
    if not (isinstance(launched, ast.Name) and launched.id in functions):
        return list(functions.values())
    reached, todo = {launched.id}, [launched.id]
    while todo:
        calls = ast.walk(functions[todo.pop()])
        called = {
            n.func.id for n in calls if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        for callee in called & functions.keys() - reached:
            reached.add(callee)
            todo.append(callee)
    return [functions[name] for name in reached]


def _reads(kernels: list[ast.FunctionDef], size: int, tree: ast.Module) -> bool:
    """Whether device code reads `size`, as an int literal or a name bound once to one.

    Shared arrays sized for one block are what this is for; any other read (``if t < 256``,
    ``cuda.blockIdx.x * 256``) is as likely tied to the block, so it counts too."""
    for kernel in kernels:
        for node in (n for statement in kernel.body for n in ast.walk(statement)):
            if _positive_int(node) == size:
                return True
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and _positive_int(_bound_value(node.id, kernel, tree)) == size
            ):
                return True
    return False


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
