"""The epoch's kernels as first-class functions (kernels/calls.py): typed without compiling,
compiled on first use, checked against what they really return, and refused by the epoch when
their signature is not the one it calls with."""
import numpy as np
import pytest
from numba import typeof, types
from numba.core.errors import TypingError

import kernels as K
from kernels import calls as C
from kernels import epoch as E
from kernels import loss
from kernels.registry import example_args
from helpers import AVX2_ENV, run_json

F32M = types.Array(types.float32, 2, "C")
IV = types.Array(types.int64, 1, "C")


def test_a_kernel_is_typed_from_its_signature_without_compiling():
    c = C.Compiled(loss.softmax_xent_grad, (F32M, IV, F32M), types.float64)
    compiled_before = set(loss.softmax_xent_grad.overloads)
    assert typeof(c) == types.FunctionType(types.float64(F32M, IV, F32M))
    assert set(loss.softmax_xent_grad.overloads) == compiled_before
    assert c.__wrapper_address__() > 0
    assert (F32M, IV, F32M) in loss.softmax_xent_grad.overloads
    assert c.__wrapper_address__() == c.__wrapper_address__()           # looked up once


def test_a_wrong_return_type_is_refused_when_compiled():
    c = C.Compiled(loss.softmax_xent_grad, (F32M, IV, F32M), types.none)
    with pytest.raises(TypeError, match="softmax_xent_grad returns float64, not none"):
        c.__wrapper_address__()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("warp", [False, True])
def test_epoch_calls_are_one_set_per_dtype_and_augmentation(dtype, warp):
    calls = C.epoch_calls(dtype, warp)
    assert calls is C.epoch_calls(np.dtype(dtype).name, warp)
    assert isinstance(calls, E.Calls) and all(isinstance(c, C.Compiled) for c in calls)
    f = types.Array(typeof(np.dtype(dtype).type(0)), 2, "C")
    assert calls.linear_act.signature().args[0] == f
    assert calls.gather.dispatcher is (K.gather_warp if warp else K.gather_rows)


def test_the_epoch_refuses_kernels_of_another_signature():
    """A float64 layer kernel handed to a float32 epoch is a typing error, not a silent cast."""
    args = example_args(K.train_epoch_compiled, np.float32)
    wrong = args[-1]._replace(linear_act=C.epoch_calls(np.float64, False).linear_act)
    with pytest.raises((TypingError, ValueError), match="mismatch of argument types"):
        K.train_epoch_compiled(*args[:-1], wrong)


def test_the_epoch_runs_on_its_calls():
    """The registry's example epoch (Adam, dropout, 2 batches) trains through the Calls: the loss
    is finite and the weights move."""
    args = example_args(K.train_epoch_compiled, np.float32)
    w0 = args[3].w.copy()
    total, step, dropout_calls, last = K.train_epoch_compiled(*args)
    assert np.isfinite(total) and np.isfinite(last) and step == 2 and dropout_calls == 4
    assert not np.array_equal(w0, args[3].w)


def test_a_read_only_input_gets_a_gather_of_its_own():
    """Inputs shared read-only (worker processes, memory maps) are a type of their own: the
    epoch's gather is compiled for them, and the epoch trains on them as on a writeable copy."""
    args = example_args(K.train_epoch_compiled, np.float32)
    expect = K.train_epoch_compiled(*args)
    fresh = example_args(K.train_epoch_compiled, np.float32)      # the same seed: the same start
    X = fresh[0].X.copy()
    X.flags.writeable = False
    calls = C.epoch_calls(np.float32, False, typeof(X))
    assert calls.gather.signature().args[0] == typeof(X) != typeof(fresh[0].X)
    got = K.train_epoch_compiled(fresh[0]._replace(X=X), *fresh[1:-1], calls)
    assert got == expect
    for a, b in zip(fresh[3], args[3]):
        assert np.array_equal(a, b)


def test_may_pack_only_where_a_layer_product_reaches_the_packing_size(monkeypatch):
    from kernels import cpu, packing
    monkeypatch.setitem(cpu.PACK_MIN_FLOP, 4, 1 << 25)         # as on AVX2: 32 MFLOP
    assert packing.may_pack([784, 128, 64, 10], 64, np.float32) is None        # 12.8 MFLOP at most
    assert packing.may_pack([784, 512, 256, 10], 64, np.float32) is True       # 51 MFLOP
    assert packing.may_pack([784, 512, 256, 10], 16, np.float32) is None
    monkeypatch.setitem(cpu.PACK_MIN_FLOP, 4, 0)                # as on AVX-512: never
    assert packing.may_pack([784, 2048, 1024, 10], 1024, np.float32) is None


def test_a_network_that_never_packs_compiles_its_layer_kernels_without_the_packed_products(tmp_path):
    """On the AVX2 path (where float32 products pack), with an empty cache: the backward layer
    kernels of a pack=None epoch compile no packed kernel; those of a pack=True epoch do."""
    code = """
import json
import numpy as np
from numba.core import event
from kernels import calls as C, cpu
from network.warmup import compile_times
seen = {}
for pack in (None, True):
    calls = C.epoch_calls(np.float32, False, pack=pack)
    with event.install_recorder("numba:compile") as rec:
        C.resolve([calls.input_grad, calls.weight_grad])
    seen[str(pack)] = sorted({name for name, *_ in compile_times(rec.buffer)})
print(json.dumps({"isa": cpu.ISA, "seen": seen}))
"""
    out = run_json(code, tmp_path, **AVX2_ENV)
    assert out["isa"] == "avx2"
    packed = {"packing.nn_packed_block", "packing.tn_packed_block"}
    assert not packed & set(out["seen"]["None"]), out["seen"]["None"]
    assert packed <= set(out["seen"]["True"]), out["seen"]["True"]


def test_a_wide_network_trains_through_the_packed_layer_kernels_on_avx2(tmp_path):
    """On the AVX2 path a 784-512-10 network at batch 64 reaches the packing size (51 MFLOP per
    layer-1 product): its epoch is compiled with pack=True, and trains as the readable loop does
    (float32 tolerance, as tests/network/test_epoch.py)."""
    code = """
import json
import numpy as np
from kernels import cpu
from network.engine import epoch_inputs
from network.model import NeuralNetwork
rng = np.random.default_rng(0)
X, y = rng.random((192, 784), dtype=np.float32), rng.integers(0, 10, 192)
fast, ref = (NeuralNetwork([784, 512, 10], seed=3, optimizer="momentum") for _ in range(2))
pack = epoch_inputs(fast, X, y, 64, np.full(3, 0.05), np.arange(192))[2].pack
lf = fast.train_epoch(X, y, batch_size=64, learning_rate=0.05)
lr = ref.train_epoch_reference(X, y, batch_size=64, learning_rate=0.05)
close = [bool(np.allclose(a, b, rtol=2e-3, atol=2e-5)) for a, b in zip(fast.weights + fast.biases, ref.weights + ref.biases)]
moved = bool(np.max(np.abs(fast.weights[0] - NeuralNetwork([784, 512, 10], seed=3).weights[0])) > 0)
print(json.dumps({"isa": cpu.ISA, "pack": pack, "losses": [lf, lr], "close": close, "moved": moved}))
"""
    out = run_json(code, tmp_path, timeout=900, **AVX2_ENV)
    assert out["isa"] == "avx2" and out["pack"] is True and out["moved"]
    assert out["close"] == [True] * 4, out
    np.testing.assert_allclose(*out["losses"], rtol=1e-5)
