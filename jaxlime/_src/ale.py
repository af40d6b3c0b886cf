"""One-way accumulated local effects (ALE, Apley & Zhu 2020) of a continuous feature.

The definition PyALE (`aleplot_1D_continuous`) and alibi use: the column's range is cut at
quantiles into bins (b_0, b_1], ..., (b_{K-1}, b_K] (the first one closed), each row n in bin k
gives the local difference f(x_n with x_j = b_{k+1}) - f(x_n with x_j = b_k), the mean
difference of each bin is accumulated from b_0 (where the effect is 0), and the curve is
centred so that its bin-size-weighted mean over the data is 0: the constant subtracted is
sum_k n_k (A(b_k) + A(b_{k+1})) / 2 / N, the mean of each bin's midpoint effect. Unlike the
partial dependence, the model is only evaluated near each row's own value, so correlated
features do not bias it.

The quantiles are PyALE's (`quantile_ied`): for q in linspace(0, 1, K + 1) and the column
sorted as s_0 <= ... <= s_{N-1}, with t = (N - 1) q, the edge is s_{floor(t)} when t is not an
integer and s_{t - 1} when it is (s_0 at q = 0 and s_{N-1} at q = 1); repeated edges are merged.
Every edge is then a value of the column, so no bin is empty.

Dimensions: N rows, F model-input columns, C model outputs, K bins (K + 1 edges).
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import checks
from jaxlime._src import models
from jaxlime._src import partial_dependence as pd_lib


class AccumulatedLocalEffects(pd_lib.PartialDependence):
  """The ALE of one feature: a dict whose keys are also readable as attributes.

  Keys:
    grid_values: [K + 1] bin edges b_0 < ... < b_K.
    ale: [C, K + 1] the centred accumulated effect at each edge, per model output.
    size: [K] the number of rows in each bin.
    feature: the column index.
  """


def ale_bin_edges(column: np.ndarray, grid_size: int) -> np.ndarray:
  """PyALE's quantile bin edges of one column (see the module docstring).

  Args:
    column: [N] values.
    grid_size: the number of quantile bins asked for, K' >= 1.

  Returns:
    [K + 1] sorted unique edges, K <= K'.
  """
  ordered = np.sort(np.asarray(column, np.float64))
  last = ordered.shape[0] - 1
  quantiles = np.linspace(0, 1, grid_size + 1, endpoint=True)
  position = last * quantiles
  index = position.astype(int)
  on_index = (position - index) == 0
  previous = np.concatenate([[0.0], ordered[:-1]])  # pandas' shift(1, fill_value=0)
  edges = np.where(on_index, previous[index], ordered[index])
  edges[quantiles == 0] = ordered[0]
  edges[quantiles == 1] = ordered[-1]
  return np.unique(np.concatenate([[ordered[0]], edges]))


def _local_differences(apply, params, X, column, lower, upper, *, batch_size: int):
  """f(X with column = upper) - f(X with column = lower), [N, C], evaluated in chunks.

  Args:
    apply: the model's `apply(params, x)` (static).
    params: its parameters.
    X: [N, F] rows.
    column: int scalar (traced), the column set.
    lower, upper: [N] the values of that column in the two evaluations.
    batch_size: static, model rows per call.
  """
  both = jnp.concatenate(
      [X.at[:, column].set(lower.astype(X.dtype)), X.at[:, column].set(upper.astype(X.dtype))]
  )
  out = models.evaluate_model(apply, params, both, chunk_size=batch_size)
  out = out.reshape(2, X.shape[0], -1).astype(jnp.promote_types(out.dtype, jnp.float32))
  return out[1] - out[0]


_local_differences_jit = jax.jit(_local_differences, static_argnames=("apply", "batch_size"))


def accumulated_local_effects(
    model, X, feature: int, *, grid_size: int = 20, batch_size: int | None = None
) -> AccumulatedLocalEffects:
  """One-way ALE of a continuous feature, as PyALE's `ale(X, model, [feature], grid_size)`.

  Args:
    model: [B, F] -> [B, C] (or [B]): a jittable function, a Flax module, or
      `jaxlime.host_model(fn)`.
    X: [N, F] rows (N >= 2).
    feature: the column index j.
    grid_size: the number of quantile bins asked for (repeated quantiles are merged).
    batch_size: model rows per call (default 32768); the model sees 2 N rows in all.

  Returns:
    An `AccumulatedLocalEffects` with `grid_values` [K + 1], `ale` [C, K + 1], `size` [K] and
    `feature`. PyALE's curve of a model with one output is `ale[0]`; for a binary
    `predict_proba`, PyALE's on `predict_proba(x)[:, 1]` is `ale[1]`.
  """
  X_host, X_device = pd_lib._as_rows(X)
  num_rows, num_columns = X_host.shape
  if num_rows < 2:
    raise ValueError(f"X must have at least 2 rows to cut a feature into bins; got {num_rows}.")
  (columns,) = pd_lib._feature_sets([feature], num_columns)
  if len(columns) != 1:
    raise ValueError(f"feature must be one column index (one-way ALE); got {feature!r}.")
  (column,) = columns
  grid_size = checks.positive_int("grid_size", grid_size, minimum=1)
  batch_size = checks.positive_int(
      "batch_size", pd_lib.DEFAULT_BATCH_SIZE if batch_size is None else batch_size, minimum=1
  )
  values = X_host[:, column].astype(np.float64)
  edges = ale_bin_edges(values, grid_size)
  if edges.shape[0] < 2:
    raise ValueError(
        f"feature {column} is constant ({edges[0]!r}) in X; ALE needs at least two "
        "distinct values."
    )
  bins = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, edges.shape[0] - 2)

  adapter, _, _ = checks.probe_model(model, X_device.shape[1:], X_device.dtype, example=X_host[0])
  differences = _local_differences_jit(
      adapter.apply,
      adapter.params,
      X_device,
      jnp.int32(column),
      jnp.asarray(edges[bins]),
      jnp.asarray(edges[bins + 1]),
      batch_size=batch_size,
  )
  differences = np.asarray(differences, np.float64)  # [N, C]

  num_bins = edges.shape[0] - 1
  size = np.bincount(bins, minlength=num_bins)
  sums = np.stack([np.bincount(bins, weights=d, minlength=num_bins) for d in differences.T])
  mean = np.divide(sums, size, out=np.zeros_like(sums), where=size > 0)  # [C, K]
  accumulated = np.concatenate([np.zeros((mean.shape[0], 1)), np.cumsum(mean, axis=1)], axis=1)
  midpoints = (accumulated[:, 1:] + accumulated[:, :-1]) / 2
  centre = (midpoints * size).sum(axis=1, keepdims=True) / size.sum()
  return AccumulatedLocalEffects(
      grid_values=edges, ale=accumulated - centre, size=size, feature=column
  )
