"""A cold start's compiling on two processes (network/warmup.py, kernels/signatures.py).

Each test runs in a fresh interpreter with an empty Numba cache (NUMBA_CACHE_DIR a temporary
directory), so the epoch is really cold there, and compiles for about 10-20 s.
"""
import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import ROOT, run_json
from kernels import signatures as S
from network.warmup import HELPER, LAST

_SETUP = """
import json, sys
import numpy as np
from numba.core import event
import kernels as K
from kernels import signatures as S
from network import warmup
from network.engine import epoch_inputs
from network.model import NeuralNetwork

def epoch_args(net, warp=None):
    rng = np.random.default_rng(0)
    X = rng.random((256, 784), dtype=np.float32)
    y = rng.integers(0, 10, 256)
    data, aug, spec, opt, calls = epoch_inputs(net, X, y, 64, np.full(4, 0.01), np.arange(256), None, warp)
    return (data, aug, spec, net.params.flat, opt, net.step, net.dropout_calls, 0, 4, calls)

# a warping epoch's Augment fields after warp=True (network/augmentation.py warp_args)
WARP = (np.uint64(7), np.int64(0), 10.0, 0.1, 0.15, np.int64(2), np.zeros((1, 2, 28, 28)))

def compiled_names(rec):
    return sorted({name for name, *_ in warmup.compile_times(rec.buffer)})
"""


def _run(code, tmp_path, **env):
    return run_json(_SETUP + textwrap.dedent(code), tmp_path / "cache", **env)


@pytest.mark.parametrize("warp", [False, True])
def test_the_listed_signatures_are_the_ones_the_epoch_compiles(tmp_path, warp):
    """Every kernel and argument types kernels/signatures.py lists is one the epoch compiles when
    it is compiled the plain way (cold, nothing compiled first): a stale entry would compile a
    signature nobody calls and leave the epoch to compile the real one."""
    out = _run("""
        with event.install_recorder("numba:compile") as rec:    # the net's layout() is compiled too
            net = NeuralNetwork([784, 32, 16, 10], optimizer="adam", dropout=0.1)
            args = epoch_args(net, WARP if %s else None)
            cold = warmup.is_cached(K.train_epoch_compiled, args)
            K.train_epoch_compiled(*args)
        seen = {(id(ev.data["dispatcher"]), tuple(ev.data["args"])) for _, ev in rec.buffer}
        stale = [n for n, (disp, sig) in S.epoch_kernels(np.float32, warp=%s).items()
                 if (id(disp), tuple(sig)) not in seen]
        print(json.dumps({"cold": cold, "cached": warmup.is_cached(K.train_epoch_compiled, args),
                          "stale": stale, "n": len(seen)}))
    """ % (warp, warp), tmp_path)
    assert out["cold"] is False and out["cached"] is True
    assert out["n"] > 15
    assert out["stale"] == [], f"listed, but not what the epoch compiles: {out['stale']}"


def test_a_cold_epoch_compiles_on_two_processes(tmp_path):
    """The helper compiles its share and the inference kernels (its report says so); this process
    then compiles none of the helper's share, and the epoch trains as on a warm cache."""
    report = tmp_path / "helper.json"
    out = _run("""
        net = NeuralNetwork([784, 32, 16, 10], optimizer="sgd")
        rng = np.random.default_rng(1)
        X = rng.random((512, 784), dtype=np.float32)
        y = rng.integers(0, 10, 512)
        with event.install_recorder("numba:compile") as rec:
            net.train_epoch(X, y, batch_size=64, learning_rate=0.05)
        warmup._helpers[-1].wait(600)          # its inference kernels, before evaluate needs them
        loss = net.evaluate(X, y)[0]
        print(json.dumps({"main": compiled_names(rec), "loss": loss,
                          "warm": warmup.is_cached(K.train_epoch_compiled, epoch_args(net))}))
    """, tmp_path, MNIST_WARMUP_REPORT=str(report))
    helper = json.loads(report.read_text())
    helper_names = {name for name, *_ in helper["compile"]}
    share = set(HELPER)
    assert share <= helper_names, share - helper_names
    assert {"products.matmul_nn_fast", "loss.argmax_rows"} <= helper_names     # inference kernels
    assert not share & set(out["main"]), share & set(out["main"])
    assert "epoch.train_epoch_compiled" in out["main"]
    assert 0 < helper["ready_s"] <= helper["done_s"]
    assert out["warm"] is True and math.isfinite(out["loss"])


@pytest.mark.parametrize("helper", ["import sys; sys.exit(3)", "import time; time.sleep(120)"],
                         ids=["dies", "hangs"])
def test_a_failed_helper_leaves_this_process_to_compile_its_share(tmp_path, helper):
    """If the helper dies before it is ready, or is not ready within READY_TIMEOUT, precompile_epoch
    stops it and compiles the helper's share here: every listed kernel is then compiled in this
    process."""
    out = _run("""
        import subprocess, time
        warmup.READY_TIMEOUT = 2.0
        started = []
        def fake(dtype, warp, pack):
            started.append(subprocess.Popen([sys.executable, "-c", %r], stdout=subprocess.PIPE, text=True))
            return started[-1]
        warmup._start_helper = fake
        net = NeuralNetwork([784, 32, 16, 10], optimizer="sgd")
        args = epoch_args(net, warp=None)
        spent = warmup.precompile_epoch(args, np.float32, warp=False)
        listed = S.epoch_kernels(np.float32, warp=False)
        here = [n for n, (disp, sig) in listed.items() if tuple(sig) not in disp.overloads]
        print(json.dumps({"spent": spent, "missing": here, "helper_exit": started[0].poll()}))
    """ % helper, tmp_path)
    assert out["spent"] > 0 and out["missing"] == []
    assert out["helper_exit"] is not None          # not left running


def test_a_warm_cache_starts_no_helper(tmp_path):
    out = _run("""
        net = NeuralNetwork([784, 32, 16, 10], optimizer="sgd")
        args = epoch_args(net)
        K.train_epoch_compiled(*args)           # compiled (and cached) the plain way
        warmup._start_helper = None             # would raise if called
        print(json.dumps({"spent": warmup.precompile_epoch(args, np.float32, warp=False)}))
    """, tmp_path)
    assert out["spent"] == 0.0


@pytest.mark.parametrize("warp", [False, True])
def test_each_helper_share_is_listed_and_starts_with_what_last_waits_for(warp):
    listed = set(S.epoch_kernels(np.float32, warp))
    assert set(HELPER) <= listed and LAST[0] in listed and LAST[0] not in HELPER
    assert HELPER[0] == LAST[1]                # reported first: this process's LAST waits for it


def test_the_helper_command_line(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "network.warmup", *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    assert "helper process of a cold start" in run("--help").stdout
    bad = run("float16", "shift")
    assert bad.returncode == 2 and "invalid choice: 'float16'" in bad.stderr

