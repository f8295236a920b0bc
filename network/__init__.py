"""The network package: a thin NeuralNetwork class over kernels/, plus training, metrics,
model I/O and plots, each in its own module, and a scikit-learn estimator over the same kernels.
MNIST itself comes from the `data` package.

    from network import NeuralNetwork, KernelMLPClassifier
"""

__all__ = ["NeuralNetwork", "KernelMLPClassifier"]


def __getattr__(name):  # lazy, so `import network.io` does not compile any kernels
    if name == "NeuralNetwork":
        from network.model import NeuralNetwork
        return NeuralNetwork
    if name == "KernelMLPClassifier":  # scikit-learn estimator; compiles nothing at import
        from network.estimator import KernelMLPClassifier
        return KernelMLPClassifier
    raise AttributeError(f"module 'network' has no attribute {name!r}")
