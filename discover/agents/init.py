"""Weight initialisers that never call LAPACK.

Why: flax's (jax's) `orthogonal` initialiser takes the QR decomposition of a Gaussian matrix
with `jnp.linalg.qr`, which XLA:CPU runs as a LAPACK custom call (`lapack_sgeqrf_ffi`). Under
`vmap` (a population of agents) the call is batched, and jaxlib splits the batch over XLA's
intra-op thread pool with `ParallelBatchMap` while the calling thread itself may be a worker of
that pool. On a 2-core machine both workers can end up waiting for sub-tasks queued behind
them: the program never returns and uses no CPU (see experiments/benchmarks/hang_report/README.md).

`orthogonal` below draws the same Gaussian matrix as jax's and orthonormalises its columns by
classical Gram-Schmidt with re-orthogonalisation (CGS2) written in plain XLA ops. A QR
decomposition whose R has a positive diagonal is unique, and jax's initialiser flips signs to
make exactly that one, so both give the same matrix up to float rounding (tested), from the
same (Haar) distribution, without any custom call.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def orthonormal_columns(a: jax.Array) -> jax.Array:
    """Q [n, k] with orthonormal columns and A = Q R, R upper triangular with R_jj > 0; a: [n, k], n >= k.

    Column j is a_j minus its projection on q_1..q_{j-1}, projected out twice (CGS2: the second
    pass removes what rounding left after the first, giving orthogonality to ~float epsilon),
    then normalised. Columns not yet computed are zero, so projecting on all of Q is exact.
    """
    n, k = a.shape
    assert n >= k, (n, k)

    def column(j, q):
        v = a[:, j]
        v = v - q @ (q.T @ v)
        v = v - q @ (q.T @ v)
        return q.at[:, j].set(v / jnp.linalg.norm(v))

    return jax.lax.fori_loop(0, k, column, jnp.zeros_like(a))


def orthogonal(scale: float = 1.0, column_axis: int = -1):
    """Initialiser of (semi-)orthogonal weights, as `jax.nn.initializers.orthogonal(scale)`.

    Returns init(key, shape, dtype=float32) -> scale * W with orthonormal rows or columns
    (whichever side is smaller) after reshaping `shape` to [prod(other axes), shape[column_axis]].
    """

    def init(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError("orthogonal initializer requires at least a 2D shape")
        n_rows, n_cols = math.prod(shape) // shape[column_axis], shape[column_axis]
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        q = orthonormal_columns(jax.random.normal(key, tall, dtype))
        if n_rows < n_cols:
            q = q.T
        q = jnp.reshape(q, tuple(np.delete(shape, column_axis)) + (shape[column_axis],))
        return jnp.asarray(scale, dtype) * jnp.moveaxis(q, -1, column_axis)

    return init
