"""Parsing on several threads at once: kernelmagic's parses never fail, whoever else parses.

A fresh-clone CI run failed a search session with "SystemError: AST constructor recursion
depth mismatch": two evaluation threads parsed candidates at once, and CPython 3.11 keeps
one counter for building AST objects per interpreter (gh-106905). The stress here pauses
parses halfway the way that run did, with finalizers run by the garbage collector.
"""

from __future__ import annotations

import ast
import gc
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from problems import saxpy_inputs, saxpy_reference

import kernelmagic as km
from kernelmagic import _python_ast
from kernelmagic.candidate import safety

_FUNCTION = "def f{0}(a, b):\n    return [a * b + {0} for _ in range(3)]"
SOURCE = "\n".join(_FUNCTION.format(i) for i in range(300))
PACKAGE = Path(__file__).resolve().parent.parent / "kernelmagic"


class _Cycle:
    """Cyclic garbage whose finalizer runs bytecode: a collection can switch threads."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        sum(range(50))


def _stress(
    parsers: list[Callable[[str], object]], seconds: float, until_error: bool = False
) -> list[list[str]]:
    """Run each parser on its own thread for `seconds` (or to the first error); what each met."""
    errors: list[list[str]] = [[] for _ in parsers]
    deadline = time.monotonic() + seconds

    def work(parse: Callable[[str], object], seen: list[str]) -> None:
        while time.monotonic() < deadline and not (until_error and any(errors)):
            for _ in range(20):
                _Cycle()
            try:
                parse(SOURCE)
            except SystemError as exc:
                seen.append(str(exc))

    pairs = zip(parsers, errors, strict=True)
    threads = [threading.Thread(target=work, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_the_stress_breaks_bare_parsing_on_this_interpreter():
    """The control: without the guard, the same stress makes parses fail on CPython 3.11."""
    errors = _stress([ast.parse] * 3, seconds=8.0, until_error=True)
    met = [e for seen in errors for e in seen]
    if sys.version_info[:2] == (3, 11):
        assert met, "the stress did not reproduce the race it stands for"
    assert all("recursion depth mismatch" in e for e in met)


def test_guarded_parses_never_fail_beside_each_other_or_a_bare_parser():
    """Three guarded threads beside a bare one (the notebook's own parsing): none fails."""
    errors = _stress([_python_ast.parse] * 3 + [ast.parse], seconds=3.0)
    assert errors[:3] == [[], [], []]
    assert _python_ast.literal_eval(" (1, 'a', [2.5])") == (1, "a", [2.5])


def test_the_guard_leaves_the_collector_as_it_found_it():
    assert gc.isenabled()
    _python_ast.parse("x = 1")
    assert gc.isenabled()
    gc.disable()
    try:
        _python_ast.parse("x = 1")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_kernelmagic_parses_only_through_the_guard():
    """Every parse in the package goes through `_python_ast`: a bare one is a new way to fail."""
    bare = re.compile(r"\bast\.(parse|literal_eval)\(")
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "_python_ast.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if bare.search(line)
    ]
    assert found == []


def test_the_extension_guards_the_notebooks_own_parsing():
    """With the extension loaded, IPython's cell parsing and kernelmagic's never collide."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kernelmagic")
    shell.run_line_magic("reload_ext", "kernelmagic")
    cells = shell.compile.ast_parse
    assert cells._kernelmagic_guarded and not hasattr(cells.__wrapped__, "__wrapped__")
    errors = _stress([_python_ast.parse] * 3 + [cells], seconds=3.0)
    assert errors == [[], [], [], []]
    assert shell.run_cell("x = 6 * 7").success and shell.user_ns["x"] == 42


DEEP = {
    "a sum 3,000 terms long": "Z = " + "+".join(["1"] * 3000),
    "5,000 unary minuses": "Z = " + "-" * 5000 + "1",
    "a null byte": "Z = 1\0",
}


@pytest.mark.parametrize("source", DEEP.values(), ids=DEEP.keys())
def test_source_that_cannot_be_parsed_raises_syntax_error_whatever_the_reason(source):
    # CPython raises RecursionError, MemoryError or ValueError here, or (3.13, for the
    # first two) parses it; callers expect SyntaxError on every version.
    with pytest.raises(SyntaxError):
        _python_ast.parse(source)


SHAPES = {
    "a long sum": lambda n: "Z = " + "+".join(["1"] * n),
    "unary minuses": lambda n: "Z = " + "-" * n + "1",
    "nested calls": lambda n: "Z = " + "f(" * n + "1" + ")" * n,
    "an elif chain": lambda n: (
        "if a:\n    pass\n" + "".join(f"elif a{i}:\n    pass\n" for i in range(n))
    ),
    "an attribute chain": lambda n: "Z = a" + ".b" * n,
    "nested lambdas": lambda n: "Z = " + "lambda: " * n + "1",
}


def _at_depth(shape: Callable[[int], str], depth: int) -> str:
    """The smallest source of `shape` whose tree has `depth` levels."""
    n = 1
    while _python_ast._deepest(shape(n), "exec")[0] < depth:
        n += 1
    assert _python_ast._deepest(shape(n), "exec")[0] == depth
    return shape(n)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_the_depth_limit_is_kernelmagics_on_every_python_and_what_it_lets_in_can_be_walked(shape):
    deepest = _at_depth(shape, _python_ast.MAX_DEPTH)
    tree = _python_ast.parse(deepest)
    safety.check_python(deepest)  # its recursive walk raises SyntaxError if the stack runs out
    assert ast.unparse(tree)
    with pytest.raises(SyntaxError, match=r"nested too deeply .*kernelmagic reads at most 200"):
        _python_ast.parse(_at_depth(shape, _python_ast.MAX_DEPTH + 1))


def test_the_message_of_a_source_too_deep_names_the_line():
    source = "x = 1\n" + SHAPES["a long sum"](400) + "\ny = 2\n"
    with pytest.raises(SyntaxError) as caught:
        _python_ast.parse(source)
    assert caught.value.lineno == 2 and caught.value.text.startswith("Z = 1+1")


@pytest.mark.parametrize("line", [DEEP["a sum 3,000 terms long"], SHAPES["a long sum"](900)])
def test_a_candidate_nested_too_deeply_is_a_compile_error_not_a_traceback(evaluate, line):
    source = f"from numba import cuda\n{line}\n\ndef saxpy(a, x, y):\n    return x\n"
    verdict = evaluate(source, km.Problem(saxpy_reference, saxpy_inputs))
    assert verdict.status is km.Status.COMPILE_ERROR, verdict.message
    assert "nested too deeply" in verdict.message and "None" not in verdict.message
