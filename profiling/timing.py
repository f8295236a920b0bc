"""Timing contenders side by side on a shared machine: interleaved rounds, median and minimum,
the load before and after, and repeats of a measurement taken while the machine was busy."""
import os
import time

import numpy as np

from profiling.common import log


def interleaved(fns, repeats, max_attempts=3, busy_load=1.0, max_spread=0.15, quiet=True):
    """Time several zero-argument callables side by side: one warm-up call each (compilation
    excluded), then `repeats` rounds that call each once, in an order that rotates every round,
    so a slow spell of the shared machine hits every contender alike.

    Returns {name: {"median", "min", "spread", "load_before", "load_after", "attempts", "busy"}}.
    A measurement taken while the machine was busy (1-minute load above `busy_load` before or
    after, not counting this process, or any contender's (max - min) / median above `max_spread`)
    is repeated, up to `max_attempts` times; if it stays busy the last one is kept with
    busy=True, and the caller writes that down rather than a clean figure.
    """
    names = list(fns)
    for f in fns.values():
        f()
    for attempt in range(1, max_attempts + 1):
        load_before = os.getloadavg()[0]
        times = {k: [] for k in names}
        for r in range(max(repeats, 1)):
            order = names[r % len(names):] + names[:r % len(names)]
            for k in order:
                t0 = time.perf_counter()
                fns[k]()
                times[k].append(time.perf_counter() - t0)
        load_after = os.getloadavg()[0]
        out = {}
        for k in names:
            med = float(np.median(times[k]))
            out[k] = {"median": med, "min": float(min(times[k])),
                      "spread": (max(times[k]) - min(times[k])) / med if med > 0 else 0.0,
                      "load_before": load_before, "load_after": load_after, "attempts": attempt}
        # this process keeps one core busy itself: count the load above that
        busy = (max(load_before, load_after) - 1.0 > busy_load
                or (repeats >= 3 and any(v["spread"] > max_spread for v in out.values())))
        for v in out.values():
            v["busy"] = busy
        if not busy:
            break
        spreads = ", ".join(f"{v['spread']:.0%}" for v in out.values())
        log(f"    busy machine (load {load_before:.2f} -> {load_after:.2f}, spreads {spreads}): "
            "measuring again", quiet)
    return out
