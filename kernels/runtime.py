"""What importing `kernels` does for safety, and the one piece of upkeep its on-disk cache needs.

At import (this module is the only place that acts at import time):
  * GOMP_SPINCOUNT=3000 unless the user set it or OMP_WAIT_POLICY. The parallel kernels run on
    Numba's OpenMP pool (libgomp). By default its idle threads spin for about 300,000 rounds; on a
    shared 2-core machine a spinning thread steals the core its partner (or OpenBLAS, or another
    process) needs: an epoch measured here went from 0.85 s to 6-25 s. Sleeping at once
    (OMP_WAIT_POLICY=PASSIVE, the earlier setting) is safe but pays a futex wake-up at each of the
    ~6 parallel regions of every mini-batch: measured 2026-11-30 on the quiet AMD EPYC (AVX-512),
    epoch 0.35-0.37 s passive against 0.25-0.31 s with 3,000 spin rounds, and the same 0.46 s
    for both with a busy process on one core. Longer spins measured no clear gain: in one session
    slower (alternating processes, epoch medians over two runs each: 0.180-0.203 s at 3,000
    rounds, 0.196-0.214 s at 30,000, 0.222-0.246 s at 10,000, 0.254-0.261 s at 100,000), in a later
    one a little faster for the epoch alone (300,000 rounds: 0.184 against 0.195 s on AVX-512,
    0.200-0.229 against 0.258-0.307 s on AVX2); but at 300,000 rounds products called one at a
    time beside NumPy collapsed to 0.02-0.03x np.dot's rate, our threads and OpenBLAS's spinning
    against each other on the two cores (profiling/README.md). Measured again once the threads
    were bound (below): no clear gain for the epoch at 30,000 or 300,000 rounds (AVX2 path), and
    at 300,000 np.dot fell to 82 GFLOP/s in one sample beside our spinning threads.
  * OMP_PROC_BIND=true unless the user set OMP_PROC_BIND, OMP_PLACES or GOMP_CPU_AFFINITY, and
    only when Numba runs one thread per CPU of the process: each OpenMP worker then stays on a CPU
    of its own. Unbound, this machine's scheduler (a VM that packs runnable threads onto few
    vCPUs) was seen to stack the worker on the master's CPU, for seconds at a time: a threaded
    product then ran at a quarter of its rate (`pinned()` below). libgomp also binds the thread
    that starts the pool; import gives that thread its CPUs back at once, so the user's thread
    and the processes it starts keep all their CPUs; `pinned()` binds it only while kernels run.
  * Both settings are put in the environment only while the OpenMP runtime loads (it reads them
    once, then), and removed after: other OpenMP runtimes loaded later in the process (PyTorch
    bundles its own libgomp) and child processes get the user's environment, not ours.
  * Numba's thread pool is started. A cached function that calls a parallel one, loaded from the
    on-disk cache and run before anything has started the pool, jumps to a null pointer (numba
    issue #8578); `numba.get_num_threads()` starts the pool as a side effect.

While the network trains or predicts (`compile_level()`, a context manager used by the training
engine and by inference): NUMBA_OPT=2 unless the user set NUMBA_OPT. Numba re-reads its settings
at every compilation, so only the kernels compiled inside the block are affected, not the user's
other Numba code. Measured 2026-11-30 on the AMD EPYC (Zen 4): `python train.py --epochs 1` with
an empty cache compiled for 23.6 s at level 2 against 31.6 s at level 3, and the epoch was not
slower. Three alternating pairs of `python -m profiling.bench_epoch` processes, epoch time over
NumPy's in the same process, level 2 against level 3:
    AVX-512 path, float32   0.58 / 0.63 / 0.60x   against 0.64 / 0.67 / 0.64x
    AVX2 path,    float32   0.66 / 0.66 / 0.70x   against 0.70 / 0.79 / 0.45x (NumPy slow that round)
    AVX2 path,    float64   1.03 / 0.99 / 1.02x   against 1.34 / 1.30 / 1.05x

  * Full-width vectors on AVX-512 CPUs (`WIDE_VECTORS`): unless the user named a CPU or its
    features (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES), Numba's code generator is built for the host's
    features plus "-prefer-256-bit". LLVM tunes Intel's AVX-512 CPUs (Skylake-X to Emerald and
    Granite Rapids) to prefer 256-bit vectors, so the loops of the register tiles were vectorised
    with ymm registers: half of each FMA unit, and a float32 tile of 32 columns is then 4 ymm
    per row, 32 accumulators, which spill. Measured 2026-12-01 on an Intel Xeon (Emerald Rapids,
    2 vCPUs): the A @ B tile's 32 FMAs were all ymm, with the flag 16 zmm ones; the float32 epoch
    0.37-0.42 s against NumPy's 0.53-0.61 s (0.70-0.76x) before, 0.25-0.28 s against 0.57-0.61 s
    (0.47-0.49x) after (two alternating pairs of processes). AMD's Zen 4 has no such preference:
    the flag changes nothing there but the cache key. The code generator reads the features once,
    when it is built: the flag is put in the environment only while it is built, here at import
    (it is built at the first compilation or cache load anyway), then removed. If some Numba code
    was compiled before `kernels` was imported, the generator already exists and is left as it
    is; `kernels.cpu.compile_features()` reports what it was built with.

Not at import, but when compiling or training starts (`ensure_fresh_cache()`, called by the
network's training engine, the benchmarks and the test suite): Numba keys a function's on-disk
cache on its own source file only, yet a cached function carries the compiled code of every
kernel it calls (the fused layers call the activation, dropout and optimizer kernels; the epoch
calls the layers). So when any file of kernels/ changes, every cached kernel is flushed and
recompiled on first use; a digest of the package's sources is kept beside the cache.
"""
import contextlib
import hashlib
import os
import threading

import numba  # noqa: E402

_AFFINITY = hasattr(os, "sched_getaffinity")   # Linux
_CPUS = os.sched_getaffinity(0) if _AFFINITY else set()
OPENMP_SETTINGS = {}        # what we put in the environment, only until the pool loads (benchmark records)
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    OPENMP_SETTINGS["GOMP_SPINCOUNT"] = "3000"  # spin briefly between regions, then sleep
if (_AFFINITY and not any(k in os.environ for k in ("OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY"))
        and numba.config.NUMBA_NUM_THREADS == len(_CPUS) > 1):
    OPENMP_SETTINGS["OMP_PROC_BIND"] = "true"   # one OpenMP thread per CPU of the process
os.environ.update(OPENMP_SETTINGS)
try:
    numba.get_num_threads()                    # loads the OpenMP runtime, which reads the settings now
    _bound = os.sched_getaffinity(0) if _AFFINITY else _CPUS   # libgomp may have bound this thread
finally:
    for _k in OPENMP_SETTINGS:
        os.environ.pop(_k, None)
    if _AFFINITY:
        os.sched_setaffinity(0, _CPUS)         # ... so give it its CPUs back


def _wide_vectors():
    """The feature string the code generator is built with here, or None (the user named a CPU
    or features; not an AVX-512 host; the generator was already built)."""
    from numba.core import config, registry
    from numba.core.codegen import get_host_cpu_features
    if "NUMBA_CPU_NAME" in os.environ or "NUMBA_CPU_FEATURES" in os.environ:
        return None
    if "_toplevel_target_context" in vars(registry.cpu_target):
        return None                                    # built already: too late to choose
    features = get_host_cpu_features()
    if "+avx512f" not in features.split(","):
        return None
    features += ",-prefer-256-bit"
    os.environ["NUMBA_CPU_FEATURES"] = features
    try:
        config.reload_config()
        registry.cpu_target.target_context            # builds the code generator, which reads it
    finally:
        os.environ.pop("NUMBA_CPU_FEATURES", None)
        config.reload_config()
    return features


WIDE_VECTORS = _wide_vectors()
"""The features the kernels compile with when runtime chose them (the host's + '-prefer-256-bit'
on an AVX-512 CPU), else None."""

MASTER_CPUS = _bound if ("OMP_PROC_BIND" in OPENMP_SETTINGS and numba.threading_layer() == "omp"
                         and _bound != _CPUS) else None
"""The CPU libgomp gave the parallel kernels' master thread ({0} on a 2-CPU machine), or None when
the threads are not bound (the user chose a binding, fewer threads than CPUs, another threading
layer): `pinned()` holds the calling thread there."""


@contextlib.contextmanager
def pinned(on=True):
    """Hold the calling thread on MASTER_CPUS for the block (nothing if None or not `on`: a block
    running on one thread is better left free to move off a busy CPU), then give back its CPUs.
    The OpenMP workers stay on the other CPUs, one each, so the scheduler cannot stack the master
    on a worker's CPU: measured 2026-11-30 on the AMD EPYC (Zen 4, 2 vCPUs, AVX-512),
    matmul_nt_fast 64x784x128 float32 called 100 times in a row, GFLOP/s after NumPy had run once:
    40-45 unbound (for seconds at a time), 121-173 bound (np.dot: 99-161 in the same runs).
    The training engine, inference and
    `python -m profiling.bench_kernels` run inside it."""
    if MASTER_CPUS is None or not on:
        yield
        return
    # Numba re-reads its settings at every compilation and takes NUMBA_NUM_THREADS's default from
    # the calling thread's CPUs; bound to one, it would refuse to compile ("cannot set
    # NUMBA_NUM_THREADS to a different value once the threads have been launched"): name the
    # launched count while any thread is bound (counted, so overlapping blocks in several threads
    # keep it until the last one ends).
    global _pinned_depth, _named_threads
    with _pin_lock:
        if _pinned_depth == 0:
            _named_threads = "NUMBA_NUM_THREADS" not in os.environ
            if _named_threads:
                os.environ["NUMBA_NUM_THREADS"] = str(numba.config.NUMBA_NUM_THREADS)
        _pinned_depth += 1
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, MASTER_CPUS)
        yield
    finally:
        os.sched_setaffinity(0, before)
        with _pin_lock:
            _pinned_depth -= 1
            if _pinned_depth == 0 and _named_threads:
                os.environ.pop("NUMBA_NUM_THREADS", None)


_pin_lock = threading.Lock()
_pinned_depth = 0
_named_threads = False
_checked = False


def source_digest():
    """SHA-256 of every .py file of the kernels package, in name order."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read())
    return digest.hexdigest()


def _dispatchers():
    import importlib
    import pkgutil

    import kernels
    for info in pkgutil.iter_modules(kernels.__path__):
        mod = importlib.import_module(f"kernels.{info.name}")
        for obj in vars(mod).values():
            if hasattr(obj, "_cache") and hasattr(obj, "py_func"):   # a cached dispatcher
                yield obj


def ensure_fresh_cache():
    """Flush every kernel's on-disk cache if any kernels/ source changed since it was written.
    Returns True if it flushed. Runs once per process; errors (a read-only cache) are ignored."""
    global _checked
    if _checked:
        return False
    _checked = True
    from kernels.epoch import train_epoch_compiled
    digest = source_digest()
    try:
        stamp = os.path.join(train_epoch_compiled._cache.cache_path, "kernels-sources.sha256")
        with contextlib.suppress(OSError), open(stamp) as f:
            if f.read() == digest:
                return False
        for obj in _dispatchers():
            obj._cache.flush()
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        tmp = f"{stamp}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(digest)
        os.replace(tmp, stamp)
        return True
    except (AttributeError, OSError):
        return False


OPT_LEVEL = "2"


@contextlib.contextmanager
def compile_level():
    """Compile any kernel first called inside the block at LLVM level OPT_LEVEL (NUMBA_OPT), unless
    the user chose a level; restores the environment after."""
    if "NUMBA_OPT" in os.environ:
        yield
        return
    os.environ["NUMBA_OPT"] = OPT_LEVEL
    try:
        yield
    finally:
        os.environ.pop("NUMBA_OPT", None)


# Compile options of the optimised kernels: fastmath lets LLVM reorder sums and contract a*b + c
# into fused multiply-adds (so they equal the plain kernels to rounding, not bit for bit);
# error_model="numpy" drops the division-by-zero checks that would block vectorisation.
FAST = dict(cache=True, fastmath=True, error_model="numpy")
# Kernels that only other kernels call: no Python entry point or C callback is compiled for them
# (two wrapper functions each, lowered and optimised on a first run: about 1 s of the first
# epoch's compiling). Calling one from Python raises an error.
INNER = dict(FAST, no_cpython_wrapper=True, no_cfunc_wrapper=True)
# Kernels the epoch calls through their address (kernels/calls.py): the C callback is that address.
BY_ADDRESS = dict(FAST, no_cpython_wrapper=True)
