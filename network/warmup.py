"""A cold start's compiling, on two processes.

When the compiled epoch or a kernel it calls is not in Numba's on-disk cache yet (a fresh clone,
another CPU, changed kernels), `precompile_epoch` starts a helper process (`python -m
network.warmup DTYPE shift|warp`) that compiles the backward layer kernels (HELPER) into the
shared on-disk cache, while this process compiles the epoch's own loop, then the forward layer,
the batch gather and the loss. The epoch calls its kernels by address (kernels/calls.py), so it
is typed from their signatures alone and compiled first, without waiting for any kernel, and no
kernel's code is compiled twice. Once the helper is ready, this process loads its share from the
cache. While the first epoch runs, the helper compiles the kernels evaluation and prediction call
(kernels/signatures.py lists them all). Nothing here changes a result: a kernel the helper did
not compile (it failed or hangs) is compiled here when its address is first needed.

The helper writes each kernel's name on its standard output once it is in the cache, "ready" when
its whole share is, then "done" and, with --report FILE, its compile times per kernel and the
timeline of its compilations in FILE (JSON), for the benchmark (profiling/startup.py).
"""
import argparse
import atexit
import json
import os
import select
import subprocess
import sys
import time

import numpy as np
from numba.core import event

from kernels import runtime
from kernels import signatures as S
from kernels import train_epoch_compiled
from kernels.calls import resolve

HELPER = ("optim.optimizer_step", "layers._weight_grad", "layers._input_grad")
"""The epoch kernels the helper compiles, in order: the backward layer kernels (optimizer_step
first: both updates call it), about half of the compiling; this process compiles the epoch's own
loop, the forward layer, the batch gather and the loss, then LAST."""
LAST = ("layers.bias_grad_step", "optim.optimizer_step")
"""A kernel this process compiles once the helper has reported the kernel it calls compiled (it
then loads it from the cache): the bias update, which shares the weights' optimizer_step. The
helper starts 0.7 s behind (a new interpreter), so this evens the two shares: each 6-7 s on the
2-vCPU Intel Xeon (Ice Lake, 2026-12-08)."""
READY_TIMEOUT = 300.0
"""Seconds this process waits for the helper's next line once its own share is compiled (the
helper's whole share takes 6-7 s on the 2-vCPU machines measured); past it the helper is stopped
and its share compiled here."""
REPORT_ENV = "MNIST_WARMUP_REPORT"
"""If set, the file the helper writes its compile times to (profiling/bench_epoch.py)."""

_helpers = []


def _compile(kernels, names):
    with runtime.compile_level():
        for name in names:
            dispatcher, sig = kernels[name]
            dispatcher.compile(sig)


def _cached(dispatcher, sig):
    """Whether Numba's on-disk cache holds `dispatcher` for these argument types (read from the
    cache's index, as Numba does before loading an entry)."""
    try:
        cache = dispatcher._cache
        return cache._index_key(sig, dispatcher.targetctx.codegen()) in cache._cache_file._load_index()
    except AttributeError:       # another Numba's internals: assume cached, compile as before
        return True


def is_cached(dispatcher, args):
    """Whether `dispatcher` has code for these arguments, compiled in this process or in its
    on-disk cache (read from the cache's index, as Numba does before loading an entry)."""
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    return sig in dispatcher.overloads or _cached(dispatcher, sig)


def precompile_epoch(args, dtype, warp):
    """Before the first call of K.train_epoch_compiled(*args) in this process (args[-1]: its
    Calls, kernels/calls.py): if it or a kernel it calls must be compiled, compile them here and
    in a helper process at once. dtype: the arrays' dtype; warp: whether the Augment in args
    warps. Returns the seconds spent (0.0 if all was cached)."""
    calls = args[-1]
    cold = [c for c in calls if c.args not in c.dispatcher.overloads]
    if is_cached(train_epoch_compiled, args) and all(_cached(c.dispatcher, c.args) for c in cold):
        return 0.0
    t = time.perf_counter()
    pack = args[2].pack
    kernels = S.epoch_kernels(dtype, warp, train_epoch_compiled.typeof_pyval(args[0].X), pack)
    helper = _start_helper(dtype, warp, pack)
    try:
        with runtime.compile_level():   # the epoch's loop: typed from the Calls' signatures alone
            train_epoch_compiled.compile(tuple(train_epoch_compiled.typeof_pyval(a) for a in args))
        _compile(kernels, [n for n in kernels if n != LAST[0] and (helper is None or n not in HELPER)])
        ok = helper is not None and _wait(helper, LAST[1])
        _compile(kernels, [LAST[0]])
        if helper is not None and not (ok and _wait(helper, "ready")):
            _stop(helper)                  # the helper failed or hangs: its share compiles below
        resolve(calls)                     # the helper's share: loaded from the cache (or compiled)
    except BaseException:
        _stop(helper)
        raise
    return time.perf_counter() - t


def _wait(proc, name):
    """Read the helper's lines until it reports `name` compiled (or "ready" when name is "ready");
    False if it exited, was stopped, or wrote nothing for READY_TIMEOUT seconds. Reads the pipe's
    bytes as they come (a buffered readline could hold the awaited line while select waits)."""
    fd = proc.stdout.fileno()
    while True:
        pending = getattr(proc, "pending", b"")
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            proc.pending = pending
            if line.decode().strip() in (name, "ready"):
                return True
        readable, _, _ = select.select([fd], [], [], READY_TIMEOUT)
        chunk = os.read(fd, 4096) if readable else b""
        if not chunk:
            return False
        proc.pending = pending + chunk


def _start_helper(dtype, warp, pack):
    """The helper process, or None if it cannot be started (then this process compiles all)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "network.warmup", np.dtype(dtype).name, "warp" if warp else "shift"]
    if pack:
        cmd.append("--pack")
    report = os.environ.get(REPORT_ENV)
    if report:
        cmd += ["--report", report]
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)   # bytes: _wait reads the pipe itself
    except OSError:
        return None
    _helpers[:] = [p for p in _helpers if p.poll() is None] + [proc]
    return proc


def _stop(proc):
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


@atexit.register
def _reap():
    """At exit, do not leave a helper compiling behind (the cache stays consistent: Numba writes
    each entry whole); when it reports to a benchmark (REPORT_ENV), let it finish first."""
    for proc in _helpers:
        if os.environ.get(REPORT_ENV) and proc.poll() is None:
            try:
                proc.wait(READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        _stop(proc)


def _event_name(ev):
    """module.function of a numba:compile event's dispatcher (without the kernels. prefix)."""
    disp = ev.data.get("dispatcher")
    fn = getattr(disp, "py_func", None)
    return f"{fn.__module__.removeprefix('kernels.')}.{fn.__qualname__}" if fn else str(disp)


def compile_times(events):
    """[(function, signature, exclusive s, inclusive s)] from Numba's "numba:compile" events, one
    row per function and signature compiled, longest exclusive time first. Inclusive time counts
    the callees compiled for it (the epoch's entry holds nearly all of it); exclusive time is its
    own: typing, lowering and LLVM's optimisation of its module, which re-optimises the code of
    the callees linked into it."""
    stack, rows = [], {}
    for ts, ev in events:
        key = (_event_name(ev), str(ev.data.get("args", ""))[:80])
        if ev.is_start:
            stack.append([key, ts, 0.0])
            continue
        k, start, children = stack.pop()
        total = ts - start
        excl, incl = rows.get(k, (0.0, 0.0))
        rows[k] = (excl + total - children, incl + total)
        if stack:
            stack[-1][2] += total
    return sorted(((k[0], k[1], e, i) for k, (e, i) in rows.items()), key=lambda r: -r[2])


def compile_timeline(events):
    """[(function, start, end)] of the outermost compilations in Numba's "numba:compile" events
    (each includes the callees compiled for it), in order; times are time.time() stamps, so two
    processes' timelines share one clock."""
    depth, out = 0, []
    for ts, ev in events:
        if ev.is_start:
            if depth == 0:
                out.append([_event_name(ev), ts, ts])
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                out[-1][2] = ts
    return [tuple(r) for r in out]


def _helper_main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m network.warmup",
        description="Compile about half of the training epoch's kernels, then the inference "
                    "kernels, into Numba's on-disk cache (the helper process of a cold start).")
    ap.add_argument("dtype", choices=("float32", "float64"))
    ap.add_argument("augment", choices=("shift", "warp"), help="the epoch's Augment: warps or not")
    ap.add_argument("--pack", action="store_true",
                    help="the network's layer products may be packed (kernels/packing.py may_pack)")
    ap.add_argument("--report", metavar="FILE", help="write the compile times per kernel here (JSON)")
    a = ap.parse_args(argv)
    t0, wall0 = time.perf_counter(), time.time()
    with event.install_recorder("numba:compile") as rec:
        warp = a.augment == "warp"
        kernels = S.epoch_kernels(a.dtype, warp, pack=True if a.pack else None)
        for name in HELPER:
            _compile(kernels, [name])
            print(name, flush=True)
        ready = time.perf_counter() - t0
        print("ready", flush=True)
        infer = S.inference_kernels(a.dtype)
        _compile(infer, list(infer))
    print("done", flush=True)
    if a.report:
        with open(a.report, "w") as f:
            json.dump({"ready_s": ready, "done_s": time.perf_counter() - t0, "started": wall0,
                       "compile": compile_times(rec.buffer), "timeline": compile_timeline(rec.buffer)}, f)


if __name__ == "__main__":
    _helper_main()
