"""The instruction set the kernels are compiled for, and the register-tile shapes chosen for it.

Numba compiles for the host CPU unless NUMBA_CPU_NAME / NUMBA_CPU_FEATURES name another (so one
machine can build and measure the AVX2 path: NUMBA_CPU_NAME=haswell
NUMBA_CPU_FEATURES=+avx,+avx2,+fma,+f16c,+popcnt,+sse4.2,...). The features Numba compiles with are
read the way Numba reads them, so the tile shapes below always match the code being generated.

Shapes (chosen by measurement, see profiling/README.md): a tile of the A @ B and A.T @ B kernels
is TILE_ROWS rows by two vector registers of columns, so it holds 2 * TILE_ROWS accumulators;
a core with two FMA units of 4-cycle latency needs 8 or more independent ones to stay busy, and
the tile plus the two loaded B vectors and a broadcast must fit in the register file:
    avx512  32 zmm registers  8 rows x 2 vectors = 16 accumulators   (float32: 8 x 32)
    avx2    16 ymm registers  4 rows x 2 vectors =  8 accumulators   (float32: 4 x 16)
    sse     16 xmm registers  4 rows x 2 vectors =  8 accumulators   (float32: 4 x 8)
On AVX2 a 6-row tile (12 accumulators + 2 B vectors + a broadcast = 15 of 16 registers) leaves
LLVM no room: it spills, and measured 2026-11-30 (AMD EPYC Zen 4 compiled for haswell, one thread,
float32, 64x128 @ 128x784 and its A.T @ B twin) it ran at 41 and 38 GFLOP/s against 88-91 and
73-77 for the 4-row tile.
Columns are two vectors' worth, except float64 on AVX2: a tile of 8 columns (2 ymm) is vectorised by
LLVM over the summed index instead, with the accumulators in stack memory (a load and a store
around every FMA): 21 and 8 GFLOP/s (A @ B, A.T @ B, one thread, same shapes); 16 columns (4 ymm,
16 accumulators) run at 22-27 and 21-26. 12 columns behaved like 8.
The dot-product kernel (A @ B.T, kernels/tiles.py nt_block) sums DOT_ROWS rows of A against 4 rows of
B at a time, each sum a vector register: 4 x 4 = 16 sums on AVX-512, 2 x 4 = 8 elsewhere. Measured
2026-12-01 (AMD EPYC Zen 4, one thread, float32, 64x784 @ (128x784).T and (64x784).T, medians of 5):
on AVX-512 4 x 4 ran at 102 and 92 GFLOP/s against 81 and 76 for 2 x 4 (8 loads per 16 multiply-
adds instead of 6 per 8, and 784 sums without a remainder loop); compiled for haswell it spills
(61 and 64 against 92 and 100), so AVX2 keeps 2 x 4. Equal at 64x128 @ (64x128).T (70 and 70).

Packing (kernels/packing.py): float32 products of at least PACK_MIN_FLOP = 2^25 flops (32 MFLOP,
e.g. a 64 x 1024 x 256 layer product) copy their operands into contiguous panels on AVX2 and SSE
(1.8-2.8x faster at 64 x 1024 x 2048 on the AVX2 path); never on AVX-512, where it measured no
faster, nor for float64, whose AVX2 tile is register-bound (packed: 15-17 GFLOP/s against 17-29).
The SSE settings (tile 4 x 8 float32 and 4 x 4 float64, packing as on AVX2) were not measured
(no SSE-only machine was at hand).
"""
_SHAPES = {  # isa: (vector bytes, tile rows, {item size: tile columns}, {item size: pack from}, dot rows)
    "avx512": (64, 8, {4: 32, 8: 16}, {4: 0, 8: 0}, 4),
    "avx2": (32, 4, {4: 16, 8: 16}, {4: 1 << 25, 8: 0}, 2),
    "sse": (16, 4, {4: 8, 8: 4}, {4: 1 << 25, 8: 0}, 2),
}


def compile_features():
    """The feature string Numba compiles with: its code generator's, once built (kernels/runtime.py
    builds it at import, adding '-prefer-256-bit' on AVX-512 hosts), else NUMBA_CPU_FEATURES if
    set, else the host's."""
    from numba.core import config, registry
    if "_toplevel_target_context" in vars(registry.cpu_target):
        features = getattr(registry.cpu_target.target_context.codegen(), "_tm_features", None)
        if features:
            return features
    if config.CPU_FEATURES is not None:
        return config.CPU_FEATURES
    from numba.core.codegen import get_host_cpu_features
    return get_host_cpu_features()


def isa(features=None):
    """'avx512', 'avx2' or 'sse' for a feature string like '+avx2,+fma,-avx512f,...'."""
    feats = set((compile_features() if features is None else features).split(","))
    if "+avx512f" in feats:
        return "avx512"
    if "+avx2" in feats and "+fma" in feats:
        return "avx2"
    return "sse"


ISA = isa()
WIDE = "-prefer-256-bit" in compile_features().split(",")   # AVX-512 CPUs: 512-bit vectors forced
VECTOR_BYTES, TILE_ROWS, TILE_COLS, PACK_MIN_FLOP, DOT_ROWS = _SHAPES[ISA]
TILE_INFO = (f"{ISA}: A @ B and A.T @ B tiles of {TILE_ROWS} rows "
             f"({TILE_ROWS} x {TILE_COLS[4]} float32, {TILE_ROWS} x {TILE_COLS[8]} float64); "
             f"A @ B.T blocks of {DOT_ROWS} x 4 dot products; "
             + ("512-bit vectors (-prefer-256-bit); " if WIDE else "")
             + (f"float32 products from {PACK_MIN_FLOP[4] >> 20} MFLOP packed" if PACK_MIN_FLOP[4]
                else "operands never packed"))
