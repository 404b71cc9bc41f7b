"""Optional dependencies, imported here so a missing one says how to install it.

The extras in pyproject.toml: `cuda13` and `cuda12` (CuPy and the CUDA libraries for a
driver of that CUDA version) and `docs` (the user guide's Sphinx tools). A missing one is
a `BackendUnavailable` whose one line names the exact `pip install` command: it is the
machine's setup, never a candidate's failure.
"""

from __future__ import annotations

import importlib
import types

from kernelmagic.errors import BackendUnavailable

# Top-level module -> (its name in messages, its extra: "cuda" is cuda13 or cuda12).
_PACKAGES = {
    "cupy": ("CuPy", "cuda"),
    "cupy_backends": ("CuPy", "cuda"),
    "cupyx": ("CuPy", "cuda"),
    "sphinx": ("Sphinx", "docs"),
    "myst_nb": ("MyST-NB", "docs"),
    "furo": ("the Furo theme", "docs"),
}


def require(name: str) -> types.ModuleType:
    """Import module `name` of an extra; BackendUnavailable with the install command if it
    cannot be imported."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailable(install_hint(name, exc)) from None


def optional(name: str) -> types.ModuleType | None:
    """Import module `name` of an extra where kernelmagic can do without it; None if absent."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def install_hint(name: str, error: ImportError | None = None) -> str:
    """One line: what is missing and the `pip install` command that brings it."""
    what, extra = _PACKAGES[name.partition(".")[0]]
    if extra == "cuda":
        found = cuda_extra()
        extras = [found] if found else ["cuda13", "cuda12"]
        command = " or ".join(f'pip install "kernelmagic[{e}]"' for e in extras)
        if not found:
            command += " (cuda13 for a CUDA 13 driver, cuda12 for a CUDA 12 one)"
    else:
        command = f'pip install "kernelmagic[{extra}]"'
    missing = isinstance(error, ModuleNotFoundError) and error.name == name.partition(".")[0]
    first = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""
    why = "is not installed" if error is None or missing else f"cannot be imported ({first})"
    return f"{what} {why}: {command}"


def cuda_extra() -> str | None:
    """The CUDA extra that matches this machine's driver ("cuda13", "cuda12"), or None when
    no driver answers (a CPU machine) or it is older than CUDA 12."""
    try:
        from cuda.bindings import driver

        err, version = driver.cuDriverGetVersion()  # needs no cuInit: cheap
        if err != driver.CUresult.CUDA_SUCCESS:
            return None
    except Exception:  # no driver library at all
        return None
    major = int(version) // 1000
    return "cuda13" if major >= 13 else "cuda12" if major == 12 else None
