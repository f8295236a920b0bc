"""Timing contenders side by side on a shared machine: interleaved rounds with a pause between
calls, median and minimum, the CPU time other processes took meanwhile, rounds taken in a slow
spell of the machine's threaded throughput left out (ThreadProbe), and repeats of a measurement
taken while the machine was busy."""
import os
import time
from collections import namedtuple

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


SPELL_FRACTION = 0.8
"""A round counts as taken in a slow spell when the probe before or after it ran below this
fraction of the best probe rate this process has seen (ThreadProbe)."""

MIN_THREAD_GAIN = 1.25
"""... or when the probe's threads, on separate cores, gained less than this over one thread. On
the AMD EPYC (Zen 4, 2 vCPUs) probes read 1.51-1.82x outside a spell and 0.96-1.14x inside one
(one at 1.30, at the edge of a spell), 2026-12-01 (about 60 probes). Unlike the best rate,
this needs no history: a process that starts inside a spell sees it from its first probe."""

Reading = namedtuple("Reading", "rate gain")
"""One probe: GFLOP/s on all of OpenBLAS's threads, and that over the rate on one thread (None
where the gain says nothing: one thread, or threads sharing a core)."""


def _separate_cores():
    """Whether every CPU this process may run on is a core of its own (no hyperthread sibling):
    only then should a second thread nearly double the rate. False where it cannot be read."""
    try:
        cpus = os.sched_getaffinity(0)
        for c in cpus:
            path = f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list"
            with open(path) as f:
                if any(ch in f.read() for ch in ",-"):
                    return False
    except (OSError, AttributeError):
        return False
    return len(cpus) > 1


class ThreadProbe:
    """The machine's threaded throughput right now: a fixed float32 product (64x784 @ 784x128,
    np.dot on all of OpenBLAS's threads, 128 calls, about 10 ms), and the same on one thread (64
    calls, about 6 ms) for the gain.

    Why: this VM has spells of seconds to a minute in which work split over both vCPUs runs at
    one vCPU's rate, while one thread alone runs at its usual speed. On the AMD EPYC (Zen 4,
    AVX-512) the probe reads about 145-155 GFLOP/s outside such a spell and 88-103 inside it; in
    the spells NumPy's epoch took 2x its time and the kernels' 1.45x (scratch measurement,
    profiling/README.md), so a round taken in one measures the spell, not the code. A reading is
    in a spell when its rate is below SPELL_FRACTION of the best seen (`best`, kept for the whole
    process) or its gain over one thread below MIN_THREAD_GAIN."""

    def __init__(self, calls=128):
        self.calls, self.best = calls, 0.0
        self._a = self._b = self._c = None
        self._one_thread = None          # a threadpoolctl controller, where the gain is read

    def __call__(self):
        """Measure now (`measure`) and keep the best rate seen."""
        reading = self.measure()
        self.best = max(self.best, reading.rate)
        return reading

    def _rate(self, calls):
        t0 = time.perf_counter()
        for _ in range(calls):
            np.dot(self._a, self._b, out=self._c)
        return 2 * 64 * 784 * 128 * calls / max(time.perf_counter() - t0, 1e-9) / 1e9

    def measure(self):
        if self._a is None:
            rng = np.random.default_rng(0)
            self._a = rng.random((64, 784), dtype=np.float32)
            self._b = rng.random((784, 128), dtype=np.float32)
            self._c = np.empty((64, 128), np.float32)
            np.dot(self._a, self._b, out=self._c)
            from threadpoolctl import ThreadpoolController
            blas = ThreadpoolController().select(user_api="blas")
            if _separate_cores() and blas.lib_controllers and blas.info()[0]["num_threads"] > 1:
                self._one_thread = blas
        rate = self._rate(self.calls)
        if self._one_thread is None:
            return Reading(rate, None)
        with self._one_thread.limit(limits=1):
            one = self._rate(max(self.calls // 2, 1))
        return Reading(rate, rate / one)

    def in_spell(self, reading):
        return reading.rate < SPELL_FRACTION * self.best or (
            reading.gain is not None and reading.gain < MIN_THREAD_GAIN)


PROBE = ThreadProbe()


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


def _rounds(fns, repeats, gap, probe, max_rounds):
    """Rotating rounds until `repeats` of them lie outside slow spells (judged by `probe`'s
    readings before and after each round) or `max_rounds` ran: (times per name, one flag
    per round saying it was clean), the flags judged against the best rate seen by the end."""
    names = list(fns)
    times = {k: [] for k in names}
    rates = [probe()] if probe else []
    for r in range(max_rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            if gap > 0:
                time.sleep(gap)
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
        if probe:
            rates.append(probe())
            clean = [not (probe.in_spell(a) or probe.in_spell(b)) for a, b in zip(rates, rates[1:])]
        else:
            clean = [True] * (r + 1)
        if sum(clean) >= repeats:
            break
    return times, clean


def interleaved(fns, repeats, max_attempts=3, busy_load=0.5, max_spread=0.15, gap=GAP_S, quiet=True,
                probe=PROBE, max_rounds=None):
    """Time several zero-argument callables side by side: one warm-up call each (compilation
    excluded), then rounds that call each once, in an order that rotates every round, so a slow
    spell of the shared machine hits every contender alike; a pause of `gap` seconds before every
    call lets the previous contender's thread pool go idle (GAP_S).

    `probe` (a ThreadProbe, or None for no probing) runs before the first round and after each:
    a round with a probe in a slow spell on either side is left out, and rounds go on until
    `repeats` clean ones were timed or `max_rounds` (default 3 x repeats) ran.

    Returns {name: {"median", "min", "times" (of the kept rounds, in round order), "spread",
    "load_before", "load_after", "foreign_load", "attempts", "spell_rounds" (rounds left out),
    "busy"}}. A measurement taken while the machine was busy (other processes used more than
    `busy_load` cores on average while it ran, see ForeignLoad; any contender's (max - min) /
    median above `max_spread`; or fewer than `repeats` clean rounds, in which case every round is
    kept) is repeated, up to `max_attempts` times; if it stays busy the last one is kept with
    busy=True, and the caller writes that down rather than a clean figure. load_before /
    load_after are the 1-minute load averages, for the record.
    """
    names = list(fns)
    repeats = max(repeats, 1)
    for f in fns.values():
        f()
    for attempt in range(1, max_attempts + 1):
        load_before = os.getloadavg()[0]
        foreign = ForeignLoad().start()
        times, clean = _rounds(fns, repeats, gap, probe, max_rounds or 3 * repeats)
        other = foreign.stop()
        load_after = os.getloadavg()[0]
        too_few_clean = sum(clean) < repeats
        keep = [True] * len(clean) if too_few_clean else clean
        out = {}
        for k in names:
            kept = [t for t, c in zip(times[k], keep) if c]
            med = float(np.median(kept))
            out[k] = {"median": med, "min": float(min(kept)), "times": kept,
                      "spread": (max(kept) - min(kept)) / med if med > 0 else 0.0,
                      "load_before": load_before, "load_after": load_after,
                      "foreign_load": other, "attempts": attempt,
                      "spell_rounds": len(clean) - sum(clean)}
        busy = (other > busy_load or too_few_clean
                or (repeats >= 3 and any(v["spread"] > max_spread for v in out.values())))
        for v in out.values():
            v["busy"] = busy
        if not busy or attempt == max_attempts:
            break
        spreads = ", ".join(f"{k} {v['spread']:.0%}" for k, v in out.items())
        log(f"    busy machine (other processes {other:.2f} cores, spreads {spreads}, "
            f"{len(clean) - sum(clean)} of {len(clean)} rounds in a slow spell): measuring again", quiet)
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

    Returns {name: {"median", "min" (per call), "busy", "spell_rounds", "number" (calls per
    sample)}}."""
    numbers = {k: calls_per_sample(f, min_time) for k, f in fns.items()}

    def batch(f, n):
        def run():
            for _ in range(n):
                f()
        return run

    res = interleaved({k: batch(f, numbers[k]) for k, f in fns.items()}, repeats, max_attempts=2,
                      gap=gap, quiet=quiet)
    return {k: {"median": v["median"] / numbers[k], "min": v["min"] / numbers[k],
                "busy": v["busy"], "spell_rounds": v["spell_rounds"], "number": numbers[k]}
            for k, v in res.items()}
