"""What can be decided about a candidate before anything runs.

Python candidates must parse, pass the safety rules and have an entry function; CUDA C
candidates must name a kernel, include only system headers and use allowed compile
options. The result is the candidate with everything resolved (entry, kernel, launch
expressions, options), which is exactly what the workers build.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.candidate import Candidate, cuda_directive, cuda_source, safety
from kernelmagic.errors import syntax_error
from kernelmagic.harness.verdict import Status


class StaticFailure(Exception):
    """The candidate cannot run: a status (compile_error or rejected) and a message."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def prepare(
    candidate: Candidate,
    *,
    input_names: Iterable[str],
    reference_params: Iterable[str],
    allowed_imports: Iterable[str] = (),
) -> Candidate:
    """The candidate with its entry/kernel and launch settings resolved; raises StaticFailure."""
    if candidate.kind == "cuda_c":
        return _prepare_cuda_c(candidate)
    return _prepare_python(candidate, set(input_names), list(reference_params), allowed_imports)


def _prepare_python(
    candidate: Candidate, inputs: set[str], ref_params: list[str], allowed_imports: Iterable[str]
) -> Candidate:
    try:  # the placed source: line numbers are the user's file's or cell's
        tree = parse_python(candidate.placed_source)
        violations = safety.check_python(candidate.placed_source, allowed_imports=allowed_imports)
    except SyntaxError as exc:
        raise StaticFailure(Status.COMPILE_ERROR, syntax_error(exc)) from None
    if violations:
        shown = "; ".join(f"line {v.line}: {v.message}" for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        raise StaticFailure(Status.REJECTED, shown + more)
    return dataclasses.replace(
        candidate, entry=find_entry(tree, candidate.entry, inputs, ref_params)
    )


def find_entry(
    tree: ast.Module, explicit: str | None, inputs: set[str], ref_params: list[str]
) -> str:
    """The host function that takes the inputs by name and launches the kernels."""
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    device = safety.device_functions(tree)
    hosts = [f for f in functions if f.name not in device]
    if explicit:
        match = [f for f in functions if f.name == explicit]
        if not match:
            raise StaticFailure(
                Status.COMPILE_ERROR, f"no function named {explicit!r} in the candidate"
            )
        if explicit in device:
            raise StaticFailure(
                Status.COMPILE_ERROR,
                f"{explicit!r} is a kernel; the entry is the host function that launches it",
            )
        _check_params(match[0], inputs)
        return explicit
    exact = [f for f in hosts if sorted(_params(f)) == sorted(ref_params)]
    if len(exact) == 1:
        return exact[0].name
    fitting = [f for f in hosts if _required(f) <= inputs and set(_params(f)) & inputs]
    if len(fitting) == 1:
        return fitting[0].name
    wanted = ", ".join(ref_params)
    if not fitting:
        raise StaticFailure(
            Status.COMPILE_ERROR,
            f"no entry function: define a host function def name({wanted}) that launches "
            "the kernel and returns the result",
        )
    names = ", ".join(f.name for f in (exact or fitting))
    raise StaticFailure(
        Status.COMPILE_ERROR, f"several functions could be the entry ({names}): name one explicitly"
    )


def _params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]


def _required(fn: ast.FunctionDef) -> set[str]:
    positional = [*fn.args.posonlyargs, *fn.args.args]
    required = positional[: len(positional) - len(fn.args.defaults)]
    kw_required = [
        a for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=False) if d is None
    ]
    return {a.arg for a in (*required, *kw_required)}


def _check_params(fn: ast.FunctionDef, inputs: set[str]) -> None:
    missing = _required(fn) - inputs
    if missing:
        raise StaticFailure(
            Status.COMPILE_ERROR,
            f"entry {fn.name!r} takes {', '.join(sorted(missing))}, which the inputs do not give "
            f"(inputs: {', '.join(sorted(inputs))})",
        )


def _prepare_cuda_c(candidate: Candidate) -> Candidate:
    problems = cuda_source.check_includes(candidate.placed_source)  # the user's line numbers
    if problems:
        raise StaticFailure(Status.REJECTED, "; ".join(problems))
    try:
        directive = cuda_directive.parse_directive(candidate.placed_source)
    except ValueError as exc:
        raise StaticFailure(Status.COMPILE_ERROR, str(exc)) from None
    options = (*candidate.compile_options, *directive.options)
    problems = cuda_directive.check_options(options)
    if problems:
        raise StaticFailure(Status.REJECTED, "; ".join(problems))
    kernels = cuda_source.find_kernels(candidate.source)
    if not kernels:
        raise StaticFailure(Status.COMPILE_ERROR, "no __global__ kernel in the source")
    kernel = directive.kernel or candidate.kernel
    if kernel is None:
        names = sorted({k.name for k in kernels})
        if len(names) > 1:
            raise StaticFailure(
                Status.COMPILE_ERROR,
                f"several kernels ({', '.join(names)}): name one with kernel=NAME or a "
                "'// kernelmagic: kernel=NAME' line",
            )
        if kernels[0].template_params:
            raise StaticFailure(
                Status.COMPILE_ERROR,
                f"kernel {names[0]!r} is a template: name an instance, e.g. "
                f"'// kernelmagic: kernel={names[0]}<256>'",
            )
        kernel = names[0]
    elif cuda_source.kernel_base_name(kernel) not in {k.name for k in kernels}:
        raise StaticFailure(Status.COMPILE_ERROR, f"no __global__ kernel named {kernel!r}")
    return dataclasses.replace(
        candidate,
        kernel=kernel,
        grid=directive.grid or candidate.grid,
        block=directive.block or candidate.block,
        shared=directive.shared or candidate.shared,
        compile_options=options,
    )
