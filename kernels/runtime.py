"""What importing `kernels` does for safety, and the one piece of upkeep its on-disk cache needs.

At import (this module is the only place that acts at import time):
  * OMP_WAIT_POLICY=PASSIVE unless the user set it. The parallel kernels run on Numba's OpenMP
    pool, whose idle threads spin by default; on a shared 2-core machine a spinning thread steals
    the core its partner needs (an epoch measured here went from 0.85 s to 6-25 s). It has to be
    set before the OpenMP runtime loads, i.e. before the first parallel kernel is compiled or
    loaded, hence at import.
  * Numba's thread pool is started. A cached function that calls a parallel one, loaded from the
    on-disk cache and run before anything has started the pool, jumps to a null pointer (numba
    issue #8578); `numba.get_num_threads()` starts the pool as a side effect.

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

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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


# Compile options of the optimised kernels: fastmath lets LLVM reorder sums and contract a*b + c
# into fused multiply-adds (so they equal the plain kernels to rounding, not bit for bit);
# error_model="numpy" drops the division-by-zero checks that would block vectorisation.
FAST = dict(cache=True, fastmath=True, error_model="numpy")
