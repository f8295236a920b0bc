"""Register-tiled microkernels: all the multiply-adds of the fast products and fused layers.

Each computes a block of what a plain kernel of kernels/matmul.py computes, to rounding (sums are
taken in another order); kernels/products.py splits them over threads, kernels/packing.py runs
them on packed copies of large operands, kernels/pairs.py is the table of which equals which.

* Tile (A @ B and A.T @ B): a TILE_ROWS x C block of `out`, C = two vector registers of columns
  (four for float64 on AVX2; kernels/cpu.py: 8 x 32 float32 on AVX-512, 4 x 16 on AVX2), is
  accumulated in a small stack array that LLVM keeps in registers, over the summed index t:
      acc[r, c] += a_r * B[t, j + c]      a_r = A[i + r, t]  (A @ B)   or  A[t, i + r]  (A.T @ B)
  The C columns are contiguous in B, so each step is 2 vector loads, TILE_ROWS broadcasts and
  2 TILE_ROWS fused multiply-adds: every loaded value of B is used TILE_ROWS times from
  registers. No operand is transposed and there is no horizontal sum at the end, so short sums
  (the batch of 64 in a weight gradient) run as fast as long ones. Every output is one sum over
  t in order, whatever the tile's shape, so the tile shape does not change a single bit.
* Dot (A @ B.T): out[i, j] = sum_k A[i, k] * B[j, k] reads two contiguous rows; a block of
  DOT_ROWS x 4 outputs (4 x 4 on AVX-512, 2 x 4 elsewhere) per sweep over k, vectorised by LLVM
  as 16 or 8 vector sums (fastmath lets it reorder each sum) and reduced horizontally once per
  output: best for long sums (784 inputs).

Ragged edges need no special code path: a last row tile re-reads the last row (only real rows
are stored), a last column panel is shifted left to end at the last column (overlapping columns
are recomputed bit-identically and not stored twice), and a B narrower than C columns is copied
into a zero-padded panel.
"""
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.numpy_support import carray

from kernels import cpu
from kernels.runtime import FAST, INNER

TILE_ROWS = cpu.TILE_ROWS                        # rows of the A @ B and A.T @ B register tile (4 or 8)
TILE_ACC = TILE_ROWS * max(cpu.TILE_COLS.values())   # its accumulators (the widest dtype's count)
TILE_INFO = cpu.TILE_INFO
DOT_ROWS = cpu.DOT_ROWS                          # rows of A per sweep of the dot kernel (2 or 4)
_FLAGS = FAST
ZERO = np.int64(0)     # an index argument that is 0 at a call site: a literal 0 would type the callee
                       # (and compile it) a second time, as (.., Literal[int](0), ..) beside the other
                       # call sites' (.., int64, ..)


# ---------------------------------------------------------------------------- register tile
@intrinsic
def _stack_alloc(typingctx, n, dtype):
    """Pointer to n (a compile-time constant) elements of dtype on the stack: an LLVM alloca in
    the function's entry block."""
    if not isinstance(n, types.IntegerLiteral):
        return None
    size, elem = n.literal_value, dtype.dtype

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(elem), size=size)

    return types.CPointer(elem)(n, dtype), codegen


def tile_cols(dtype):
    """Columns of a register tile for arrays of `dtype`: two vector registers' worth (four for
    float64 on AVX2; kernels/cpu.py)."""
    return cpu.TILE_COLS[np.dtype(dtype).itemsize]


@overload(tile_cols, inline="always")
def _tile_cols_compiled(dtype):
    # a literal per dtype at typing time, so every tile index below is a constant from the start
    # and LLVM keeps the tile in registers (computed from A.itemsize at run time, it does not)
    n = cpu.TILE_COLS[dtype.dtype.bitwidth // 8]
    return lambda dtype: n


@njit(inline="always")
def _tile(dtype):
    """The TILE_ROWS x tile_cols accumulator tile, flat: acc[C r + c]. Being a non-escaping stack
    array indexed by constants once the loops over c are vectorised, LLVM keeps it in registers."""
    return carray(_stack_alloc(TILE_ACC, dtype), (TILE_ACC,))


@njit(inline="always")
def _fma_rows(acc, C, Bt, a0, a1, a2, a3, a4, a5, a6, a7):
    """acc[r, c] += a_r * Bt[c] for the tile's rows r < TILE_ROWS and its C columns: per step,
    2 vector loads of B, TILE_ROWS broadcasts and 2 * TILE_ROWS fused multiply-adds."""
    for c in range(C):
        b = Bt[c]
        acc[c] += a0 * b
        acc[C + c] += a1 * b
        acc[2 * C + c] += a2 * b
        acc[3 * C + c] += a3 * b
        if TILE_ROWS > 4:           # compile-time constants: the unused rows compile to nothing
            acc[4 * C + c] += a4 * b
            acc[5 * C + c] += a5 * b
        if TILE_ROWS > 6:
            acc[6 * C + c] += a6 * b
            acc[7 * C + c] += a7 * b


@njit(inline="always")
def _whole(i, i1, js, j0, j1, C):
    """Whether the tile at rows i.., columns js.. is stored whole: all TILE_ROWS rows are below
    i1 and its C columns are exactly j0..j1-1 or within them."""
    return i + TILE_ROWS <= i1 and j0 == js and js + C <= j1


@njit(inline="always")
def _edge_copy(acc, dtype):
    """A copy of the tile in a second stack array, for the ragged-edge store: passed to a call,
    the tile itself would be kept in memory instead of registers around every store."""
    edge = _tile(dtype)
    for c in range(TILE_ACC):
        edge[c] = acc[c]
    return edge


@njit(**INNER)
def _store_edge(acc, C, out, i, i1, js, j0, j1):
    """out[i + r, js + c] = acc[C r + c] for the rows < i1 and the columns in [j0, j1) only: a
    tile on a ragged edge. A whole tile is stored in place by _nn_tiles and _tn_tiles, the same
    four lines in both: an inlined helper taking `out` adds a reference-count call after the
    multiply-adds, and LLVM then spills the tile around it (AVX2 assembly, 2026-12-01)."""
    for r in range(TILE_ROWS):
        if i + r < i1:
            for c in range(C):
                if j0 <= js + c < j1:
                    out[i + r, js + c] = acc[C * r + c]


@njit(inline="always")
def _rows(i, i1):
    """The tile's 8 row numbers from i, the ones past the block's last row i1 - 1 clamped to it
    (re-read, never stored); rows beyond TILE_ROWS are unused."""
    l = i1 - 1
    return (i, min(i + 1, l), min(i + 2, l), min(i + 3, l), min(i + 4, l), min(i + 5, l),
            min(i + 6, l), min(i + 7, l))


@njit(**INNER)
def _nn_tiles(A, B, bj, out, i0, i1, js, j0, j1):
    """out[i0:i1, j0:j1] = (A[i0:i1] @ B[:, bj:bj+C])[:, j0-js:j1-js]: one C-column panel, which is
    out's columns js..js+C-1 (j0..j1-1 of them are stored). For every TILE_ROWS rows of A:
    acc[r, c] += A[i + r, t] * B[t, bj + c] over t = 0..K-1."""
    K = A.shape[1]
    C = tile_cols(A.dtype)
    acc = _tile(A.dtype)
    for i in range(i0, i1, TILE_ROWS):
        r0, r1, r2, r3, r4, r5, r6, r7 = _rows(i, i1)
        for c in range(TILE_ROWS * C):
            acc[c] = 0.0
        for t in range(K):
            _fma_rows(acc, C, B[t, bj:bj + C], A[r0, t], A[r1, t], A[r2, t], A[r3, t],
                      A[r4, t], A[r5, t], A[r6, t], A[r7, t])
        if _whole(i, i1, js, j0, j1, C):   # stored here, straight from the registers
            for r in range(TILE_ROWS):     # (unsigned indices: no negative-index wraparound,
                for c in range(C):         # so LLVM sees a row's C outputs as adjacent)
                    out[np.uint64(i + r), np.uint64(js + c)] = acc[C * r + c]
        else:
            _store_edge(_edge_copy(acc, A.dtype), C, out, i, i1, js, j0, j1)


@njit(**INNER)
def _tn_tiles(A, ia, B, bj, out, i0, i1, js, j0, j1):
    """out[i0:i1, j0:j1] = (A[:, i0-ia:i1-ia].T @ B[:, bj:bj+C])[:, j0-js:j1-js], as _nn_tiles:
    acc[r, c] += A[t, i - ia + r] * B[t, bj + c] over the shared index t = 0..N-1. Out's row i
    is A's column i - ia: ia = 0, but for a packed A whose column 0 is out's row ia."""
    N = A.shape[0]
    C = tile_cols(A.dtype)
    acc = _tile(A.dtype)
    for i in range(i0, i1, TILE_ROWS):
        r0, r1, r2, r3, r4, r5, r6, r7 = _rows(i - ia, i1 - ia)
        for c in range(TILE_ROWS * C):
            acc[c] = 0.0
        for t in range(N):
            _fma_rows(acc, C, B[t, bj:bj + C], A[t, r0], A[t, r1], A[t, r2], A[t, r3],
                      A[t, r4], A[t, r5], A[t, r6], A[t, r7])
        if _whole(i, i1, js, j0, j1, C):   # stored here, straight from the registers
            for r in range(TILE_ROWS):     # (unsigned indices: no negative-index wraparound,
                for c in range(C):         # so LLVM sees a row's C outputs as adjacent)
                    out[np.uint64(i + r), np.uint64(js + c)] = acc[C * r + c]
        else:
            _store_edge(_edge_copy(acc, A.dtype), C, out, i, i1, js, j0, j1)


@njit(**_FLAGS)
def nn_block(A, B, out, i0, i1, j0, j1):
    """out[i0:i1, j0:j1] = A[i0:i1] @ B[:, j0:j1].  A (N,K), B (K,M) with M >= C, out (N,M').

    Equals the same block of `matmul_nn(A, B, out)`. For every C-column panel of B and every
    TILE_ROWS rows of A: acc[r, c] += A[i + r, t] * B[t, js + c] over t = 0..K-1.
    """
    M = B.shape[1]
    C = tile_cols(A.dtype)
    for jp in range(j0, j1, C):
        js = min(jp, M - C)                    # a last partial panel is shifted left
        _nn_tiles(A, B, js, out, i0, i1, js, jp, min(jp + C, j1))


@njit(**_FLAGS)
def tn_block(A, B, out, i0, i1, j0, j1):
    """out[i0:i1, j0:j1] = (A.T @ B)[i0:i1, j0:j1].  A (N,K), B (N,M) with M >= C, out (K,M').

    Equals the same block of `matmul_tn(A, B, out)`: acc[r, c] += A[t, i + r] * B[t, js + c]
    over the shared index t = 0..N-1 (the batch, for a weight gradient).
    """
    M = B.shape[1]
    C = tile_cols(A.dtype)
    for jp in range(j0, j1, C):
        js = min(jp, M - C)
        _tn_tiles(A, ZERO, B, js, out, i0, i1, js, jp, min(jp + C, j1))


@njit(**INNER)
def _wide(B):
    """B itself if it has at least C columns (a tile's width), else a copy zero-padded to C."""
    C = tile_cols(B.dtype)
    if B.shape[1] >= C:
        return B
    Bp = np.zeros((B.shape[0], C), B.dtype)
    for i in range(B.shape[0]):
        for j in range(B.shape[1]):
            Bp[i, j] = B[i, j]
    return Bp


# ------------------------------------------------------------------------ dot microkernel
NT_ROWS = 64
"""Rows of A per block of nt_block: a block (64 x 784 float32: 200 KB) stays in L2 while the four
rows of B of every group pass over it, so a large A (a batch of 1024) is read from L3 once per
panel instead of once per group of 4 columns."""


@njit(**_FLAGS)
def nt_block(A, B, out, j0, j1):
    """out[:, j0:j1] = A @ B[j0:j1].T, in DOT_ROWS x 4 register blocks.  A (N,K), B (M,K), out (N,M).

    Equals `matmul_nt(A, B, out)` on columns j0..j1-1. For each block of NT_ROWS rows of A and
    each 4 rows of B it sweeps the block's rows DOT_ROWS at a time (kernels/cpu.py: 4 on AVX-512,
    else 2); the sums of a block are vector registers (the k loop is vectorised).
    """
    N, K = A.shape
    zero = A.dtype.type(0.0)
    for ib in range(0, N, NT_ROWS):
        ie = min(N, ib + NT_ROWS)
        j = j0
        while j + 4 <= j1:
            for i in range(ib, ie, DOT_ROWS):
                i1 = min(i + 1, ie - 1)        # past the block's last row: its last row again
                i2 = min(i + 2, ie - 1)        # (rows 2 and 3 only when DOT_ROWS is 4: a
                i3 = min(i + 3, ie - 1)        # compile-time constant, the rest compiles to nothing)
                s00 = s01 = s02 = s03 = zero
                s10 = s11 = s12 = s13 = zero
                s20 = s21 = s22 = s23 = zero
                s30 = s31 = s32 = s33 = zero
                for k in range(K):
                    b0 = B[j, k]
                    b1 = B[j + 1, k]
                    b2 = B[j + 2, k]
                    b3 = B[j + 3, k]
                    s00, s01, s02, s03 = _fma4(A[i, k], b0, b1, b2, b3, s00, s01, s02, s03)
                    s10, s11, s12, s13 = _fma4(A[i1, k], b0, b1, b2, b3, s10, s11, s12, s13)
                    if DOT_ROWS > 2:
                        s20, s21, s22, s23 = _fma4(A[i2, k], b0, b1, b2, b3, s20, s21, s22, s23)
                        s30, s31, s32, s33 = _fma4(A[i3, k], b0, b1, b2, b3, s30, s31, s32, s33)
                if DOT_ROWS > 2:               # last rows first: a repeated row ends with its own sums
                    _store4(out, i3, j, s30, s31, s32, s33)
                    _store4(out, i2, j, s20, s21, s22, s23)
                _store4(out, i1, j, s10, s11, s12, s13)
                _store4(out, i, j, s00, s01, s02, s03)
            j += 4
        while j < j1:                          # the last 1-3 columns
            for i in range(ib, ie):
                s = zero
                for k in range(K):
                    s += A[i, k] * B[j, k]
                out[i, j] = s
            j += 1


@njit(inline="always")
def _fma4(a, b0, b1, b2, b3, s0, s1, s2, s3):
    """One row of A's term against 4 rows of B: the block's 4 sums of that row, each + a * b_c."""
    return s0 + a * b0, s1 + a * b1, s2 + a * b2, s3 + a * b3


@njit(inline="always")
def _store4(out, i, j, s0, s1, s2, s3):
    out[i, j] = s0
    out[i, j + 1] = s1
    out[i, j + 2] = s2
    out[i, j + 3] = s3
