"""The fast matrix products: the microkernels of kernels/tiles.py split over threads.

    matmul_nn_fast   out = A @ B       tile kernel, threads split the columns of out
    matmul_tn_fast   out = A.T @ B     tile kernel, threads split the rows of out
    matmul_nt_fast   out = A @ B.T     dot-product kernel (short sums: B.T packed, then the tile)

Threads (`prange`) split `out` into panels of PANEL units (ROW_PANEL rows for a large A.T @ B);
every output is summed by one thread in a fixed order, so results do not depend on the thread
count. Products below PARALLEL_MIN_FLOP run on one thread. Large products pack their operands
into contiguous panels first where the CPU gains from it (kernels/packing.py). Each equals the
plain kernel of kernels/matmul.py it is paired with in kernels/pairs.py, to rounding.
"""
import numpy as np
from numba import njit, prange

from kernels.cpu import TILE_COLS
from kernels.runtime import FAST, INNER
from kernels.packing import _nn_auto, _tn_auto
from kernels.tiles import ZERO, _wide, nt_block

PANEL = max(16, *TILE_COLS.values())   # columns (A @ B) or rows (A.T @ B, A @ B.T) per parallel
                                       # task: at least a whole tile width, for every dtype
ROW_PANEL = 64                 # rows of out per task for A.T @ B once there are two such panels:
                               # a task reuses each panel of B over more row tiles
SHORT_SUM = 128                # A @ B.T with fewer terms per sum goes through the tile kernel
PARALLEL_MIN_FLOP = 1 << 20    # 1 MFLOP (~10 us on one core): smaller products stay on one thread,
                               # which beats two once the data moving between cores is counted;
                               # a 64x128x64 layer (1 MFLOP) gains from two: weight gradient
                               # 10-11 us against 14-16 us (profiling/README.md)
_FLAGS = FAST


# ---------------------------------------------------------------------- plain products
@njit(**INNER)
def _check_product(N, K, K2, M, No, Mo):
    """The shapes of an (N,K) x (K2,M) product written into (No,Mo) must agree: the kernels do
    not check bounds, so a mismatch would read and write past the arrays."""
    if K != K2 or No != N or Mo != M:
        raise ValueError("matrix shapes do not match for this product")


@njit(**INNER)
def _threads_for(N, K, M):
    """Whether an (N,K) x (K,M) product is worth splitting over threads by panels of M."""
    return 2 * N * K * M >= PARALLEL_MIN_FLOP and M > PANEL


@njit(inline="always")
def _row_panel(K):
    """Rows of an A.T @ B output (K rows) per parallel task."""
    return ROW_PANEL if K >= 2 * ROW_PANEL else PANEL


@njit(parallel=True, **INNER)
def _nn_parallel(A, B, out):
    M = out.shape[1]
    for p in prange((M + PANEL - 1) // PANEL):
        _nn_auto(A, B, out, ZERO, A.shape[0], p * PANEL, min(M, (p + 1) * PANEL), True)


@njit(**_FLAGS)
def matmul_nn_fast(A, B, out):
    """out = A @ B.  A (N,K), B (K,M), out (N,M).  Equals `matmul_nn`.

    The register-tile kernel; split over threads by PANEL-column panels of out when large enough.
    """
    _check_product(A.shape[0], A.shape[1], B.shape[0], B.shape[1], out.shape[0], out.shape[1])
    N, K = A.shape
    M = B.shape[1]
    Bw = _wide(B)
    if _threads_for(N, K, M):
        _nn_parallel(A, Bw, out)
    else:
        _nn_auto(A, Bw, out, ZERO, N, ZERO, M, True)


@njit(parallel=True, **INNER)
def _tn_parallel(A, B, out):
    K = out.shape[0]
    P = _row_panel(K)
    for p in prange((K + P - 1) // P):
        _tn_auto(A, B, out, p * P, min(K, (p + 1) * P), ZERO, out.shape[1], True)


@njit(**_FLAGS)
def matmul_tn_fast(A, B, out):
    """out = A.T @ B.  A (N,K), B (N,M), out (K,M).  Equals `matmul_tn`.

    The register-tile kernel; split over threads by panels of rows of out when large enough.
    """
    _check_product(A.shape[1], A.shape[0], B.shape[0], B.shape[1], out.shape[0], out.shape[1])
    N, K = A.shape
    M = B.shape[1]
    Bw = _wide(B)
    if _threads_for(N, M, K):
        _tn_parallel(A, Bw, out)
    else:
        _tn_auto(A, Bw, out, ZERO, K, ZERO, M, True)


@njit(parallel=True, **INNER)
def _nt_parallel(A, B, out):
    M = B.shape[0]
    for p in prange((M + PANEL - 1) // PANEL):
        nt_block(A, B, out, p * PANEL, min(M, (p + 1) * PANEL))


@njit(**_FLAGS)
def transpose(A, out):
    """out = A.T (a copy).  A (N,M), out (M,N). Four rows of A at a time: four sequential read
    streams, four adjacent elements written per row of out."""
    N, M = A.shape
    i = 0
    while i + 4 <= N:
        for j in range(M):
            out[j, i] = A[i, j]
            out[j, i + 1] = A[i + 1, j]
            out[j, i + 2] = A[i + 2, j]
            out[j, i + 3] = A[i + 3, j]
        i += 4
    for r in range(i, N):
        for j in range(M):
            out[j, r] = A[r, j]


@njit(**_FLAGS)
def matmul_nt_fast(A, B, out):
    """out = A @ B.T.  A (N,K), B (M,K), out (N,M).  Equals `matmul_nt`.

    The dot-product kernel (DOT_ROWS x 4 blocks), split over threads by PANEL-column panels of out
    when large enough.
    Sums shorter than SHORT_SUM terms lose too much to the final horizontal additions: then B.T
    is packed once (K*M copies) and the tile kernel computes A @ (B.T).
    """
    _check_product(A.shape[0], A.shape[1], B.shape[1], B.shape[0], out.shape[0], out.shape[1])
    N, K = A.shape
    M = B.shape[0]
    if K < SHORT_SUM:
        BT = np.empty((K, M), B.dtype)
        transpose(B, BT)
        matmul_nn_fast(A, BT, out)
    elif _threads_for(N, K, M):
        _nt_parallel(A, B, out)
    else:
        nt_block(A, B, out, ZERO, M)

