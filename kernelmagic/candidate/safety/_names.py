"""Names and attributes: builtins and double-underscore names, attribute chains on
library modules (judged by the allowlists), attributes that are set, and what host code
may reach (NumPy host work, copies of device data, `str.format`)."""

from __future__ import annotations

import ast

from kernelmagic.candidate.safety._resolve import Resolver, is_dunder, is_load, shown
from kernelmagic.candidate.safety._rules import (
    ATTRIBUTE_RULES,
    BUILTIN_HINTS,
    BUILTIN_NAMES,
    CPU_JIT,
    FILE_ACCESS,
    FILE_ACCESS_PATTERN,
    HOST_TRANSFER,
    INTERNAL,
    INTROSPECTION,
    INTROSPECTION_PREFIX,
    REASONS,
    SAFE_BUILTINS,
    SETTABLE,
)
from kernelmagic.candidate.safety.allowlist import Context, not_listed, unlisted
from kernelmagic.candidate.safety.strings import Problem, format_string_problem


def _category(name: str) -> str | None:
    """Why an attribute or import part is out of bounds (a `REASONS` key), or None."""
    if name.startswith("_"):
        return "private"
    if name in INTROSPECTION or INTROSPECTION_PREFIX.match(name):
        return "introspection"
    if name in FILE_ACCESS or FILE_ACCESS_PATTERN.search(name):
        return "file-access"
    return "internal" if name in INTERNAL else None


def _unlisted_problem(what: str, container: str, name: str, context: Context) -> Problem:
    """A chain that leaves the allowlists at `container.name`: the most specific reason."""
    if category := _category(name):
        return ATTRIBUTE_RULES.get(category, "attribute"), (
            f"'{what}' is not allowed: {REASONS[category]}"
        )
    if container.split(".")[0] == "numpy" and context == "host":
        return "host-numpy", (
            f"{what} runs on the host: do the work in a GPU kernel (host code may use "
            "NumPy only to allocate arrays and to name dtypes and constants, and at module "
            "level to build constant tables from literals; use math for scalar arithmetic)"
        )
    return "attribute", f"'{what}' is not allowed: {not_listed(container, name, context)}"


class NameRules(Resolver):
    """The rules on names, attributes and class patterns."""

    def visit_Name(self, node: ast.Name) -> None:
        name, problem = node.id, None
        if name == "__import__":
            problem = "import", "__import__ is not allowed; use an import statement"
        elif is_dunder(name):
            hint = "; drop the `if __name__ == '__main__':` block" if name == "__name__" else ""
            problem = (
                "dunder",
                (
                    f"name '{name}' is not allowed: double-underscore names reach "
                    f"interpreter internals{hint}"
                ),
            )
        elif (
            isinstance(node.ctx, ast.Load)
            and name in BUILTIN_NAMES
            and name not in SAFE_BUILTINS
            and not self._bound(name)
        ):
            hint = BUILTIN_HINTS.get(name, "it is not among the builtins candidates get")
            problem = "builtin", f"builtin '{name}' is not allowed: {hint}"
        elif isinstance(node.ctx, ast.Load) and name in self._device_only and not self._device:
            problem = (
                "host-jit",
                (
                    f"device function '{name}' may only be called from a kernel; "
                    "from host code it would run on the CPU"
                ),
            )
        elif isinstance(node.ctx, ast.Load):
            problem = self._qualified_problem(node)
        if problem:
            self._flag(node, *problem)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._bases.add(id(node.value))
        problem = (
            self._attribute_name_problem(node)
            or self._store_problem(node)
            or self._qualified_problem(node)
            or self._host_method_problem(node)
            or self._format_problem(node)
        )
        if problem:
            self._flag(node, *problem)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        # `case C(attr=p)` reads the attribute by name, like `subject.attr`.
        for name in node.kwd_attrs:
            if category := _category(name):
                rule = ATTRIBUTE_RULES.get(category, "attribute")
                self._flag(
                    node, rule, f"pattern attribute '{name}' is not allowed: {REASONS[category]}"
                )
        self.generic_visit(node)

    def _attribute_name_problem(self, node: ast.Attribute) -> Problem | None:
        if (self._in_extra(node) and not is_dunder(node.attr)) or self._listed_chain(node):
            return None  # a chain on an allowed module is judged by the allowlists
        category = _category(node.attr)
        if category is None:
            return None
        rule = ATTRIBUTE_RULES.get(category, "attribute")
        return rule, f"'{shown(node)}' is not allowed: {REASONS[category]}"

    def _store_problem(self, node: ast.Attribute) -> Problem | None:
        if isinstance(node.ctx, ast.Load) or node.attr in SETTABLE or self._in_extra(node):
            return None
        if isinstance(node.value, ast.Name) and node.value.id == self._self_name:
            return None
        return "attribute", (
            f"assigning or deleting '{shown(node)}' is not allowed: only "
            "'self.<name>' in __init__ may be set, since changing library or "
            "harness objects could fool the evaluation"
        )

    def _qualified_problem(self, node: ast.Name | ast.Attribute) -> Problem | None:
        dotted = self._qual(node)
        if dotted is None or self._in_extra(node):
            return None
        problem = self._chain_problem(node, dotted)
        if problem and isinstance(node, ast.Attribute):
            inner = self._qual(node.value)
            if inner and self._chain_problem(node.value, inner):
                return None  # reported once, on the shorter chain
        return problem

    def _chain_problem(self, node: ast.AST, dotted: str) -> Problem | None:
        parts = dotted.split(".")
        what = shown(node)
        if what != dotted and not isinstance(node, ast.Attribute):
            what = f"{what} ({dotted})"
        if (
            parts[0] == "numba"
            and len(parts) > 1
            and parts[1] in CPU_JIT
            and (id(node) not in self._cuda_targeted)
        ):
            return "host-jit", (
                f"{what} compiles for the CPU; write a @cuda.jit kernel "
                "(vectorize/guvectorize need target='cuda')"
            )
        if not self._device and parts[-1] == "get_array_module":
            return "host-numpy", f"{what} can hand back NumPy for host work; use cupy directly"
        context: Context = (
            "device" if self._device else "constant" if id(node) in self._constant_funcs else "host"
        )
        if self._listed_chain(node) and (where := unlisted(dotted, context)):
            return _unlisted_problem(what, *where, context)
        if dotted in self._modules and id(node) not in self._bases and is_load(node):
            return "import", (
                f"module {what} may only be used as {shown(node)}.<name>; "
                "passing or storing the module object is not allowed"
            )
        return None

    def _host_method_problem(self, node: ast.Attribute) -> Problem | None:
        if self._device or node.attr not in HOST_TRANSFER:
            return None
        return "host-transfer", (
            f"'{shown(node)}' copies device data to the host for "
            "host-side work; keep the work on the GPU (copy_to_host() or "
            "cupy.asnumpy for the returned result is fine)"
        )

    def _format_problem(self, node: ast.Attribute) -> Problem | None:
        if (
            node.attr not in ("format", "format_map")
            or id(node) in self._format_checked
            or id(node) in self._bases
            or self._qual(node)
        ):  # not str.format: np.lib.format
            return None
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return format_string_problem(node.value.value)
        return "format", (
            f"'{shown(node)}' formats with a string the checker cannot see, and "
            "format fields can read attributes; use an f-string"
        )
