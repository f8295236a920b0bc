"""The network package: a thin NeuralNetwork class over kernels/, plus data, training, metrics,
model I/O and plots, each in its own module.

    from network import NeuralNetwork, load_mnist
"""

__all__ = ["NeuralNetwork", "load_mnist", "KernelMLPClassifier"]


def __getattr__(name):  # lazy, so `import network.data` does not compile any kernels
    if name == "NeuralNetwork":
        from network.model import NeuralNetwork
        return NeuralNetwork
    if name == "load_mnist":
        from network.data import load_mnist
        return load_mnist
    if name == "KernelMLPClassifier":  # scikit-learn estimator; compiles nothing at import
        from network.estimator import KernelMLPClassifier
        return KernelMLPClassifier
    raise AttributeError(f"module 'network' has no attribute {name!r}")
