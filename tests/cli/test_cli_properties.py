"""Property test over the command lines (issue 13): hypothesis draws flag names and values, valid and
invalid, for train.py, evaluate.py, `python -m experiments` and the profiling commands, each on tiny
settings with every output pointed into a temporary directory, and runs each in a subprocess with a
timeout. Every run must end with exit 0, or a non-zero exit with exactly one `error:` line on stderr
and no traceback; and no file of the repository may be created or changed (the tree is hashed
before and after, __pycache__ and .hypothesis excluded).

Values include inputs that are not regular files (a named pipe, a directory, /dev/null), missing
and corrupt inputs, unwritable outputs, out-of-range numbers and unknown flags. Kept cheap: about
15 examples per command, each run at most a few seconds.
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180
SKIP_DIRS = {".git", "__pycache__", ".hypothesis", ".pytest_cache"}
ERROR_LINE = re.compile(r"^(?:[^:]*: )?error: ")   # ours, or argparse's `python -m x: error:`


def repo_state():
    """path -> (size, mtime_ns, sha256) of every file in the repository outside the skipped dirs."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            p = os.path.join(dirpath, name)
            try:
                st_ = os.stat(p)
            except OSError:
                continue
            state[os.path.relpath(p, ROOT)] = (st_.st_size, st_.st_mtime_ns)
    return state


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """Shared inputs: a good model, a garbage file, an empty dir, a dir holding a named pipe."""
    from data import DataError, load_mnist
    try:
        load_mnist(progress=False)
    except DataError as e:  # pragma: no cover
        pytest.skip(f"MNIST not available: {e}")
    from network.model import NeuralNetwork
    d = tmp_path_factory.mktemp("inputs")
    NeuralNetwork([784, 16, 10], seed=0).save(d / "good.npz")
    NeuralNetwork([20, 7, 3], seed=0).save(d / "wrong.npz")
    (d / "garbage.npz").write_bytes(b"PK\x03\x04" + os.urandom(200))
    (d / "text.txt").write_text("not a model\n")
    (d / "empty").mkdir()
    (d / "pipes").mkdir()
    os.mkfifo(d / "pipes" / "pipe")
    os.mkfifo(d / "pipes" / "train-images-idx3-ubyte")
    os.mkfifo(d / "pipes" / "mnist.npz")
    return d


def values(*items):
    return st.sampled_from(items)


def run_and_check(argv, base, chosen, tmp):
    """Run one command line; assert the exit/stderr contract and that the repository is untouched."""
    args = dict(base)
    args.update(chosen)
    cmd = [sys.executable, *argv]
    for flag, value in args.items():
        if value is False:
            continue
        if flag.startswith("--"):
            cmd.append(flag)
        if value is not True:
            cmd += value if isinstance(value, list) else [value]
    cmd = [str(c).replace("TMP", str(tmp)) for c in cmd]
    before = repo_state()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
    after = repo_state()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    where = f"\n$ {' '.join(cmd[1:])}\nexit {r.returncode}\n{r.stderr[-3000:]}"
    assert not changed, f"files of the repository created or changed: {changed}{where}"
    assert "Traceback" not in r.stderr, where
    errors = [ln for ln in r.stderr.splitlines() if ERROR_LINE.match(ln)]
    if r.returncode == 0:
        assert not errors, where
    else:
        assert len(errors) == 1, where
    return r


CHEAP = settings(max_examples=15, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

PIPE, FILE, EMPTY = "INPUTS/pipes/pipe", "INPUTS/text.txt", "INPUTS/empty"


def with_inputs(chosen, inputs):
    return {k: ([str(x).replace("INPUTS", str(inputs)) for x in v] if isinstance(v, list) else
                str(v).replace("INPUTS", str(inputs)) if isinstance(v, str) else v)
            for k, v in chosen.items()}


def options(spec):
    """A strategy for a dict holding some of the options in spec (flag -> strategy of values)."""
    return st.fixed_dictionaries({}, optional=spec)


TRAIN = {
    "--epochs": values("1", "0", "-2", "two"),
    "--subset": values("64", "300", "0", "-5", "1e3"),
    "--batch-size": values("32", "100000", "0", "-1", "nan"),
    "--lr": values("0.01", "1000", "0", "-0.1", "nan", "inf", "fast"),
    "--optimizer": values("sgd", "momentum", "adam", "rmsprop"),
    "--schedule": values("constant", "cosine", "onecycle", "step"),
    "--layers": values("784,16,10", "784,10", "784,0,10", "10,10", "784,a,10", ""),
    "--activation": values("relu", "tanh", "sigmoid", "swish"),
    "--dropout": values("0", "0.3", "1", "-0.1"),
    "--augment-shift": values("0", "1", "9", "-1"),
    "--val-split": values("0.2", "0.5", "0", "1"),
    "--dtype": values("float32", "float64", "float16"),
    "--seed": values("0", "7", "-1"),
    "--l2": values("0", "1e-4", "-1", "inf"),
    "--data-dir": values("TMP/missing", FILE, EMPTY, "INPUTS/pipes"),
    "--cache-dir": values(FILE, "INPUTS/pipes"),
    "--resume": values("TMP/missing.npz", PIPE, EMPTY, "INPUTS/good.npz", "INPUTS/garbage.npz"),
    # special files as outputs are tmp pipes, never the real /dev/null: a regression that wrote
    # through the check would replace the machine's /dev/null (os.replace, as root)
    "--out": values("TMP/runs/a.npz", "TMP/b", "TMP", "/proc/version/m.npz", PIPE),
    "--history": values("TMP/h.csv", "/dev/null/h.csv", "TMP/runs/a.npz"),
    "--checkpoint": values("TMP/c.npz", PIPE),
    "--bogus": values(True),
}


@CHEAP
@given(chosen=options(TRAIN))
def test_train_command_lines(fixtures, chosen):
    with tempfile.TemporaryDirectory() as tmp:
        base = {"--epochs": "1", "--subset": "100", "--no-progress": True, "--out": "TMP/m.npz"}
        run_and_check(["train.py"], base, with_inputs(chosen, fixtures), tmp)


EVALUATE = {
    "--model": values("INPUTS/good.npz", "INPUTS/wrong.npz", "INPUTS/garbage.npz", FILE, PIPE, EMPTY,
                      "TMP/none.npz", "/dev/zero"),
    "--subset": values("20", "0", "-1", "ten"),
    "--n-misclassified": values("4", "0", "x"),
    "--top-confused": values("3", "-2"),
    "--data-dir": values("TMP/missing", FILE, EMPTY, "INPUTS/pipes"),
    "--cache-dir": values(FILE, "INPUTS/pipes"),
    "--out-dir": values("TMP/o", "/dev/null/o", FILE),
    "--plots-dir": values("TMP/p", "/proc/version"),
    "--bogus": values(True),
}


@CHEAP
@given(chosen=options(EVALUATE))
def test_evaluate_command_lines(fixtures, chosen):
    with tempfile.TemporaryDirectory() as tmp:
        base = {"--model": "INPUTS/good.npz", "--subset": "50", "--quiet": True,
                "--out-dir": "TMP/o", "--plots-dir": "TMP/p"}
        run_and_check(["evaluate.py"], with_inputs(base, fixtures), with_inputs(chosen, fixtures), tmp)


EXPERIMENTS = {
    "names": values(["exp3"], ["exp1"], ["bogus"], ["exp3", "bogus"]),
    "--list": values(True, False),
    "--plots-only": values(True, False),
    "--epochs": values("1", "0", "x"),
    "--seeds": values("0", "0,0", "-1", "a"),
    "--subset": values("64", "0", "-3"),
    "--jobs": values("1", "0"),
    "--backend": values("local", "cluster"),
    "--scheduler": values("tcp://127.0.0.1:1"),
    "--data-dir": values("TMP/missing", FILE, "INPUTS/pipes"),
    "--results-dir": values("TMP/r", FILE, "/dev/null/r", "INPUTS/pipes"),
    "--plots-dir": values("TMP/p", "/proc/version/p"),
}


@settings(CHEAP, max_examples=12)
@given(chosen=options(EXPERIMENTS))
def test_experiments_command_lines(fixtures, chosen):
    with tempfile.TemporaryDirectory() as tmp:
        base = {"names": ["exp3"], "--seeds": "0", "--subset": "64", "--epochs": "1", "--no-progress": True,
                "--results-dir": "TMP/r", "--plots-dir": "TMP/p"}
        run_and_check(["-m", "experiments"], base, with_inputs(chosen, fixtures), tmp)


ROOFLINE = {
    "--kernels": values("relu_forward", "nonexistent", ""),
    "--batches": values("64", "0", "-1", "x"),
    "--out-dir": values("TMP/r", "/dev/null/r", FILE),
    "--bogus": values(True),
}
BENCH_KERNELS = {
    "--kernels": values("relu_forward", "nonexistent"),
    "--batch-sizes": values("32", "0", "x"),
    "--repeats": values("1", "0", "-1"),
    "--min-time": values("0.001", "0", "-1", "nan"),
    "--dtypes": values("float32", "float16"),
    "--nets": values("784-16-10", "x"),
    "--out-dir": values("TMP/r", "/dev/null/r"),
}


@settings(CHEAP, max_examples=8)
@given(chosen=options(ROOFLINE))
def test_roofline_command_lines(fixtures, chosen):
    with tempfile.TemporaryDirectory() as tmp:
        base = {"--quick": True, "--no-plot": True, "--quiet": True, "--kernels": "relu_forward",
                "--out-dir": "TMP/r"}
        run_and_check(["-m", "profiling.roofline"], base, with_inputs(chosen, fixtures), tmp)


@settings(CHEAP, max_examples=8)
@given(chosen=options(BENCH_KERNELS))
def test_bench_kernels_command_lines(fixtures, chosen):
    with tempfile.TemporaryDirectory() as tmp:
        base = {"--quick": True, "--no-plot": True, "--quiet": True, "--kernels": "relu_forward",
                "--nets": "784-16-10", "--batch-sizes": "32", "--out-dir": "TMP/r", "--plots-dir": "TMP/p"}
        run_and_check(["-m", "profiling.bench_kernels"], base, with_inputs(chosen, fixtures), tmp)
