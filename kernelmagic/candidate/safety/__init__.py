"""Static safety rules for Python candidates.

Candidates are often written by an LLM, and such kernels have been caught cheating: computing
the answer on the host with NumPy or a CPU JIT and handing it back, or reading a stored answer
from a file. A candidate also runs inside the harness's worker process, so introspection
(``f.__globals__``, frames, ``__subclasses__``) or an internal module of numba or CuPy could
reach the harness's own state, the file system or the CUDA driver, or patch the timers and the
comparison. `check_python` rejects such code before it runs anywhere:

* imports and module attributes: allowlists (`safety_allowlist`) of the modules candidates
  may import and of the names of each that kernel authors use; everything else reached
  through a module is refused, because these packages have too many internals to blocklist;
* names: no double-underscore names, and only the builtins in `SAFE_BUILTINS`, which is also
  what the worker gives candidates at run time, so the two layers agree;
* attributes of other objects: nothing starting with ``_``, no frame or code introspection,
  no file, process, environment or driver entry points. Without ``getattr`` every attribute a
  candidate reaches is spelled out in its source, so these rules see all of them;
* objects: attributes may be set only on ``self`` in ``__init__``, modules may not be passed
  around, library classes may not be subclassed and classes may define only a few dunder
  methods, so a candidate cannot patch the harness's timers or comparison, nor hand back an
  object that runs its own code when the harness inspects it;
* strings (`safety_strings`): CUDA sources may ``#include`` only system headers, compiler
  options may not name paths, and anything numba would evaluate as a signature must name
  only numba types;
* host code (everything outside GPU-decorated functions) may use NumPy only to allocate and
  to name dtypes and constants (and at module level to build constant tables,
  `safety_constants`), may not CPU-compile with numba, and may not pull device data back for
  host-side work.

A static check cannot follow values computed at run time (a string assembled into an
``#include``, a method patched on an object passed around); the harness's dynamic checks
cover what is left.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from kernelmagic.candidate.safety._constants import constant_numpy_calls
from kernelmagic.candidate.safety._rules import (
    ATTRIBUTE_RULES,
    BUILTIN_HINTS,
    BUILTIN_NAMES,
    CPU_JIT,
    CUDA_TARGET_DECORATORS,
    DEFINABLE_DUNDERS,
    DEVICE_DECORATORS,
    FILE_ACCESS,
    FILE_ACCESS_PATTERN,
    HOST_TRANSFER,
    INTERNAL,
    INTROSPECTION,
    INTROSPECTION_PREFIX,
    MAX_POSITIONAL,
    PATH_KEYWORDS,
    REASONS,
    SAFE_BUILTINS,
    SETTABLE,
)
from kernelmagic.candidate.safety.allowlist import (
    ALLOWED_MODULES,
    ROOTS,
    Context,
    allowed_text,
    covered,
    extra_modules,
    import_problem,
    not_listed,
    unlisted,
)
from kernelmagic.candidate.safety.strings import (
    Located,
    Problem,
    format_string_problem,
    include_problem,
    option_problem,
    signature_problems,
)


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, and a sentence that says what to do instead."""

    line: int
    rule: str
    message: str


def check_python(source: str, *, allowed_imports: Iterable[str] = ()) -> list[Violation]:
    """Static safety rules for a Python candidate. Raises SyntaxError when source does not parse.

    Returns every violation, in source order, at most one per syntax node. `allowed_imports`
    adds modules to `ALLOWED_MODULES`; such an extra module is fully allowed, its submodules
    and attributes included (``os._exit``), except double-underscore attributes.
    """
    try:
        tree = ast.parse(source)
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, deep nesting
        detail = str(exc) or type(exc).__name__
        raise SyntaxError(f"candidate source cannot be parsed: {detail}") from None
    extras = extra_modules(allowed_imports)
    try:
        checker = _Checker(tree, extras)
        checker.visit(tree)
    except RecursionError:
        raise SyntaxError("candidate source is nested too deeply to check") from None
    return [v for *_, v in sorted(checker.found, key=lambda found: found[:3])]


def device_functions(tree: ast.Module) -> frozenset[str]:
    """Top-level functions that run on the GPU, decided as the safety rules decide it."""
    checker = _Checker(tree, frozenset())
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and checker.is_device_function(node)
    )


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


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


def _shown(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else "..." + text[-57:]


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_NEW_SCOPES = (*_FUNCTIONS, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _bindings(scope: ast.AST) -> set[str]:
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


def _loads(node: ast.AST) -> bool:
    return isinstance(getattr(node, "ctx", None), ast.Load)


def _is_true(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _targets_cuda(call: ast.Call) -> bool:
    return any(
        k.arg == "target" and isinstance(k.value, ast.Constant) and k.value.value == "cuda"
        for k in call.keywords
    )


class _Checker(ast.NodeVisitor):
    def __init__(self, tree: ast.Module, extras: frozenset[str]) -> None:
        self.found: list[tuple[int, int, int, Violation]] = []  # (line, col, end col, ...)
        self._extras = extras
        self._aliases: dict[str, str] = {}  # local name -> dotted name it stands for
        self._modules = set(ALLOWED_MODULES)  # dotted names that are module objects
        self._collect_aliases(tree)
        self._constant_funcs = constant_numpy_calls(tree, self._qual)
        self._scan_device_functions(tree)
        self._scopes = [_bindings(tree)]
        self._device = False
        self._self_name: str | None = None
        self._in_class = False
        self._bases: set[int] = set()  # nodes used as the object of an attribute access
        self._cuda_targeted: set[int] = set()  # vectorize(..., target="cuda") callees
        self._format_checked: set[int] = set()  # str.format already checked at its call
        self._flagged: set[int] = set()

    # -- resolution -----------------------------------------------------------------
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
        loads = Counter(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and _loads(n))
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
            return call is not None and _targets_cuda(call)
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

    def visit_Module(self, node: ast.Module) -> None:
        for where, problem in signature_problems(node, self._qual):
            self._flag(where, *problem)
        self.generic_visit(node)

    # -- imports --------------------------------------------------------------------
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
        if asname and _is_dunder(asname):
            self._flag(
                node,
                "dunder",
                f"binding the double-underscore name '{asname}' is not "
                "allowed; choose an ordinary name",
            )
        elif problem := import_problem(module, name, self._extras):
            self._flag(node, "import", problem)

    # -- scopes ---------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._check_def_name(node)
        for child in (*node.decorator_list, node.args, node.returns):
            if child is not None:
                self.visit(child)
        # Only the innermost decorator sees the plain function; any other could keep it and
        # call the body on the host later.
        device = self._device or self.is_device_function(node)
        self._visit_scope(node, node.body, device, self._settable_self(node))

    def is_device_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Whether a function's body runs on the GPU (a kernel or device function)."""
        if node.decorator_list:
            return self._is_device_decorator(node.decorator_list[-1])
        return node.name in self._device_funcs

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
            isinstance(n, ast.Name) and n.id == name and not _loads(n) for n in ast.walk(node)
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
                    f"subclassing library class '{_shown(base)}' is "
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
        self._scopes.append(_bindings(scope))
        for child in body:
            self.visit(child)
        self._scopes.pop()
        self._device, self._self_name, self._in_class = saved

    def _check_def_name(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        if not _is_dunder(node.name) or (
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

    # -- names and attributes -------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        name, problem = node.id, None
        if name == "__import__":
            problem = "import", "__import__ is not allowed; use an import statement"
        elif _is_dunder(name):
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
        if (self._in_extra(node) and not _is_dunder(node.attr)) or self._listed_chain(node):
            return None  # a chain on an allowed module is judged by the allowlists
        category = _category(node.attr)
        if category is None:
            return None
        rule = ATTRIBUTE_RULES.get(category, "attribute")
        return rule, f"'{_shown(node)}' is not allowed: {REASONS[category]}"

    def _store_problem(self, node: ast.Attribute) -> Problem | None:
        if isinstance(node.ctx, ast.Load) or node.attr in SETTABLE or self._in_extra(node):
            return None
        if isinstance(node.value, ast.Name) and node.value.id == self._self_name:
            return None
        return "attribute", (
            f"assigning or deleting '{_shown(node)}' is not allowed: only "
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
        what = _shown(node)
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
        if dotted in self._modules and id(node) not in self._bases and _loads(node):
            return "import", (
                f"module {what} may only be used as {_shown(node)}.<name>; "
                "passing or storing the module object is not allowed"
            )
        return None

    def _host_method_problem(self, node: ast.Attribute) -> Problem | None:
        if self._device or node.attr not in HOST_TRANSFER:
            return None
        return "host-transfer", (
            f"'{_shown(node)}' copies device data to the host for "
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
            f"'{_shown(node)}' formats with a string the checker cannot see, and "
            "format fields can read attributes; use an f-string"
        )

    # -- calls and constants --------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        dotted = self._qual(node.func)
        if dotted in CUDA_TARGET_DECORATORS and _targets_cuda(node):
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
                    f"{_shown(node.func)} hides its arguments from the checker; "
                    "pass them explicitly",
                ),
            )
        limit = MAX_POSITIONAL.get(dotted or "")
        if limit is not None and len(node.args) > limit:
            yield (
                node.args[limit],
                (
                    "file-access",
                    f"{_shown(node.func)} takes at most {limit} "
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
                    f"'{_shown(node)}' copies a CuPy array to the host "
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
