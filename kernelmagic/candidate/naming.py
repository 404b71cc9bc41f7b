"""The name of what a candidate tunes, for titles: a session about "saxpy", not "reference".

Read off the source the way the harness picks what to run, without the problem (which
the harness needs to settle an ambiguous Python entry): where the source alone leaves it
open, there is no name rather than a guess.
"""

from __future__ import annotations

import ast

from kernelmagic._python_ast import parse as parse_python
from kernelmagic.candidate import Candidate, cuda_directive, cuda_source, safety


def tuned_function(candidate: Candidate) -> str | None:
    """The CUDA C kernel (named, else the only `__global__` one) or the Python entry
    function (named, else the only host function); None where that is not one name."""
    if candidate.kind == "cuda_c":
        try:
            named = cuda_directive.parse_directive(candidate.source).kernel or candidate.kernel
        except cuda_directive.DirectiveError:
            named = candidate.kernel
        if named:
            return cuda_source.kernel_base_name(named)
        kernels = {k.name for k in cuda_source.find_kernels(candidate.source)}
        return kernels.pop() if len(kernels) == 1 else None
    if candidate.entry:
        return candidate.entry
    try:
        tree = parse_python(candidate.source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    device = safety.device_functions(tree)
    hosts = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name not in device]
    return hosts[0] if len(hosts) == 1 else None
