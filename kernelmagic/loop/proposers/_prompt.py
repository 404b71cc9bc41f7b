"""The messages an LLM gets each round: FSR's prompt, with bounded feedback.

FSR puts three things in front of the model: the task in words, the code to start from
and the target GPU's features; later rounds add what the harness said about the last
attempts (repair) or the fastest kernel's latency and, on a GPU, its hardware counters
(optimize). Every part is bounded, so a huge compile log or a long history cannot push
the kernel out of the context window.
"""

from __future__ import annotations

import re

from kernelmagic.candidate import Candidate, cuda_directive, cuda_source
from kernelmagic.candidate.safety.allowlist import ALLOWED_MODULES
from kernelmagic.harness.devices import DeviceInfo
from kernelmagic.harness.profile import section
from kernelmagic.harness.verdict import Status
from kernelmagic.loop.proposal import Attempt, RoundRequest
from kernelmagic.loop.proposers._replies import entry_function

SOURCE_CHARS = 16_000
REFERENCE_CHARS = 6_000
LOG_LINES = 15
LOG_CHARS = 1_500
MESSAGE_CHARS = 1_000
HISTORY_ATTEMPTS = 12
HISTORY_RATIONALE_CHARS = 120

_SYSTEM = """\
You are an expert CUDA performance engineer. You rewrite one GPU kernel at a time for a \
harness that compiles it, checks its outputs against a reference on several inputs \
(sizes vary, and are rarely multiples of the block size), and times it on the GPU.

Answer with exactly one complete kernel file in one fenced code block ({fence}), then a \
short rationale: a few sentences on each change and why it keeps the result correct and \
should be faster. The code block is run as it is: no excerpts, no diffs, no "..." \
placeholders, no second version, no test code.

{contract}"""

_PYTHON_CONTRACT = """\
The kernel file is a Python module and must keep this contract:
- Keep the entry function {entry}: same name, same parameters. The harness calls it with \
the problem's inputs by name (arrays already on the device) and compares what it returns \
with the reference's outputs: one array, or a tuple in the reference's order.
- Write the kernels with numba.cuda (`from numba import cuda` at module level, \
`@cuda.jit`) or with CuPy (`import cupy as cp`, e.g. `cp.RawKernel`). Only these modules \
can be imported: {modules}, and of each only its public kernel API (no internals, files, \
processes, network or introspection). Host code may use NumPy only to allocate and name \
dtypes; module-level constant tables built from literals are fine.
- Allocate the outputs on the device and return them there: a copy to the host is timed \
too."""

_CUDA_CONTRACT = """\
The kernel file is CUDA C, compiled with NVRTC, and must keep this contract:
- Keep the `__global__` kernel {kernel}: same name, same parameter names. Parameters named \
like an input \
receive that input (pointers for arrays, values for scalars): {params}. Each non-const \
pointer that is not an input is an output, allocated by the harness, in the reference's \
output order.
- No host code, and only system headers (`#include <...>`).
- The launch is given by a directive line, e.g. `// kernelmagic: grid=cdiv(n, 256); \
block=256` (also `shared=` for dynamic shared memory bytes). Its values are expressions \
over the inputs: numbers, input names, + - * // %, `cdiv`, `min`, `max`, and `.size` or \
`.shape[i]` of arrays. Write or change that line whenever you change the launch \
configuration; the current launch is {launch}."""

_REPAIR = """\
No kernel is correct yet (FSR repair mode). Fix the errors reported above before anything \
else: a correct kernel that is not faster is worth more than a fast wrong one. Start from \
the kernel shown."""

_OPTIMIZE = """\
A correct kernel exists (FSR optimize mode): the fastest so far is shown above. Make it \
faster on the target GPU while keeping its results within the tolerance. Reason from the \
GPU's features: memory coalescing and vectorized loads, occupancy and registers, shared \
memory and L2 reuse, launch configuration for {sms} SMs, and whether the kernel is bound \
by memory bandwidth or by arithmetic."""


def build_messages(request: RoundRequest, *, base: Candidate) -> list[dict[str, str]]:
    """The system and user messages asking for one improved version of `base`."""
    fence = "```python" if base.kind == "python" else "```cuda"
    system = _SYSTEM.format(fence=fence, contract=_contract(request, base))
    parts = [
        _task(request),
        _device(request.device),
        _current(request, base),
        _counters(request, base),
        _last_round(request),
        _history(request),
        _instructions(request, fence),
    ]
    user = "\n\n".join(part for part in parts if part)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _contract(request: RoundRequest, base: Candidate) -> str:
    if base.kind == "python":
        fn = entry_function(base.source, base.entry)
        if fn is not None:
            params = ", ".join(a.arg for a in (*fn.args.posonlyargs, *fn.args.args))
            entry = f"`{fn.name}({params})`"
        else:
            entry = f"`{base.entry}`" if base.entry else "(the host function that takes the inputs)"
        return _PYTHON_CONTRACT.format(entry=entry, modules=", ".join(ALLOWED_MODULES))
    kernels = [k for k in cuda_source.find_kernels(base.source) if k.defined]
    wanted = cuda_source.kernel_base_name(base.kernel or "")
    kernel = next((k for k in kernels if k.name == wanted), kernels[0] if kernels else None)
    params = ", ".join(p.name for p in kernel.params) if kernel else "(see the kernel)"
    try:
        directive = cuda_directive.parse_directive(base.source)
    except cuda_directive.DirectiveError:
        directive = cuda_directive.Directive()
    grid = directive.grid or base.grid or "one thread per element of the first output"
    block = directive.block or base.block or "the harness's default"
    launch = f"grid={grid}; block={block}"
    if directive.shared or base.shared:
        launch += f"; shared={directive.shared or base.shared}"
    name = f"`{kernel.name}`" if kernel else f"`{wanted}`" if wanted else "(the kernel)"
    return _CUDA_CONTRACT.format(kernel=name, params=params, launch=launch)


def _task(request: RoundRequest) -> str:
    p = request.problem
    return "\n".join(
        [
            f"## Task: {p.title}",
            p.description.strip(),
            "",
            "The reference computes the right answer (NumPy, on the host):",
            "```python",
            _clip(p.reference_source.strip(), REFERENCE_CHARS, "reference source"),
            "```",
            "Inputs (of the first test case):",
            p.inputs.strip(),
            "Outputs of the reference:",
            p.outputs.strip(),
            f"Tolerance: {p.tolerance.strip()}",
        ]
    )


def _device(d: DeviceInfo) -> str:
    if d.simulated:
        return "## Target GPU\nnone: kernels run on the CPU simulator, which has no GPU features."
    lines = [
        "## Target GPU",
        f"- {d.name}, {d.arch} (compute capability {_capability(d.arch)})",
        f"- streaming multiprocessors (SMs): {_known(d.sm_count)}",
        f"- shared memory per block: {_bytes(d.shared_per_block_bytes)}"
        + (
            f" (up to {_bytes(d.shared_per_block_optin_bytes)} with opt-in)"
            if d.shared_per_block_optin_bytes
            else ""
        ),
        f"- L2 cache: {_bytes(d.l2_bytes)}",
        f"- global memory: {_bytes(d.memory_bytes)}",
        f"- peak memory bandwidth: {_rate(d.peak_gbps, 'GB/s')}",
        f"- peak FP32 throughput: {_flops(d.peak_fp32_gflops)}",
    ]
    if d.peak_bf16_tensor_gflops:
        lines.append(f"- peak BF16 tensor-core throughput: {_flops(d.peak_bf16_tensor_gflops)}")
    lines.append("Peaks are datasheet figures; 'unknown' means the value could not be read.")
    return "\n".join(lines)


def _current(request: RoundRequest, base: Candidate) -> str:
    attempt = _attempt_of(base, request)
    lang = "python" if base.kind == "python" else "cuda"
    if request.mode == "optimize":
        head = "## The fastest correct kernel so far (start from it)"
    else:
        head = "## The kernel to fix (start from it)"
    lines = [head]
    if attempt is not None:
        lines.append(
            f"Attempt {attempt.id} ({attempt.origin}, round {attempt.round}): {_outcome(attempt)}"
        )
    baseline = request.baseline
    if baseline.latency_ms is not None and (attempt is None or attempt.id != baseline.id):
        lines.append(f"The baseline (the user's kernel) runs in {_ms(baseline)}.")
    timed = (request.baseline, request.best, *request.history, *request.last_round)
    if any(a.simulated for a in timed if a is not None):
        lines.append(
            "These latencies were measured on the CPU simulator (no GPU was available): they "
            "say nothing about GPU speed. Judge speed from the target GPU's features instead."
        )
    lines += [f"```{lang}", _clip(base.source.rstrip(), SOURCE_CHARS, "kernel source"), "```"]
    return "\n".join(lines)


def _counters(request: RoundRequest, base: Candidate) -> str:
    """The best kernel's hardware counters, when it is the kernel shown and they were read."""
    best = request.best
    if best is None or best.profile is None or best.candidate != base:
        return ""
    return f"## Hardware counters of the kernel above (Nsight Compute)\n{section(best.profile)}"


def _last_round(request: RoundRequest) -> str:
    if not request.last_round:
        return ""
    lines = [
        f"## What happened to the attempts of round {request.round - 1}",
        "(only the kernel above is shown in full; start from it)",
    ]
    for a in request.last_round:
        lines.append(f"### Attempt {a.id}: {_outcome(a)}")
        if a.rationale:
            lines.append(f"Its idea: {_one_line(a.rationale, 300)}")
        lines += _resources(a)
        if a.compile_log.strip() and a.status is Status.COMPILE_ERROR:
            lines += ["Compiler output (trimmed):", "```", _trim_log(a.compile_log), "```"]
    return "\n".join(lines)


def _history(request: RoundRequest) -> str:
    shown = {a.id for a in request.last_round}
    earlier = [a for a in request.history if a.id not in shown][-HISTORY_ATTEMPTS:]
    if not earlier:
        return ""
    lines = ["## Earlier attempts (oldest first)"]
    for a in earlier:
        timing = f", {_ms(a)}" if a.latency_ms is not None else ""
        idea = f": {_one_line(a.rationale, HISTORY_RATIONALE_CHARS)}" if a.rationale else ""
        lines.append(f"- {a.id} (round {a.round}, {a.origin}) {a.status.value}{timing}{idea}")
    skipped = len([a for a in request.history if a.id not in shown]) - len(earlier)
    if skipped:
        lines.append(f"({skipped} older attempts not shown)")
    return "\n".join(lines)


def _instructions(request: RoundRequest, fence: str) -> str:
    if request.mode == "repair":
        what = _REPAIR
    else:
        sms = request.device.sm_count or "its"
        what = _OPTIMIZE.format(sms=sms)
    return (
        f"## Your task (round {request.round})\n{what}\n\nReply with the complete kernel file "
        f"in one {fence} block, then a few sentences of rationale for each change."
    )


def _outcome(a: Attempt) -> str:
    """Status, message and timing of one attempt, in one bounded paragraph."""
    text = a.status.value
    message = a.message.strip()
    if message:
        text += f" - {_clip(message, MESSAGE_CHARS, 'message')}"
    if a.latency_ms is not None:
        text += f"; latency {_ms(a)}"
        if a.speedup is not None:
            text += f", {a.speedup:.2f}x the baseline's median (one run each: screening)"
    return text


def _resources(a: Attempt) -> list[str]:
    return [f"Resources: {r.summary()}" for r in a.resources[:4]]


def _attempt_of(base: Candidate, request: RoundRequest) -> Attempt | None:
    if request.best is not None and request.best.candidate == base:
        return request.best
    for a in (*reversed(request.last_round), *reversed(request.history), request.baseline):
        if a.candidate == base:
            return a
    return None


def _ms(a: Attempt) -> str:
    sim = " (simulated)" if a.simulated else ""
    return f"{a.latency_ms:.4g} ms{sim}"


def _trim_log(log: str) -> str:
    lines = log.strip().splitlines()
    text = "\n".join(lines[:LOG_LINES])
    more = len(lines) - LOG_LINES
    if more > 0:
        text += f"\n... [{more} more lines not shown]"
    return _clip(text, LOG_CHARS, "compiler output")


def _clip(text: str, limit: int, what: str) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{what} truncated: {len(text) - limit} more characters]"


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _capability(arch: str) -> str:
    m = re.fullmatch(r"sm_(\d+)(\d)([a-z]?)", arch)
    return f"{m.group(1)}.{m.group(2)}{m.group(3)}" if m else "unknown"


def _known(value: int | None) -> str:
    return str(value) if value is not None else "unknown"


def _bytes(value: int | None) -> str:
    if value is None:
        return "unknown"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.4g} {unit}"
    return f"{value} B"


def _rate(value: float | None, unit: str) -> str:
    return f"{value:,.0f} {unit}" if value is not None else "unknown"


def _flops(gflops: float | None) -> str:
    if gflops is None or gflops < 1000:
        return _rate(gflops, "GFLOP/s")
    return f"{gflops / 1000:,.4g} TFLOP/s"
