"""python -m data: fetch, verify and cache MNIST; print what was loaded."""
import sys
import time
import warnings

from data.cache import cache_path, default_cache_dir
from data.load import load_mnist
from data.verify import DataError


def main(argv=None) -> int:
    from network.cli import OneLineParser
    p = OneLineParser(prog="python -m data",
                      description="Fetch, verify and cache MNIST; print what was loaded. Writes only the "
                                  "cache file <cache dir>/mnist.npz. Exit status 2 on unusable data.")
    p.add_argument("--data-dir", help="directory with the four MNIST IDX files (raw or .gz), read and verified")
    p.add_argument("--cache-dir", help=f"cache directory (default: {default_cache_dir()})")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    warnings.formatwarning = lambda message, category, *a, **k: f"warning: {message}\n"
    try:
        (xtr, ytr), (xte, yte) = load_mnist(args.data_dir, args.cache_dir, progress=not args.quiet)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    print(f"train: images {xtr.shape} {xtr.dtype}, labels {ytr.shape} {ytr.dtype}")
    print(f"test:  images {xte.shape} {xte.dtype}, labels {yte.shape} {yte.dtype}")
    print(f"verified against the canonical SHA-256s; cache: {cache_path(args.cache_dir)}; {dt:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
