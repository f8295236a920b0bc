"""Saving, loading and resuming a NeuralNetwork: its configuration, model files (network/io.py)
and the training state a checkpoint needs beyond the weights. Mixed into NeuralNetwork.

The file layout is unchanged by the flat in-memory layout: model files hold W0..W{L-1} as
(n_in, n_out) arrays and b0..b{L-1}, which load copies into the network's views.
"""
from network import io

_CONFIG_KEYS = ("activation", "init", "seed", "optimizer", "l2", "dropout", "momentum", "beta1",
                "beta2", "eps")


class Persistence:
    def config(self):
        return {"layer_sizes": self.layer_sizes, "dtype": self.dtype.name,
                **{k: getattr(self, k) for k in _CONFIG_KEYS}}

    def save(self, path, **metadata):
        """Write weights, biases, configuration and metadata (epoch, val accuracy, ...) atomically."""
        meta = {**self.metadata, **metadata, "config": self.config()}
        io.save_model(path, self.weights, self.biases, meta)

    @classmethod
    def load(cls, path):
        """Rebuild a network from a file written by `save` (ModelFileError if it is not valid)."""
        weights, biases, sizes, meta = io.load_model(path)
        cfg = meta.get("config", {})
        if not isinstance(cfg, dict):
            raise io.ModelFileError(f"model file {str(path)!r}: its config is not a JSON object")
        kwargs = {k: cfg[k] for k in _CONFIG_KEYS if k in cfg}
        try:
            net = cls(sizes, dtype=weights[0].dtype, **kwargs)
        except (TypeError, ValueError) as e:
            raise io.ModelFileError(f"model file {str(path)!r} has an invalid configuration: {e}") from None
        net.weights, net.biases = weights, biases
        net.metadata = {k: v for k, v in meta.items() if k != "config"}
        return net

    def training_state(self):
        """Everything beyond the weights that training depends on, for exact resumption:
        (arrays, info) with the optimizer's arrays and a JSON-able dict of counters and RNG state."""
        arrays = {f"opt_{name}_{i}": a for name, lst in self.opt_state.items() for i, a in enumerate(lst)}
        info = {"step": self.step, "dropout_calls": self.dropout_calls,
                "augment_epochs": self.augment_epochs, "rng": self.rng.bit_generator.state}
        return arrays, info

    def restore_training_state(self, arrays, info):
        """Inverse of `training_state` (raises ValueError if the arrays do not fit this network)."""
        self.reset_optimizer()
        for name, lst in self.opt_state.items():
            for i, a in enumerate(lst):
                key = f"opt_{name}_{i}"
                if key not in arrays or arrays[key].shape != a.shape:
                    raise ValueError(f"optimizer state {key!r} is missing or has the wrong shape")
                a[...] = arrays[key]
        self.step = int(info["step"])
        self.dropout_calls = int(info["dropout_calls"])
        self.augment_epochs = int(info.get("augment_epochs", 0))
        self.rng.bit_generator.state = info["rng"]
