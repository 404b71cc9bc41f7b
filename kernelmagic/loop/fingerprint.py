"""Keys that say when two evaluations would be the same evaluation.

A candidate's key ignores what cannot change how it runs (comments, blank lines,
indentation of CUDA C, Python formatting); a problem's key covers the cases it is
checked on, so a stored verdict is reused only for the same question on the same device.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
from collections.abc import Iterable

import numpy as np

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.candidate import Candidate, cuda_lexer
from kernelmagic.candidate.cuda_directive import is_directive
from kernelmagic.problem import Case, Problem

_SPACES = re.compile(r"[ \t]+")


def normalized_source(candidate: Candidate) -> str:
    """The source with what cannot matter taken out (directives, which can, are kept)."""
    if candidate.kind == "python":
        try:
            return ast.dump(parse_python(candidate.source))
        except (SyntaxError, RecursionError):  # RecursionError: a tree too deep to dump
            return _squeeze(candidate.source.splitlines())
    directives = [line.strip() for line in candidate.source.splitlines() if is_directive(line)]
    code = cuda_lexer.mask(candidate.source, cuda_lexer.COMMENTS)  # "//" in a string is code
    return _squeeze([*directives, *code.splitlines()])


def candidate_key(candidate: Candidate) -> str:
    """Hash of the normalized source and everything else that changes how it runs."""
    parts = (
        candidate.kind,
        normalized_source(candidate),
        candidate.entry or "",
        candidate.kernel or "",
        candidate.grid or "",
        candidate.block or "",
        candidate.shared or "",
        "\0".join(candidate.compile_options),
    )
    return _hash(p.encode() for p in parts)


def problem_key(problem: Problem, cases: Iterable[Case]) -> str:
    """Hash of the verification cases (inputs and expected outputs) and the checking rules."""
    chunks: list[bytes] = [
        repr((problem.cases, problem.atol, problem.rtol, problem.timing_sets)).encode(),
        repr(sorted(problem.allowed_imports)).encode(),
        _source_of(problem.timing_inputs).encode(),
        repr((problem.bytes_moved, problem.flops)).encode()
        if not callable(problem.bytes_moved) and not callable(problem.flops)
        else b"callable work",
    ]
    if problem.sizes:  # only then: keys of problems without stated sizes stay as they were
        chunks.append(repr(problem.sizes).encode())
    for case in cases:
        for name, value in case.inputs.items():
            chunks.append(name.encode())
            chunks.append(_value_bytes(value))
        for out in case.expected:
            chunks.append(_value_bytes(out))
    return _hash(chunks)


def evaluation_key(candidate: Candidate, problem: str, backend: str, device: str) -> str:
    """The cache key of one evaluation: candidate, problem, backend and device."""
    return _hash(p.encode() for p in (candidate_key(candidate), problem, backend, device))


def _squeeze(lines: Iterable[str]) -> str:
    kept = (_SPACES.sub(" ", line).strip() for line in lines)
    return "\n".join(line for line in kept if line)


def _value_bytes(value: object) -> bytes:
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        return f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()
    if isinstance(value, np.generic):
        return value.dtype.str.encode() + value.tobytes()
    return repr(value).encode()


def _source_of(fn: object) -> str:
    if fn is None:
        return ""
    try:
        return inspect.getsource(fn)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


def _hash(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "little"))
        h.update(chunk)
    return h.hexdigest()
