"""Loading user objects named as FILE.py:NAME (the CLI's --reference and --inputs)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

from kernelmagic.errors import USER_CODE_FAILURES, LoadError, described, syntax_error

_modules: dict[Path, types.ModuleType] = {}


def load_object(spec: str, *, what: str) -> Any:
    """The callable NAME defined in FILE.py; LoadError with a clear message otherwise."""
    path_text, sep, name = spec.rpartition(":")
    if not sep or not path_text or not name:
        raise LoadError(f"{what} must be given as FILE.py:NAME, not {spec!r}")
    module = load_module(Path(path_text))
    if not hasattr(module, name):
        defined = sorted(
            n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
        )
        raise LoadError(
            f"{path_text} has no {name!r} for {what} "
            f"(it defines: {', '.join(defined) or 'nothing callable'})"
        )
    obj = getattr(module, name)
    if not callable(obj):
        raise LoadError(f"{path_text}:{name} is a {type(obj).__name__}, not a function ({what})")
    return obj


def load_module(path: Path) -> types.ModuleType:
    """Execute a user's Python file once per process, as its own module."""
    resolved = path.resolve()
    if resolved in _modules:
        return _modules[resolved]
    if not resolved.is_file():
        raise LoadError(f"no such file: {path}")
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    module_spec = importlib.util.spec_from_file_location(
        f"kernelmagic_user_{resolved.stem}_{digest}", resolved
    )
    if module_spec is None or module_spec.loader is None:
        raise LoadError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(module_spec)
    # The user's file may import its neighbours, as it would when run as a script.
    sys.path.insert(0, str(resolved.parent))
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise LoadError(f"{path}, {syntax_error(exc)}") from None
    except USER_CODE_FAILURES as exc:
        raise LoadError(f"{path} failed to load: {described(exc)}") from None
    finally:
        sys.path.remove(str(resolved.parent))
    _modules[resolved] = module
    return module
