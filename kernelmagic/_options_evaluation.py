"""The options of one evaluation: the problem, the candidate's launch, where it runs."""

from __future__ import annotations

from kernelmagic._option import (
    CANDIDATE,
    EVERYWHERE,
    PROBLEM,
    RUNS,
    TERMINAL,
    Option,
    option,
    size_list,
)
from kernelmagic.harness.options import ClusterOptions, TimingOptions
from kernelmagic.problem import Problem

EVALUATION: tuple[Option, ...] = (
    option(
        "--cases",
        where=EVERYWHERE,
        group=PROBLEM,
        type=int,
        default=Problem.cases,
        help="verification cases (seeds), default 3",
    ),
    option(
        "--atol",
        where=EVERYWHERE,
        group=PROBLEM,
        type=float,
        help="absolute tolerance (default: by dtype)",
        default_doc="by the output's dtype",
    ),
    option(
        "--rtol",
        where=EVERYWHERE,
        group=PROBLEM,
        type=float,
        help="relative tolerance (default: by dtype)",
        default_doc="by the output's dtype",
    ),
    option(
        "--timing-inputs",
        where=TERMINAL,
        group=PROBLEM,
        metavar="FILE.py:NAME",
        help="generator of the (larger) inputs to time on the GPU",
        default_doc="the verification inputs",
    ),
    option(
        "--timing-inputs",
        where="magic",
        group=PROBLEM,
        metavar="NAME",
        help="generator of the (larger) inputs to time on the GPU",
        default_doc="the verification inputs",
    ),
    option(
        "--sizes",
        where=EVERYWHERE,
        group=PROBLEM,
        type=size_list,
        default=(),
        metavar="N,N,...",
        help="sizes to compare the best kernel with yours at, drawn as "
        "timing_inputs(seed, size=N) (or inputs)",
        doc="the sizes you care about, e.g. `1024,65536,1048576`: one timing set each, drawn "
        "as `timing_inputs(seed, size=N)` (or `inputs`), so the record shows the best kernel "
        "against yours at each; the simulator leaves out sizes past 20,000 elements",
        default_doc="the timing sets' own sizes",
    ),
    option(
        "--bytes",
        where=EVERYWHERE,
        group=PROBLEM,
        metavar="EXPR",
        help="bytes moved, e.g. '3 * n * 4' (roofline)",
        doc="bytes moved per call, an expression over the inputs such as `'3 * n * 4'`: "
        "adds achieved bandwidth against the device's peak",
    ),
    option(
        "--flops",
        where=EVERYWHERE,
        group=PROBLEM,
        metavar="EXPR",
        help="floating-point operations (roofline)",
        doc="floating-point operations per call: adds achieved GFLOP/s against the FP32 peak",
    ),
    option(
        "--allow-import",
        where=EVERYWHERE,
        group=PROBLEM,
        action="append",
        default=(),
        metavar="MODULE",
        help="let Python candidates import MODULE too",
        doc="let Python candidates import `MODULE` too (repeatable)",
        default_doc="numba, cupy, cupyx, numpy, math",
    ),
    option(
        "--entry",
        where=EVERYWHERE,
        group=CANDIDATE,
        help="the Python entry function (default: found by its parameters)",
    ),
    option(
        "--kernel",
        where=EVERYWHERE,
        group=CANDIDATE,
        help="the CUDA C kernel, e.g. saxpy or 'tile<16>'",
        default_doc="the only `__global__` kernel",
    ),
    option(
        "--grid",
        where=EVERYWHERE,
        group=CANDIDATE,
        help="CUDA C grid expression, e.g. 'cdiv(n, 256)'",
        default_doc="one thread per element of the first output",
    ),
    option(
        "--block",
        where=EVERYWHERE,
        group=CANDIDATE,
        help="CUDA C block expression (default 256)",
    ),
    option(
        "--shared",
        where=EVERYWHERE,
        group=CANDIDATE,
        help="CUDA C dynamic shared memory bytes expression",
        default_doc="0",
    ),
    option(
        "--option",
        where=EVERYWHERE,
        group=CANDIDATE,
        action="append",
        default=(),
        metavar="FLAG",
        help="an NVRTC option such as -use_fast_math (repeatable)",
        doc="an NVRTC option such as `-use_fast_math` (repeatable; write `--option=-FLAG`)",
    ),
    option(
        "--arch",
        where=EVERYWHERE,
        group=RUNS,
        help="target architecture without a GPU, e.g. sm_90 (default sm_90)",
    ),
    option(
        "--scheduler",
        where=EVERYWHERE,
        group=RUNS,
        metavar="ADDRESS",
        help="use an existing Dask scheduler",
        doc="use an existing Dask scheduler instead of starting workers ([Dask](dask.md))",
    ),
    option(
        "--sim-workers",
        where=EVERYWHERE,
        group=RUNS,
        type=int,
        metavar="N",
        help="simulator worker processes, which judge a round's candidates at once "
        "(default: one per core, up to --candidates)",
        doc="simulator worker processes, which judge a round's candidates at once; on a GPU "
        "machine there is one GPU worker per visible GPU as well",
        default_doc="one per core, up to `--candidates`",
    ),
    option(
        "--sandbox",
        where=EVERYWHERE,
        group=RUNS,
        choices=("auto", "require", "off"),
        default=ClusterOptions.sandbox,
        help="the workers' OS confinement: auto enforces what the kernel offers and warns "
        "about the rest; require refuses to run without all of it; off is for diagnosis",
        doc="the workers' OS confinement ([Safety](safety.md)): `auto` enforces what the "
        "kernel offers and warns once about the rest, `require` refuses to run without all "
        "of it, `off` is for diagnosis and warns loudly",
    ),
    option(
        "--timing-budget-ms",
        where=EVERYWHERE,
        group=RUNS,
        type=float,
        default=TimingOptions.budget_ms,
        help="time spent timing one candidate on the GPU (default 1000)",
    ),
)
