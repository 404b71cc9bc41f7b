"""Imports and the scopes a candidate defines: which imports pass the allowlists, which
functions run on the GPU, whose attributes a body may set, and which dunder names a
function or class may define."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from kernelmagic.candidate.safety._resolve import Resolver, bindings, is_dunder, is_load, shown
from kernelmagic.candidate.safety._rules import DEFINABLE_DUNDERS
from kernelmagic.candidate.safety.allowlist import allowed_text, import_problem


class DefinitionRules(Resolver):
    """The rules on imports, functions, lambdas, classes and comprehensions."""

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_import(alias, alias.name, None, alias.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or node.module is None:
            self._flag(
                node,
                "import",
                f"relative imports are not allowed; import {allowed_text(self._extras)} by "
                "absolute name",
            )
            return
        for alias in node.names:
            if alias.name == "*":
                self._flag(
                    alias,
                    "import",
                    f"'from {node.module} import *' is not allowed; "
                    "import the names you use explicitly",
                )
            else:
                self._check_import(alias, node.module, alias.name, alias.asname)

    def _check_import(
        self, node: ast.alias, module: str, name: str | None, asname: str | None
    ) -> None:
        if asname and is_dunder(asname):
            self._flag(
                node,
                "dunder",
                f"binding the double-underscore name '{asname}' is not "
                "allowed; choose an ordinary name",
            )
        elif problem := import_problem(module, name, self._extras):
            self._flag(node, "import", problem)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._check_def_name(node)
        for child in (*node.decorator_list, node.args, node.returns):
            if child is not None:
                self.visit(child)
        # Only the innermost decorator sees the plain function; any other could keep it and
        # call the body on the host later.
        device = self._device or self.is_device_function(node)
        self._visit_scope(node, node.body, device, self._settable_self(node))

    visit_AsyncFunctionDef = visit_FunctionDef

    def _settable_self(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
        """The name whose attributes `node`'s body may set: `self` of an `__init__`, which is
        always a fresh instance of the candidate's own class (other methods can be called
        unbound on a harness object); nested functions inherit it."""
        if not self._in_class:
            return self._self_name
        positional = [*node.args.posonlyargs, *node.args.args]
        if node.name != "__init__" or not positional:
            return None
        name = positional[0].arg
        rebound = any(
            isinstance(n, ast.Name) and n.id == name and not is_load(n) for n in ast.walk(node)
        )
        return None if rebound else name

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)
        self._visit_scope(node, [node.body], self._device, self._self_name)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._check_def_name(node)
        for base in (*node.bases, *(k.value for k in node.keywords)):
            if self._qual(base):  # a subclass could change how the harness reads results
                self._flag(
                    base,
                    "attribute",
                    f"subclassing library class '{shown(base)}' is "
                    "not allowed; hold an instance in your own class instead",
                )
        for child in (*node.decorator_list, *node.bases, *node.keywords):
            self.visit(child)
        self._visit_scope(node, node.body, self._device, self._self_name, in_class=True)

    def _visit_comprehension(self, node: ast.AST) -> None:
        self._visit_scope(node, list(ast.iter_child_nodes(node)), self._device, self._self_name)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comprehension

    def _visit_scope(
        self,
        scope: ast.AST,
        body: Sequence[ast.AST],
        device: bool,
        self_name: str | None,
        in_class: bool = False,
    ) -> None:
        saved = self._device, self._self_name, self._in_class
        self._device, self._self_name, self._in_class = device, self_name, in_class
        self._scopes.append(bindings(scope))
        for child in body:
            self.visit(child)
        self._scopes.pop()
        self._device, self._self_name, self._in_class = saved

    def _check_def_name(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        if not is_dunder(node.name) or (
            self._in_class and not isinstance(node, ast.ClassDef) and node.name in DEFINABLE_DUNDERS
        ):
            return
        self._flag(
            node,
            "dunder",
            f"defining '{node.name}' is not allowed; classes may define "
            f"only {', '.join(sorted(DEFINABLE_DUNDERS))} (other hooks would run inside "
            "the harness when it inspects results)",
        )
