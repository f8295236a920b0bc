"""Visual analysis of a trained model on the MNIST test set: hidden activation patterns and
saliency maps.

    python -m analysis                                  # models/best_model.npz
    python -m analysis --model models/other.npz --subset 2000

Writes <plots-dir>/activation_patterns.png, <plots-dir>/saliency_correct.png,
<plots-dir>/saliency_misclassified.png and <results-dir>/activation_stats.json. The model is
already selected (on validation data) when this runs; the test set is only looked at here.
Everything is computed and rendered in memory first and each file is written atomically. A
missing/corrupt model, unavailable data or an unwritable output directory gives one
`error: ...` line on stderr and exit status 2.
"""
from __future__ import annotations

import io
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from network.cli import CLIError, OneLineParser
from network.cli import positive_int as _positive_int

N_PIXELS, N_CLASSES = 784, 10
INK = 0.1  # a pixel with preprocessed value above this counts as ink in the saliency statistics


def build_parser():
    p = OneLineParser(
        prog="python -m analysis",
        description="Hidden activation patterns and saliency maps of a trained model on the "
                    "MNIST test set.",
        epilog="Exit status: 0 on success, 2 on a missing/corrupt model, unavailable MNIST data "
               "or an unwritable output directory (one 'error: ...' line, nothing written).")
    p.add_argument("--model", default="models/best_model.npz",
                   help="model file written by train.py (default: %(default)s)")
    p.add_argument("--data-dir", default=None,
                   help="directory with the four MNIST IDX files, used if MNIST is not cached")
    p.add_argument("--cache-dir", default=None, help="MNIST cache directory")
    p.add_argument("--plots-dir", default="plots", help="where the PNGs go (default: %(default)s)")
    p.add_argument("--results-dir", default="results",
                   help="where activation_stats.json goes (default: %(default)s)")
    p.add_argument("--subset", type=_positive_int, default=None, metavar="N",
                   help="use the first N test images only (default: all 10,000)")
    p.add_argument("--n-examples", type=_positive_int, default=10, metavar="K",
                   help="rows per saliency figure (default: %(default)s; 10 = one correct "
                        "example per digit)")
    p.add_argument("--score", choices=("logit", "log_prob"), default="logit",
                   help="saliency of the class logit z_c (default) or of log p_c")
    p.add_argument("--quiet", action="store_true", help="no data-loading progress on stderr")
    return p


def pick_correct(y, y_pred, k):
    """Up to k correctly classified indices, cycling over the digits (first of each in order)."""
    per_digit = [list(np.flatnonzero((y == d) & (y_pred == d))) for d in range(N_CLASSES)]
    out = []
    while len(out) < k and any(per_digit):
        for lst in per_digit:
            if lst and len(out) < k:
                out.append(int(lst.pop(0)))
    return out


def pick_misclassified(y, y_pred, confidence, k):
    """Up to k misclassified indices, most confident mistakes first."""
    wrong = np.flatnonzero(y != y_pred)
    return [int(i) for i in wrong[np.argsort(-confidence[wrong], kind="stable")][:k]]


def saliency_on_ink(sal, X):
    """Share of each map's total |saliency| that falls on ink pixels (x > INK), averaged."""
    a = np.abs(sal.astype(np.float64))
    tot = a.sum(axis=1)
    share = np.divide((a * (X > INK)).sum(axis=1), tot, out=np.zeros_like(tot), where=tot > 0)
    return float(share.mean())


def dumps_compact(obj):
    """json.dumps with indent 2, except that lists of numbers stay on one line each."""
    text = json.dumps(obj, indent=2, allow_nan=False)
    return re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def _png(draw):
    buf = io.BytesIO()
    draw(buf)
    return buf.getvalue()


def _placeholder(f, text):
    from matplotlib.figure import Figure

    from network.plots import save_figure
    fig = Figure(figsize=(5, 1.5))
    fig.text(0.5, 0.5, text, ha="center", va="center")
    save_figure(fig, f)


def _layer_stats(layer):
    d = {"layer": layer["layer"], "n_units": layer["n_units"],
         "inactive_kind": layer["inactive_kind"], "criterion": layer["inactive_criterion"],
         f"{layer['inactive_kind']}_fraction": layer["inactive_fraction"],
         f"{layer['inactive_kind']}_units": np.flatnonzero(layer["inactive_units"]).tolist(),
         "mean_activation": float(layer["mean"].mean()),
         "units_preferring_digit": np.bincount(layer["preferred_class"][~layer["inactive_units"]],
                                               minlength=N_CLASSES).tolist(),
         "mean_activation_per_digit": np.round(layer["mean_per_class"], 6).tolist()}
    if "zero_fraction" in layer:
        d["zero_fraction"] = layer["zero_fraction"]
    return d


def run(args):
    import analysis as A
    from data import load_test_set
    from network.cli import check_output_dir, load_mnist_model

    plots_dir, results_dir = Path(args.plots_dir), Path(args.results_dir)
    check_output_dir(plots_dir, "--plots-dir")
    check_output_dir(results_dir, "--results-dir")
    t0 = time.perf_counter()
    model = load_mnist_model(args.model, need_hidden=True)
    _, X, y = load_test_set(args.data_dir, args.cache_dir, args.subset, model.dtype, progress=not args.quiet)

    patterns = A.activation_patterns(model, X, y)
    probs = model.predict_proba(X)
    y_pred = np.argmax(probs, axis=1).astype(np.int64)
    conf = probs[np.arange(len(y)), y_pred].astype(np.float64)
    sal_all = A.saliency(model, X, y_pred, score=args.score)  # every image, for the statistics
    good = pick_correct(y, y_pred, args.n_examples)
    bad = pick_misclassified(y, y_pred, conf, args.n_examples)

    pngs = {"activation_patterns.png": _png(lambda f: A.plot_activation_patterns(
        patterns, f, title=f"Hidden activation patterns: {model.activation}, "
                           f"{'-'.join(map(str, model.layer_sizes))}, {len(y)} test images"))}
    if not good:
        pngs["saliency_correct.png"] = _png(lambda f: _placeholder(f, "no correctly classified images"))
    else:
        pngs["saliency_correct.png"] = _png(lambda f: A.plot_saliency(
            X[good], sal_all[good], y[good], y_pred[good], f, score=args.score,
            title="Saliency of correctly classified digits\nred: a brighter pixel raises "
                  "the class score, blue: lowers it"))
    if not bad:
        pngs["saliency_misclassified.png"] = _png(lambda f: _placeholder(f, "no misclassified images"))
    else:
        sal_true = A.saliency(model, X[bad], y[bad], score=args.score)
        pngs["saliency_misclassified.png"] = _png(lambda f: A.plot_saliency(
            X[bad], sal_all[bad], y[bad], y_pred[bad], f, sal_true=sal_true, score=args.score,
            title="Most confident mistakes: saliency of the predicted and of the true class\n"
                  "red: a brighter pixel raises the class score, blue: lowers it"))

    ink_frac = float(np.mean(X > INK))
    stats = {
        "model_path": str(args.model), "layer_sizes": model.layer_sizes,
        "activation": model.activation, "n_images": len(y), "subset": args.subset,
        "test_accuracy": float(np.mean(y_pred == y)),
        "layers": [_layer_stats(layer) for layer in patterns["layers"]],
        "saliency": {"score": args.score, "class": "predicted",
                     "share_of_abs_saliency_on_ink": saliency_on_ink(sal_all, X),
                     "share_of_pixels_that_are_ink": ink_frac, "ink_threshold": INK,
                     "correct_examples": good, "misclassified_examples": bad},
    }
    files = {results_dir / "activation_stats.json": (dumps_compact(stats) + "\n").encode()}
    files.update({plots_dir / name: data for name, data in pngs.items()})

    from network.plots import atomic_write_bytes
    for path, data in files.items():
        try:
            atomic_write_bytes(data, path)
        except OSError as e:
            raise CLIError(f"cannot write {str(path)!r}: {e.strerror or e}") from None

    print(f"Model: {args.model} ({'-'.join(map(str, model.layer_sizes))}, {model.activation}); "
          f"{len(y)} test images, accuracy {stats['test_accuracy']:.2%}")
    for layer in stats["layers"]:
        kind = layer["inactive_kind"]
        extra = f", {layer['zero_fraction']:.1%} of units at 0 per image" if "zero_fraction" in layer else ""
        print(f"  hidden layer {layer['layer']}: {layer[f'{kind}_fraction']:.1%} {kind} "
              f"({len(layer[f'{kind}_units'])} of {layer['n_units']}; {layer['criterion']}){extra}")
    s = stats["saliency"]
    print(f"  saliency ({args.score}): {s['share_of_abs_saliency_on_ink']:.1%} of |gradient| on ink "
          f"pixels, which are {ink_frac:.1%} of all pixels")
    if not good or not bad:
        print(f"  no {'correctly classified' if not good else 'misclassified'} images: "
              "that saliency figure only says so")
    print("Wrote " + ", ".join(map(str, files)) + f" ({time.perf_counter() - t0:.1f} s)")
    return stats


def main(argv=None):
    args = build_parser().parse_args(argv)
    from data import DataError
    from network.cli import run_cli
    from network.io import ModelFileError

    return run_cli(lambda: run(args), errors=(DataError, ModelFileError))


if __name__ == "__main__":
    sys.exit(main())
