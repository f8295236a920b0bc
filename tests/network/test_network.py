"""network.model.NeuralNetwork: the whole backward pass against float64 finite differences of the
loss, for each activation, 2 and 3 layers, with and without dropout; the public API (forward,
predict, predict_proba, update_weights, train_epoch); initialisation statistics and symmetry;
input validation.
"""
import numpy as np
import pytest

from conftest import assert_gradients_close, gradient_errors, numerical_gradient
from network.model import NeuralNetwork

ACTIVATIONS = ["relu", "tanh", "sigmoid"]
SMALL_NETS = [[20, 7, 3], [20, 7, 5, 3]]


def make_batch(rng, n, n_in, n_out):
    X = rng.standard_normal((n, n_in))
    y = rng.integers(0, n_out, n)
    y[:n_out] = np.arange(n_out)[:n]  # every class present when n >= n_out
    return X, y


def numpy_forward(net, X, masks=None):
    """Pre-activations z_l of every layer, computed in float64 NumPy from the net's parameters."""
    f = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
         "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[net.activation]
    a, zs = X.astype(np.float64), []
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        z = a @ W.astype(np.float64) + b
        zs.append(z)
        a = f(z)
        if masks is not None and l < len(masks):
            a = a * masks[l]
    return zs


def check_network_gradients(net, X, y):
    """Compare every parameter's analytic gradient with central finite differences of the loss.

    The loss is evaluated by net.backward (training mode, so dropout is applied); resetting
    net.dropout_calls before each evaluation makes every evaluation draw the same masks.
    """
    calls0 = net.dropout_calls

    def loss(_):
        net.dropout_calls = calls0
        return net.backward(X, y)

    loss(None)
    analytic_w = [d.copy() for d in net.dweights]
    analytic_b = [d.copy() for d in net.dbiases]
    worst = (0.0, 0.0)
    for l in range(net.n_layers):
        for kind, params, analytic in (("W", net.weights, analytic_w), ("b", net.biases, analytic_b)):
            # perturb the parameters where they live: a weight matrix is stored transposed,
            # (n_out, n_in) C-contiguous, and weights[l] is its (n_in, n_out) view
            stored = params[l].T if kind == "W" else params[l]
            numeric = numerical_gradient(loss, stored, eps=1e-6)
            numeric = numeric.T if kind == "W" else numeric
            assert_gradients_close(analytic[l], numeric, atol=1e-6, rtol=1e-5, name=f"d{kind}{l}")
            assert np.any(analytic[l] != 0), f"d{kind}{l} is identically zero: the check would be vacuous"
            worst = tuple(max(a, b) for a, b in zip(worst, gradient_errors(analytic[l], numeric)))
    return worst


def randomize_biases(net, rng, scale=0.1):
    for b in net.biases:
        b[:] = rng.standard_normal(b.shape) * scale


# ------------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("sizes", SMALL_NETS, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_finite_differences(rng, activation, sizes):
    net = NeuralNetwork(sizes, activation=activation, init="xavier" if activation != "relu" else "he",
                        seed=3, dtype=np.float64)
    randomize_biases(net, rng)
    X, y = make_batch(rng, 8, sizes[0], sizes[-1])
    if activation == "relu":  # finite differences are only valid away from relu's kink
        zs = numpy_forward(net, X)
        assert min(np.abs(z).min() for z in zs[:-1]) > 1e-3, "test data lies too close to the relu kink"
    check_network_gradients(net, X, y)


@pytest.mark.parametrize("sizes", SMALL_NETS, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_with_dropout_matches_finite_differences(rng, activation, sizes):
    net = NeuralNetwork(sizes, activation=activation, seed=5, dtype=np.float64, dropout=0.3)
    randomize_biases(net, rng)
    X, y = make_batch(rng, 8, sizes[0], sizes[-1])
    net.dropout_calls = 17  # any starting counter: the check resets to it before each evaluation
    # dropout is really active in training mode: some units are dropped, so the outputs differ
    calls0 = net.dropout_calls
    p_train = net.forward(X, training=True)
    assert net.dropout_calls == calls0 + len(sizes) - 2, "one mask (counter step) per hidden layer"
    net.dropout_calls = calls0
    assert not np.allclose(p_train, net.forward(X, training=False))
    net.dropout_calls = calls0
    check_network_gradients(net, X, y)


def test_dropout_masks_change_between_training_steps(rng):
    net = NeuralNetwork([20, 30, 3], seed=1, dtype=np.float64, dropout=0.5)
    X, y = make_batch(rng, 16, 20, 3)
    loss1 = net.backward(X, y)
    loss2 = net.backward(X, y)
    assert loss1 != loss2, "the same dropout mask was reused for two different steps"
    net.dropout_calls = 0
    assert net.backward(X, y) == loss1, "resetting the counter must reproduce the first mask"


def test_eval_mode_ignores_dropout(rng):
    net = NeuralNetwork([20, 30, 3], seed=1, dtype=np.float64, dropout=0.5)
    plain = NeuralNetwork([20, 30, 3], seed=1, dtype=np.float64)
    X, _ = make_batch(rng, 16, 20, 3)
    np.testing.assert_array_equal(net.forward(X), plain.forward(X))
    assert net.dropout_calls == 0


def test_float32_gradients_agree_with_float64(rng):
    sizes = [20, 16, 8, 3]
    n32 = NeuralNetwork(sizes, seed=9, dtype=np.float32)
    n64 = NeuralNetwork(sizes, seed=9, dtype=np.float64)
    X, y = make_batch(rng, 32, 20, 3)
    l32, l64 = n32.backward(X, y), n64.backward(X, y)
    assert l32 == pytest.approx(l64, rel=1e-5)
    for d32, d64 in zip(n32.dweights + n32.dbiases, n64.dweights + n64.dbiases):
        assert d32.dtype == np.float32
        np.testing.assert_allclose(d32, d64, rtol=1e-3, atol=1e-5 * np.abs(d64).max())


# --------------------------------------------------------------------------------- forward API
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_returns_probabilities(rng, activation, dtype):
    net = NeuralNetwork([784, 32, 16, 10], activation=activation, seed=0, dtype=dtype)
    X = rng.random((13, 784))
    p = net.forward(X)
    assert p.shape == (13, 10) and p.dtype == dtype
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.astype(np.float64).sum(axis=1), 1.0, atol=10 * np.finfo(dtype).eps)
    # against a NumPy forward pass of the same parameters
    z = numpy_forward(net, X)[-1]
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(p, ref, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6)


def test_forward_returns_a_fresh_array(rng):
    net = NeuralNetwork([20, 8, 10])
    X = rng.random((5, 20))
    p1 = net.forward(X)
    p1[:] = -1
    p2 = net.forward(X)
    assert np.all(p2 >= 0), "forward returned an internal buffer that later calls overwrite"


def test_predict_is_argmax_of_forward(rng):
    net = NeuralNetwork([784, 32, 10], seed=4)
    X = rng.random((300, 784))
    np.testing.assert_array_equal(net.predict(X), np.argmax(net.forward(X), axis=1))
    assert net.predict(X).dtype.kind == "i"


@pytest.mark.parametrize("batch_size", [1, 7, 64, 2048])
def test_predict_proba_chunks_equal_forward_on_the_whole(rng, batch_size):
    net = NeuralNetwork([784, 32, 10], seed=4)
    X = rng.random((150, 784)).astype(np.float32)
    whole = net.forward(X)
    chunked = net.predict_proba(X, batch_size=batch_size)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(net.predict(X, batch_size=batch_size), np.argmax(whole, axis=1))


def test_single_sample_batch(rng):
    net = NeuralNetwork([784, 16, 10], seed=2)
    X = rng.random((1, 784))
    assert net.forward(X).shape == (1, 10)
    assert net.predict(X).shape == (1,)
    loss = net.backward(X, np.array([3]))
    assert np.isfinite(loss)


def test_evaluate_matches_forward(rng):
    net = NeuralNetwork([20, 16, 3], seed=2, dtype=np.float64)
    X, y = make_batch(rng, 50, 20, 3)
    loss, acc = net.evaluate(X, y, batch_size=16)
    p = net.forward(X)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(50), y])), rel=1e-12)
    assert acc == pytest.approx(np.mean(np.argmax(p, 1) == y))


# ---------------------------------------------------------------------------- backward / update
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_shapes_and_dtypes(rng, dtype):
    sizes = [784, 128, 64, 10]
    net = NeuralNetwork(sizes, dtype=dtype)
    X, y = make_batch(rng, 8, 784, 10)
    loss = net.backward(X, y)
    assert np.isfinite(loss) and loss > 0
    assert [d.shape for d in net.dweights] == [(784, 128), (128, 64), (64, 10)]
    assert [d.shape for d in net.dbiases] == [(128,), (64,), (10,)]
    assert [w.shape for w in net.weights] == [(784, 128), (128, 64), (64, 10)]
    assert all(d.dtype == dtype for d in net.dweights + net.dbiases + net.weights + net.biases)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_update_is_w_minus_lr_dw(rng, dtype):
    net = NeuralNetwork([20, 7, 5, 3], dtype=dtype, optimizer="sgd")
    X, y = make_batch(rng, 16, 20, 3)
    net.backward(X, y)
    before = [p.copy() for p in net.weights + net.biases]
    grads = [g.copy() for g in net.dweights + net.dbiases]
    net.update_weights(0.1)
    tol = dict(rtol=1e-6, atol=1e-8) if dtype == np.float32 else dict(rtol=1e-15, atol=0)
    for p, p0, g in zip(net.weights + net.biases, before, grads):
        np.testing.assert_allclose(p, p0.astype(np.float64) - 0.1 * g.astype(np.float64), **tol)


def test_sgd_l2_decays_weights_but_not_biases(rng):
    net = NeuralNetwork([20, 7, 3], dtype=np.float64, optimizer="sgd", l2=0.01)
    randomize_biases(net, rng)
    X, y = make_batch(rng, 16, 20, 3)
    net.backward(X, y)
    W0, b0 = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    dW, db = [d.copy() for d in net.dweights], [d.copy() for d in net.dbiases]
    net.update_weights(0.5)
    for l in range(2):
        np.testing.assert_allclose(net.weights[l], W0[l] - 0.5 * (dW[l] + 0.01 * W0[l]), rtol=1e-14)
        np.testing.assert_allclose(net.biases[l], b0[l] - 0.5 * db[l], rtol=1e-14)


def test_momentum_and_adam_updates_match_formulas_over_steps(rng):
    X, y = make_batch(rng, 16, 20, 3)
    for opt in ("momentum", "adam"):
        net = NeuralNetwork([20, 7, 3], dtype=np.float64, optimizer=opt, momentum=0.8,
                            beta1=0.85, beta2=0.99, eps=1e-7)
        params = [p.copy() for p in net.weights + net.biases]
        state = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        for t in range(1, 4):
            net.backward(X, y)
            grads = net.dweights + net.dbiases
            for i, g in enumerate(grads):
                a, b = state[i]
                if opt == "momentum":
                    a = 0.8 * a - 0.05 * g
                    params[i] = params[i] + a
                else:
                    a = 0.85 * a + 0.15 * g
                    b = 0.99 * b + 0.01 * g * g
                    params[i] = params[i] - 0.05 * (a / (1 - 0.85 ** t)) / (np.sqrt(b / (1 - 0.99 ** t)) + 1e-7)
                state[i] = (a, b)
            net.update_weights(0.05)
            for p, ref in zip(net.weights + net.biases, params):
                np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-15, err_msg=f"{opt} step {t}")
        assert net.step == 3


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.2), ("momentum", 0.05), ("adam", 0.01)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_decrease_the_loss_on_a_fixed_batch(rng, optimizer, lr, dtype):
    net = NeuralNetwork([20, 16, 3], optimizer=optimizer, dtype=dtype, seed=1)
    X, y = make_batch(rng, 24, 20, 3)
    first = net.backward(X, y)
    for _ in range(50):
        net.backward(X, y)
        net.update_weights(lr)
    last, acc = net.evaluate(X, y)
    assert np.isfinite(last)
    assert last < 0.5 * first, f"{optimizer}: loss went from {first:.4f} to {last:.4f} in 50 steps"
    assert acc > 0.9


def test_update_weights_rejects_bad_learning_rates():
    net = NeuralNetwork([4, 3])
    for lr in (0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="learning_rate"):
            net.update_weights(lr)
    with pytest.raises(TypeError, match="learning_rate"):
        net.update_weights("fast")


# ------------------------------------------------------------------------------ initialisation
@pytest.mark.parametrize("init,expected_std", [("he", np.sqrt(2 / 784)), ("xavier", np.sqrt(2 / (784 + 512))),
                                               ("normal", 0.01)])
def test_init_std_on_a_big_layer(init, expected_std):
    net = NeuralNetwork([784, 512, 10], init=init, seed=11, dtype=np.float64)
    W = net.weights[0]
    n = W.size
    # sample std of n normals: relative standard error 1/sqrt(2n); mean: std/sqrt(n); 5 sigma each
    assert abs(W.std() / expected_std - 1) < 5 / np.sqrt(2 * n)
    assert abs(W.mean()) < 5 * expected_std / np.sqrt(n)
    assert all(np.all(b == 0) for b in net.biases)


def test_zeros_init_keeps_hidden_units_identical(rng):
    """With all-zero weights every hidden unit computes the same thing and gets the same gradient:
    the columns of dW0 (one per hidden unit) stay equal however long we train."""
    net = NeuralNetwork([6, 5, 3], activation="sigmoid", init="zeros", dtype=np.float64)
    assert all(np.all(w == 0) for w in net.weights)
    X, y = make_batch(rng, 12, 6, 3)
    for _ in range(4):
        net.backward(X, y)
        net.update_weights(0.5)
    net.backward(X, y)
    dW0, W0, W1 = net.dweights[0], net.weights[0], net.weights[1]
    assert np.any(dW0 != 0) and np.any(W0 != 0), "training moved nothing: the check would be vacuous"
    np.testing.assert_allclose(dW0, np.repeat(dW0[:, :1], 5, axis=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(W0, np.repeat(W0[:, :1], 5, axis=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(W1, np.repeat(W1[:1], 5, axis=0), rtol=1e-12, atol=1e-15)


def test_same_seed_same_weights_and_different_seed_different_weights():
    a = NeuralNetwork([784, 64, 10], seed=123)
    b = NeuralNetwork([784, 64, 10], seed=123)
    c = NeuralNetwork([784, 64, 10], seed=124)
    for wa, wb, wc in zip(a.weights, b.weights, c.weights):
        np.testing.assert_array_equal(wa, wb)
        assert not np.array_equal(wa, wc)


# ---------------------------------------------------------------------------- train_epoch
def separable_problem(rng, n=300, n_in=20, n_out=3):
    centers = rng.standard_normal((n_out, n_in)) * 3
    y = rng.integers(0, n_out, n)
    X = centers[y] + rng.standard_normal((n, n_in))
    return X, y


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 0.005)])
def test_train_epoch_lowers_the_loss(rng, optimizer, lr):
    X, y = separable_problem(rng)
    net = NeuralNetwork([20, 16, 3], optimizer=optimizer, seed=0)
    initial, _ = net.evaluate(X, y)
    losses = [net.train_epoch(X, y, batch_size=32, learning_rate=lr) for _ in range(3)]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0] < initial * 1.01
    final, acc = net.evaluate(X, y)
    assert final < 0.5 * initial
    assert acc > 0.95


def test_train_epoch_is_bit_reproducible_for_a_seed(rng):
    """Same seed, same data: identical weights after an epoch, with dropout, Adam and shifts on."""
    X = rng.random((200, 784)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    nets = [NeuralNetwork([784, 16, 10], seed=s, optimizer="adam", dropout=0.2) for s in (7, 7, 8)]
    losses = [n.train_epoch(X, y, batch_size=32, learning_rate=1e-3, augment_shift=2) for n in nets]
    assert losses[0] == losses[1]
    for w0, w1 in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        np.testing.assert_array_equal(w0, w1)
    assert not np.array_equal(nets[0].weights[0], nets[2].weights[0])


def test_train_epoch_accepts_a_per_batch_learning_rate_schedule(rng):
    X, y = separable_problem(rng, n=100)
    a = NeuralNetwork([20, 8, 3], seed=3)
    b = NeuralNetwork([20, 8, 3], seed=3)
    a.train_epoch(X, y, batch_size=32, learning_rate=0.05)
    b.train_epoch(X, y, batch_size=32, learning_rate=np.full(4, 0.05))  # ceil(100 / 32) batches
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb)


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,exc,word", [
    (dict(layer_sizes=[784]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[784, 0, 10]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[784, -5, 10]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[784, 12.5, 10]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[784, "many", 10]), TypeError, "layer_sizes"),
    (dict(layer_sizes=None), TypeError, "layer_sizes"),
    (dict(layer_sizes=784), TypeError, "layer_sizes"),
    (dict(activation="softplus"), ValueError, "activation"),
    (dict(activation=None), ValueError, "activation"),
    (dict(init="uniform"), ValueError, "init"),
    (dict(optimizer="rmsprop"), ValueError, "optimizer"),
    (dict(dropout=1.0), ValueError, "dropout"),
    (dict(dropout=-0.1), ValueError, "dropout"),
    (dict(dropout=float("nan")), ValueError, "dropout"),
    (dict(dropout="half"), TypeError, "dropout"),
    (dict(l2=-1e-4), ValueError, "l2"),
    (dict(l2=float("inf")), ValueError, "l2"),
    (dict(dtype=np.int32), ValueError, "dtype"),
    (dict(dtype=np.float16), ValueError, "dtype"),
    (dict(dtype="bogus"), (TypeError, ValueError), "dtype"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), ValueError, "seed"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(beta2=1.0), ValueError, "beta2"),
    (dict(eps=0.0), ValueError, "eps"),
], ids=lambda v: repr(v) if isinstance(v, dict) else None)
def test_invalid_constructor_arguments(kwargs, exc, word):
    kwargs = {"layer_sizes": [784, 16, 10], **kwargs}
    with pytest.raises(exc, match=word):
        NeuralNetwork(**kwargs)


@pytest.mark.parametrize("X,word", [
    (np.zeros((5, 783)), "784"),
    (np.zeros(784), "784"),
    (np.zeros((5, 28, 28)), "784"),
    (np.zeros((0, 784)), "rows"),
])
def test_bad_X_shape_raises(X, word):
    net = NeuralNetwork([784, 16, 10])
    for call in (net.forward, net.predict, net.predict_proba):
        with pytest.raises(ValueError, match=word):
            call(X)
    with pytest.raises(ValueError, match=word):
        net.backward(X, np.zeros(len(X), np.int64))


def test_non_numeric_X_raises():
    net = NeuralNetwork([4, 3])
    with pytest.raises(TypeError, match="X"):
        net.forward(np.array([["a", "b", "c", "d"]]))


@pytest.mark.parametrize("y,word", [
    (np.array([0, 1, 10]), "labels"),
    (np.array([0, -1, 2]), "labels"),
    (np.array([0.0, 1.0, 2.0]), "integer"),
    (np.array([0, 1]), r"\(3,\)"),
    (np.array([[0], [1], [2]]), r"\(3,\)"),
])
def test_bad_labels_raise(y, word):
    net = NeuralNetwork([784, 16, 10])
    X = np.zeros((3, 784))
    with pytest.raises(ValueError, match=word):
        net.backward(X, y)
    with pytest.raises(ValueError, match=word):
        net.evaluate(X, y)
    with pytest.raises(ValueError, match=word):
        net.train_epoch(X, y)
