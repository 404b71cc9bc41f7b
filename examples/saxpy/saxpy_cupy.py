import cupy as cp

_saxpy = cp.RawKernel(
    r"""
extern "C" __global__ void saxpy(float a, const float* x, const float* y, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a * x[i] + y[i];
}
""",
    "saxpy",
)


def saxpy(a, x, y, n):
    out = cp.empty_like(x)
    threads = 256
    _saxpy(((n + threads - 1) // threads,), (threads,), (cp.float32(a), x, y, out, cp.int32(n)))
    return out
