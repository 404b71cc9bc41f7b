"""The problem as Python source: the reference, the generators and what they use.

A tutorial exported from a session must define the problem again on a reader's machine,
without the notebook or the files it came from. So when a session starts, the source of
the user's functions is captured with what they refer to: imports of installed modules,
literal constants and helper functions (recursively). Whatever cannot be written as
source (an array, a local module) is named in `missing`, so the export can say so.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kernelmagic._python_ast import literal_eval
from kernelmagic.problem import Problem

SMALL_ARRAY = 1024  # elements: a constant array up to this size is written out as a literal


@dataclasses.dataclass(frozen=True)
class ProblemCode:
    """Source that defines the problem's functions, and the names it defines them under."""

    source: str
    reference: str
    inputs: str
    timing_inputs: str | None = None
    cases: int = 3
    atol: float | None = None
    rtol: float | None = None
    missing: tuple[str, ...] = ()  # globals the functions use that could not be captured
    sizes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "missing": list(self.missing), "sizes": [*self.sizes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProblemCode:
        kept = {"missing": tuple(data.get("missing", ())), "sizes": tuple(data.get("sizes", ()))}
        return cls(**{**data, **kept})


def capture(problem: Problem) -> ProblemCode:
    """The source of `problem`'s reference and generators, with their dependencies."""
    writer = _Writer()
    names = {
        "reference": writer.function(problem.reference),
        "inputs": writer.function(problem.inputs),
        "timing_inputs": writer.function(problem.timing_inputs) if problem.timing_inputs else None,
    }
    return ProblemCode(
        source=writer.source(),
        reference=names["reference"] or "reference",
        inputs=names["inputs"] or "inputs",
        timing_inputs=names["timing_inputs"],
        cases=problem.cases,
        atol=problem.atol,
        rtol=problem.rtol,
        missing=tuple(writer.missing),
        sizes=problem.sizes,
    )


class _Writer:
    """Collects import lines, constants and function definitions, dependencies first."""

    def __init__(self) -> None:
        self.imports: list[str] = []
        self.constants: list[str] = []
        self.functions: list[str] = []
        self.missing: list[str] = []
        self._seen: set[int] = set()
        self._bound: set[str] = set()

    def source(self) -> str:
        parts = ["\n".join(self.imports), "\n".join(self.constants), *self.functions]
        return "\n\n\n".join(p for p in parts if p).strip() + "\n"

    def function(self, fn: Callable[..., Any]) -> str | None:
        """Write `fn`'s definition (after what it uses); returns the name it defines."""
        name = getattr(fn, "__name__", None)
        if id(fn) in self._seen:
            return name
        self._seen.add(id(fn))
        code = getattr(fn, "__code__", None)
        text = _source(fn)
        if code is None or text is None or name is None or name == "<lambda>":
            self.missing.append(name or repr(fn))
            return None
        for global_name in sorted(_global_names(code)):
            if global_name in fn.__globals__ and global_name != name:
                self._global(global_name, fn.__globals__[global_name])
        self.functions.append(text.rstrip())
        return name

    def _global(self, name: str, value: Any) -> None:
        if name in self._bound:
            return
        self._bound.add(name)
        if isinstance(value, types.ModuleType):
            if _installed(value):
                module = value.__name__
                self.imports.append(f"import {module}" + (f" as {name}" if module != name else ""))
            else:
                self.missing.append(name)
        elif _is_user_function(value):
            defined = self.function(value)
            if defined and defined != name:
                self.constants.append(f"{name} = {defined}")
        elif (line := _importable(name, value)) is not None:
            self.imports.append(line)
        elif (literal := _literal(value)) is not None:
            if literal.startswith("numpy."):
                self._global("numpy", sys.modules["numpy"])
            self.constants.append(f"{name} = {literal}")
        else:
            self.missing.append(name)


def _source(fn: Any) -> str | None:
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None


def _global_names(code: types.CodeType) -> Iterator[str]:
    """Names the code (and the code nested in it) may look up as globals."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _installed(module: types.ModuleType) -> bool:
    """A module a reader can import too: built in, or from the standard or site library."""
    file = getattr(module, "__file__", None)
    if file is None:
        return module.__name__ in sys.builtin_module_names
    roots = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    path = Path(file).resolve()
    return any(root and path.is_relative_to(Path(root).resolve()) for root in roots)


def _is_user_function(value: Any) -> bool:
    if not isinstance(value, types.FunctionType):
        return False
    module = sys.modules.get(value.__module__ or "")
    return module is None or not _installed(module)


def _importable(name: str, value: Any) -> str | None:
    """`from module import thing as name` where that gives back this very object."""
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not module_name or not qualname or "." in qualname or "<" in qualname:
        return None
    module = sys.modules.get(module_name)
    if module is None or not _installed(module):
        return None
    # numpy's scalar types report `numpy` but live in numpy._core: import the public name.
    public = module_name.split(".")[0]
    for candidate in (public, module_name):
        spec_module = sys.modules.get(candidate)
        if spec_module is not None and getattr(spec_module, qualname, None) is value:
            alias = f" as {name}" if name != qualname else ""
            return f"from {candidate} import {qualname}{alias}"
    return None


def _literal(value: Any) -> str | None:
    """Source for a plain constant, or None when it is not one."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic) and value.ndim == 0:
        return f"numpy.{type(value).__name__}({value.item()!r})"
    if np is not None and isinstance(value, np.ndarray):
        small = value.size <= SMALL_ARRAY and value.dtype.kind in "biufc"
        return f"numpy.array({value.tolist()!r}, dtype=numpy.{value.dtype})" if small else None
    if isinstance(value, (bool, int, float, complex, str, bytes, type(None), tuple, list, dict)):
        text = repr(value)
        try:
            if literal_eval(text) == value and len(text) <= 2000:
                return text
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return None
