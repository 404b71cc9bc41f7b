"""Evaluate launch expressions ("cdiv(n, 256)", "x.size // 4") over a problem's inputs.

Grid, block, shared-memory and work ("bytes moved", "flops") expressions come from users
and from LLM-written sources, so they must never reach `eval`. This module walks the
Python AST itself and accepts only arithmetic on numbers, the inputs by name, a few
array attributes and a handful of functions; everything else is a `LaunchError` that
names the expression. Values are capped so that "2**10**10" fails fast instead of
hanging the harness.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from kernelmagic._python_ast import parse as parse_python

_MAX_SOURCE_CHARS = 500
_MAX_EXPONENT = 64
_MAX_MAGNITUDE = 2**64  # far beyond any grid, byte count or flop count, far below trouble
_ARRAY_ATTRIBUTES = frozenset({"size", "shape", "ndim", "nbytes", "itemsize"})

Number = int | float


class LaunchError(ValueError):
    """A launch or work expression is malformed, unsafe or evaluates to an unusable value."""


def cdiv(a: int, b: int) -> int:
    """Ceiling division: the number of size-`b` blocks that cover `a` items."""
    return -(-a // b)


def evaluate(expr: str, names: Mapping[str, object]) -> int | tuple[int, ...]:
    """Evaluate a grid/block/shared expression: a positive int or a tuple of 1-3 of them.

    Allowed: int/float constants, input names, + - * // % ** and unary minus, tuples,
    cdiv/min/max/len/int/round calls, and size/shape/ndim/nbytes/itemsize on arrays
    (with constant indexing of shape). `/` is refused: it yields floats; use cdiv or //.
    """
    value = _Evaluator(expr, names, true_division=False).run()
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and not 1 <= len(value) <= 3:
        raise _error(expr, f"a launch tuple has 1 to 3 entries, not {len(value)}")
    for item in items:
        if not isinstance(item, int):
            raise _error(expr, f"{item!r} is not an integer (use cdiv, // or int())")
        if item <= 0:
            raise _error(expr, f"evaluates to {item}; launch dimensions must be positive")
    return value


# What every GPU accepts (compute capability 5.0 on): per-dimension and per-block limits.
MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)


def rejected(grid: tuple[int, ...], block: tuple[int, ...]) -> str | None:
    """Why a GPU refuses to launch `grid` blocks of `block` threads, or None.

    numba-cuda's simulator runs any configuration (an empty grid, 2048 threads a block), so
    without this a kernel verified there failed on the first GPU it met.
    """
    if any(dim < 1 for dim in grid):
        return (
            "each grid dimension needs at least one block (skip the launch when there is no work)"
        )
    if any(dim < 1 for dim in block):
        return "each block dimension needs at least one thread"
    threads = math.prod(block)
    if threads > MAX_THREADS_PER_BLOCK:
        return f"a block of {threads} threads; a GPU allows at most {MAX_THREADS_PER_BLOCK}"
    for name, dims, limits in (("grid", grid, MAX_GRID), ("block", block, MAX_BLOCK)):
        for axis, (dim, limit) in enumerate(zip(dims, limits, strict=False)):
            if dim > limit:
                return f"{name} dimension {'xyz'[axis]} is {dim}; a GPU allows at most {limit}"
    return None


def evaluate_number(expr: str, names: Mapping[str, object]) -> float:
    """Evaluate a work expression such as "3 * n * 4" or "2 * m * n * k" to a float >= 0.

    The same grammar as `evaluate`, plus true division `/`.
    """
    value = _Evaluator(expr, names, true_division=True).run()
    if isinstance(value, tuple):
        raise _error(expr, "expected a single number, got a tuple")
    if value < 0:
        raise _error(expr, f"evaluates to {value}; a work amount cannot be negative")
    return float(value)


def _error(expr: str, reason: str) -> LaunchError:
    return LaunchError(f"launch expression {expr!r}: {reason}")


def _checked_pow(base: Number, exponent: Number) -> Number:
    if abs(exponent) > _MAX_EXPONENT:
        raise ArithmeticError(f"exponent {exponent} is larger than {_MAX_EXPONENT}")
    return base**exponent


_BINARY: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", _checked_pow),
    ast.Div: ("/", operator.truediv),
}


class _Evaluator:
    """One evaluation: the expression, the inputs and the grammar switches."""

    def __init__(self, expr: str, names: Mapping[str, object], *, true_division: bool):
        self.expr = expr
        self.names = names
        self.true_division = true_division

    def run(self) -> Any:
        if not isinstance(self.expr, str) or not self.expr.strip():
            raise _error(str(self.expr), "empty expression")
        if len(self.expr) > _MAX_SOURCE_CHARS:
            raise _error(self.expr[:40] + "...", f"longer than {_MAX_SOURCE_CHARS} characters")
        try:
            tree = parse_python(self.expr.strip(), mode="eval")
            value = self.visit(tree.body)
            return value if isinstance(value, tuple) else self.as_number(value, tree.body)
        except SyntaxError as exc:
            raise _error(self.expr, f"not a valid expression ({exc.msg})") from None
        except (ArithmeticError, RecursionError, MemoryError) as exc:
            raise _error(self.expr, str(exc) or type(exc).__name__) from None

    def visit(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                raise self.refuse(f"the constant {node.value!r}")
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.number(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Tuple):
            return tuple(self.number(elt) for elt in node.elts)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        raise self.refuse(type(node).__name__)

    def refuse(self, what: str) -> LaunchError:
        return _error(self.expr, f"{what} is not allowed in launch expressions")

    def number(self, node: ast.expr) -> Number:
        return self.as_number(self.visit(node), node)

    def as_number(self, value: Any, node: ast.expr) -> Number:
        if type(value) not in (int, float):
            raise _error(self.expr, f"{ast.unparse(node)!r} is not a number")
        return self.checked(value, node)

    def checked(self, value: Number, node: ast.expr) -> Number:
        """Refuse infinities and absurd magnitudes before they feed the next operation."""
        if isinstance(value, float) and not math.isfinite(value):
            raise _error(self.expr, f"{ast.unparse(node)!r} is not finite")
        if abs(value) > _MAX_MAGNITUDE:
            raise _error(self.expr, f"{ast.unparse(node)!r} is absurdly large")
        return value

    def lookup(self, name: str) -> Any:
        if name not in self.names:
            known = ", ".join(sorted(self.names)) or "none"
            raise _error(self.expr, f"unknown name {name!r} (inputs: {known})")
        value = self.names[name]
        ndim = getattr(value, "ndim", 0)
        if ndim and hasattr(value, "shape"):
            return value  # an array: only its attributes and len() are usable
        item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
        if callable(item):
            value = item()
        if type(value) not in (int, float):
            raise _error(self.expr, f"input {name!r} is a {type(value).__name__}, not a number")
        return value

    def binary(self, node: ast.BinOp) -> Number:
        op = type(node.op)
        if op not in _BINARY:
            raise self.refuse(f"the operator in {ast.unparse(node)!r}")
        symbol, function = _BINARY[op]
        if op is ast.Div and not self.true_division:
            raise self.refuse("'/' (use cdiv or // for launch sizes)")
        left, right = self.number(node.left), self.number(node.right)
        if symbol in ("/", "//", "%") and right == 0:
            raise _error(self.expr, f"division by zero in {ast.unparse(node)!r}")
        result = function(left, right)
        if isinstance(result, complex):
            raise _error(self.expr, f"{ast.unparse(node)!r} is not a real number")
        return self.checked(result, node)

    def call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise self.refuse(f"the call {ast.unparse(node)!r}")
        name, args = node.func.id, node.args
        if any(isinstance(arg, ast.Starred) for arg in args):
            raise self.refuse("argument unpacking")
        if name == "len" and len(args) == 1:
            value = self.visit(args[0])
            if isinstance(value, tuple):
                return len(value)
            if hasattr(value, "shape"):
                return int(value.shape[0])
            raise _error(self.expr, f"len() of {ast.unparse(args[0])!r}, which has no length")
        if name == "cdiv" and len(args) == 2:
            a, b = self.number(args[0]), self.number(args[1])
            if not (isinstance(a, int) and isinstance(b, int)):
                raise _error(self.expr, f"cdiv takes integers: {ast.unparse(node)!r}")
            if b == 0:
                raise _error(self.expr, f"division by zero in {ast.unparse(node)!r}")
            return cdiv(a, b)
        if name in ("min", "max") and len(args) >= 2:
            values = [self.number(arg) for arg in args]
            return min(values) if name == "min" else max(values)
        if name in ("int", "round") and len(args) == 1:
            value = self.number(args[0])
            return int(value) if name == "int" else round(value)
        raise self.refuse(f"the call {ast.unparse(node)!r}")

    def attribute(self, node: ast.Attribute) -> Any:
        if node.attr not in _ARRAY_ATTRIBUTES:
            raise self.refuse(f"the attribute {node.attr!r}")
        if not isinstance(node.value, ast.Name):
            raise self.refuse(f"{ast.unparse(node)!r} (attributes apply to input names)")
        value = self.lookup(node.value.id)
        if not hasattr(value, "shape"):
            raise _error(self.expr, f"{node.value.id!r} is not an array, so has no .{node.attr}")
        result = getattr(value, node.attr)
        return tuple(int(d) for d in result) if node.attr == "shape" else int(result)

    def subscript(self, node: ast.Subscript) -> int:
        value = self.visit(node.value)
        index, sign = node.slice, 1
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            index, sign = index.operand, -1
        if not (isinstance(value, tuple) and isinstance(index, ast.Constant)):
            raise self.refuse(f"the subscript {ast.unparse(node)!r}")
        if type(index.value) is not int:
            raise self.refuse(f"the subscript {ast.unparse(node)!r}")
        position = sign * index.value
        if not -len(value) <= position < len(value):
            raise _error(self.expr, f"{ast.unparse(node)!r} is out of range for {value}")
        return value[position]
