"""Shared helpers for the benchmarks: timing, the machine record, CSV output, progress lines, and
the options every profiling command takes (`add_common_options`)."""
import argparse
import csv
import functools
import io
import json
import os
import platform
import statistics
import sys
import time

from network.cli import positive_int  # noqa: F401  (one definition, shared with the other CLIs)
from network.io import atomic_write
from network.plots import save_figure as _save_figure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "results")
PLOTS_DIR = os.path.join(ROOT, "plots")


def log(msg, quiet=False):
    """One progress line on stderr (stdout stays free for results)."""
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def calibrate(run, min_time, max_number, max_growth):
    """(number, seconds): how many calls `run(number)` must make to last `min_time`, found like
    timeit.autorange (doubling, or growing by up to `max_growth`, capped at `max_number`), and the
    time the last, long enough, run took."""
    number = 1
    while True:
        t0 = time.perf_counter()
        run(number)
        dt = time.perf_counter() - t0
        if dt >= min_time or number >= max_number:
            return number, dt
        number = min(max_number,
                     number * (2 if dt <= 0 else max(2, min(max_growth, int(min_time / dt * 1.2) + 1))))


def median_per_call(run, repeats, min_time, max_number, max_growth):
    """Median seconds per call of `run(number)`, which makes `number` calls: `number` is calibrated
    (`calibrate`), and the calibrating run is the first of `repeats` samples."""
    number, dt = calibrate(run, min_time, max_number, max_growth)
    samples = [dt / number]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        run(number)
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def write_csv(path, rows, fields):
    """Write a list of dicts as CSV atomically; floats keep 6 significant digits."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_details():
    """cpu family / model / MHz / cache size lines of /proc/cpuinfo (first CPU)."""
    out = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key in ("cpu family", "model", "cpu MHz", "cache size") and key not in out:
                    out[key] = val.strip()
                if not line.strip() and out:
                    break
    except OSError:
        pass
    return out


def blas_peak(dtype, n=1024, reps=3):
    """GFLOP/s of NumPy's matmul on n x n matrices (best of reps): the compute-bound ceiling."""
    import numpy as np
    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(reps))
    return round(2 * n ** 3 / best / 1e9, 1)


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [x for x in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl") if x in flags]
    except OSError:
        pass
    return []


def git_state():
    """{'commit': HEAD, 'dirty_kernels_or_network': bool}: which code the figures measured."""
    import subprocess
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "kernels", "network"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return {"commit": head or None, "dirty_kernels_or_network": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty_kernels_or_network": None}


def machine_info():
    """CPU, cores, NumPy's BLAS (threadpoolctl), thread counts and library versions."""
    import numba
    import numpy as np
    from threadpoolctl import threadpool_info

    numpy_dir = os.path.dirname(np.__file__)
    blas = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture",
                                  "threading_layer", "filepath")}
            for d in threadpool_info() if d.get("user_api") == "blas"]
    numpy_blas = [b for b in blas if os.path.dirname(numpy_dir) in (b["filepath"] or "")
                  and "numpy" in (b["filepath"] or "")] or blas
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    info = {
        "cpu": _cpu_model(), "cpu_details": _cpu_details(), "cpu_flags": _cpu_flags(), "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity, "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": numba.config.THREADING_LAYER,
        "numpy_blas": [{k: v for k, v in b.items() if k != "filepath"} for b in numpy_blas],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "shared_machine_note": "measured on a shared 2-core VM; other jobs may have been running",
    }
    try:
        import sklearn
        info["scikit_learn"] = sklearn.__version__
    except ImportError:
        pass
    return info


_LOAD_AT_IMPORT = round(os.getloadavg()[0], 2)


def record_machine(out_dir, bench, args, extra=None):
    """Merge this run's machine record into out_dir/machine.json under key `bench`.

    Records the 1-minute load average when the run started (module import) and when it ended.
    """
    path = os.path.join(out_dir, "machine.json")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {}
    info = machine_info()
    info["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    info["git"] = git_state()
    info["load_average_1min_at_start"] = _LOAD_AT_IMPORT
    info["load_average_1min_at_end"] = info.pop("load_average_1min")
    from kernels import cpu            # the instruction set and register tiles the kernels use
    info["kernels_isa"] = cpu.ISA
    info["kernels_tiles"] = cpu.TILE_INFO
    from kernels import runtime        # what the OpenMP runtime was loaded with (kernels/runtime.py)
    info["kernels_openmp"] = {"set_while_loading": runtime.OPENMP_SETTINGS,
                              "master_cpus": sorted(runtime.MASTER_CPUS or []) or None}
    info["env"] = {k: os.environ[k] for k in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "OPENBLAS_CORETYPE",
                                              "ATEN_CPU_CAPABILITY", "NUMBA_NUM_THREADS") if k in os.environ}
    from profiling.timing import PROBE  # the best threaded rate this run saw (slow-spell yardstick)
    info["probe_best_gflops"] = PROBE.best or None
    info.update(extra or {})
    info["args"] = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    data[bench] = info
    atomic_write(path, lambda f: f.write((json.dumps(data, indent=2, default=str) + "\n").encode()))
    return info


def csv_list(text, cast=int):
    """'32,64,128' -> [32, 64, 128] (argparse type)."""
    try:
        vals = [cast(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"expected a comma-separated list of numbers; got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise ValueError(f"expected a comma-separated list of positive numbers; got {text!r}")
    return vals


def random_mnist(n, dtype, seed=1):
    """Random data of MNIST's shape: X (n, 784) in [0, 1), y (n,) labels 0..9.

    Timing does not depend on the pixel values (no data-dependent branches in the hot loops,
    apart from relu's sign test), so benchmarks need not download MNIST.
    """
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32).astype(dtype, copy=False), rng.integers(0, 10, n)


#: network.plots.save_figure (atomic, format from the suffix), trimmed to the drawn area
save_figure = functools.partial(_save_figure, bbox_inches="tight")


def make_parser(prog, doc):
    """The argparse parser of a profiling command: its docstring as description, verbatim."""
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_common_options(ap, quick_help):
    """The options every profiling command takes: --quick, --out-dir, --plots-dir, --no-plot, --quiet."""
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--out-dir", default=RESULTS_DIR)
    ap.add_argument("--plots-dir", default=PLOTS_DIR)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap
