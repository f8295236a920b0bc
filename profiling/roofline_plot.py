"""plots/roofline.png: the kernels of profiling/roofline.py on this machine's roofline.

Log-log: arithmetic intensity (FLOP/byte) against GFLOP/s. Solid lines are the all-core roofs
(peak FMA, and bandwidth with the data in L2, L3, DRAM), dashed the one-core peak, dotted OpenBLAS
sgemm; the legend gives their values. Each kernel is a number (the key on the right names it), drawn at batch 64 (circle) and
batch 512 (square); numbers are nudged apart so none overlap. 0-FLOP copies are listed under the
key with their bandwidth, since they have no place on a log-scale intensity axis.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_FAMILY_COLORS = (("matmul", "tab:blue"), ("_block", "tab:blue"), ("linear", "tab:purple"),
                  ("weight_grad", "tab:purple"), ("bias", "tab:olive"), ("relu", "tab:green"),
                  ("tanh", "tab:green"), ("sigmoid", "tab:green"), ("dropout", "tab:cyan"),
                  ("softmax", "tab:orange"), ("argmax", "tab:orange"), ("update", "tab:red"),
                  ("optimizer", "tab:red"))
_MARKERS = ("o", "s", "^", "D", "v")


def _color(name):
    return next((c for key, c in _FAMILY_COLORS if key in name), "tab:gray")


def _overlaps(box, boxes):
    return any(box.overlaps(b) for b in boxes)


def _place_labels(ax, points, fig):
    """Annotate each (x, y, text, color) with the first of a ring of offsets whose text box hits
    no label placed before it and no marker."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    taken = []
    offsets = [(5, 3), (5, -9), (-12, 3), (-12, -9), (0, 8), (0, -13), (9, -3), (-16, -3)]
    offsets += [(dx * 2, dy * 2) for dx, dy in offsets] + [(dx * 3, dy * 3) for dx, dy in offsets]
    for x, y, text, color in points:
        for dx, dy in offsets:
            t = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                            color=color, fontweight="bold")
            box = t.get_window_extent(renderer).expanded(1.05, 1.1)
            if not _overlaps(box, taken) or (dx, dy) == offsets[-1]:
                taken.append(box)
                if abs(dx) > 10 or abs(dy) > 10:   # far from its point: draw a leader line
                    t.remove()
                    t = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                                    fontsize=7, color=color, fontweight="bold",
                                    arrowprops=dict(arrowstyle="-", lw=0.4, color=color))
                break
            t.remove()


def plot_roofline(krows, ceil, cpu, path, quick=False):
    """Draw the roofline with the kernel rows of profiling.roofline and save it to path."""
    fig, ax = plt.subplots(figsize=(12, 7.5))
    placed = [r for r in krows if r["flops"] > 0]
    ais = [r["ai"] for r in placed] or [1.0]
    x = np.logspace(np.log10(min(ais) / 3), np.log10(max(max(ais) * 3, 100)), 200)
    peak = ceil["peak_all"]
    for lv, color in (("L2", "#1b9e77"), ("L3", "#386cb0"), ("DRAM", "#7f2704")):
        bw = ceil[f"{lv}_all"]
        ax.plot(x, np.minimum(peak, x * bw), color=color, lw=1.3,
                label=f"{lv} triad, all cores: {bw:.0f} GB/s")
    ax.axhline(peak, color="0.2", lw=1.3, label=f"peak FMA, all cores: {peak:.0f} GFLOP/s")
    ax.axhline(ceil["peak_1"], color="0.45", lw=1, ls="--",
               label=f"peak FMA, one core: {ceil['peak_1']:.0f} GFLOP/s")
    ax.axhline(ceil["sgemm"], color="tab:brown", lw=1, ls=":",
               label=f"OpenBLAS sgemm (reference): {ceil['sgemm']:.0f} GFLOP/s")

    names = list(dict.fromkeys(r["name"] for r in placed))
    number = {n: i + 1 for i, n in enumerate(names)}
    batches = sorted({r["batch"] for r in krows})
    labels = []
    for r in placed:
        m = _MARKERS[batches.index(r["batch"]) % len(_MARKERS)]
        ax.scatter(r["ai"], r["gflops"], marker=m, s=28, color=_color(r["name"]),
                   edgecolor="k", linewidth=0.4, zorder=3)
        labels.append((r["ai"], r["gflops"], str(number[r["name"]]), _color(r["name"])))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ys = [r["gflops"] for r in placed] or [1.0]
    ax.set_ylim(min(ys) / 3, peak * 2.5)
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel("arithmetic intensity (FLOP / byte moved, kernels/costs.py)")
    ax.set_ylabel("achieved GFLOP/s (float32)")
    title = f"Roofline of the kernels at the training shapes on {cpu}"
    ax.set_title(title + (" (--quick smoke run)" if quick else ""), fontsize=11)
    ax.grid(True, which="both", alpha=0.2)
    for b in batches:
        ax.scatter([], [], marker=_MARKERS[batches.index(b) % len(_MARKERS)], color="w",
                   edgecolor="k", label=f"batch {b}")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.95)
    fig.subplots_adjust(right=0.72)
    key = [f"{number[n]:2d}  {n}" for n in names]
    copies = [r for r in krows if r["flops"] == 0]
    if copies:
        key += ["", "0 FLOPs (not drawn):"]
        key += [f"  {r['name']} b{r['batch']}: {r['gbs']:.0f} GB/s" for r in copies]
    fig.text(0.735, 0.88, "\n".join(key), fontsize=7.5, va="top", family="monospace")
    _place_labels(ax, labels, fig)
    fig.savefig(path, dpi=130)
    plt.close(fig)
