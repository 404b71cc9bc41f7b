"""A missing optional dependency is one line naming the `pip install` command, and a
candidate is never blamed for it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernelmagic import _extras as extras
from kernelmagic.errors import BackendUnavailable

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def extra(name: str) -> str:
    """The requirements of extra `name` in pyproject.toml, as written there."""
    found = re.search(rf"^{name} = \[(.*?)\]", PYPROJECT, re.M | re.S)
    assert found, f"pyproject.toml has no extra {name}"
    return found.group(1)


@pytest.mark.parametrize("driver", ["cuda12", "cuda13"])
def test_the_cupy_hint_names_the_extra_of_the_driver(monkeypatch, driver):
    monkeypatch.setattr(extras, "cuda_extra", lambda: driver)
    hint = extras.install_hint("cupy")
    assert hint == f'CuPy is not installed: pip install "kernelmagic[{driver}]"'
    assert '"cupy-cuda' in extra(driver)


def test_without_a_driver_to_ask_both_cuda_extras_are_named(monkeypatch):
    monkeypatch.setattr(extras, "cuda_extra", lambda: None)
    hint = extras.install_hint("cupy_backends.cuda.api.driver")
    assert 'pip install "kernelmagic[cuda13]"' in hint and '"kernelmagic[cuda12]"' in hint
    assert "\n" not in hint


def test_the_docs_tools_name_the_docs_extra():
    hint = extras.install_hint("myst_nb")
    assert hint == 'MyST-NB is not installed: pip install "kernelmagic[docs]"'
    assert all(f'"{tool}>=' in extra("docs") for tool in ("sphinx", "myst-nb", "furo"))


def test_a_module_that_fails_to_import_is_said_so_with_the_same_command(monkeypatch):
    monkeypatch.setattr(extras, "cuda_extra", lambda: "cuda13")
    broken = ImportError("libnvrtc.so.13: cannot open shared object file\n(more)")
    hint = extras.install_hint("cupy", broken)
    assert hint.startswith("CuPy cannot be imported (libnvrtc.so.13: cannot open shared object")
    assert hint.endswith('pip install "kernelmagic[cuda13]"') and "\n" not in hint


def test_require_turns_a_missing_module_into_backend_unavailable():
    def refuse(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extras.importlib, "import_module", refuse)
        with pytest.raises(BackendUnavailable) as raised:
            extras.require("furo")
        assert extras.optional("cupy") is None
    assert str(raised.value) == 'the Furo theme is not installed: pip install "kernelmagic[docs]"'


# A GPU machine without the CuPy extra, made honestly: every import of CuPy is refused, as
# on a machine where it was never installed, and a GPU worker's job runs in this process.
NO_CUPY = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoCupy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("cupy", "cupy_backends", "cupyx"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    for name in [m for m in sys.modules if m.partition(".")[0] in ("cupy", "cupy_backends")]:
        del sys.modules[name]
    sys.meta_path.insert(0, NoCupy())

    import kernelmagic as km
    from kernelmagic.errors import BackendUnavailable
    from kernelmagic.harness._worker import verify
    from kernelmagic.harness.jobs import RunSpec, VerifyJob

    def saxpy(a, x, y):
        return a * x + y

    def inputs(seed):
        import numpy as np
        x = np.random.default_rng(seed).standard_normal(1000).astype(np.float32)
        return {"a": np.float32(2.0), "x": x, "y": x.copy(), "n": np.int32(1000)}

    SOURCE = '''
    // kernelmagic: grid=cdiv(n, 256); block=256
    extern "C" __global__ void saxpy(float a, const float* x, const float* y, float* out, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) out[i] = a * x[i] + y[i];
    }
    '''

    class InProcessGpuPool:
        '''A pool with one GPU whose jobs run here (nothing but the worker's code runs).'''
        gpus, counts, sandbox_warnings, generation = 1, {"gpu": 1}, (), 0

        def run(self, kind, fn, *args, timeout_s, prefer=None, **kwargs):
            return fn(*args, **kwargs), "gpu-0"

    problem = km.Problem(saxpy, inputs)
    for source, kind in ((SOURCE, "cuda_c"), ("import cupy as cp\\ndef saxpy(a, x, y):\\n"
                                               "    return a * x + y\\n", "python")):
        cand = km.Candidate.from_source(source) if kind == "python" else km.Candidate(
            source, kind="cuda_c", kernel="saxpy")
        harness = km.Harness(problem, backend="cuda", pool=InProcessGpuPool())
        try:
            verdict = harness.evaluate(cand)
        except BackendUnavailable as exc:
            print("HINT", exc)
        else:
            print("VERDICT", verdict.status.value, verdict.message)
    try:
        cand = km.Candidate(SOURCE, kind="cuda_c", kernel="saxpy")
        job = VerifyJob(RunSpec(cand, "cuda", None), ())
        print("REPORT", verify(job, run=True).failure)
    except BackendUnavailable as exc:
        print("WORKER", exc)
    """
)


def test_a_gpu_machine_without_cupy_gets_the_install_hint_not_a_candidate_failure():
    out = subprocess.run(
        [sys.executable, "-c", NO_CUPY], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["HINT", "HINT", "WORKER"], out.stdout
    for line in lines:
        assert "CuPy is not installed: pip install " in line and '"kernelmagic[cuda1' in line
        assert "candidate" not in line and "kernel's" not in line
