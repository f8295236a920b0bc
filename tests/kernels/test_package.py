"""kernels/ as a library: a leaf (numpy, numba, the standard library and itself only), whose
import defines functions and does nothing else beyond kernels/runtime.py's OpenMP settings."""
import ast
import os
import subprocess
import sys
import textwrap

import kernels
from helpers import AVX2_ENV

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KDIR = os.path.join(ROOT, "kernels")


def _imported_top_level(path):
    tree = ast.parse(open(path).read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_kernels_imports_only_numpy_numba_the_standard_library_and_itself():
    allowed = {"numpy", "numba", "kernels"} | set(sys.stdlib_module_names)
    files = sorted(f for f in os.listdir(KDIR) if f.endswith(".py"))
    assert "registry.py" in files and "__main__.py" in files
    for f in files:
        bad = _imported_top_level(os.path.join(KDIR, f)) - allowed
        assert not bad, f"kernels/{f} imports {sorted(bad)}: kernels/ must stay a leaf"


def test_the_leaf_check_sees_an_upward_import(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("import numpy\nfrom network.model import NeuralNetwork\ndef f():\n    import profiling.cases\n")
    assert _imported_top_level(str(p)) == {"numpy", "network", "profiling"}


def _run(code, env=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


def test_import_reads_no_source_file_and_hashes_nothing():
    """Nothing of the project's reads or hashes a kernels/ source at import, and nothing compiles.
    (Numba 0.68 itself hashes each cached function's source file once, when @njit(cache=True)
    runs: its own cache stamp, in numba/core/caching.py, which the spy below leaves out.)"""
    res = _run("""
        import builtins, hashlib, io, os, traceback
        ours, numbas = [], []
        real_open, real_sha = builtins.open, hashlib.sha256
        def origin():
            return any("numba/core/caching.py" in f.filename for f in traceback.extract_stack())
        def spy_open(f, *a, **k):
            if isinstance(f, (str, os.PathLike)) and os.fspath(f).endswith('.py'):
                (numbas if origin() else ours).append(os.fspath(f))
            return real_open(f, *a, **k)
        def spy_sha(*a):
            if not origin():
                ours.append('sha256')
            return real_sha(*a)
        builtins.open = io.open = spy_open
        hashlib.sha256 = spy_sha
        import kernels, kernels.pairs, kernels.registry
        print(len(ours), len(numbas) > 0, kernels.matmul_nn.signatures == [])
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "True", "True"]   # the spy works; we read, hash, compile nothing


_OMP_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY",
             "NUMBA_NUM_THREADS")
_SETTINGS = """
    import json, os
    before = sorted(os.sched_getaffinity(0))
    from kernels import runtime
    print(json.dumps([runtime.OPENMP_SETTINGS, {k: os.environ.get(k) for k in %r},
                      before == sorted(os.sched_getaffinity(0))]))
""" % (_OMP_KEYS,)


def _settings(env):
    import json
    clean = {k: v for k, v in os.environ.items() if k not in _OMP_KEYS}
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(_SETTINGS)], cwd=ROOT, capture_output=True,
                         text=True, env={**clean, **env})
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_runtime_loads_openmp_with_a_short_spin_unless_the_user_chose_and_leaves_no_trace():
    loaded, environ, same_cpus = _settings({})
    assert loaded["GOMP_SPINCOUNT"] == "3000"
    if len(os.sched_getaffinity(0)) > 1:
        assert loaded["OMP_PROC_BIND"] == "true"
    # the settings were there only while the OpenMP runtime loaded: the environment other OpenMP
    # runtimes and child processes see is the user's, and the importing thread keeps its CPUs
    assert all(v is None for v in environ.values()) and same_cpus
    # a policy, spin count or binding the user set is kept as it is, and ours is not added
    loaded, environ, _ = _settings({"OMP_WAIT_POLICY": "ACTIVE"})
    assert "GOMP_SPINCOUNT" not in loaded and environ["OMP_WAIT_POLICY"] == "ACTIVE"
    loaded, environ, _ = _settings({"GOMP_SPINCOUNT": "7", "OMP_PROC_BIND": "false"})
    assert loaded == {} and environ["GOMP_SPINCOUNT"] == "7" and environ["OMP_PROC_BIND"] == "false"
    # fewer Numba threads than CPUs: no binding (several such processes would crowd the same CPUs)
    loaded, _, _ = _settings({"NUMBA_NUM_THREADS": "1"})
    assert "OMP_PROC_BIND" not in loaded


def test_pinned_holds_the_master_on_its_cpu_workers_on_theirs_and_compiling_still_works():
    import json

    import pytest
    from kernels import runtime
    if runtime.MASTER_CPUS is None:
        pytest.skip("the OpenMP threads are not bound here (one CPU, or the user chose a binding)")
    res = _run("""
        import json, os, numpy as np
        from numba import njit
        from kernels import products, runtime
        def cpus():
            return [sorted(os.sched_getaffinity(int(t))) for t in sorted(os.listdir("/proc/self/task"))]
        A = np.ones((64, 784), np.float32); B = np.ones((256, 784), np.float32); out = np.empty((64, 256), np.float32)
        products.matmul_nt_fast(A, B, out)                   # starts the OpenMP workers
        everyone = sorted(os.sched_getaffinity(0))
        with runtime.pinned():
            inside = sorted(os.sched_getaffinity(0))
            f = njit(lambda x: x + 1)                        # compiling while bound must still work
            assert f(1) == 2
        with runtime.pinned(False):
            unpinned = sorted(os.sched_getaffinity(0))
        print(json.dumps([everyone, inside, unpinned, sorted(os.sched_getaffinity(0)), cpus(),
                          "NUMBA_NUM_THREADS" in os.environ]))
    """)
    assert res.returncode == 0, res.stderr
    everyone, inside, unpinned, after, threads, leaked = json.loads(res.stdout)
    assert inside == sorted(runtime.MASTER_CPUS) and len(inside) == 1
    assert unpinned == after == everyone and not leaked
    workers = [c for c in threads if len(c) == 1 and c != inside]
    assert workers, threads                       # at least one OpenMP worker on a CPU of its own


def test_compile_level_holds_numba_at_level_2_inside_the_block_only(monkeypatch):
    """Numba re-reads its settings (config.reload_config) at the start of every compilation, so
    what reload_config sees inside the block is the level a kernel compiled there gets."""
    import pytest
    from numba.core import config

    from kernels import runtime
    monkeypatch.delenv("NUMBA_OPT", raising=False)
    try:
        config.reload_config()
        default = int(config.OPT)
        with runtime.compile_level():
            config.reload_config()
            assert int(config.OPT) == int(runtime.OPT_LEVEL) == 2 != default
        assert "NUMBA_OPT" not in os.environ
        with pytest.raises(KeyboardInterrupt), runtime.compile_level():   # restored on the way out
            raise KeyboardInterrupt
        assert "NUMBA_OPT" not in os.environ
        monkeypatch.setenv("NUMBA_OPT", "1")                                # the user's choice stands
        with runtime.compile_level():
            config.reload_config()
            assert int(config.OPT) == 1
        assert os.environ["NUMBA_OPT"] == "1"
    finally:
        monkeypatch.delenv("NUMBA_OPT", raising=False)
        config.reload_config()


def test_source_digest_covers_every_kernel_file(tmp_path, monkeypatch):
    from kernels import runtime
    d1 = runtime.source_digest()
    assert d1 == runtime.source_digest() and len(d1) == 64
    # a digest over a copy of the package changes when one file changes
    import shutil
    copy = tmp_path / "kernels"
    shutil.copytree(KDIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(runtime, "__file__", str(copy / "runtime.py"))
    assert runtime.source_digest() == d1
    (copy / "optim.py").write_text((copy / "optim.py").read_text() + "\n# changed\n")
    assert runtime.source_digest() != d1


def test_every_kernel_file_is_at_most_about_300_lines():
    for f in os.listdir(KDIR):
        if f.endswith(".py"):
            n = sum(1 for _ in open(os.path.join(KDIR, f)))
            assert n <= 320, f"kernels/{f} has {n} lines"


def test_backward_reads_output_is_the_one_rule():
    assert kernels.BACKWARD_FROM_OUTPUT == {"relu": False, "tanh": True, "sigmoid": True}


def test_pinned_blocks_in_two_threads_keep_numba_able_to_compile_until_the_last_ends(monkeypatch):
    import threading

    import pytest
    from kernels import runtime
    if runtime.MASTER_CPUS is None:
        pytest.skip("the OpenMP threads are not bound here (one CPU, or the user chose a binding)")
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    inside, leave, seen = threading.Event(), threading.Event(), []

    def other():
        with runtime.pinned():
            inside.set()
            leave.wait(10)
            seen.append(os.environ.get("NUMBA_NUM_THREADS"))   # after the main thread's block ended

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(10)
    with runtime.pinned():
        assert os.environ["NUMBA_NUM_THREADS"] == str(runtime.numba.config.NUMBA_NUM_THREADS)
    leave.set()
    t.join(10)
    assert seen == [str(runtime.numba.config.NUMBA_NUM_THREADS)]
    assert "NUMBA_NUM_THREADS" not in os.environ          # gone once the last block ended


_WIDE = """
    import json, os, re
    import numpy as np
    from kernels import cpu, runtime, tiles
    A = np.ones((64, 784), np.float32); B = np.ones((784, 128), np.float32)
    out = np.empty((64, 128), np.float32)
    from numba import njit
    f = njit(tiles.nn_block.py_func)   # a private, uncached copy: compiled by this process's codegen
    f(A, B, out, 0, 64, 0, 128)
    asm = "".join(f.inspect_asm().values())
    print(json.dumps([runtime.WIDE_VECTORS is not None, cpu.WIDE, cpu.ISA,
                      "NUMBA_CPU_FEATURES" in os.environ,
                      len(re.findall(r"vfmadd\\S+\\s[^\\n]*zmm", asm)),
                      len(re.findall(r"vfmadd\\S+\\s[^\\n]*ymm", asm))]))
"""


def test_avx512_hosts_compile_with_full_width_vectors_unless_the_user_named_the_cpu(tmp_path):
    """LLVM tunes Intel's AVX-512 CPUs to prefer 256-bit vectors; runtime builds the code generator
    with '-prefer-256-bit' so the register tiles' multiply-adds use zmm registers, and leaves no
    trace in the environment. A CPU or features the user names are used as they are."""
    from numba.core.codegen import get_host_cpu_features
    host512 = "+avx512f" in get_host_cpu_features().split(",")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")}
    env["NUMBA_CACHE_DIR"] = str(tmp_path)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(_WIDE)], cwd=ROOT, capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stderr
    import json
    chose, wide, isa, leaked, fma_zmm, fma_ymm = json.loads(res.stdout)
    assert chose == wide == host512 and not leaked
    if host512:
        assert isa == "avx512" and fma_zmm > 0 and fma_ymm == 0, (fma_zmm, fma_ymm)
    # the user's features win: the haswell path (AVX2) is built as named, with no flag of ours
    env.update(AVX2_ENV)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(_WIDE)], cwd=ROOT, capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stderr
    chose, wide, isa, leaked, fma_zmm, fma_ymm = json.loads(res.stdout)
    assert (chose, wide, isa, leaked, fma_zmm) == (False, False, "avx2", True, 0) and fma_ymm > 0
