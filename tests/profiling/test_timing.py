"""profiling/timing.py: the paired ratio and the CPU time of other processes."""
import subprocess
import sys
import time

import pytest

from profiling.timing import ForeignLoad, interleaved, paired_ratio


def test_paired_ratio_is_the_median_of_per_round_ratios():
    res = {"k": {"times": [1.0, 2.0, 4.0]}, "n": {"times": [2.0, 2.0, 2.0]}}
    assert paired_ratio(res, "k", "n") == pytest.approx(1.0)      # ratios 0.5, 1, 2
    res["k"]["times"] = [1.0, 1.0, 9.0]                          # one slow round moves the median of
    assert paired_ratio(res, "k", "n") == pytest.approx(0.5)      # the ratios less than the ratio of medians


def test_paired_ratio_needs_rounds_timed_together():
    assert paired_ratio({"k": {"times": [1.0, 2.0]}, "n": {"times": [1.0]}}, "k", "n") is None
    assert paired_ratio({"k": {"times": [1.0]}}, "k", "n") is None


def _spin(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return x


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_foreign_load_counts_other_processes_not_this_one():
    own = ForeignLoad().start()
    _spin(0.6)                                      # this process busy on one core
    assert own.stop() < 0.5
    other = ForeignLoad().start()
    subprocess.run([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 0.8: pass"],
                   check=True)                      # another process busy on one core
    assert other.stop() > 0.4


def test_interleaved_returns_each_rounds_times_in_order():
    calls = []
    res = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3,
                      max_attempts=1, gap=0.0)
    assert calls[:2] == ["a", "b"]                  # warm-up, then rounds in rotating order
    assert calls[2:] == ["a", "b", "b", "a", "a", "b"]
    for v in res.values():
        assert len(v["times"]) == 3 and v["median"] == sorted(v["times"])[1]
        assert v["foreign_load"] >= 0.0
