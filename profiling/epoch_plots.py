"""The epoch benchmark's plots: epoch times per implementation, and the scaling curves."""
import numpy as np

from profiling.common import save_figure


def plot_epoch(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [r for r in rows if "start" not in r["impl"]]
    start = [r for r in rows if "start" in r["impl"]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    ax = axes[0]
    labels = [f"{r['impl'].replace(' ', chr(10), 1)}\n{r['dtype']}" for r in main]   # "kernels\ntrain_epoch"
    vals = [r["epoch_s"] for r in main]
    colors = ["C0" if r["impl"].startswith("kernels") else "C1" if r["impl"] == "numpy" else "C7" for r in main]
    ax.bar(range(len(main)), vals, color=colors)
    for i, r in enumerate(main):
        txt = f"{r['epoch_s']:.2f} s"
        if r.get("ratio_to_numpy"):
            txt += f"\n{r['ratio_to_numpy']:.2f}x numpy"
        ax.text(i, r["epoch_s"], txt, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(main)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("seconds per epoch (median)")
    ax.margins(y=0.12)                 # room for the tallest bar's label
    if main:
        ax.set_title(f"one epoch: {main[0]['n']} images, batch {main[0]['batch']}, plain SGD, net {main[0]['net']}")
    ax.grid(alpha=0.3, axis="y")
    ax = axes[1]
    if start:
        parts = [("import_s", "import"), ("first_epoch_s", "first epoch (compile/load + train)")]
        bottom = np.zeros(len(start))
        for j, (k, lab) in enumerate(parts):
            v = np.array([r[k] for r in start])
            ax.bar(range(len(start)), v, bottom=bottom, label=lab, color=f"C{j + 2}")
            bottom += v
        for i, r in enumerate(start):
            ax.text(i, bottom[i], f"{r['process_s']:.1f} s process\n2nd epoch {r['second_epoch_s']:.2f} s",
                    ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(start)))
        ax.set_xticklabels([r["impl"].replace("kernels ", "").replace(" (", "\n(") for r in start], fontsize=8)
        ax.set_ylabel("seconds")
        ax.set_title("start-up in a fresh process")
        ax.legend(fontsize=7)
        ax.margins(y=0.25)
    else:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_scaling(batch_rows, width_rows, path, impls=("kernels train_epoch", "numpy")):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    panels = [(batch_rows, "batch", "batch size", "us_per_image", "µs per image"),
              (width_rows, "hidden", "hidden width H (net 784-H-H/2-10)", "step_ms", "ms per step")]
    panels = [p for p in panels if p[0]]
    fig, axes = plt.subplots(2, len(panels), figsize=(6.5 * len(panels), 8), squeeze=False)
    for ci, (rows, key, xlabel, ykey, ylabel) in enumerate(panels):
        for j, impl in enumerate(impls):
            sel = sorted((r for r in rows if r["impl"] == impl), key=lambda r: r[key])
            xs = [r[key] for r in sel]
            axes[0, ci].plot(xs, [r[ykey] for r in sel], marker="o", color=f"C{j}", label=impl)
            if impl != "numpy":
                axes[1, ci].plot(xs, [1 / r["ratio_to_numpy"] for r in sel], marker="o", color=f"C{j}", label=impl)
                busy = [r for r in sel if str(r.get("busy")) == "True"]
                if busy:                          # still busy after every attempt: not a clean figure
                    axes[1, ci].scatter([r[key] for r in busy], [1 / r["ratio_to_numpy"] for r in busy],
                                        s=120, facecolors="none", edgecolors="C3", linewidths=1.5, zorder=3,
                                        label="BUSY (not a clean figure)")
        axes[0, ci].set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel,
                        title=f"training time vs {key} ({rows[0]['dtype']}"
                              + (f", batch {rows[0]['batch']})" if key == "hidden" else ")"))
        axes[1, ci].axhline(1, color="C2", lw=1, ls="--", label="numpy")
        axes[1, ci].set(xscale="log", xlabel=xlabel, ylabel="speedup vs NumPy (NumPy time / time)",
                        title="relative to the NumPy reference")
        xs = sorted({r[key] for r in rows})
        for ax in axes[:, ci]:
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(x) for x in xs])          # 32, 64, ... rather than 2^5, 2^6, ...
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        # plain numbers on the log axis; under a decade of range the minor ticks carry the labels
        ys = [r[ykey] for r in rows]
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        axes[0, ci].yaxis.set_major_formatter(plain)
        axes[0, ci].yaxis.set_minor_formatter(plain if max(ys) < 10 * min(ys) else NullFormatter())
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_startup(timeline, first_epoch_s, helper_ready_s, path):
    """A cold start on two processes as a timeline: one lane per process, a bar per outermost
    compilation (seconds from the first epoch's start), the helper process's span behind its lane,
    and the end of the first epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lanes = {"main": 1, "helper": 0}
    fig, ax = plt.subplots(figsize=(12, 3.6))
    for i, r in enumerate(t for t in timeline if t["kernel"] not in ("first epoch", "helper process")):
        y, w = lanes[r["process"]], r["end_s"] - r["start_s"]
        ax.barh(y, w, left=r["start_s"], height=0.5, color=f"C{i % 10}", edgecolor="white")
        name = r["kernel"].rsplit(".", 1)[-1].lstrip("_")
        if w > 0.085 * len(name):         # label the bars wide enough to hold their name
            ax.text(r["start_s"] + w / 2, y, name, ha="center", va="center", fontsize=6.5)
    for r in timeline:
        if r["kernel"] == "helper process":
            ax.barh(0, r["end_s"] - r["start_s"], left=r["start_s"], height=0.8, color="0.92", zorder=0)
    ax.axvline(first_epoch_s, color="k", ls="--", lw=1)
    ax.text(first_epoch_s, 1.45, f" first epoch done: {first_epoch_s:.1f} s", fontsize=8, va="center")
    helper = [r for r in timeline if r["kernel"] == "helper process"]
    if helper_ready_s and helper:
        ready = helper[0]["start_s"] + helper_ready_s
        ax.plot([ready, ready], [-0.4, 0.4], color="k", lw=1.5)
        ax.text(ready, -0.55, f"its share of the epoch's kernels in the cache ({ready:.1f} s); "
                              "then the inference kernels ", fontsize=8, va="center", ha="right")
    ax.set_yticks([1, 0])
    ax.set_yticklabels(["training process", "helper process"])
    ax.set_ylim(-0.75, 1.7)
    ax.set_xlim(left=min(0.0, min(r["start_s"] for r in timeline)))
    ax.set_xlabel("seconds from the start of the first epoch (each bar: one compilation, with the kernels it compiled)")
    ax.set_title("cold start: compiling on two processes (network/warmup.py)")
    ax.grid(alpha=0.3, axis="x")
    save_figure(fig, path)
    plt.close(fig)
