"""What the names of a Python candidate stand for, and where a broken rule is recorded.

The base of the safety checker: the rule mixins (`_definitions`, `_names`, `_calls`) ask it
what a name or attribute chain resolves to (`numba.cuda.jit`, an allowed module, a local),
which functions run on the GPU, and record what they find with `_flag`.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter

from kernelmagic.candidate.safety._constants import constant_numpy_calls
from kernelmagic.candidate.safety._rules import CUDA_TARGET_DECORATORS, DEVICE_DECORATORS
from kernelmagic.candidate.safety.allowlist import ALLOWED_MODULES, ROOTS, covered


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, and a sentence that says what to do instead."""

    line: int
    rule: str
    message: str


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def shown(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else "..." + text[-57:]


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_NEW_SCOPES = (*_FUNCTIONS, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def bindings(scope: ast.AST) -> set[str]:
    """Names a scope binds itself (parameters, assignments, imports, defs), not nested ones."""
    names: set[str] = set()
    todo: list[ast.AST]
    if isinstance(scope, _FUNCTIONS):
        a = scope.args
        params = (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
        names.update(p.arg for p in params if p)
        todo = [*scope.body] if isinstance(scope.body, list) else [scope.body]
    elif isinstance(scope, ast.ClassDef):
        todo = [*scope.body]
    else:  # module or comprehension
        todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        if not isinstance(node, _NEW_SCOPES):
            todo.extend(ast.iter_child_nodes(node))
    return names


def _simple_assignment(node: ast.AST) -> tuple[str, ast.AST] | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        target, value = node.target, node.value
    else:
        return None
    return (target.id, value) if isinstance(target, ast.Name) else None


def is_load(node: ast.AST) -> bool:
    return isinstance(getattr(node, "ctx", None), ast.Load)


def _is_true(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def targets_cuda(call: ast.Call) -> bool:
    return any(
        k.arg == "target" and isinstance(k.value, ast.Constant) and k.value.value == "cuda"
        for k in call.keywords
    )


class Resolver(ast.NodeVisitor):
    """The checker's state and name resolution; the rules come from the mixins."""

    def __init__(self, tree: ast.Module, extras: frozenset[str]) -> None:
        self.found: list[tuple[int, int, int, Violation]] = []  # (line, col, end col, ...)
        self._extras = extras
        self._aliases: dict[str, str] = {}  # local name -> dotted name it stands for
        self._modules = set(ALLOWED_MODULES)  # dotted names that are module objects
        self._collect_aliases(tree)
        self._constant_funcs = constant_numpy_calls(tree, self._qual)
        self._scan_device_functions(tree)
        self._scopes = [bindings(tree)]
        self._device = False
        self._self_name: str | None = None
        self._in_class = False
        self._bases: set[int] = set()  # nodes used as the object of an attribute access
        self._cuda_targeted: set[int] = set()  # vectorize(..., target="cuda") callees
        self._format_checked: set[int] = set()  # str.format already checked at its call
        self._flagged: set[int] = set()

    def _collect_aliases(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    dotted = alias.name if alias.asname else alias.name.split(".")[0]
                    self._aliases[alias.asname or dotted] = dotted
                    self._modules.add(dotted)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self._aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        # A name assigned a library chain (`jit = cuda.jit`) resolves like the chain.
        changed = True
        while changed:
            changed = False
            for node in ast.walk(tree):
                pair = _simple_assignment(node)
                if pair and pair[0] not in self._aliases and (qual := self._qual(pair[1])):
                    self._aliases[pair[0]] = qual
                    changed = True

    def _scan_device_functions(self, tree: ast.Module) -> None:
        loads = Counter(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and is_load(n))
        compiled = Counter(
            call.args[0].id
            for call in ast.walk(tree)
            if isinstance(call, ast.Call)
            and call.args
            and isinstance(call.args[0], ast.Name)
            and self._is_device_decorator(call.func)
        )
        # A plain def compiled by a call (k = cuda.jit(f)) is device code only when nothing
        # else uses it: a direct call would run the same body on the host.
        self._device_funcs = {name for name, n in compiled.items() if loads[name] == n}
        # numba device functions belong in kernels; the simulator runs a host call on the CPU.
        self._device_only = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and any(
                isinstance(d, ast.Call)
                and self._qual(d.func) == "numba.cuda.jit"
                and any(k.arg == "device" and _is_true(k.value) for k in d.keywords)
                for d in node.decorator_list
            )
        }

    def _qual(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self._aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._qual(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def _is_device_decorator(self, node: ast.AST) -> bool:
        call = node if isinstance(node, ast.Call) else None
        dotted = self._qual(call.func if call else node)
        if dotted in CUDA_TARGET_DECORATORS:
            return call is not None and targets_cuda(call)
        return dotted in DEVICE_DECORATORS

    def _in_extra(self, node: ast.AST) -> bool:
        """Whether `node` is a chain on a module the problem explicitly allows."""
        dotted = self._qual(node)
        return dotted is not None and covered(dotted, self._extras)

    def _listed_chain(self, node: ast.AST) -> str | None:
        """The dotted name of `node` when the allowlists judge it: a chain on an allowed module."""
        dotted = self._qual(node)
        if dotted is None or dotted.split(".")[0] not in ROOTS or covered(dotted, self._extras):
            return None
        return dotted

    def _bound(self, name: str) -> bool:
        return any(name in scope for scope in self._scopes)

    def _flag(self, node: ast.AST, rule: str, text: str) -> None:
        if id(node) in self._flagged:
            return
        self._flagged.add(id(node))
        line = getattr(node, "lineno", 0)
        # Same start: the shorter node (inner attribute of a chain) comes first.
        where = (line, getattr(node, "col_offset", 0), getattr(node, "end_col_offset", 0))
        self.found.append((*where, Violation(line, rule, text)))

    def is_device_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Whether a function's body runs on the GPU (a kernel or device function)."""
        if node.decorator_list:
            return self._is_device_decorator(node.decorator_list[-1])
        return node.name in self._device_funcs
