"""Module-level constant tables: the NumPy calls that host code may make before any input exists.

numba's idiom for a lookup table is a module-level ``np.array([...])`` (or ``np.arange``,
``np.linspace``...) handed to ``cuda.const.array_like`` in a kernel. Module-level code runs
once, while the candidate loads, before any input exists, so NumPy there cannot work on the
inputs; it could still reproduce an input generator and precompute an answer, so only calls
whose arguments are constants qualify: literals, module-level names bound to constants,
dtypes and math constants, and pure functions of those (NumPy ufuncs, math, a few builtins,
``.astype`` and ``.reshape``). Inside any function the usual host rules apply.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from kernelmagic.candidate.safety.allowlist import unlisted

Resolver = Callable[[ast.AST], str | None]

_BUILTINS = frozenset(
    {"range", "len", "min", "max", "abs", "int", "float", "complex", "bool", "round", "pow"}
    | {"divmod", "tuple", "list"}
)
_METHODS = frozenset({"astype", "reshape", "copy", "transpose", "ravel", "flatten"})
_PROPERTIES = frozenset({"T", "shape", "size", "ndim", "dtype", "real", "imag"})
# Expressions that are constant when their parts are.
_COMPOUND = (
    *(ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Starred, ast.Slice, ast.Subscript),
    *(ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp),
)
_SYNTAX = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (*_DEFS, ast.Lambda)


def constant_numpy_calls(tree: ast.Module, qual: Resolver) -> frozenset[int]:
    """ids of the NumPy function nodes in module-level calls whose arguments are all constant."""
    folder = _Folder(tree, qual)
    for stmt in tree.body:
        for call in _module_level(stmt):
            if isinstance(call, ast.Call) and (qual(call.func) or "").startswith("numpy."):
                folder.commit_if_constant(call)
        folder.bind(stmt)
    return frozenset(folder.allowed)


def _module_level(node: ast.AST) -> list[ast.AST]:
    """`node` and everything under it that runs at module level (not function or class bodies)."""
    found, todo = [], [node]
    while todo:
        current = todo.pop()
        found.append(current)
        if not isinstance(current, _SCOPES):
            todo.extend(ast.iter_child_nodes(current))
    return found


def bound_name(node: ast.AST) -> str | None:
    """The name a node binds (an assignment target, a def, an import, a parameter), or None."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return node.id
    if isinstance(node, _DEFS):
        return node.name
    if isinstance(node, ast.alias):
        return (node.asname or node.name).split(".")[0]
    if isinstance(node, ast.arg):
        return node.arg
    return None


def _target_names(target: ast.AST) -> list[str] | None:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        parts = [_target_names(t) for t in target.elts]
        return None if any(p is None for p in parts) else [n for p in parts for n in p or ()]
    return None


class _Folder:
    def __init__(self, tree: ast.Module, qual: Resolver) -> None:
        self._qual = qual
        self._names: set[str] = set()  # module-level names bound only to constants so far
        # A name rebound from a function (`global`), or a builtin the candidate redefines.
        self._unreliable = {n for g in ast.walk(tree) if isinstance(g, ast.Global) for n in g.names}
        self._unreliable |= {
            name for node in ast.walk(tree) if (name := bound_name(node)) in _BUILTINS
        }
        self._found: list[int] = []
        self.allowed: set[int] = set()

    def commit_if_constant(self, call: ast.Call) -> None:
        self._found = []
        if self._constant(call, frozenset(self._names)):
            self.allowed.update(self._found)

    def bind(self, stmt: ast.stmt) -> None:
        """Track which module-level names hold constants after `stmt` runs."""
        targets: list[str] | None = None
        value: ast.AST | None = None
        if isinstance(stmt, ast.Assign):
            parts = [_target_names(t) for t in stmt.targets]
            if all(p is not None for p in parts):
                targets, value = [n for p in parts for n in p or ()], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = _target_names(stmt.target), stmt.value
        if (
            targets is not None
            and value is not None
            and self._constant(value, frozenset(self._names))
        ):
            self._names.update(set(targets) - self._unreliable)
            return
        self._names -= {bound_name(node) for node in ast.walk(stmt)}

    def _pure(self, func: ast.AST, names: frozenset[str]) -> bool:
        """Whether calling `func` on constants gives a constant."""
        dotted = self._qual(func)
        if dotted is not None:
            if dotted.split(".")[0] not in ("numpy", "math") or unlisted(dotted, "constant"):
                return False
            if dotted.startswith("numpy."):
                self._found.append(id(func))
            return True
        if isinstance(func, ast.Name):
            return func.id in _BUILTINS and func.id not in self._unreliable
        return (
            isinstance(func, ast.Attribute)
            and func.attr in _METHODS
            and self._constant(func.value, names)
        )

    def _constant(self, node: ast.AST | None, names: frozenset[str]) -> bool:
        if node is None or isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Call):
            return self._pure(node.func, names) and all(
                self._constant(a, names) for a in (*node.args, *(k.value for k in node.keywords))
            )
        if isinstance(node, (ast.Name, ast.Attribute)) and (dotted := self._qual(node)):
            return dotted.split(".")[0] in ("numpy", "math") and not unlisted(dotted, "constant")
        if isinstance(node, ast.Name):
            return node.id in names
        if isinstance(node, ast.Attribute):
            return node.attr in _PROPERTIES and self._constant(node.value, names)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self._comprehension(node, names)
        if isinstance(node, _COMPOUND):
            children = ast.iter_child_nodes(node)
            return all(self._constant(c, names) for c in children if not isinstance(c, _SYNTAX))
        return False

    def _comprehension(
        self,
        node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
        names: frozenset[str],
    ) -> bool:
        local = set(names)
        for gen in node.generators:
            bound = _target_names(gen.target)
            if gen.is_async or bound is None or not self._constant(gen.iter, frozenset(local)):
                return False
            local.update(bound)
            if not all(self._constant(test, frozenset(local)) for test in gen.ifs):
                return False
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        return all(self._constant(p, frozenset(local)) for p in parts)
