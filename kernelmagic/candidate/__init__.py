"""A candidate kernel: its source and how to call it.

Two forms are first-class. A Python candidate defines an entry function (numba.cuda or
CuPy inside) that takes the problem's inputs by name. A CUDA C candidate has a
`__global__` kernel whose parameters bind to inputs by name; the launch grid and block
are expressions over the inputs, given here and overridable by a directive in the source.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.errors import CandidateError

Kind = Literal["python", "cuda_c"]
CUDA_SUFFIXES = (".cu", ".cuh", ".cuda")  # file endings read as CUDA C
Flavor = Literal["numba", "cupy", "cuda_c"]

_CUDA_C_MARKERS = re.compile(r"__global__|__device__|^\s*#\s*include|extern\s+\"C\"", re.M)
_CUPY_IMPORT = re.compile(r"^\s*(import\s+cupy|from\s+cupy\w*\s+import|import\s+cupyx)", re.M)


MAX_FIRST_LINE = 100_000  # a notebook cell or file is far shorter


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One kernel to evaluate.

    `entry` names the Python entry function (default: found by its parameters);
    `kernel` names the CUDA C kernel (default: the only `__global__` one).
    `grid`, `block` and `shared` are launch expressions over the inputs for CUDA C,
    e.g. ``grid="cdiv(n, 256)"``; a ``// kernelmagic: grid=...; block=...`` line in the
    source overrides them. `compile_options` are extra NVRTC flags for CUDA C.
    `first_line` is where the source's first line sits in the user's file or cell (2 below
    a ``%%cuda_optimize`` line), so that messages name the lines the user sees.
    """

    source: str
    kind: Kind = "python"
    entry: str | None = None
    kernel: str | None = None
    grid: str | None = None
    block: str | None = None
    shared: str | None = None
    compile_options: tuple[str, ...] = ()
    name: str = "candidate"
    first_line: int = 1

    def __post_init__(self) -> None:
        # Bounded: the source is padded by that many lines (a session file could ask for 10**9).
        if not 1 <= self.first_line <= MAX_FIRST_LINE:
            raise CandidateError(
                f"first_line counts from 1 to {MAX_FIRST_LINE:,}, not {self.first_line}"
            )

    @classmethod
    def from_source(cls, source: str, *, kind: Kind | None = None, **launch: object) -> Candidate:
        """Build a candidate from source text, detecting Python vs CUDA C when not given."""
        if not source.strip():
            raise CandidateError("the candidate source is empty")
        return cls(source=source, kind=kind or detect_kind(source), **launch)  # type: ignore[arg-type]

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **launch: object) -> Candidate:
        """Read a candidate file: `.cu`/`.cuh`/`.cuda` files are CUDA C, `.py` files Python."""
        p = Path(path)
        try:
            source = p.read_text()
        except FileNotFoundError:
            raise CandidateError(f"candidate file not found: {p}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CandidateError(f"cannot read candidate file {p}: {exc}") from None
        if p.suffix in CUDA_SUFFIXES:
            kind: Kind = "cuda_c"
        elif p.suffix == ".py":
            kind = "python"
        else:
            raise CandidateError(
                f"candidate file {p}: a kernel file ends in .py (Python: numba.cuda or CuPy) "
                f"or {', '.join(CUDA_SUFFIXES)} (CUDA C), not {p.suffix or 'nothing'!r}"
            )
        launch.setdefault("name", p.name)
        return cls.from_source(source, kind=kind, **launch)

    def to_dict(self) -> dict[str, Any]:
        """The candidate as JSON-ready data: how the store and session files keep it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        """Read back what `to_dict` wrote (JSON has lists where the candidate has tuples)."""
        return cls(**{**data, "compile_options": tuple(data.get("compile_options", ()))})

    @property
    def flavor(self) -> Flavor:
        """Which world the candidate lives in: numba arrays, CuPy arrays, or CUDA C."""
        if self.kind == "cuda_c":
            return "cuda_c"
        return "cupy" if _CUPY_IMPORT.search(self.source) else "numba"

    @property
    def placed_source(self) -> str:
        """The source as parsers and compilers read it: behind `first_line - 1` blank lines,
        so every line number they report (a syntax error, a safety rule, an NVRTC error, a
        traceback) is the user's own, with no renumbering of messages afterwards."""
        return "\n" * (self.first_line - 1) + self.source

    @property
    def sha256(self) -> str:
        """Hash of exactly what runs: the source and everything that changes how it runs."""
        h = hashlib.sha256()
        for part in (
            self.kind,
            self.source,
            self.entry or "",
            self.kernel or "",
            self.grid or "",
            self.block or "",
            self.shared or "",
            "\0".join(self.compile_options),
        ):
            h.update(part.encode())
            h.update(b"\0")
        if self.first_line != 1:  # it moves every line the code reports; 1 keeps old hashes
            h.update(f"first_line={self.first_line}".encode())
        return h.hexdigest()


def detect_kind(source: str) -> Kind:
    """Python if it parses as Python and defines a function; CUDA C if it looks like C."""
    try:
        tree: ast.Module | None = parse_python(source)
    except SyntaxError:
        tree = None
    if tree is not None and any(isinstance(n, ast.FunctionDef) for n in tree.body):
        return "python"
    if _CUDA_C_MARKERS.search(source) or (tree is None and "{" in source and ";" in source):
        return "cuda_c"
    # Otherwise let the Python path report what is wrong, with its line number.
    return "python"
