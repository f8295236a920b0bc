"""Draw a digit with the mouse and watch the network classify it as you draw.

    python -m analysis.demo [--model models/best_model.npz] [--no-center]

Left: a 28x28 canvas. Press and drag the left mouse button to paint, the right one to erase;
"Clear" (or the c key) wipes it. Right: the 10 class probabilities, updated on every stroke
segment, with the predicted digit in the title; the small inset shows the 28x28 image the
network actually receives.

The brush paints soft, anti-aliased strokes about as wide as MNIST's: intensity 1 within
brush_radius - 0.6 pixels of the pointer's path, falling linearly to 0 at brush_radius + 0.6
(half intensity at brush_radius, default 1.6), which gives a stroke 3 pixels wide with grey
edges; a typical MNIST stroke reads 0.3, 0.9, 1.0, 0.8, 0.1 across. Before classifying, the drawing is
prepared the way MNIST's digits were (LeCun et al.: "size normalized to fit in a 20x20 pixel
box while preserving their aspect ratio ... centered in a 28x28 image by computing the center
of mass of the pixels"): the bounding box of the ink is resampled (anti-aliased, bilinear) so
its longer side is 20 pixels, then placed so that its centre of mass lands on pixel (14, 14),
where the MNIST training images have theirs (mean 13.99, 14.00). `center=False` feeds the raw
canvas instead, to see how much the network depends on that normalisation.

DigitDemo(model, fig=None) can be driven without a display (tests use the Agg backend): paint,
clear and predict are plain methods, and the mouse handlers are connected with mpl_connect.
"""
from __future__ import annotations

import sys

import numpy as np

SIZE = 28          # canvas and model input side, pixels
BOX = 20           # MNIST's size-normalisation box
CENTER = 14.0      # where MNIST puts the centre of mass (row, column index)
RAMP = 1.2         # width of the brush's linear edge, pixels


def _resample_matrix(n_in, n_out):
    """(n_out, n_in) linear-interpolation weights, widened when shrinking (anti-aliasing).

    Output pixel i covers input coordinates [i / s, (i + 1) / s), s = n_out / n_in; its value is
    a triangle-filter average of the input pixels around its centre, of half-width max(1, 1/s).
    """
    s = n_out / n_in
    support = max(1.0, 1.0 / s)
    centers = (np.arange(n_out) + 0.5) / s
    w = np.maximum(0.0, 1.0 - np.abs(np.arange(n_in)[None, :] + 0.5 - centers[:, None]) / support)
    return w / w.sum(axis=1, keepdims=True)


def mnist_like(canvas, center=True):
    """A drawing (28, 28) in [0, 1] -> MNIST-style input (784,) float64 in [0, 1].

    center=True: crop to the ink's bounding box, scale its longer side to 20 pixels (aspect
    ratio kept), place the centre of mass at (14, 14) (rounded to whole pixels, kept inside the
    frame). center=False: the canvas as it is. A blank canvas gives zeros.
    """
    c = np.clip(np.asarray(canvas, np.float64), 0.0, 1.0)
    if c.shape != (SIZE, SIZE):
        raise ValueError(f"canvas must have shape ({SIZE}, {SIZE}); got {c.shape}")
    if not center or not c.any():
        return c.reshape(-1).copy()
    rows, cols = np.flatnonzero(c.any(axis=1)), np.flatnonzero(c.any(axis=0))
    crop = c[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    patch = np.clip(_resample_matrix(h, nh) @ crop @ _resample_matrix(w, nw).T, 0.0, 1.0)
    mass = patch.sum()
    com_r = (patch.sum(axis=1) @ np.arange(nh)) / mass
    com_c = (patch.sum(axis=0) @ np.arange(nw)) / mass
    top = int(np.clip(round(CENTER - com_r), 0, SIZE - nh))
    left = int(np.clip(round(CENTER - com_c), 0, SIZE - nw))
    out = np.zeros((SIZE, SIZE))
    out[top:top + nh, left:left + nw] = patch
    return out.reshape(-1)


class DigitDemo:
    """Interactive digit classifier on a matplotlib figure.

    model: a NeuralNetwork with 784 inputs and 10 outputs. fig: a Figure to draw into (default:
    a new pyplot figure). Coordinates x (column) and y (row) are in canvas pixels, pixel (r, c)
    centred at (c, r), as imshow places it.
    """

    def __init__(self, model, fig=None, center=True, brush_radius=1.6):
        from matplotlib.widgets import Button

        if list(model.layer_sizes[:1]) + list(model.layer_sizes[-1:]) != [SIZE * SIZE, 10]:
            raise ValueError(f"the demo needs a model with {SIZE * SIZE} inputs and 10 outputs; "
                             f"got layer sizes {model.layer_sizes}")
        if not brush_radius > 0:
            raise ValueError(f"brush_radius must be a positive number of pixels; got {brush_radius!r}")
        self.model, self.center, self.brush_radius = model, center, float(brush_radius)
        self.canvas = np.zeros((SIZE, SIZE))
        self.probs = None
        self._last = None          # last painted point while a button is held
        self._mode = None          # "paint" or "erase" while a button is held
        if fig is None:
            import matplotlib.pyplot as plt
            fig = plt.figure(figsize=(9.5, 4.8))
        self.fig = fig
        fig.clear()
        self.ax_draw = fig.add_axes([0.03, 0.14, 0.44, 0.74])
        self.ax_bars = fig.add_axes([0.56, 0.14, 0.41, 0.56])
        self.ax_input = fig.add_axes([0.83, 0.73, 0.13, 0.2])
        self.ax_button = fig.add_axes([0.03, 0.02, 0.12, 0.08])

        self.image = self.ax_draw.imshow(self.canvas, cmap="gray", vmin=0, vmax=1,
                                         interpolation="nearest")
        self.ax_draw.set_title("draw here (left: paint, right: erase)", fontsize=9)
        self.ax_draw.set_xticks([])
        self.ax_draw.set_yticks([])
        self.ax_draw.set_navigate(False)   # pan/zoom must not steal the strokes
        self.input_image = self.ax_input.imshow(self.canvas, cmap="gray", vmin=0, vmax=1,
                                                interpolation="nearest")
        self.ax_input.set_title("network input", fontsize=7)
        self.ax_input.set_xticks([])
        self.ax_input.set_yticks([])
        self.bars = self.ax_bars.bar(range(10), np.zeros(10), color="tab:blue")
        self.ax_bars.set_ylim(0, 1)
        self.ax_bars.set_xticks(range(10))
        self.ax_bars.set_xlabel("digit")
        self.ax_bars.set_ylabel("probability")
        self.ax_bars.set_navigate(False)
        self.button = Button(self.ax_button, "Clear")
        self.button.on_clicked(lambda _event: self.clear())
        self._cids = [fig.canvas.mpl_connect(name, handler) for name, handler in (
            ("button_press_event", self.on_press), ("motion_notify_event", self.on_motion),
            ("button_release_event", self.on_release), ("key_press_event", self.on_key))]
        self._refresh()

    # ---------------------------------------------------------------- drawing
    def paint(self, x, y, x0=None, y0=None, erase=False, update=True):
        """Stroke the brush along the segment (x0, y0) -> (x, y) (a dot if x0, y0 are None).

        Each pixel gets max(current, v), v = clip(0.5 + (R - d) / RAMP, 0, 1), d the distance
        from the pixel centre to the segment, R the brush radius (erase: min(current, 1 - v)).
        """
        x0 = x if x0 is None else x0
        y0 = y if y0 is None else y0
        rr, cc = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
        dx, dy = x - x0, y - y0
        seg2 = dx * dx + dy * dy
        t = 0.0 if seg2 == 0 else np.clip(((cc - x0) * dx + (rr - y0) * dy) / seg2, 0.0, 1.0)
        d = np.hypot(cc - (x0 + t * dx), rr - (y0 + t * dy))
        v = np.clip(0.5 + (self.brush_radius - d) / RAMP, 0.0, 1.0)
        if erase:
            np.minimum(self.canvas, 1.0 - v, out=self.canvas)
        else:
            np.maximum(self.canvas, v, out=self.canvas)
        if update:
            self._refresh()

    def clear(self):
        """Wipe the canvas (and the probabilities)."""
        self.canvas[:] = 0.0
        self._last = None
        self._refresh()

    def model_input(self):
        """The (784,) image the network sees for the current drawing (see mnist_like)."""
        return mnist_like(self.canvas, self.center)

    def predict(self):
        """Class probabilities (10,) for the current drawing, or None if the canvas is blank."""
        if not self.canvas.any():
            return None
        x = self.model_input()[None, :].astype(self.model.dtype)
        return self.model.predict_proba(x)[0].astype(np.float64)

    def _refresh(self):
        self.probs = self.predict()
        self.image.set_data(self.canvas)
        self.input_image.set_data(self.model_input().reshape(SIZE, SIZE))
        p = np.zeros(10) if self.probs is None else self.probs
        best = int(np.argmax(p))
        for k, bar in enumerate(self.bars):
            bar.set_height(p[k])
            bar.set_color("tab:orange" if self.probs is not None and k == best else "tab:blue")
        if self.probs is None:
            self.fig.suptitle("Draw a digit with the mouse", fontsize=13)
        else:
            self.fig.suptitle(f"Prediction: {best}  ({p[best]:.0%})", fontsize=13)
        self.fig.canvas.draw_idle()

    # ----------------------------------------------------------------- events
    def _busy_toolbar(self):
        tb = getattr(self.fig.canvas, "toolbar", None)
        return tb is not None and bool(getattr(tb, "mode", ""))

    def on_press(self, event):
        if event.inaxes is not self.ax_draw or event.xdata is None or self._busy_toolbar():
            return
        if event.button not in (1, 3):
            return
        self._mode = "paint" if event.button == 1 else "erase"
        self._last = (event.xdata, event.ydata)
        self.paint(event.xdata, event.ydata, erase=self._mode == "erase")

    def on_motion(self, event):
        if self._mode is None:
            return
        if event.inaxes is not self.ax_draw or event.xdata is None:
            self._last = None      # left the canvas: re-entering starts a new segment
            return
        x0, y0 = self._last if self._last is not None else (event.xdata, event.ydata)
        self.paint(event.xdata, event.ydata, x0, y0, erase=self._mode == "erase")
        self._last = (event.xdata, event.ydata)

    def on_release(self, event):
        self._mode, self._last = None, None

    def on_key(self, event):
        if event.key == "c":
            self.clear()


def main(argv=None):
    from network.cli import CLIError, OneLineParser, load_mnist_model, run_cli
    from network.io import ModelFileError

    p = OneLineParser(prog="python -m analysis.demo",
                      description="Draw a digit with the mouse; the network classifies it live.")
    p.add_argument("--model", default="models/best_model.npz",
                   help="model file written by train.py (default: %(default)s)")
    p.add_argument("--no-center", action="store_true",
                   help="feed the raw canvas instead of MNIST-style size/centre-of-mass normalisation")
    p.add_argument("--brush-radius", type=float, default=1.6,
                   help="brush radius (half-intensity) in pixels (default: %(default)s)")
    args = p.parse_args(argv)

    def body():
        model = load_mnist_model(args.model)
        if not args.brush_radius > 0:
            raise CLIError(f"--brush-radius must be positive; got {args.brush_radius}")
        import matplotlib.pyplot as plt
        demo = DigitDemo(model, center=not args.no_center, brush_radius=args.brush_radius)
        backend = plt.get_backend().lower()
        if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or "inline" in backend:
            raise CLIError(f"matplotlib backend {backend!r} cannot open a window; run on a display "
                           "or set MPLBACKEND (e.g. TkAgg, QtAgg)")
        demo.fig.canvas.manager.set_window_title("MNIST digit demo")
        plt.show()

    return run_cli(body, errors=(ModelFileError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
