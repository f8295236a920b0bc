"""Packed products: the tile kernels of kernels/tiles.py reading contiguous copies of their
operands, for large products on CPUs where that pays (kernels/cpu.py PACK_MIN_FLOP).

A C-column panel of a wide B (K,M) is K pieces of C values, each a row of B apart (a page or more
once M >= 1024 float32): read in place, every row tile of the panel fetches them again from L2
through the TLB, and the hardware prefetcher, which stops at page boundaries, does not help. The
packed kernels copy the panel into one contiguous (K,C) buffer first and run the same tile loop
on it (for A.T @ B, also A's columns of the block). The sums are the same, in the same order:
nn_packed_block equals nn_block and tn_packed_block equals tn_block bit for bit.

Measured 2026-11-30 on the AMD EPYC (Zen 4), 2 threads, float32, GFLOP/s, not packed -> packed,
two alternating processes each:
    AVX2 path   linear_input_grad 64x1024 @ 1024x2048      55-57 -> 155-156
                matmul_tn_fast (2048x64) @ (64x1024)      71-78 -> 141-143
                matmul_tn_fast (128x1024) @ (1024x784)   109-155 -> 169-171
    AVX-512     packing was slower or no faster at every shape tried (its 8-row tile reads each
                loaded B vector 8 times, so B's reads matter half as much): never packed
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from kernels import cpu
from kernels.runtime import FAST, INNER
from kernels.tiles import ZERO, _nn_tiles, _tn_tiles, nn_block, tile_cols, tn_block

_FLAGS = FAST


@njit(**INNER)
def _pack_panel(B, js, Bp):
    """Bp[t, c] = B[t, js + c]: the C-column panel of B (K,M) from column js, made contiguous
    in Bp (K',C): the first K' <= K rows (the ones the product sums over). C is Bp's width: a
    tile's, or a block's rows of A for tn_packed_block."""
    C = Bp.shape[1]
    for t in range(Bp.shape[0]):
        src = B[t, js:js + C]
        dst = Bp[t]
        for c in range(C):
            dst[c] = src[c]


@njit(**_FLAGS)
def nn_packed_block(A, B, out, i0, i1, j0, j1):
    """nn_block with each C-column panel of B copied to a contiguous buffer first (bit for bit
    the same sums). A panel of a wide B is K short pieces, each a page or more apart: read in
    place, every row tile fetches them again from L2 through the TLB. Packed, the tile reads
    one stream; the copy costs K*C moves against (i1-i0)*K*C multiply-adds. A (N,K), B (K,M)
    with M >= C."""
    K = A.shape[1]
    M = B.shape[1]
    C = tile_cols(A.dtype)
    Bp = np.empty((K, C), B.dtype)
    for jp in range(j0, j1, C):
        js = min(jp, M - C)
        _pack_panel(B, js, Bp)
        _nn_tiles(A, Bp, ZERO, out, i0, i1, js, jp, min(jp + C, j1))


@njit(**_FLAGS)
def tn_packed_block(A, B, out, i0, i1, j0, j1):
    """tn_block with A's columns i0..i1-1 and each C-column panel of B copied to contiguous
    buffers first (bit for bit the same sums): consecutive steps of the sum then read A's values
    i1 - i0 apart instead of a row of A apart (a page or more for a wide A), and B is read as in
    nn_packed_block. A (N,K), B (N,M) with M >= C."""
    N = A.shape[0]
    M = B.shape[1]
    C = tile_cols(A.dtype)
    Ap = np.empty((N, i1 - i0), A.dtype)
    _pack_panel(A, i0, Ap)                     # A's columns i0..i1-1
    Bp = np.empty((N, C), B.dtype)
    for jp in range(j0, j1, C):
        js = min(jp, M - C)
        _pack_panel(B, js, Bp)
        _tn_tiles(Ap, i0, Bp, ZERO, out, i0, i1, js, jp, min(jp + C, j1))


@njit(inline="always")
def _packs(A, B):
    """Whether the tile kernels should pack their operands for the product of A (N,K) and
    B (K or N, M) on this CPU: when it has at least cpu.PACK_MIN_FLOP[itemsize] flops (0: never)."""
    n = pack_min_flop(A.dtype)
    return n > 0 and 2 * A.shape[0] * A.shape[1] * B.shape[1] >= n


def _nn_auto(A, B, out, i0, i1, j0, j1, pack):
    """nn_packed_block if pack and `_packs(A, B)`, else nn_block (the products and layers call
    this). pack: True, or None where no product the caller runs is large enough to pack (then
    the packed kernel is not compiled: see _choose)."""
    (nn_packed_block if pack and _packs(A, B) else nn_block)(A, B, out, i0, i1, j0, j1)


def _tn_auto(A, B, out, i0, i1, j0, j1, pack):
    """tn_packed_block if pack and `_packs(A, B)`, else tn_block."""
    (tn_packed_block if pack and _packs(A, B) else tn_block)(A, B, out, i0, i1, j0, j1)


def _choose(plain, packed):
    """The compiled body of _nn_auto / _tn_auto, chosen when typed: where this CPU never packs a
    dtype, or pack is None (`may_pack`), `packed` is not compiled at all (the packed kernels
    cost about 2 s of a cold start on AVX-512, and 1-1.5 s on AVX2)."""
    def typed(A, B, out, i0, i1, j0, j1, pack):
        if pack_min_flop(A.dtype) == 0 or isinstance(pack, types.NoneType):
            return lambda A, B, out, i0, i1, j0, j1, pack: plain(A, B, out, i0, i1, j0, j1)

        def either(A, B, out, i0, i1, j0, j1, pack):
            if pack and _packs(A, B):
                packed(A, B, out, i0, i1, j0, j1)
            else:
                plain(A, B, out, i0, i1, j0, j1)
        return either
    return typed


overload(_nn_auto, inline="always")(_choose(nn_block, nn_packed_block))
overload(_tn_auto, inline="always")(_choose(tn_block, tn_packed_block))


def may_pack(sizes, batch, dtype):
    """True if a layer product of a network with these layer sizes (n_0..n_L) on batches of
    `batch` rows reaches this CPU's packing size for `dtype` (the forward product and both
    gradients of layer l are 2 * batch * n_l * n_{l+1} flops), else None: the layer kernels the
    epoch calls are then compiled without the packed kernels."""
    n = pack_min_flop(dtype)
    big = max(2 * int(batch) * int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    return True if n > 0 and big >= n else None


def pack_min_flop(dtype):
    """Products of at least this many flops pack their operands (kernels/cpu.py; 0: never).
    dtype: a NumPy dtype, or a Numba type (when typing)."""
    bits = getattr(dtype, "bitwidth", None)
    return cpu.PACK_MIN_FLOP[bits // 8 if bits else np.dtype(dtype).itemsize]


@overload(pack_min_flop, inline="always")
def _pack_min_flop_compiled(dtype):
    n = cpu.PACK_MIN_FLOP[dtype.dtype.bitwidth // 8]
    return lambda dtype: n
