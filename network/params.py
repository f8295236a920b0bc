"""The network's parameters: one flat array per role, allocated once, with per-layer views.

Roles: weights, biases, their gradients, and two optimizer-state arrays for each (momentum's
velocity or Adam's first moment; Adam's second moment). The flat arrays are laid out the way the
compiled epoch runs on them (`kernels.layout`): layer after layer, each layer's weights stored
transposed, (n_out, n_in), one row per unit. The per-layer arrays a user sees are views:

    weights[l]   (n_in, n_out)   = the layer's (n_out, n_in) block, transposed (a view, F-ordered)
    biases[l]    (n_out,)        a view
    dweights[l], dbiases[l], and the optimizer state, likewise

Writing into a view (`net.weights[0][...] = W`, `net.weights[0] += dW`) writes the flat array the
kernels train on. Assigning to an item (`net.weights[0] = W`) copies W into the view (its shape must
match); the view objects themselves never change, so no copy of the parameters exists anywhere.
"""
import numpy as np

from kernels import epoch as E


class LayerViews(list):
    """A list of per-layer views; item assignment copies into the view instead of rebinding it."""

    def __setitem__(self, i, value):
        if isinstance(i, slice):
            raise TypeError("assign layer by layer (views[i] = array)")
        view = list.__getitem__(self, i)
        value = np.asarray(value)
        if value.shape != view.shape:
            raise ValueError(f"layer {i}: expected an array of shape {view.shape}; got {value.shape}")
        view[...] = value

    def assign(self, arrays):
        arrays = list(arrays)
        if len(arrays) != len(self):
            raise ValueError(f"expected {len(self)} arrays (one per layer); got {len(arrays)}")
        for i, a in enumerate(arrays):
            self[i] = a


class Parameters:
    """Flat parameter, gradient and optimizer-state arrays for layer sizes n_0..n_L, and views."""

    def __init__(self, sizes, dtype):
        self.sizes = np.asarray(sizes, np.int64)
        self.w_off, self.u_off = (np.asarray(a) for a in E.layout(self.sizes))
        nw, nu = int(self.w_off[-1]), int(self.u_off[-1])
        z = lambda n: np.zeros(n, dtype)  # noqa: E731
        self.flat = E.Params(w=z(nw), b=z(nu), dw=z(nw), db=z(nu), s1w=z(nw), s2w=z(nw),
                             s1b=z(nu), s2b=z(nu))
        f = self.flat
        self.weights, self.dweights = self._weight_views(f.w), self._weight_views(f.dw)
        self.biases, self.dbiases = self._unit_views(f.b), self._unit_views(f.db)
        # optimizer state per tensor, weights then biases (the order of `weights + biases`)
        self.state1 = LayerViews(self._weight_views(f.s1w) + self._unit_views(f.s1b))
        self.state2 = LayerViews(self._weight_views(f.s2w) + self._unit_views(f.s2b))

    def _weight_views(self, flat):
        s, o = self.sizes, self.w_off
        return LayerViews(flat[o[l]:o[l + 1]].reshape(s[l + 1], s[l]).T for l in range(len(s) - 1))

    def _unit_views(self, flat):
        o = self.u_off
        return LayerViews(flat[o[l]:o[l + 1]] for l in range(len(o) - 1))

    def weights_t(self, l):
        """Layer l's weights as stored, (n_out, n_in) C-contiguous: what the fused kernels read."""
        return self.weights[l].T

    def zero_state(self):
        for a in (self.flat.s1w, self.flat.s2w, self.flat.s1b, self.flat.s2b):
            a[...] = 0
