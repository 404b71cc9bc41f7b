"""Read an LLM's reply: the one complete kernel in it, and the prose that explains it.

Replies are written for people: prose around the code, the old kernel quoted before the
new one, wrong or missing language tags, `~~~` fences, reasoning in `<think>` tags, and
sometimes an end cut off by the token limit. A block is judged by what its code is, never
by its tag, and only a complete kernel of the session's form is used: a broken one would
only cost an evaluation to learn what parsing already knows.
"""

from __future__ import annotations

import ast
import dataclasses
import re

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.candidate import Candidate, cuda_directive, cuda_lexer, cuda_source, safety

RATIONALE_CHARS = 600

# A fence may be indented (replies put code in list items); a backtick fence's info
# string holds no backtick, or it is inline code.
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}(?=[^`]*$)|~{3,})[ \t]*(?P<info>.*)$")
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S)
_LOOKS_PYTHON = re.compile(r"^\s*(def |import |from \w+ import |@)", re.M)


@dataclasses.dataclass(frozen=True)
class ParsedReply:
    """The reply's kernel as a candidate, its rationale, or why it holds no usable kernel."""

    candidate: Candidate | None
    rationale: str = ""
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class _Block:
    code: str
    index: int
    closed: bool


def parse_reply(
    text: str | None,
    *,
    base: Candidate,
    finish_reason: str | None = None,
    cut: str | None = None,
    name: str = "llm",
) -> ParsedReply:
    """The complete kernel of `base`'s kind in `text`, keeping `base`'s launch settings.

    `cut` says why the reply was not read to its end (kernelmagic stopped reading it): it
    counts as cut off, as one that ended at the token limit does.
    """
    why = cut or (f"finish_reason={finish_reason}" if finish_reason else None)
    visible = _THINK.sub("", text or "").strip()
    if not visible:
        if text and "<think>" in text and "</think>" not in text:
            return ParsedReply(None, "", _cut("while still reasoning", why))
        return ParsedReply(None, "", _empty(finish_reason, cut))
    blocks, prose = _split(visible)
    fenced = bool(blocks)
    if not fenced:
        # Some models answer with bare code: the whole reply is then the only block.
        blocks = [_Block(visible, 0, closed=finish_reason != "length" and cut is None)]
        prose = ""
    rationale = _rationale(prose)
    problems: list[tuple[int, str]] = []
    usable: list[_Block] = []
    for block in blocks:
        problem = _problem(block, base)
        if problem is None:
            usable.append(block)
        elif problem:
            problems.append((len(block.code), problem))
    if usable:
        chosen = _choose(usable, base)
        if chosen.code.strip() == base.source.strip():
            return ParsedReply(None, rationale, "the reply repeats the current kernel unchanged")
        return ParsedReply(dataclasses.replace(base, source=chosen.code, name=name), rationale)
    if not blocks[-1].closed:
        return ParsedReply(None, rationale, _cut("before the kernel was complete", why))
    if problems:
        return ParsedReply(None, rationale, max(problems)[1])
    if not fenced:
        return ParsedReply(None, _rationale(visible), "the reply holds no code, only prose")
    return ParsedReply(None, rationale, f"no code block in the reply is a complete {_form(base)}")


def entry_function(source: str, entry: str | None) -> ast.FunctionDef | None:
    """The host function a Python kernel file is called through: `entry`, else the only one."""
    try:
        hosts = _hosts(parse_python(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if entry is not None:
        return next((f for f in hosts if f.name == entry), None)
    return hosts[0] if len(hosts) == 1 else None


def _split(text: str) -> tuple[list[_Block], str]:
    """The fenced blocks of `text` (an unclosed last one runs to the end) and the prose."""
    blocks: list[_Block] = []
    prose: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opened = _OPEN.match(lines[i])
        if not opened:
            prose.append(lines[i])
            i += 1
            continue
        fence, indent = opened.group("fence"), len(opened.group("indent"))
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            body.append(_dedent(lines[i], indent))
            i += 1
        closed = i < len(lines)
        i += 1
        blocks.append(_Block("\n".join(body).strip("\n") + "\n", len(blocks), closed))
    return blocks, "\n".join(prose)


def _dedent(line: str, indent: int) -> str:
    stripped = line[:indent].lstrip(" \t")
    return stripped + line[indent:] if stripped else line[indent:]


def _problem(block: _Block, base: Candidate) -> str | None:
    """Why `block` is not a complete kernel of `base`'s kind: None if it is, "" for a snippet."""
    code = block.code
    error: Exception | None = None
    tree: ast.Module | None = None
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        error = exc
    is_python = tree is not None and any(isinstance(n, ast.FunctionDef) for n in tree.body)
    is_cuda = tree is None and "__global__" in code
    if base.kind == "python":
        if is_cuda:
            return "the reply's kernel is CUDA C, but this session tunes a Python kernel"
        if tree is None:
            if not _LOOKS_PYTHON.search(code):
                return ""
            if not block.closed:
                return "the Python code was cut off"
            return f"its Python code does not parse ({_syntax(error)})"
        try:
            return _python_problem(tree, base, truncated=not block.closed)
        except RecursionError:
            return "its Python code is nested too deeply to read"
    if is_python:
        return "the reply's kernel is Python, but this session tunes a CUDA C kernel"
    if not is_cuda:
        return ""
    return _cuda_problem(code, base)


def _python_problem(tree: ast.Module, base: Candidate, *, truncated: bool) -> str | None:
    hosts = _hosts(tree)
    if not hosts:
        # Kernels alone are a snippet when the base has any host function to call them.
        return "" if _hosts_of(base.source) else None
    if base.entry and base.entry not in {f.name for f in hosts}:
        return f"it does not define the entry function {base.entry!r}"
    names = _names(base)
    entry = next((f for f in reversed(hosts) if f.name in names), hosts[-1])
    # A cut between two statements still parses: a host function must end in its return.
    if truncated and not (entry.body and isinstance(entry.body[-1], ast.Return)):
        return "the Python code was cut off"
    return None


def _cuda_problem(code: str, base: Candidate) -> str | None:
    masked = cuda_lexer.mask(code, cuda_lexer.NOT_CODE)
    depth = 0
    for char in masked:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        return "its braces do not balance: the CUDA C code is incomplete"
    kernels = [k for k in cuda_source.find_kernels(code) if k.defined]
    if not kernels:
        return ""
    wanted = _kernel_name(base)
    directive_names_kernel = any(
        item.key == "kernel" and item.value is not None
        for item in cuda_directive.directive_items(code)
    )
    if base.kernel and wanted not in {k.name for k in kernels} and not directive_names_kernel:
        return f"it does not define the kernel {wanted!r}"
    return None


def _choose(usable: list[_Block], base: Candidate) -> _Block:
    """The last block that changes the kernel and keeps its name; a late block much smaller
    than the largest is usually an excerpt of it, so it loses to the larger one."""
    names = _names(base)
    largest = max(len(b.code) for b in usable)

    def rank(block: _Block) -> tuple[bool, bool, bool, int]:
        return (
            block.code.strip() != base.source.strip(),
            bool(names & _names_in(block.code, base.kind)),
            len(block.code) * 2 >= largest,
            block.index,
        )

    return max(usable, key=rank)


def _names(base: Candidate) -> set[str]:
    """The function names a reply should keep: the entry (Python) or the kernel (CUDA C)."""
    if base.kind == "python":
        return {base.entry} if base.entry else _hosts_of(base.source)
    wanted = _kernel_name(base)
    return {wanted} if wanted else _names_in(base.source, "cuda_c")


def _names_in(code: str, kind: str) -> set[str]:
    if kind == "python":
        return _hosts_of(code)
    return {k.name for k in cuda_source.find_kernels(code) if k.defined}


def _kernel_name(base: Candidate) -> str | None:
    return cuda_source.kernel_base_name(base.kernel) if base.kernel else None


def _hosts(tree: ast.Module) -> list[ast.FunctionDef]:
    device = safety.device_functions(tree)
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name not in device]


def _hosts_of(source: str) -> set[str]:
    try:
        return {f.name for f in _hosts(parse_python(source))}
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()


def _syntax(error: Exception | None) -> str:
    if isinstance(error, SyntaxError):
        return f"line {error.lineno}: {error.msg}" if error.lineno else error.msg
    return str(error) or "it is nested too deeply"  # MemoryError says nothing


def _form(base: Candidate) -> str:
    return "Python kernel file" if base.kind == "python" else "CUDA C kernel"


def _rationale(prose: str) -> str:
    text = " ".join(prose.split())
    if len(text) <= RATIONALE_CHARS:
        return text
    return text[: RATIONALE_CHARS - 1].rstrip() + "…"


def _cut(when: str, why: str | None) -> str:
    reason = f" ({why})" if why else ""
    return f"the reply was cut off{reason} {when}"


def _empty(finish_reason: str | None, cut: str | None) -> str:
    if cut:
        return f"the reply was empty ({cut})"
    if finish_reason and finish_reason != "stop":
        return f"the reply was empty (finish_reason={finish_reason})"
    return "the reply was empty"
