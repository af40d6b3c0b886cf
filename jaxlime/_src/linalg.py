"""Small dense linear algebra in plain jnp operations, safe inside `shard_map` on CPU.

LAPACK custom calls (potrf, trsm) deadlocked intermittently inside `shard_map` on multi-device
CPU, so the surrogate's solves are written with jnp operations that XLA compiles itself.
"""

import jax
import jax.numpy as jnp

# Pivot block of the blocked sweep: above this size the inverse sweeps blocks of this many
# features with matrix products; at or below it, one feature at a time.
_BLOCK = 32


def spd_inverse(matrix: jax.Array) -> jax.Array:
  """Inverse of a symmetric positive-definite [D, D] matrix (see `spd_inverse_and_pivot`)."""
  return spd_inverse_and_pivot(matrix)[0]


def sweep_inverse(matrix: jax.Array) -> jax.Array:
  """Inverse of a symmetric positive-definite [K, K] matrix, sweeping one feature at a time at
  any K: for batches of small systems, where `spd_inverse`'s blocks of 32 would pad K = 33-63 to
  64 (control variates' per-column systems: with 40 categories, K = 39, an explanation took 3.9
  ms instead of 4.4)."""
  return _sweep_features(matrix)[0]


def spd_inverse_and_pivot(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Inverse of a symmetric positive-definite [D, D] matrix by the sweep operator.

  The sweep operator is Gauss-Jordan elimination on diagonal pivots: stable for positive-definite
  matrices, like Cholesky, whose pivots it shares. Up to 32 features it sweeps one feature at a
  time (a loop of rank-1 updates); above, it sweeps blocks of 32 features, each a small inverse
  and a [D, 32] x [32, D] product, so the D^3 work runs as matrix products (D = 1000: 31 block
  steps instead of 1000 rank-1 steps).

  Args:
    matrix: [D, D] symmetric positive definite.

  Returns:
    [D, D] its inverse, and the smallest pivot [] (Cholesky's smallest squared diagonal: at or
    below a few eps times the largest diagonal entry, the matrix is numerically singular).
  """
  size = matrix.shape[-1]
  if size <= _BLOCK:
    return _sweep_features(matrix)
  num_blocks = -(-size // _BLOCK)
  padded = num_blocks * _BLOCK
  # The identity on the padding keeps the matrix positive definite and separates the padding.
  extended = jnp.eye(padded, dtype=matrix.dtype).at[:size, :size].set(matrix)

  def sweep_block(block, state):
    swept, smallest = state
    start = block * _BLOCK
    rows = jax.lax.dynamic_slice_in_dim(swept, start, _BLOCK, axis=0)  # [B, P]
    pivot_inverse, pivot = _sweep_features(
        jax.lax.dynamic_slice_in_dim(rows, start, _BLOCK, axis=1)
    )
    scaled = pivot_inverse @ rows  # [B, P]: the block's rows times the pivot's inverse.
    # A swept symmetric matrix stays symmetric: the block's columns are its rows transposed.
    swept = swept - rows.T @ scaled
    swept = jax.lax.dynamic_update_slice(swept, scaled, (start, 0))
    swept = jax.lax.dynamic_update_slice(swept, scaled.T, (0, start))
    swept = jax.lax.dynamic_update_slice(swept, -pivot_inverse, (start, start))
    return swept, jnp.minimum(smallest, pivot)

  initial = (extended, jnp.asarray(jnp.inf, matrix.dtype))
  swept, smallest = jax.lax.fori_loop(0, num_blocks, sweep_block, initial)
  return -swept[:size, :size], smallest


def _sweep_features(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Inverse of a symmetric positive-definite [D, D] matrix, sweeping one feature at a time,
  and its smallest pivot."""
  size = matrix.shape[-1]
  index = jnp.arange(size)

  def sweep(k, state):
    swept, smallest = state
    column = swept[:, k]
    pivot = column[k]
    scaled = column / pivot
    swept = swept - jnp.outer(column, scaled)
    swept = jnp.where(index[:, None] == k, scaled[None, :], swept)
    swept = jnp.where(index[None, :] == k, scaled[:, None], swept)
    return swept.at[k, k].set(-1 / pivot), jnp.minimum(smallest, pivot)

  initial = (matrix, jnp.asarray(jnp.inf, matrix.dtype))
  swept, smallest = jax.lax.fori_loop(0, size, sweep, initial)
  return -swept, smallest
