"""Proximity kernels and distances between interpretable samples.

Dimension names used throughout jaxlime: N instances, S samples per instance, D interpretable
features, F model-input features, L explained labels, C model outputs.
"""

import jax
import jax.numpy as jnp


def exponential_kernel(distances: jax.Array, kernel_width) -> jax.Array:
  """lime's proximity kernel, sqrt(exp(-d^2 / width^2)).

  Args:
    distances: [...] non-negative distances to the instance.
    kernel_width: scalar (may be traced), the kernel width.

  Returns:
    [...] weights in (0, 1], equal to 1 at distance 0.
  """
  distances = jnp.asarray(distances)
  kernel_width = jnp.asarray(kernel_width, dtype=distances.dtype)
  return jnp.exp(-0.5 * jnp.square(distances) / jnp.square(kernel_width))


def kernel_weights(distances: jax.Array, kernel_width, kernel=None) -> jax.Array:
  """[...] weights of samples at distances [...]: kernel(distances, kernel_width), or lime's
  `exponential_kernel` when kernel is None."""
  if kernel is None:
    return exponential_kernel(distances, kernel_width)
  return kernel(distances, kernel_width)


def euclidean_distances(z: jax.Array) -> jax.Array:
  """Euclidean distance of every sample to row 0.

  Args:
    z: [S, D] samples; row 0 is the instance.

  Returns:
    [S] distances, 0 for row 0.
  """
  diff = z - z[0]
  return _safe_sqrt(jnp.sum(diff * diff, axis=-1))


def cosine_distances(z: jax.Array) -> jax.Array:
  """Cosine distance (1 - cosine similarity) of every sample to row 0.

  A sample with no active feature (all zeros) has similarity 0, as scikit-learn's
  `pairwise_distances(metric="cosine")` treats it, so its distance is 1.

  Args:
    z: [S, D] samples; row 0 is the instance.

  Returns:
    [S] distances in [0, 2].
  """
  norms = jnp.sqrt(jnp.sum(z * z, axis=-1))
  dots = z @ z[0]
  denominator = norms * norms[0]
  similarity = jnp.where(denominator > 0, dots / jnp.where(denominator > 0, denominator, 1), 0)
  return jnp.clip(1 - similarity, 0, 2)


# Row length of column-major samples above which reductions over their rows use a product.
_LONG_ROWS = 16_384


def _sum_over_features(values: jax.Array) -> jax.Array:
  """values [D, S] summed over the D features: [S].

  XLA's CPU reduction over the major axis of [D, S] runs 10-20x slower per element once S passes
  about 16K (measured: 0.5 ms at S = 10,000 and 8.3 ms at 20,000 for 4 x 30 rows); above that a
  matrix-vector product sums the rows at its normal speed.
  """
  if values.shape[1] > _LONG_ROWS:
    ones = jnp.ones((1, values.shape[0]), values.dtype)
    return jnp.matmul(ones, values, precision=jax.lax.Precision.HIGHEST)[0]
  return jnp.sum(values, axis=0)


def euclidean_distances_columns(z_columns: jax.Array) -> jax.Array:
  """`euclidean_distances` of column-major samples z_columns [D, S] (column 0 the instance)."""
  diff = z_columns - z_columns[:, :1]
  return _safe_sqrt(_sum_over_features(diff * diff))


def cosine_distances_columns(z_columns: jax.Array) -> jax.Array:
  """`cosine_distances` of column-major samples z_columns [D, S] (column 0 the instance)."""
  norms = jnp.sqrt(_sum_over_features(z_columns * z_columns))
  dots = _sum_over_features(z_columns * z_columns[:, :1])
  denominator = norms * norms[0]
  similarity = jnp.where(denominator > 0, dots / jnp.where(denominator > 0, denominator, 1), 0)
  return jnp.clip(1 - similarity, 0, 2)


def _safe_sqrt(squares: jax.Array) -> jax.Array:
  """sqrt with a zero gradient at 0 (sample 0's distance to itself): jnp.sqrt's is inf there,
  which made jax.grad of an explanation with respect to the instance NaN outside jit."""
  positive = squares > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squares, 1.0)), 0.0)
