from numba import cuda


@cuda.jit
def saxpy_kernel(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]


def saxpy(a, x, y):
    out = cuda.device_array_like(x)
    threads = 256
    blocks = (x.size + threads - 1) // threads
    saxpy_kernel[blocks, threads](a, x, y, out)
    return out
