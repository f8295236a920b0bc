"""Sample the program counter of a process running Numba code and map it to source lines.

    start_child(target, batch, tmp)   a child Python process calling the kernel in a compiled loop,
                                      built with DWARF line tables; returns (Popen, ready-info)
    perf_samples(pid, seconds, hz)    [(tid, ip, dso)] from `perf record -e cpu-clock:u`
    gdb_lines(pid, ips)               {ip: (file, line)} through gdb's JIT interface

How the child is built (kernels/debuglines.py, shared with `python -m kernels show`): Numba's
`debug=True` (or NUMBA_DEBUGINFO=1) changes the machine code being measured: it turns on bounds
checks, extends variable lifetimes, keeps every local in a stack slot and marks every function
noinline (matmul_nn_fast ran 4-6x slower so built). The child sets the debuginfo flag and undoes
those four (boundscheck and dbg_extend_lifetimes off; numba's SROA-like promotion of locals and
LLVM inlining back on), so the optimisation level (3), fastmath and the vectoriser act as in the
normal build, and files code Numba inlined itself (inline="always" spans, prange bodies) under
its own file rather than the caller's: nn_block compiled so has the same instruction mix
as the normal build (540 vmovss, 77 vmovups, 40 vfmadd...ps, 24 vbroadcastss), and the report
prints both builds' time per call as a check. It compiles into a private cache directory (a cached non-debug build would have no line
tables). Numba's line-tables-only mode (`_dbg_directives_only`) is of no use here: it emits a
.debug_line without the compile unit in .debug_info that gdb needs to find it. LLVM registers every JIT-compiled
object with gdb's JIT interface (__jit_debug_register_code), which is how gdb, attached once
after sampling, resolves each sampled address to file:line, including code LLVM inlined from
other functions (the line table records the inlined callee's own lines).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r'''
import importlib.util, json, os, sys, time
sys.path.insert(0, {root!r})
from kernels.debuglines import enable
enable()     # line tables, otherwise the normal optimised build
from profiling.kernel_args import args_for, compiled_loop, describe, time_per_call
target, batch = {target!r}, {batch!r}
if ":" in target:
    path, func = target.rsplit(":", 1)
    spec = importlib.util.spec_from_file_location("kernel_lines_target", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    kernel, args = getattr(mod, func), tuple(getattr(mod, func + "_args")())
else:
    kernel, args = args_for(target, batch)
loop = compiled_loop(kernel, len(args))
per_call = time_per_call(kernel, args, repeats=3, min_time=0.02, loop=loop)
reps = max(1, int(0.01 / per_call))
shapes = [describe(a) for a in args]
print(json.dumps(dict(pid=os.getpid(), per_call=per_call, args=shapes)), flush=True)
while True:
    loop(reps, *args)
'''


def available(tool):
    return shutil.which(tool) is not None


def start_child(target, batch, tmp, timeout=300):
    """Start the child; wait until it prints its ready line. Returns (process, info dict)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba_cache"), PYTHONUNBUFFERED="1")
    env.pop("NUMBA_DEBUGINFO", None)
    script = os.path.join(tmp, "child.py")
    with open(script, "w") as f:
        f.write(_CHILD.format(root=ROOT, target=target, batch=batch))
    proc = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    t0 = time.time()
    line = ""
    while time.time() - t0 < timeout:
        line = proc.stdout.readline()
        if line or proc.poll() is not None:
            break
    if not line:
        stop_child(proc)
        raise RuntimeError(f"the kernel's child process failed to start:\n{proc.stderr.read()[-2000:]}")
    return proc, json.loads(line)


def stop_child(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def perf_samples(pid, seconds, hz, tmp):
    """[(tid, ip, dso)] of every thread of pid, sampled by perf's cpu-clock software event (a
    timer: it needs no hardware counters) in user space. Raises RuntimeError if perf fails."""
    data = os.path.join(tmp, "perf.data")
    rec = subprocess.run(["perf", "record", "-e", "cpu-clock:u", "-F", str(hz), "-p", str(pid),
                          "-o", data, "--", "sleep", str(seconds)],
                         capture_output=True, text=True)
    if rec.returncode != 0 or not os.path.exists(data):
        raise RuntimeError(f"perf record failed: {rec.stderr.strip()[-500:]}")
    out = subprocess.run(["perf", "script", "-i", data, "-F", "tid,ip,dso"],
                         capture_output=True, text=True)
    samples = []
    for ln in out.stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+([0-9a-f]+)\s+\((.*)\)", ln)
        if m:
            samples.append((int(m.group(1)), int(m.group(2), 16), os.path.basename(m.group(3))))
    if not samples:
        raise RuntimeError(f"perf recorded no samples: {out.stderr.strip()[-500:]}")
    return samples


_GDB_MAPPER = r'''
import gdb, json
ips = json.load(open({src!r}))
res = {{}}
for ip in ips:
    sal = gdb.find_pc_line(ip)
    if sal.symtab is not None and sal.line:
        res[str(ip)] = (sal.symtab.fullname(), sal.line)
json.dump(res, open({dst!r}, "w"))
gdb.execute("detach")
'''


def _gdb(pid, script, tmp, timeout):
    path = os.path.join(tmp, "gdb_script.py")
    with open(path, "w") as f:
        f.write(script)
    run = subprocess.run(["gdb", "-nx", "-batch", "-p", str(pid), "-x", path],
                         capture_output=True, text=True, timeout=timeout)
    return run


def gdb_lines(pid, ips, tmp):
    """{ip: (file, line)} for the addresses gdb can place in a line table (JIT code included)."""
    src, dst = os.path.join(tmp, "ips.json"), os.path.join(tmp, "lines.json")
    with open(src, "w") as f:
        json.dump(sorted(set(ips)), f)
    run = _gdb(pid, _GDB_MAPPER.format(src=src, dst=dst), tmp, 120)
    if not os.path.exists(dst):
        raise RuntimeError(f"gdb could not map addresses: {run.stderr.strip()[-500:]}")
    with open(dst) as f:
        return {int(k): tuple(v) for k, v in json.load(f).items()}


def make_tmp():
    return tempfile.mkdtemp(prefix="kernel_lines_")
