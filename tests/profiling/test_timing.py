"""profiling/timing.py: the paired ratio and the CPU time of other processes."""
import subprocess
import sys
import time

import pytest

from profiling.timing import (MIN_THREAD_GAIN, SPELL_FRACTION, ForeignLoad, Reading, ThreadProbe,
                              interleaved, paired_ratio)


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
                      max_attempts=1, gap=0.0, probe=None)
    assert calls[:2] == ["a", "b"]                  # warm-up, then rounds in rotating order
    assert calls[2:] == ["a", "b", "b", "a", "a", "b"]
    for v in res.values():
        assert len(v["times"]) == 3 and v["median"] == sorted(v["times"])[1]
        assert v["foreign_load"] >= 0.0


class FakeProbe(ThreadProbe):
    """A probe that reads the given rates (and gains, for (rate, gain) pairs) in turn; the real
    one times np.dot."""

    def __init__(self, rates):
        super().__init__()
        self.rates = list(rates)

    def measure(self):
        r = self.rates.pop(0)
        return Reading(*r) if isinstance(r, tuple) else Reading(r, None)


def test_rounds_in_a_slow_spell_are_left_out_and_made_up():
    # probes around rounds 1..5: 100 | 100 | 50 | 100 | 100 | 100 -> rounds 2 and 3 touch the spell
    probe = FakeProbe([100, 100, 50, 100, 100, 100])
    seen = []
    res = interleaved({"a": lambda: seen.append(len(seen))}, repeats=3, max_attempts=1, gap=0.0, probe=probe,
                      max_spread=float("inf"), busy_load=float("inf"))  # busy only through the probe
    assert len(seen) == 1 + 5                          # warm-up, then 5 rounds for 3 clean ones
    v = res["a"]
    assert v["spell_rounds"] == 2 and not v["busy"] and len(v["times"]) == 3
    assert probe.rates == []                            # one probe before the rounds, one after each


def test_a_spell_that_lasts_keeps_every_round_and_says_busy():
    probe = FakeProbe([100] + [40] * 20)                # everything after the first probe is slow
    res = interleaved({"a": lambda: None, "b": lambda: None}, repeats=2, max_attempts=1, gap=0.0,
                      probe=probe, max_rounds=4, max_spread=float("inf"), busy_load=float("inf"))
    for v in res.values():
        assert v["busy"] and v["spell_rounds"] == 4 and len(v["times"]) == 4


def test_spells_are_judged_against_the_best_rate_seen_by_the_end():
    # the first rounds look clean against 60 until a probe reads 100: then they were in a spell
    probe = FakeProbe([60, 60, 60, 100, 100, 100, 100])
    res = interleaved({"a": lambda: None}, repeats=3, max_attempts=1, gap=0.0, probe=probe, max_rounds=6,
                      max_spread=float("inf"), busy_load=float("inf"))
    assert res["a"]["spell_rounds"] == 3 and not res["a"]["busy"]


def test_a_spell_from_the_start_is_seen_by_the_gain_over_one_thread():
    # every rate alike, so the best rate cannot tell; two threads gaining nothing over one can
    ok, slow = 1.6, MIN_THREAD_GAIN * 0.8
    probe = FakeProbe([(100, slow), (100, slow), (100, ok), (100, ok), (100, ok), (100, ok)])
    res = interleaved({"a": lambda: None}, repeats=3, max_attempts=1, gap=0.0, probe=probe, max_rounds=6,
                      max_spread=float("inf"), busy_load=float("inf"))
    assert res["a"]["spell_rounds"] == 2 and not res["a"]["busy"]


def test_thread_probe_reads_a_rate_and_keeps_the_best():
    probe = ThreadProbe(calls=4)
    readings = [probe() for _ in range(3)]
    assert all(r.rate > 0 for r in readings) and probe.best == max(r.rate for r in readings)
    assert all(r.gain is None or r.gain > 0 for r in readings)
    assert probe.in_spell(Reading(probe.best * SPELL_FRACTION * 0.99, None))
    assert not probe.in_spell(Reading(probe.best, None))
    assert probe.in_spell(Reading(probe.best, MIN_THREAD_GAIN * 0.99))
    assert not probe.in_spell(Reading(probe.best, MIN_THREAD_GAIN * 1.01))
