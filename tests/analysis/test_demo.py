"""analysis.demo driven headless (Agg): simulated mouse strokes paint the canvas, the probability
bars follow the drawing, Clear resets it; MNIST-style preprocessing; the command's errors."""
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backend_bases import KeyEvent, MouseEvent  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.demo import DigitDemo, mnist_like  # noqa: E402
from network.model import NeuralNetwork  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mnist():
    from data import load_mnist

    return load_mnist(progress=False)


@pytest.fixture(scope="module")
def trained(mnist):
    """A small net trained for one epoch on 5,000 real MNIST images (about two seconds)."""
    from data import preprocess

    (x, y), _ = mnist
    net = NeuralNetwork([784, 32, 10], optimizer="adam", seed=0)
    net.train_epoch(preprocess(x[:5000]), y[:5000].astype(np.int64), batch_size=32,
                    learning_rate=2e-3)
    return net


def make_demo(model, **kw):
    fig = Figure(figsize=(9.5, 4.8))
    FigureCanvasAgg(fig)
    demo = DigitDemo(model, fig, **kw)
    fig.canvas.draw()  # lay out, so the data -> display transforms are final
    return demo


def mouse(demo, name, x, y, button=1, ax=None):
    """Send a mouse event at data coordinates (x, y) of `ax` (default: the drawing canvas)."""
    ax = demo.ax_draw if ax is None else ax
    dx, dy = ax.transData.transform((x, y))
    event = MouseEvent(name, demo.fig.canvas, dx, dy, button=button)
    demo.fig.canvas.callbacks.process(name, event)


def stroke(demo, points, button=1):
    """Press at the first point, drag through the rest, release at the last."""
    mouse(demo, "button_press_event", *points[0], button=button)
    for p in points[1:]:
        mouse(demo, "motion_notify_event", *p, button=button)
    mouse(demo, "button_release_event", *points[-1], button=button)


def vertical_line():
    return [(14.0, y) for y in np.linspace(5, 23, 10)]


def ring():
    t = np.linspace(0, 2 * np.pi, 30)
    return list(zip(14 + 6 * np.cos(t), 14 + 8 * np.sin(t)))


def click_clear(demo):
    ax = demo.ax_button
    mouse(demo, "button_press_event", 0.5, 0.5, ax=ax)
    mouse(demo, "button_release_event", 0.5, 0.5, ax=ax)


def bar_heights(demo):
    return np.array([b.get_height() for b in demo.bars])


def test_strokes_paint_and_update_the_bars_and_clear_resets(trained):
    demo = make_demo(trained)
    assert not demo.canvas.any() and demo.probs is None
    assert not bar_heights(demo).any() and "Draw a digit" in demo.fig.get_suptitle()

    stroke(demo, vertical_line())
    c = demo.canvas
    assert c[5:24, 14].min() == 1.0                 # solid along the stroke
    assert c[:, :11].max() == 0 and c[:, 18:].max() == 0  # nothing far from it
    assert 0 < c[10, 12] < 1                        # soft, anti-aliased edge
    p1 = demo.probs.copy()
    assert p1.shape == (10,) and p1.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(bar_heights(demo), p1)
    assert demo.fig.get_suptitle().startswith(f"Prediction: {np.argmax(p1)}")

    click_clear(demo)                               # the Clear button
    assert not demo.canvas.any() and demo.probs is None and not bar_heights(demo).any()

    stroke(demo, ring())
    p2 = demo.probs.copy()
    assert not np.allclose(p1, p2, atol=0.05)
    np.testing.assert_allclose(bar_heights(demo), p2)
    # a net trained on a bit of MNIST reads the stroke as a 1 and the ring as a 0
    assert (np.argmax(p1), np.argmax(p2)) == (1, 0)

    demo.fig.canvas.callbacks.process(
        "key_press_event", KeyEvent("key_press_event", demo.fig.canvas, "c", 10, 10))
    assert not demo.canvas.any()


def test_motion_without_a_press_and_clicks_elsewhere_do_not_paint(trained):
    demo = make_demo(trained)
    for x, y in vertical_line():
        mouse(demo, "motion_notify_event", x, y)
    mouse(demo, "button_press_event", 5, 0.5, ax=demo.ax_bars)
    mouse(demo, "button_press_event", 14, 14, button=2)   # middle button: not a brush
    assert not demo.canvas.any()
    stroke(demo, [(3, 3), (3, 3)])
    stroke(demo, [(20, 20), (20, 21)])
    assert demo.canvas[3, 3] == 1 and demo.canvas[20, 20] == 1
    assert demo.canvas[10:16, 10:16].max() == 0        # a release ends the stroke: no bridge
    demo.clear()
    mouse(demo, "button_press_event", 3, 3)
    mouse(demo, "motion_notify_event", 5, 0.5, ax=demo.ax_bars)  # drag out of the canvas...
    mouse(demo, "motion_notify_event", 20, 20)                   # ... and back in elsewhere
    mouse(demo, "button_release_event", 20, 20)
    assert demo.canvas[3, 3] == 1 and demo.canvas[20, 20] == 1
    assert demo.canvas[10:16, 10:16].max() == 0        # no line drawn across the gap


def test_right_button_erases(trained):
    demo = make_demo(trained)
    stroke(demo, vertical_line())
    stroke(demo, [(14, 4), (14, 13)], button=3)
    assert demo.canvas[4:12, 14].max() == 0 and demo.canvas[17:23, 14].min() == 1


def test_paint_and_predict_api(trained):
    demo = make_demo(trained, center=False)
    assert demo.predict() is None
    demo.paint(14, 22, 14, 6)
    p = demo.predict()
    np.testing.assert_allclose(p, trained.predict_proba(demo.canvas.reshape(1, 784))[0], rtol=1e-5)
    demo.clear()
    assert demo.predict() is None


def test_mnist_like_leaves_mnist_digits_unchanged(mnist):
    _, (x, _) = mnist
    for img in x[:300]:
        a = img / 255.0
        np.testing.assert_array_equal(mnist_like(a), a.reshape(-1))


def test_mnist_like_scales_and_centres(rng):
    c = np.zeros((28, 28))
    c[2:8, 1:4] = 1.0                                # a small block in the corner
    out = mnist_like(c).reshape(28, 28)
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20              # longer side scaled to 20
    assert cols[-1] - cols[0] + 1 == 10              # aspect ratio 6:3 kept
    com = [(out.sum(axis=k) @ np.arange(28)) / out.sum() for k in (1, 0)]
    np.testing.assert_allclose(com, [14, 14], atol=0.5)
    assert 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(mnist_like(c, center=False), c.reshape(-1))
    assert not mnist_like(np.zeros((28, 28))).any()
    with pytest.raises(ValueError, match=r"canvas must have shape \(28, 28\)"):
        mnist_like(np.zeros((20, 20)))


def test_demo_rejects_a_non_mnist_model():
    with pytest.raises(ValueError, match="784 inputs and 10 outputs"):
        make_demo(NeuralNetwork([10, 4, 10]))


def run_demo(*args):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "analysis.demo", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def test_command_missing_model(tmp_path):
    proc = run_demo("--model", tmp_path / "nope.npz")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "does not exist" in lines[0]


def test_command_without_a_display_says_so(tmp_path):
    path = tmp_path / "m.npz"
    NeuralNetwork([784, 8, 10]).save(path)
    proc = run_demo("--model", path)
    assert proc.returncode == 2 and "cannot open a window" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
