"""The network package: a thin NeuralNetwork class over kernels/, plus training, metrics,
model I/O and plots, each in its own module. MNIST itself comes from the `data` package.

    from network import NeuralNetwork
"""

__all__ = ["NeuralNetwork"]


def __getattr__(name):  # lazy, so `import network.io` does not compile any kernels
    if name == "NeuralNetwork":
        from network.model import NeuralNetwork
        return NeuralNetwork
    raise AttributeError(f"module 'network' has no attribute {name!r}")
