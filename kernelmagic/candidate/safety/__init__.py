"""Static safety rules for Python candidates.

Candidates are often written by an LLM, and such kernels have been caught cheating: computing
the answer on the host with NumPy or a CPU JIT and handing it back, or reading a stored answer
from a file. A candidate also runs inside the harness's worker process, so introspection
(``f.__globals__``, frames, ``__subclasses__``) or an internal module of numba or CuPy could
reach the harness's own state, the file system or the CUDA driver, or patch the timers and the
comparison. `check_python` rejects such code before it runs anywhere:

* imports and module attributes: allowlists (`allowlist`) of the modules candidates
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
* strings (`strings`): CUDA sources may ``#include`` only system headers, compiler
  options may not name paths, and anything numba would evaluate as a signature must name
  only numba types;
* host code (everything outside GPU-decorated functions) may use NumPy only to allocate and
  to name dtypes and constants (and at module level to build constant tables,
  `_constants`), may not CPU-compile with numba, and may not pull device data back for
  host-side work.

A static check cannot follow values computed at run time (a string assembled into an
``#include``, a method patched on an object passed around); the harness's dynamic checks
cover what is left.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.candidate.safety._calls import CallRules
from kernelmagic.candidate.safety._definitions import DefinitionRules
from kernelmagic.candidate.safety._names import NameRules
from kernelmagic.candidate.safety._resolve import Violation
from kernelmagic.candidate.safety._rules import SAFE_BUILTINS
from kernelmagic.candidate.safety.allowlist import ALLOWED_MODULES, extra_modules

__all__ = ["ALLOWED_MODULES", "SAFE_BUILTINS", "Violation", "check_python", "device_functions"]


def check_python(source: str, *, allowed_imports: Iterable[str] = ()) -> list[Violation]:
    """Static safety rules for a Python candidate. Raises SyntaxError when source does not parse.

    Returns every violation, in source order, at most one per syntax node. `allowed_imports`
    adds modules to `ALLOWED_MODULES`; such an extra module is fully allowed, its submodules
    and attributes included (``os._exit``), except double-underscore attributes.
    """
    try:
        tree = parse_python(source)
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


class _Checker(DefinitionRules, NameRules, CallRules):
    """Every rule, each concern in its own mixin, over one shared resolution of names."""
