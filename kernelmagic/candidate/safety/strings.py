"""What strings in a Python candidate may say: format fields, includes, options, signatures.

Format fields (``"{0.__class__}"``) read attributes of their arguments; CUDA source in a
string may ``#include`` only system headers, like a CUDA C candidate; compiler options may
not name paths. And numba reads a signature string such as ``"void(float32[:], int32)"``
with ``eval`` and the interpreter's full builtins (``numba.cuda.core.sigutils``) while the
kernel is defined, so a "signature" like ``"__import__('os').system(...)"`` would run in the
worker. A signature handed to numba (``cuda.jit``, ``vectorize``, ``.compile``...) must be
written out, a literal or numba types, so the checker sees it; and in the workers numba's
parser itself is replaced by one that accepts only `signature_string_problem`-free text
(`harness.guard.install_signature_guard`), which covers strings built at run time.
"""

from __future__ import annotations

import ast
import string
from collections import Counter
from collections.abc import Callable, Iterator

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.candidate import cuda_source
from kernelmagic.candidate.safety._constants import bound_name
from kernelmagic.candidate.safety._rules import PATH_OPTION_PREFIXES, PATH_OPTIONS
from kernelmagic.candidate.safety.allowlist import LISTINGS

Resolver = Callable[[ast.AST], str | None]
Problem = tuple[str, str]  # (rule, message)
Located = tuple[ast.AST, Problem]

TYPE_NAMES = LISTINGS["numba.types"].names
# numba callables that take a signature as their first argument, and its keyword names.
SIGNATURE_TAKERS = frozenset(
    {
        "numba.cuda.jit",
        "numba.cuda.vectorize",
        "numba.cuda.guvectorize",
        "numba.vectorize",
        "numba.guvectorize",
    }
)
SIGNATURE_KEYWORDS = frozenset({"func_or_sig", "ftylist_or_function", "sig", "signatures"})
# Methods of numba's dispatchers and GPU ufuncs that parse a signature argument.
SIGNATURE_METHODS = frozenset({"compile", "get_overload"})
_SIGNATURE_NODES = (
    *(ast.Expression, ast.Call, ast.Name, ast.Load, ast.Subscript, ast.Slice),
    *(ast.Tuple, ast.List, ast.Constant),
)


def signature_problems(tree: ast.Module, qual: Resolver) -> Iterator[Located]:
    """Signature arguments numba would evaluate unseen, and strings that are code."""
    visible = _Visible(tree, qual)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        takes = qual(func) in SIGNATURE_TAKERS or (
            isinstance(func, ast.Attribute) and func.attr in SIGNATURE_METHODS and not qual(func)
        )
        args = [*node.args[:1], *(k.value for k in node.keywords if k.arg in SIGNATURE_KEYWORDS)]
        for arg in args if takes else ():
            if not visible(arg):
                yield (
                    arg,
                    (
                        "signature",
                        f"the signature given to '{ast.unparse(func)}' must be written out (a "
                        "literal string or numba types): numba evaluates signature strings as "
                        "Python with full builtins",
                    ),
                )
                continue
            for text in visible.strings(arg):
                if problem := signature_string_problem(text):
                    yield arg, ("signature", problem)


def signature_string_problem(text: str, names: frozenset[str] = TYPE_NAMES) -> str | None:
    """Why `text` is not a plain signature (calls and subscripts of numba type `names`).

    None for text such as ``"void(float32[:, ::1], int32)"``; anything else (attributes,
    other names, operators, lambdas) would be code once numba evaluates it.
    """
    try:
        tree = parse_python(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return f"signature {text[:40]!r} does not parse"
    for node in ast.walk(tree):
        if not isinstance(node, _SIGNATURE_NODES):
            return f"signature {text[:40]!r} holds {type(node).__name__}, which no signature needs"
        if isinstance(node, ast.Name) and node.id not in names:
            return f"signature {text[:40]!r} names {node.id!r}, which is not a numba type"
    return None


class _Visible:
    """Whether an expression is a signature the checker can read: literal strings, numba
    types, a function defined here, or a module-level name bound once to an immutable one."""

    def __init__(self, tree: ast.Module, qual: Resolver) -> None:
        self._qual = qual
        bindings = Counter(bound_name(n) for n in ast.walk(tree))
        self._defs = {
            n.name
            for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and bindings[n.name] == 1
        }
        self._names = {
            stmt.targets[0].id: stmt.value
            for stmt in tree.body
            if isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and bindings[stmt.targets[0].id] == 1
        }

    def strings(self, node: ast.AST) -> Iterator[str]:
        """The string constants in a visible signature, through the names it uses."""
        for part in ast.walk(node):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                yield part.value
            elif isinstance(part, ast.Name) and (value := self._names.get(part.id)) is not None:
                yield from self.strings(value)

    def __call__(self, node: ast.AST | None, mutable: bool = True) -> bool:
        if node is None or isinstance(node, ast.Constant):
            return True
        if isinstance(node, (ast.Name, ast.Attribute)) and (dotted := self._qual(node)):
            return dotted.split(".")[0] == "numba"
        if isinstance(node, ast.Name):
            value = self._names.get(node.id)
            # Through a name only immutable values: a list could be appended to first.
            return node.id in self._defs or (
                value is not None and not isinstance(value, ast.Name) and self(value, False)
            )
        if isinstance(node, (ast.List, ast.Tuple)):
            return (mutable or isinstance(node, ast.Tuple)) and all(
                self(e, mutable) for e in node.elts
            )
        if isinstance(node, ast.Subscript):
            return self(node.value, mutable) and self(node.slice, mutable)
        if isinstance(node, ast.Slice):
            return all(self(p, mutable) for p in (node.lower, node.upper, node.step))
        if isinstance(node, ast.Call):
            parts = (node.func, *node.args)
            return not node.keywords and all(self(p, mutable) for p in parts)
        return False


def _format_fields(fmt: str) -> Iterator[str]:
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is not None:
            yield field
        if spec:  # nested fields, as in "{0:{1.x}}"
            yield from _format_fields(spec)


def format_string_problem(fmt: str) -> Problem | None:
    """Why a format string could read object internals through its fields, or None."""
    try:
        fields = list(_format_fields(fmt))
    except ValueError:
        return "format", "a malformed format string cannot be checked; use an f-string"
    for field in fields:
        if "." in field or "[" in field:
            return "format", (
                f"format field '{{{field}}}' reads an attribute or item of its argument, "
                "which can reach object internals; use an f-string"
            )
    return None


def include_problem(text: str) -> str | None:
    """Kernel source inside a Python string gets the same rule as a CUDA C candidate."""
    problems = cuda_source.check_includes(text)
    return problems[0] if problems else None


def option_problem(text: str) -> str | None:
    """Why a string of compiler options would read or write files, or None."""
    if not text.lstrip().startswith("-"):
        return None
    for token in text.split():
        if token.split("=", 1)[0] in PATH_OPTIONS or token.startswith(PATH_OPTION_PREFIXES):
            return f"compiler option '{token}' reads or writes files or runs programs; remove it"
    return None
