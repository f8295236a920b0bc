"""One short run on the real MNIST: the whole pipeline must clear the assignment's 90% bar."""
import numpy as np

from data import load_mnist, preprocess, train_val_split
from network.metrics import accuracy
from network.model import NeuralNetwork
from network.training import fit


def test_two_epochs_on_real_mnist_exceed_90_percent_test_accuracy(tmp_path):
    (x_train, y_train), (x_test, y_test) = load_mnist(progress=False)
    (x_tr, y_tr), (x_val, y_val) = train_val_split(x_train, y_train, val_fraction=0.2, seed=0)
    x_tr, x_val, x_test = preprocess(x_tr), preprocess(x_val), preprocess(x_test)
    net = NeuralNetwork([784, 128, 64, 10], optimizer="adam", seed=0)
    history, (best_epoch, best_val) = fit(net, x_tr, y_tr, x_val, y_val, epochs=2, batch_size=64,
                                          learning_rate=0.002, out=tmp_path / "best.npz",
                                          progress=False, log=lambda s: None)
    best = NeuralNetwork.load(tmp_path / "best.npz")
    test_acc = accuracy(y_test, best.predict(x_test))
    assert best_val > 0.9
    assert test_acc > 0.90, f"test accuracy {test_acc:.4f}"
    # the test set was not used for selection: the saved model is the best-validation one
    assert best.metadata["epoch"] == best_epoch
