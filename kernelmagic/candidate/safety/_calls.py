"""Calls and constants: keywords and unpacking that would make a compiler or loader read
files, host copies of CuPy arrays, and strings that hold an include, a compile option, a
format string or a numba signature."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from kernelmagic.candidate.safety._resolve import Resolver, shown, targets_cuda
from kernelmagic.candidate.safety._rules import (
    CUDA_TARGET_DECORATORS,
    MAX_POSITIONAL,
    PATH_KEYWORDS,
)
from kernelmagic.candidate.safety.strings import (
    Located,
    format_string_problem,
    include_problem,
    option_problem,
    signature_problems,
)


class CallRules(Resolver):
    """The rules on calls, constants and the strings numba reads as signatures."""

    def visit_Module(self, node: ast.Module) -> None:
        for where, problem in signature_problems(node, self._qual):
            self._flag(where, *problem)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        dotted = self._qual(node.func)
        if dotted in CUDA_TARGET_DECORATORS and targets_cuda(node):
            self._cuda_targeted.add(id(node.func))
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("format", "format_map")
            and isinstance(func.value, ast.Name)
            and func.value.id == "str"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            self._format_checked.add(id(func))  # str.format("literal", ...)
            if problem := format_string_problem(node.args[0].value):
                self._flag(func, *problem)
        for where, problem in self._call_problems(node, dotted):
            self._flag(where, *problem)
        self.generic_visit(node)

    def _call_problems(self, node: ast.Call, dotted: str | None) -> Iterator[Located]:
        for kw in node.keywords:
            if kw.arg in PATH_KEYWORDS:
                yield (
                    kw,
                    (
                        "file-access",
                        f"keyword '{kw.arg}=' makes the compiler or loader "
                        "read files; build kernels from source strings only",
                    ),
                )
        library = dotted is not None and not self._in_extra(node.func)
        unpacked: list[ast.AST] = [kw for kw in node.keywords if kw.arg is None]
        unpacked += [a for a in node.args if isinstance(a, ast.Starred)]
        if library and unpacked:
            yield (
                unpacked[0],
                (
                    "file-access",
                    f"argument unpacking in a call to "
                    f"{shown(node.func)} hides its arguments from the checker; "
                    "pass them explicitly",
                ),
            )
        limit = MAX_POSITIONAL.get(dotted or "")
        if limit is not None and len(node.args) > limit:
            yield (
                node.args[limit],
                (
                    "file-access",
                    f"{shown(node.func)} takes at most {limit} "
                    "positional argument(s) here; pass options by keyword",
                ),
            )
        if (
            not self._device
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and not node.args
        ):
            yield (
                node,
                (
                    "host-transfer",
                    f"'{shown(node)}' copies a CuPy array to the host "
                    "for host-side work; keep the work on the GPU (cupy.asnumpy of the "
                    "returned result is fine)",
                ),
            )

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and (text := include_problem(value) or option_problem(value)):
            self._flag(node, "file-access", text)
