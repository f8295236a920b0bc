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
    against each other on the two cores (profiling/README.md). It has to be set
    before the OpenMP runtime loads, i.e. before the first parallel kernel is compiled or loaded,
    hence at import.
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

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "3000"      # spin briefly between regions, then sleep

import numba  # noqa: E402

numba.get_num_threads()

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
