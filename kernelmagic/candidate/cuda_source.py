"""Read CUDA C candidate source without compiling it.

The harness must bind a kernel's parameters to the problem's inputs, pick the kernel to
launch and refuse unsafe source before NVRTC ever sees it, and it must do so on machines
without a GPU (and quickly, for every candidate an LLM writes). A full C++ parser is out
of reach, so this module masks comments and literals, then reads `__global__`
signatures with a small tokenizer that covers the declaration styles kernels use.

It also holds the C type -> NumPy dtype tables and the check on `#include` lines: a
quoted or absolute include would read a file of this machine into the compile, and its
log back to the user (or LLM). The directive and the compile options are read in
`cuda_directive`, comments and literals found by `cuda_lexer`.
"""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

import numpy as np

from kernelmagic.candidate import cuda_lexer

# The NumPy dtype of a C scalar type: the element type of pointer parameters and the
# dtype to pack scalar arguments with. `long` is 64-bit as CUDA follows the host's LP64
# ABI on Linux; `char` is signed as on x86-64 hosts. bfloat16 is not a NumPy builtin:
# callers need ml_dtypes (or raw uint16) for it.
SCALAR_DTYPES = MappingProxyType({
    "bool": "bool", "char": "int8", "signed char": "int8", "unsigned char": "uint8",
    "short": "int16", "unsigned short": "uint16", "int": "int32", "unsigned int": "uint32",
    "long": "int64", "unsigned long": "uint64",
    "long long": "int64", "unsigned long long": "uint64",
    "int8_t": "int8", "uint8_t": "uint8", "int16_t": "int16", "uint16_t": "uint16",
    "int32_t": "int32", "uint32_t": "uint32", "int64_t": "int64", "uint64_t": "uint64",
    "size_t": "uint64", "ptrdiff_t": "int64",
    "float": "float32", "double": "float64", "half": "float16", "__half": "float16",
    "__nv_bfloat16": "bfloat16", "nv_bfloat16": "bfloat16",
})  # fmt: skip

_VECTOR_ELEMENTS = {
    "char": "int8", "uchar": "uint8", "short": "int16", "ushort": "uint16",
    "int": "int32", "uint": "uint32", "long": "int64", "ulong": "uint64",
    "longlong": "int64", "ulonglong": "uint64", "float": "float32", "double": "float64",
}  # fmt: skip

# CUDA vector type -> (element dtype, width).
VECTOR_TYPES = MappingProxyType({
    **{f"{prefix}{width}": (dtype, width)
       for prefix, dtype in _VECTOR_ELEMENTS.items() for width in (1, 2, 3, 4)},
    "half2": ("float16", 2),
    "__half2": ("float16", 2),
    "__nv_bfloat162": ("bfloat16", 2),
    "nv_bfloat162": ("bfloat16", 2),
})  # fmt: skip


def scalar_numpy_type(base: str) -> type[np.generic] | None:
    """The NumPy scalar type to pass a by-value parameter of C type `base`, if known."""
    name = SCALAR_DTYPES.get(base)
    if name is None:
        return None
    try:
        return np.dtype(name).type
    except TypeError:  # bfloat16 without ml_dtypes
        return None


@dataclasses.dataclass(frozen=True)
class Param:
    """One kernel parameter. `unnamed` parameters get the name argN (N: their position)."""

    name: str
    c_type: str
    pointer: bool
    const: bool
    base: str
    dtype: str | None
    vector_width: int
    unnamed: bool = False


@dataclasses.dataclass(frozen=True)
class KernelSignature:
    """A `__global__` function; `line` is that of its name, `defined` false for declarations."""

    name: str
    params: tuple[Param, ...]
    template_params: tuple[str, ...]
    line: int
    defined: bool = True


_QUALIFIERS = frozenset({
    "const", "volatile", "__restrict__", "__restrict", "restrict", "__grid_constant__",
    "struct", "class", "enum", "union", "typename", "register",
})  # fmt: skip
_BUILTIN_TYPE_WORDS = frozenset(
    {"void", "bool", "char", "short", "int", "long", "float", "double", "signed", "unsigned"}
)
_NOT_NAMES = _QUALIFIERS | _BUILTIN_TYPE_WORDS
_TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w*)|(\[\[)|(\S))")
# Attribute-like macros that may sit between __global__ and the kernel's name.
_ATTRIBUTES = frozenset(
    {"__launch_bounds__", "__maxnreg__", "__cluster_dims__", "__attribute__", "__declspec"}
)


def _closing(text: str, start: int, pairs: dict[str, str]) -> int:
    """Index of the bracket closing the one at `start`, or -1; nested pairs are skipped."""
    stack = []
    for index in range(start, len(text)):
        char = text[index]
        if char in pairs:
            stack.append(pairs[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                return index
        elif char in ";{}":
            return -1  # ran past the declaration (an unbalanced '<' was a less-than)
    return -1


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on `separator` outside (), <>, [] and {}."""
    parts: list[str] = []
    depth = start = 0
    for index, char in enumerate(text):
        depth += (char in "(<[{") - (char in ")>]}")
        if char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _normalize_base(words: list[str]) -> str:
    """Canonical spelling of integer keyword soups: "long long int" -> "long long"."""
    if not words or not set(words) <= {"signed", "unsigned", "short", "long", "int", "char"}:
        return " ".join(words)
    unsigned = "unsigned" in words
    if "char" in words:
        return "unsigned char" if unsigned else ("signed char" if "signed" in words else "char")
    if "short" in words:
        kind = "short"
    elif words.count("long") >= 2:
        kind = "long long"
    elif "long" in words:
        kind = "long"
    else:
        kind = "int"
    return f"unsigned {kind}" if unsigned else kind


def _parse_param(text: str, index: int) -> Param:
    """One parameter declaration. The last identifier is the name unless taking it would
    leave no type behind ("float", "unsigned int", "const T" are unnamed)."""
    text = " ".join(_split_top_level(text, "=")[0].split())
    array = re.search(r"\s*\[[^\]]*\]$", text)
    if array:
        text = text[: array.start()]
    tokens = re.findall(r"(?:::)?[A-Za-z_]\w*(?:\s*::\s*[A-Za-z_]\w*)*|\S", text)
    last = tokens[-1] if tokens else ""
    typed = [t for t in tokens[:-1] if t not in _QUALIFIERS]
    named = (
        re.fullmatch(r"[A-Za-z_]\w*", last) is not None and last not in _NOT_NAMES and bool(typed)
    )
    c_type = text[: text.rfind(last)] if named else text
    c_type = re.sub(r"\s*([*&])", r"\1", c_type.strip())
    c_type = re.sub(r"([*&])(?=[A-Za-z_])", r"\1 ", c_type)
    head = re.split(r"[*&]", c_type, maxsplit=1)[0]
    pointer = bool(array) or "*" in c_type
    const = "const" in (head.split() if pointer else c_type.split())
    c_type += "[]" if array else ""
    base_words = [w for w in re.sub(r"\s*<", "<", head).split() if w not in _QUALIFIERS]
    base = _normalize_base(base_words).removeprefix("::").removeprefix("std::")
    dtype, width = SCALAR_DTYPES.get(base), 1
    if base in VECTOR_TYPES:
        dtype, width = VECTOR_TYPES[base]
    name = last if named else f"arg{index}"
    return Param(name, c_type, pointer, const, base, dtype, width, unnamed=not named)


def _template_params(code: str, global_at: int) -> tuple[str, ...]:
    """Names from a `template<...>` right before the `__global__` at `global_at`."""
    boundary = max(code.rfind(char, 0, global_at) for char in ";{}") + 1
    # The last one is the kernel's; earlier ones may belong to a nested scope.
    matches = list(re.finditer(r"\btemplate\s*<", code[boundary:global_at]))
    if not matches:
        return ()
    match = matches[-1]
    opening = boundary + match.end() - 1
    closing = _closing(code, opening, {"<": ">", "(": ")"})
    if closing < 0:
        return ()
    # Each parameter's name is its last identifier before any default ("int BLOCK = 128").
    parts = (
        _split_top_level(part, "=")[0] for part in _split_top_level(code[opening + 1 : closing])
    )
    words = (re.findall(r"[A-Za-z_]\w*", part) for part in parts)
    return tuple(found[-1] for found in words if found)


def _kernel_at(code: str, global_at: int) -> KernelSignature | None:
    """Read the kernel whose `__global__` keyword starts at `global_at`."""
    position, name, name_at = global_at + len("__global__"), None, -1
    while True:
        match = _TOKEN.match(code, position)
        if match is None:
            return None
        identifier, attribute, other = match.groups()
        position = match.end()
        if identifier in _ATTRIBUTES:
            opening = code.find("(", position)
            if opening < 0 or code[position:opening].strip():
                return None
            position = _closing(code, opening, {"(": ")"}) + 1
        elif identifier:
            name, name_at = identifier, match.start(1)
        elif attribute:
            closing = code.find("]]", position)
            position = closing + 2 if closing >= 0 else -1
        elif other == "<" and name:  # explicit template arguments: k<128>(...)
            position = _closing(code, match.start(3), {"<": ">", "(": ")"}) + 1
        elif other == "(" and name:
            break
        else:
            return None
        if position <= 0:
            return None
    closing = _closing(code, position - 1, {"(": ")"})
    if closing < 0:
        return None
    template_params = _template_params(code, global_at)
    texts = _split_top_level(code[position:closing])
    if len(texts) == 1 and texts[0].strip() in ("", "void"):
        texts = []
    params = tuple(_parse_param(text, i) for i, text in enumerate(texts))
    end = re.compile(r"[;{]").search(code, closing)
    return KernelSignature(
        name=name,
        params=params,
        template_params=template_params,
        line=code.count("\n", 0, name_at) + 1,
        defined=bool(end and end.group() == "{"),
    )


def find_kernels(source: str) -> list[KernelSignature]:
    """All `__global__` function definitions and declarations, in source order.

    Comments, string literals and preprocessor lines are ignored, so a kernel name in
    any of them is not found; `__device__` functions are not kernels and are skipped.
    """
    code = cuda_lexer.code(source)
    kernels = (_kernel_at(code, m.start()) for m in re.finditer(r"\b__global__\b", code))
    return [kernel for kernel in kernels if kernel is not None]


def kernel_base_name(kernel: str) -> str:
    """The name `find_kernels` gives the kernel an instance names: "tile<16>" -> "tile"."""
    return kernel.split("<")[0].strip()


_INCLUDE = re.compile(r"\s*(?:#|%:|\?\?=)\s*(include_next|include|import|embed)\b\s*(.*)")
_HAS_INCLUDE = re.compile(r"__has_include(?:_next)?\s*\(\s*([^)]*)\)")


def _header_problem(target: str) -> str | None:
    header = re.fullmatch(r"<([^<>]+)>", target.strip())
    if header is None:
        return "only <header> form is allowed: quoted and computed includes read local files"
    path = header.group(1).strip()
    if path.startswith(("/", "\\", "~")) or re.match(r"[A-Za-z]:", path):
        return "absolute header paths are not allowed"
    if ".." in re.split(r"[/\\]", path):
        return "'..' in a header path is not allowed"
    return None


def check_includes(source: str) -> list[str]:
    """Problems with `#include` lines, one message each; [] when all are `<header>` form.

    Quoted, computed (macro), absolute and '..' includes are refused: they would pull
    files of this machine into the compile and, through error messages, into its log.
    """
    # As the compiler reads it: CRLF ends a line (and splices after a backslash); a lone
    # CR is whitespace.
    source = source.replace("\r\n", "\n").replace("\r", " ")
    problems = []
    for number, line in cuda_lexer.logical_lines(cuda_lexer.mask(source, cuda_lexer.COMMENTS)):
        match = _INCLUDE.match(line)
        if match:
            directive, target = match.groups()
            if directive == "include":
                reason = _header_problem(target)
            else:
                reason = f"#{directive} is not allowed"
            if reason:
                problems.append(f"line {number}: {line.strip()!r}: {reason}")
        for probe in _HAS_INCLUDE.finditer(line):
            reason = _header_problem(probe.group(1))
            if reason:
                problems.append(f"line {number}: {probe.group().strip()!r}: {reason}")
    return problems
