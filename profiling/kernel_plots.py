"""The per-kernel benchmark's figure (plots/kernel_benchmarks.png), drawn from its rows: those
`profiling.bench_kernels.run` returns, or those of a written results/kernel_benchmarks.csv
(`read_rows`, for `python -m profiling.bench_kernels --replot`).

With several batch sizes: the products' GFLOP/s over the batch (one panel per net) above the
speedup of every kernel at batch 64 and 512 (first net). With one batch size (the per-call
products runs): each product and fused layer against np.dot layer by layer (one panel per net,
the 90% bar drawn) above the speedup of every kernel summed over the layers (one panel per net).
"""
from profiling.common import read_csv, save_figure

BAR = 0.9        # issue 10's bar: a product at 90% of np.dot's rate or more


def read_rows(path):
    """The rows of a kernel_benchmarks.csv with the numbers `plot` reads as numbers (batch an int,
    or "" for the batch-independent optimizer rows; flop 0.0 where not counted: the kernels that
    are not products)."""
    rows = read_csv(path)
    for r in rows:
        r["batch"] = int(r["batch"]) if r["batch"] else ""
        r["flop"] = float(r["flop"] or 0.0)
        r["kernel_us"], r["numpy_us"] = float(r["kernel_us"]), float(r["numpy_us"])
    return rows


def _gflops_over_batch(ax, rows, net, dtypes, styles):
    """Products' GFLOP/s summed over a step's layers (total FLOP / total time), per batch size."""
    for dtype in dtypes:
        sel = [r for r in rows if r["net"] == net and r["dtype"] == dtype and r["op"] == "matmul"
               and r["case"].startswith("matmul_")]
        series, seen = {}, set()
        for r in sel:
            entries = [(r["kernel"], r["kernel_us"])]
            key = (r["case"], r["layer"], r["batch"])
            if key not in seen:  # NumPy's time appears once per implementation: count it once
                seen.add(key)
                entries.append(("numpy " + r["case"].replace("matmul_", ""), r["numpy_us"]))
            for who, t in entries:
                f, tt = series.setdefault(who, {}).get(r["batch"], (0.0, 0.0))
                series[who][r["batch"]] = (f + r["flop"], tt + t * 1e-6)
        for who, pts in sorted(series.items()):
            bs = sorted(pts)
            styles.setdefault(who, len(styles))
            ax.plot(bs, [pts[b][0] / pts[b][1] / 1e9 for b in bs], "--" if dtype == "float64" else "-",
                    marker="o", ms=3, color=f"C{styles[who] % 10}", label=f"{who} {dtype}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("GFLOP/s (all layers of one training step)")
    ax.set_title(f"matrix products, net {net}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)


def _ratio_axis(ax, vals):
    """A log x axis for ratios, labelled in plain numbers (0.5, 1, 2) rather than powers of 10."""
    from matplotlib import ticker
    ax.set_xscale("log")
    lo, hi = min(min(vals), BAR) / 1.15, max(max(vals), 1.0) * 1.25
    ax.set_xlim(lo, hi)
    steps = ((0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100) if hi / lo > 12 else
             (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10))   # a few labels that do not touch
    ticks = [t for t in steps if lo <= t <= hi]
    ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _ratio_bars(ax, names, vals, good, label_size):
    """Horizontal bars of ratios (green from `good` up, red below), each with its value, a line
    at 1 and a plain-number log axis: the shared body of the two bar panels."""
    ax.barh(range(len(vals)), vals, color=["C2" if v >= good else "C3" for v in vals])
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=6)
    ax.axvline(1, color="k", lw=0.8)
    _ratio_axis(ax, vals)
    ax.set_yticks(range(len(vals)))
    ax.set_yticklabels(names, fontsize=label_size)
    ax.grid(alpha=0.3, axis="x")


def _per_layer(ax, rows, net, dtype, batch):
    """np.dot's time over the kernel's for every product and fused layer at each layer shape."""
    sel = [r for r in rows if r["net"] == net and r["dtype"] == dtype and r["batch"] == batch
           and r["op"] == "matmul"]
    vals = [r["numpy_us"] / r["kernel_us"] for r in sel]
    _ratio_bars(ax, [f"{r['kernel'].split('.')[-1]}  {r['layer']} {r['shape']}" for r in sel], vals, BAR, 6)
    ax.axvline(BAR, color="k", lw=0.8, ls=":", label=f"{BAR:.0%} of np.dot's rate")
    ax.invert_yaxis()
    ax.set_xlabel("np.dot time / kernel time (> 1: the kernel is faster)")
    met = sum(v >= BAR for v in vals)
    ax.set_title(f"net {net}, {dtype}, batch {batch}: {met} of {len(vals)} at {BAR:.0%} or more")
    ax.legend(fontsize=6, loc="lower right")


def _speedup_bars(ax, rows, net, dtype, batch):
    """Every kernel's NumPy time over its own, summed over the layers (optimizers: no batch)."""
    agg = {}
    for r in rows:
        if r["net"] == net and r["dtype"] == dtype and (r["batch"] == batch or r["batch"] == ""):
            a = agg.setdefault(r["kernel"], [0.0, 0.0])
            a[0] += r["kernel_us"]
            a[1] += r["numpy_us"]
    names = sorted(agg, key=lambda k: agg[k][1] / agg[k][0])
    _ratio_bars(ax, names, [agg[k][1] / agg[k][0] for k in names], 1.0, 7)
    ax.set_xlabel("speedup vs NumPy (NumPy time / kernel time, summed over layers)")
    ax.set_title(f"net {net}, {dtype}, batch {batch} (optimizers: batch-independent)")


def plot(rows, path):
    """Draw the figure described in the module docstring to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = list(dict.fromkeys(r["net"] for r in rows))
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    batches = sorted({int(r["batch"]) for r in rows if r["batch"] != ""})
    cols = max(2, len(nets))
    fig, axes = plt.subplots(2, cols, figsize=(6.5 * cols, 9), squeeze=False)
    if len(batches) == 1:
        for ci, net in enumerate(nets):
            _per_layer(axes[0, ci], rows, net, dtypes[0], batches[0])
            _speedup_bars(axes[1, ci], rows, net, dtypes[0], batches[0])
        used = (len(nets), len(nets))
    else:
        styles = {}
        for ci, net in enumerate(nets):
            _gflops_over_batch(axes[0, ci], rows, net, dtypes, styles)
        pick = [b for b in (64, 512) if b in batches] or batches[:2]
        for ci, batch in enumerate(pick[:cols]):
            _speedup_bars(axes[1, ci], rows, nets[0], dtypes[0], batch)
        used = (len(nets), len(pick[:cols]))
    for row, n in enumerate(used):
        for ci in range(n, cols):
            axes[row, ci].axis("off")
    fig.suptitle("Numba kernels vs NumPy (median of repeats, JIT compile excluded)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
