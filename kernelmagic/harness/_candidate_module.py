"""Candidate Python as a worker runs it: a fresh module with the builtins candidates get.

The builtins are the safe set, a `print` bounded per job and an `import` that applies the
static rules' module and name lists again. An exception the candidate raises is described
without running any code it wrote; `CandidateFailure` is a stop the candidate caused,
carried up to the job as a `Failure`.
"""

from __future__ import annotations

import builtins
import linecache
import sys
import types
from collections.abc import Mapping
from typing import Any

from kernelmagic.candidate import Candidate
from kernelmagic.candidate.safety import SAFE_BUILTINS
from kernelmagic.candidate.safety.allowlist import extra_modules, import_problem
from kernelmagic.harness.jobs import Failure
from kernelmagic.harness.verdict import CompileInfo, Status, clip

CANDIDATE_MODULE_PREFIX = "kernelmagic_candidate_"


class CandidateFailure(Exception):
    """A candidate-caused stop, carried up to the job as a `Failure`."""

    def __init__(
        self,
        status: Status,
        message: str,
        *,
        replace_worker: bool = False,
        compile_info: CompileInfo | None = None,
    ) -> None:
        super().__init__(message)
        self.failure = Failure(status, message, replace_worker)
        self.compile_info = compile_info


class _BoundedPrint:
    """`print` as candidates get it: at most `limit` characters per job reach the worker's log.

    Debug prints are welcome; a candidate printing gigabytes (from every simulated thread)
    must not fill the disk or stall the job on its own output.
    """

    limit = 64 * 1024

    def __init__(self) -> None:
        self.left = self.limit

    def reset(self) -> None:
        self.left = self.limit

    def __call__(self, *args: Any, sep: Any = " ", end: Any = "\n", **_ignored: Any) -> None:
        if self.left <= 0:
            return
        text = str(sep).join(str(a) for a in args) + str(end)
        if len(text) > self.left:
            text = text[: self.left] + f"\n[kernelmagic: output cut at {self.limit} characters]\n"
        self.left -= len(text)
        sys.stdout.write(text)


candidate_print = _BoundedPrint()

_PLAIN = (str, int, float, bool, type(None))


def exception_text(exc: BaseException) -> str:
    """`Type: message`, built without running any code the candidate wrote.

    A candidate's exception class (or an argument object of its own) could define a
    `__str__` that never returns or returns megabytes; such exceptions are described
    from their plain arguments only, and every text is clipped.
    """
    kind = type(exc)
    args = vars(BaseException)["args"].__get__(exc)  # not a class attribute it shadowed
    own_class = any(
        str(vars(c).get("__module__", "")).startswith(CANDIDATE_MODULE_PREFIX) for c in kind.__mro__
    )
    if own_class or not all(type(a) in _PLAIN for a in args):
        shown = [
            clip(a) if type(a) is str else repr(a) if type(a) in _PLAIN else f"<{type(a).__name__}>"
            for a in args[:8]
        ]
        text = ", ".join(shown)
    else:
        try:
            text = clip(str(exc))
        except Exception:  # a library exception whose own formatting fails
            text = ", ".join(clip(str(a)) for a in args[:8])
    return f"{kind.__name__}: {text}".strip() if text else kind.__name__


def load_module(
    source: str, filename: str, name: str, builtins: Mapping[str, Any]
) -> tuple[types.ModuleType, types.CodeType]:
    """Execute candidate `source` as a fresh module `name` with `builtins`.

    Registered in `linecache` (so tracebacks and numba's messages quote the candidate's
    lines, even when loading fails) and in `sys.modules` (numba resolves globals through
    it); `forget_module` undoes both. Returns the module and its top-level code object,
    whose constants hold every function it defines.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = dict(builtins)
    sys.modules[name] = module
    try:
        code = compile(source, filename, "exec")
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module, code


def forget_module(module: types.ModuleType, filename: str) -> None:
    sys.modules.pop(module.__name__, None)
    linecache.cache.pop(filename, None)


def candidate_filename(candidate: Candidate) -> str:
    """The name candidate code is compiled under: tracebacks are told apart from ours by it."""
    return f"<candidate {candidate.sha256[:12]}>"


def candidate_builtins(allowed_imports: tuple[str, ...]) -> dict[str, Any]:
    """The builtins candidate modules run with: the safe set, a bounded print, a guarded import."""
    return {
        **SAFE_BUILTINS,
        "print": candidate_print,
        "__import__": _guarded_import(allowed_imports),
    }


def _guarded_import(extra: tuple[str, ...]) -> Any:
    """`import` inside candidate modules: the static rules' module and name lists, applied
    again (``from numba import cuda`` arrives as "numba" with fromlist ("cuda",))."""
    extras = extra_modules(extra)

    def guarded(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        problems = [import_problem(name, item, extras) for item in fromlist or (None,)]
        if level or any(problems):
            raise ImportError(
                "candidates may not use relative imports"
                if level
                else next(p for p in problems if p)
            )
        return builtins.__import__(name, globals, locals, fromlist, level)

    return guarded
