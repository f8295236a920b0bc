"""Matrix products and the fully connected layer, as plain explicit loops.

These are the readable reference kernels: one loop per index of the math, in the loop order that
walks memory contiguously. `kernels/fast.py` holds the register-blocked, multi-threaded versions;
the tests hold the two to each other and both to NumPy.

Layouts training needs (row-major, C-contiguous):
    forward            Y  = X  @ W      (N,K) @ (K,M)   -> (N,M)   matmul_nn
    backward, input    dX = dY @ W.T    (N,M) @ (K,M).T -> (N,K)   matmul_nt
    backward, weights  dW = X.T @ dY    (N,K).T @ (N,M) -> (K,M)   matmul_tn
"""
from numba import njit


@njit(cache=True)
def matmul_nn(A, B, out):
    """out = A @ B.  A (N,K), B (K,M), out (N,M).

    out[i, j] = sum_k A[i, k] * B[k, j]; loop order i-k-j so the inner loop runs along rows of
    B and out (contiguous).
    """
    N, K = A.shape
    M = B.shape[1]
    for i in range(N):
        for j in range(M):
            out[i, j] = 0.0
        for k in range(K):
            a = A[i, k]
            for j in range(M):
                out[i, j] += a * B[k, j]


@njit(cache=True)
def matmul_nt(A, B, out):
    """out = A @ B.T.  A (N,M), B (K,M), out (N,K).

    out[i, k] = sum_j A[i, j] * B[k, j]: a dot product of two contiguous rows.
    """
    N, M = A.shape
    K = B.shape[0]
    for i in range(N):
        for k in range(K):
            s = A.dtype.type(0.0)
            for j in range(M):
                s += A[i, j] * B[k, j]
            out[i, k] = s


@njit(cache=True)
def matmul_tn(A, B, out):
    """out = A.T @ B.  A (N,K), B (N,M), out (K,M).

    out[k, j] = sum_n A[n, k] * B[n, j]; loop order n-k-j (rank-1 updates, contiguous inner loop).
    """
    N, K = A.shape
    M = B.shape[1]
    for k in range(K):
        for j in range(M):
            out[k, j] = 0.0
    for n in range(N):
        for k in range(K):
            a = A[n, k]
            for j in range(M):
                out[k, j] += a * B[n, j]


@njit(cache=True)
def bias_forward(b, out):
    """out += b, broadcast over rows.  b (M,), out (N,M)."""
    N, M = out.shape
    for i in range(N):
        for j in range(M):
            out[i, j] += b[j]


@njit(cache=True)
def bias_backward(dY, db):
    """db = sum over the batch of dY.  dY (N,M), db (M,):  db[j] = sum_i dY[i, j]."""
    N, M = dY.shape
    for j in range(M):
        db[j] = 0.0
    for i in range(N):
        for j in range(M):
            db[j] += dY[i, j]


@njit(cache=True)
def linear_forward(X, W, b, out):
    """Fully connected layer: out = X @ W + b.  X (N,K), W (K,M), b (M,), out (N,M)."""
    matmul_nn(X, W, out)
    bias_forward(b, out)


@njit(cache=True)
def linear_backward(X, W, dY, dX, dW, db, need_dx):
    """Gradients of out = X @ W + b given dY = dL/d(out).

        dW = X.T @ dY   (K,M)     db = sum_i dY[i, :]   (M,)     dX = dY @ W.T   (N,K)

    X (N,K), W (K,M), dY (N,M). dX is skipped when need_dx is False (the first layer: nothing
    upstream needs the gradient of the input images).
    """
    matmul_tn(X, dY, dW)
    bias_backward(dY, db)
    if need_dx:
        matmul_nt(dY, W, dX)
