"""Timing contenders side by side on a shared machine: interleaved rounds with a pause between
calls, median and minimum, the CPU time other processes took meanwhile, and repeats of a
measurement taken while the machine was busy."""
import os
import time

import numpy as np

from profiling.common import calibrate, log

GAP_S = 0.2
"""Pause before each timed call. A thread pool that just finished (OpenBLAS's, PyTorch's OpenMP
threads) keeps spinning for a while waiting for more work; without a pause those spinning threads
could take a core from the next contender, whose time would then depend on who ran before it.
(Not measured against a run without the pause; see profiling/README.md.)"""


def _busy_jiffies():
    """(CPU ticks all processes spent busy, ticks this process spent), from /proc; None off Linux."""
    try:
        with open("/proc/stat") as f:
            cpu = [int(v) for v in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal: busy = all but idle and iowait
    busy = sum(cpu[:8]) - cpu[3] - cpu[4]
    return busy, int(own[11]) + int(own[12])           # utime + stime, all threads


class ForeignLoad:
    """Cores' worth of CPU time that other processes (and the hypervisor's steal) used between
    start() and stop(): this process's own threads are not counted, so a benchmark running on
    both cores still reads about 0 on a quiet machine. The 1-minute load average cannot say that:
    it counts the benchmark itself."""

    def __init__(self):
        self._t0 = self._j0 = None

    def start(self):
        self._t0, self._j0 = time.perf_counter(), _busy_jiffies()
        return self

    def stop(self):
        j1 = _busy_jiffies()
        if self._j0 is None or j1 is None:
            return float("nan")
        elapsed = time.perf_counter() - self._t0
        ticks = (j1[0] - self._j0[0]) - (j1[1] - self._j0[1])
        return max(ticks, 0) / os.sysconf("SC_CLK_TCK") / max(elapsed, 1e-9)


def interleaved(fns, repeats, max_attempts=3, busy_load=0.5, max_spread=0.15, gap=GAP_S, quiet=True):
    """Time several zero-argument callables side by side: one warm-up call each (compilation
    excluded), then `repeats` rounds that call each once, in an order that rotates every round,
    so a slow spell of the shared machine hits every contender alike; a pause of `gap` seconds
    before every call lets the previous contender's thread pool go idle (GAP_S).

    Returns {name: {"median", "min", "times" (per round, in round order), "spread", "load_before",
    "load_after", "foreign_load", "attempts", "busy"}}. A measurement taken while the machine was
    busy (other processes used more than `busy_load` cores on average while it ran, see
    ForeignLoad, or any contender's (max - min) / median is above `max_spread`) is repeated, up to
    `max_attempts` times; if it stays busy the last one is kept with busy=True, and the caller
    writes that down rather than a clean figure. load_before / load_after are the 1-minute load
    averages, for the record.
    """
    names = list(fns)
    for f in fns.values():
        f()
    for attempt in range(1, max_attempts + 1):
        load_before = os.getloadavg()[0]
        foreign = ForeignLoad().start()
        times = {k: [] for k in names}
        for r in range(max(repeats, 1)):
            order = names[r % len(names):] + names[:r % len(names)]
            for k in order:
                if gap > 0:
                    time.sleep(gap)
                t0 = time.perf_counter()
                fns[k]()
                times[k].append(time.perf_counter() - t0)
        other = foreign.stop()
        load_after = os.getloadavg()[0]
        out = {}
        for k in names:
            med = float(np.median(times[k]))
            out[k] = {"median": med, "min": float(min(times[k])), "times": list(times[k]),
                      "spread": (max(times[k]) - min(times[k])) / med if med > 0 else 0.0,
                      "load_before": load_before, "load_after": load_after,
                      "foreign_load": other, "attempts": attempt}
        busy = (other > busy_load
                or (repeats >= 3 and any(v["spread"] > max_spread for v in out.values())))
        for v in out.values():
            v["busy"] = busy
        if not busy or attempt == max_attempts:
            break
        spreads = ", ".join(f"{k} {v['spread']:.0%}" for k, v in out.items())
        log(f"    busy machine (other processes {other:.2f} cores, spreads {spreads}): "
            "measuring again", quiet)
    return out


def paired_ratio(res, name, base):
    """Median over rounds of res[name]'s time over res[base]'s time in the same round: a slow
    spell of the machine that lasts a round slows both sides of that round's ratio alike, so the
    paired ratio moves less from run to run than the ratio of the two medians. `res` is what one
    interleaved call returned; None unless both were timed in it."""
    a, b = res.get(name, {}).get("times"), res.get(base, {}).get("times")
    if not a or not b or len(a) != len(b):
        return None
    return float(np.median(np.asarray(a) / np.asarray(b)))


def calls_per_sample(fn, min_time, max_number=1 << 20):
    """How many back-to-back calls of fn() last at least `min_time` seconds (after one warm-up
    call, which compiles): profiling.common.calibrate, capped at max_number."""
    fn()

    def run(number):
        for _ in range(number):
            fn()
    return calibrate(run, min_time, max_number, max_growth=10)[0]


def interleaved_per_call(fns, repeats, min_time, gap=GAP_S, quiet=True):
    """Seconds per call of each zero-argument callable, timed as in `interleaved` (rotating
    rounds, a pause before every sample, busy measurements repeated), each sample being a run of
    back-to-back calls lasting at least `min_time` (so a kernel is timed as a training loop calls
    it, and short kernels are not lost in the timer's resolution).

    Returns {name: {"median", "min" (per call), "busy", "number" (calls per sample)}}."""
    numbers = {k: calls_per_sample(f, min_time) for k, f in fns.items()}

    def batch(f, n):
        def run():
            for _ in range(n):
                f()
        return run

    res = interleaved({k: batch(f, numbers[k]) for k, f in fns.items()}, repeats, max_attempts=2,
                      gap=gap, quiet=quiet)
    return {k: {"median": v["median"] / numbers[k], "min": v["min"] / numbers[k],
                "busy": v["busy"], "number": numbers[k]} for k, v in res.items()}
