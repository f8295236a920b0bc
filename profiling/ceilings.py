"""This machine's roofline ceilings, measured with small purpose-built kernels.

    peak_fma(threads)         GFLOP/s of register-only fused multiply-adds (the compute ceiling)
    fma_instructions()        which FMA instructions that kernel compiles to (evidence it is packed)
    sgemm(n)                  GFLOP/s of OpenBLAS sgemm, np.dot on float32 (n x n) @ (n x n)
    triad(floats, threads)    GB/s of a STREAM triad a = b + s c, each thread on its own arrays
    machine()                 the CPU model, core count and cache sizes (lscpu / sysfs)

Peak FMA: 128 float32 accumulators, acc[k] = acc[k] * b + c, repeated. The accumulators live in a
stack array of constant size, which LLVM promotes to vector registers (8 zmm or 16 ymm) once the
loop over k is vectorised, so the loop body is independent packed FMAs with no loads or stores:
enough independent chains to cover the FMA latency on every port. With b < 1 the values converge
(to c / (1 - b)) and never become subnormal.

Triad bandwidth counts 3 arrays x 4 bytes per element (two reads and a write; the write-allocate
read a cache may add is not counted, as in STREAM). Each rep alternates a = b + s c and
b = a + s c, so no rep's result is dead and the compiler cannot skip reps.
"""
import os
import re
import statistics
import subprocess
import time

import numba
import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import carray

CHAINS = 128            # float32 accumulators of the peak-FMA kernel


@intrinsic
def _registers(typingctx, n, dtype):
    """A pointer to n (a literal) elements of dtype on the stack (an LLVM alloca)."""
    if not isinstance(n, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(dtype.dtype), size=n.literal_value)

    return types.CPointer(dtype.dtype)(n, dtype), codegen


@njit(fastmath=True)
def _fma_chains(n, b, c):
    """n rounds of acc[k] = acc[k] * b + c on CHAINS accumulators held in registers."""
    acc = carray(_registers(128, np.float32), (128,))
    for k in range(128):
        acc[k] = np.float32(k) * np.float32(1e-3)
    for _ in range(n):
        for k in range(128):
            acc[k] = acc[k] * b + c
    s = np.float32(0.0)
    for k in range(128):
        s += acc[k]
    return s


@njit(parallel=True, fastmath=True)
def _fma_parallel(n, b, c, threads):
    out = np.zeros(threads, np.float32)
    for i in prange(threads):
        out[i] = _fma_chains(n, b, c)
    return out


@njit(fastmath=True)
def _triad_row(a, b, c, s, reps):
    for r in range(reps):
        if r % 2 == 0:
            for i in range(a.shape[0]):
                a[i] = b[i] + s * c[i]
        else:
            for i in range(a.shape[0]):
                b[i] = a[i] + s * c[i]


@njit(parallel=True, fastmath=True)
def _triad_parallel(a, b, c, s, reps):
    for t in prange(a.shape[0]):
        _triad_row(a[t], b[t], c[t], s, reps)


def _median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_fma(threads, seconds=0.2, repeats=5):
    """GFLOP/s of the register-only FMA kernel on `threads` threads (1: no thread pool)."""
    b, c = np.float32(0.999), np.float32(1e-3)
    if threads == 1:
        def run(n):
            return _fma_chains(n, b, c)
    else:
        def run(n):
            return _fma_parallel(n, b, c, threads)
    run(10)
    n = 1000
    while True:
        t = _median_seconds(lambda: run(n), 1)
        if t >= seconds / 4:
            break
        n *= 4
    n = int(n * seconds / t) + 1
    t = _median_seconds(lambda: run(n), repeats)
    return 2.0 * CHAINS * n * threads / t / 1e9


def fma_instructions():
    """{'vfmadd213ps zmm': count, ...}: the FMA instructions in the peak kernel's assembly."""
    _fma_chains(1, np.float32(0.999), np.float32(1e-3))
    asm = "\n".join(_fma_chains.inspect_asm().values())
    found = re.findall(r"\b(v?fn?m(?:add|sub)\w*)\s+[^\n]*?%([xyz]mm)\d+\s*$", asm, re.M)
    counts = {}
    for op, reg in found:
        counts[f"{op} {reg}"] = counts.get(f"{op} {reg}", 0) + 1
    return counts


def sgemm(n=2048, repeats=5):
    """GFLOP/s of np.dot on two float32 (n, n) matrices (OpenBLAS, all its threads)."""
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n), np.float32), rng.random((n, n), np.float32)
    out = np.empty((n, n), np.float32)
    np.dot(A, B, out=out)
    return 2.0 * n ** 3 / _median_seconds(lambda: np.dot(A, B, out=out), repeats) / 1e9


def triad(floats, threads, seconds=0.2, repeats=5):
    """GB/s of the triad with `floats` float32 elements per array per thread, on `threads`
    threads, each on its own three arrays (so the footprint is 12 * floats * threads bytes)."""
    a, b, c = (np.full((threads, floats), v, np.float32) for v in (0.0, 1.0, 1e-3))
    s = np.float32(1e-3)
    if threads == 1:
        def run(reps):
            _triad_row(a[0], b[0], c[0], s, reps)
    else:
        def run(reps):
            _triad_parallel(a, b, c, s, reps)
    run(2)
    reps = 2
    while True:
        t = _median_seconds(lambda: run(reps), 1)
        if t >= seconds / 4 or reps >= 1 << 24:
            break
        reps *= 4
    reps = max(2, int(reps * seconds / t))
    t = _median_seconds(lambda: run(reps), repeats)
    return 12.0 * floats * threads * reps / t / 1e9


def _sysfs_cache(level):
    """Bytes of the unified or data cache at `level` seen by cpu0, or None."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for idx in sorted(os.listdir(base)):
            path = os.path.join(base, idx)
            with open(os.path.join(path, "level")) as f:
                if int(f.read()) != level:
                    continue
            with open(os.path.join(path, "type")) as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(os.path.join(path, "size")) as f:
                size = f.read().strip()
            unit = {"K": 1 << 10, "M": 1 << 20}.get(size[-1], 1)
            return int(size.rstrip("KM")) * unit
    except OSError:
        pass
    return None


def machine():
    """dict: cpu (model name), cores (usable CPUs), l2_per_core and l3 bytes, flags summary."""
    cpu = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    with open("/proc/cpuinfo") as f:
        flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return dict(cpu=cpu, isa=isa, cores=len(os.sched_getaffinity(0)),
                numba_threads=numba.get_num_threads(),
                l2_per_core=_sysfs_cache(2) or 1 << 20, l3=_sysfs_cache(3) or 32 << 20)
