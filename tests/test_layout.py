"""The package's layout keeps its promises: no import cycles, private modules stay private,
each stage imports only the stages before it, and no module grows into a second idea.

Read from the source (every import statement, function-level ones included), not from
what happens to be imported at run time.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kernelmagic"

# The data flow, first to last: a stage may import the stages before it, never after.
STAGES = (
    "problem",
    "candidate",
    "harness",
    "loop",
    "store",
    "start",
    "render",
    "export",
    "notebook",
    "cli",
)
# Value modules of a stage that later stages read without its machinery.
VALUE_MODULES = {
    "kernelmagic.harness": {"verdict", "options", "devices", "comparison", "backends", "profile"},
    "kernelmagic.loop": {"records", "events", "session", "proposal", "fingerprint", "options"},
}
# The UI renders state and forwards clicks: from the loop and the harness it reads values only.
UI = ("kernelmagic.notebook", "kernelmagic.render", "kernelmagic.export")
LINE_LIMIT = 430


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str) -> Iterator[tuple[str, int]]:
    """(module imported, line) for each kernelmagic import in `name`, at any depth of code."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, node.lineno


GRAPH = {name: sorted({t for t, _ in _imports(name)}) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(GRAPH[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(GRAPH[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _stage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def _violations(rule) -> list[str]:
    return sorted(
        {
            f"{name}:{line} imports {target}"
            for name in MODULES
            for target, line in _imports(name)
            if rule(name, target)
        }
    )


def test_the_layout_reader_sees_every_kind_of_import():
    # Function-level, relative and from-package imports are what cycles hide behind.
    assert "kernelmagic.loop.records" in GRAPH["kernelmagic.loop.session"]
    assert "kernelmagic.export" in GRAPH["kernelmagic"]  # imported inside __getattr__
    assert "kernelmagic.notebook.magic" in GRAPH["kernelmagic"]  # in load_ipython_extension


def test_no_import_cycles_at_any_level():
    assert _cycles() == []


def test_private_modules_are_imported_only_inside_their_package():
    def private_elsewhere(name: str, target: str) -> bool:
        parts = target.split(".")
        for depth, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:depth])
                return not (name == owner or name.startswith(owner + "."))
        return False

    assert _violations(private_elsewhere) == []


def test_each_stage_imports_only_the_stages_before_it():
    def backwards(name: str, target: str) -> bool:
        mine, theirs = _stage(name), _stage(target)
        return bool(mine and theirs and STAGES.index(theirs) > STAGES.index(mine))

    assert _violations(backwards) == []


def test_the_ui_reads_values_of_the_loop_and_the_harness_not_their_machinery():
    def machinery(name: str, target: str) -> bool:
        if not name.startswith(UI):
            return False
        for package, values in VALUE_MODULES.items():
            if target.startswith(package + "."):
                return target.removeprefix(package + ".").split(".")[0] not in values
        return False

    assert _violations(machinery) == []


def test_the_magic_and_the_command_line_do_not_import_each_other():
    def across(name: str, target: str) -> bool:
        pair = {_stage(name), _stage(target)}
        return pair == {"notebook", "cli"}

    assert _violations(across) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_much_over_400_lines(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= LINE_LIMIT, f"{name} has {lines} lines"


def test_the_top_level_holds_the_public_surface_and_the_stages():
    public = {n for n in MODULES if n.count(".") == 1 and not n.split(".")[1].startswith("_")}
    assert public == {f"kernelmagic.{s}" for s in (*STAGES, "errors")}


# Files of the user's that the docs speak of (`kernel.py` holding the kernel...).
USER_FILES = {"kernel.py", "problem.py", "ipython_config.py", "saxpy_numba.py", "FILE.py"}


def test_the_docs_name_only_files_that_exist():
    """Paths in the docs follow the code when it moves (relative to the repository, the
    package or the tests)."""
    root = PACKAGE.parent
    texts = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    named = {
        (text.name, path)
        for text in texts
        for path in re.findall(r"`([\w/.]+\.py)\b", text.read_text(encoding="utf-8"))
        if path not in USER_FILES
    }
    missing = [
        (doc, path)
        for doc, path in sorted(named)
        if not any((base / path).is_file() for base in (root, PACKAGE, root / "tests"))
    ]
    assert len(named) > 20 and missing == []
