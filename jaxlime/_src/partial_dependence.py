"""Partial dependence (PDP) and individual conditional expectation (ICE), batched in JAX.

scikit-learn's `sklearn.inspection.partial_dependence(method="brute")` with its argument order,
grid rule and result keys. For feature set s (one column, or a pair for two-way) and grid point v,
the ICE value of row n is f(x_n with columns s set to v), and the partial dependence is the
(sample-weighted) mean of the ICE values over the N rows.

The whole computation is one jitted program: a `lax.scan` over blocks of rows, and inside a block
one model evaluation on every (feature set, grid point, row) input, vmapped over feature sets of
the same kind (one-way or two-way) and grid size, and fed to the model in calls of at most
`batch_size` rows. Peak memory depends on the block and `batch_size`, not on N (with
kind="average" the scan carries only the [K, M, C] sums).

Dimensions: N rows of X, F model-input columns, C model outputs (1 for a [B] regression model),
K feature sets computed together, P columns per feature set (1 or 2), M grid points of a feature
set (G, or G1 * G2 for a pair).
"""

import numbers
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import checks
from jaxlime._src import models

KINDS = ("average", "individual", "both")
# Model rows per call when batch_size is not given. The 30-feature PDP of benchmarks/global.py
# (breast-cancer MLP, 1.7 M model rows) on the 2-core CPU at load average 1.3 took 0.195 s with
# 4096 rows per call, 0.169 s with 16384, 0.143 s with 32768 and 0.235 s with 131072
# (`python benchmarks/global.py --batch-sizes 4096,16384,32768,131072`, a sweep since dropped from
# `jaxlime bench --only pdp`).
DEFAULT_BATCH_SIZE = 32_768


class PartialDependence(dict):
  """scikit-learn's `Bunch` of a partial dependence: keys readable as attributes too.

  Keys:
    grid_values: list of P 1-D numpy arrays, the grid of each feature in `features`.
    average: [C, G] (one-way) or [C, G1, G2] (two-way) mean model output over the rows
      (with kind="average" or "both").
    individual: [C, N, G] or [C, N, G1, G2] the ICE values of every row (with kind="individual"
      or "both").
    features: tuple of the P column indices the grid sets.

  C counts every model output. scikit-learn keeps only the positive class of a binary
  classifier (and its output 0 for a regressor): its `average[0]` is our `average[1]` for a
  binary `predict_proba`, and our `average` itself for a [B] regressor (C = 1).
  """

  def __getattr__(self, name: str):
    try:
      return self[name]
    except KeyError:
      raise AttributeError(name) from None

  def __setattr__(self, name: str, value):
    self[name] = value

  def __dir__(self):
    return list(self.keys())


def _feature_sets(features, num_columns: int) -> list[tuple[int, ...]]:
  """A list of feature sets from an int, a pair, or a list of ints and pairs."""

  def one(entry) -> tuple[int, ...]:
    if isinstance(entry, (numbers.Integral, np.integer)) and not isinstance(entry, bool):
      entry = (entry,)
    try:
      columns = tuple(entry)
    except TypeError:
      raise TypeError(
          f"features must hold column indices (int) or pairs of them; got " f"{entry!r}."
      ) from None
    if not 1 <= len(columns) <= 2 or not all(
        isinstance(c, (numbers.Integral, np.integer)) and not isinstance(c, bool) for c in columns
    ):
      raise ValueError(
          f"each entry of features must be one column index or a pair (i, j) "
          f"of them; got {entry!r}."
      )
    bad = [int(c) for c in columns if not 0 <= c < num_columns]
    if bad:
      raise ValueError(
          f"features {bad} are out of range for X with {num_columns} columns "
          f"(valid: 0..{num_columns - 1})."
      )
    if len(columns) == 2 and columns[0] == columns[1]:
      raise ValueError(f"a two-way feature pair needs two different columns; got {entry!r}.")
    return tuple(int(c) for c in columns)

  return [one(entry) for entry in features]


def _is_categorical(categorical_features, num_columns: int) -> np.ndarray:
  """[F] bool from None, a boolean mask of F entries, or a list of column indices."""
  mask = np.zeros(num_columns, bool)
  if categorical_features is None:
    return mask
  given = np.asarray(categorical_features)
  if given.size == 0:
    raise ValueError("categorical_features is empty; pass None when no feature is categorical.")
  if given.dtype.kind == "b":
    if given.shape != (num_columns,):
      raise ValueError(
          f"categorical_features as a boolean mask must have shape ({num_columns},) "
          f"to match X; got {given.shape}."
      )
    return given.copy()
  if given.dtype.kind not in "iu" or given.ndim != 1:
    raise TypeError(
        f"categorical_features must be a boolean mask of {num_columns} entries or "
        f"a list of column indices; got {categorical_features!r}."
    )
  bad = [int(c) for c in given if not 0 <= c < num_columns]
  if bad:
    raise ValueError(
        f"categorical_features {bad} are out of range for X with {num_columns} " "columns."
    )
  mask[given] = True
  return mask


def _percentiles(percentiles) -> tuple[float, float]:
  try:
    low, high = (float(p) for p in percentiles)
  except (TypeError, ValueError):
    raise ValueError(
        f"percentiles must be a pair (low, high) in [0, 1]; got " f"{percentiles!r}."
    ) from None
  if not (0 <= low < high <= 1):
    raise ValueError(f"percentiles must satisfy 0 <= low < high <= 1; got {percentiles!r}.")
  return low, high


def feature_grid(
    column: np.ndarray, *, grid_resolution: int, percentiles: tuple[float, float], categorical: bool
) -> np.ndarray:
  """scikit-learn's grid of one column (host side, float64).

  The sorted unique values when the column is categorical or has fewer than `grid_resolution`
  of them, else `grid_resolution` evenly spaced values between its `percentiles` (scipy's
  `mquantiles` with its default plotting positions, as scikit-learn computes them).

  Args:
    column: [N] values of one column of X.
    grid_resolution: G, at least 2.
    percentiles: (low, high) in [0, 1].
    categorical: whether the column holds categories.

  Returns:
    [G'] grid values.
  """
  from scipy.stats.mstats import mquantiles

  uniques = np.unique(column)
  if categorical or uniques.shape[0] < grid_resolution:
    return uniques
  low, high = mquantiles(column, prob=percentiles, axis=0)
  if np.allclose(low, high):
    raise ValueError(
        f"percentiles {tuple(percentiles)} give the same value {low!r} for this "
        "column; choose percentiles further apart."
    )
  return np.linspace(low, high, num=grid_resolution, endpoint=True)


def _pd_program(
    apply, params, x_blocks, weights, columns, points, *, batch_size: int, individual: bool
):
  """Sums (and ICE values) of the model output over row blocks, for K feature sets.

  Args:
    apply: the model adapter's `apply(params, x)` (static).
    params: the model's parameters.
    x_blocks: [R, B, F] rows in R blocks of B (padded rows have weight 0).
    weights: [R, B] sample weights.
    columns: [K, P] int column indices of each feature set.
    points: [K, M, P] grid points.
    batch_size: static, model rows per call.
    individual: static, whether to return the ICE values.

  Returns:
    (weighted sums [K, M, C], ICE values [R, K, M, B, C] or None).
  """

  def set_columns(x, cols, values):  # [B, F], [P], [P] -> [B, F]
    return x.at[:, cols].set(jnp.broadcast_to(values.astype(x.dtype), (x.shape[0],) + values.shape))

  # [B, F] -> [K, M, B, F]: every feature set k at every grid point m.
  over_points = jax.vmap(set_columns, in_axes=(None, None, 0))
  over_sets = jax.vmap(over_points, in_axes=(None, 0, 0))

  def block(total, inputs):
    x, w = inputs
    edited = over_sets(x, columns, points)  # [K, M, B, F]
    flat = edited.reshape((-1,) + x.shape[1:])
    out = models.evaluate_model(apply, params, flat, chunk_size=batch_size)
    out = out.reshape(edited.shape[:3] + (-1,))  # [K, M, B, C]
    total = total + jnp.einsum("kmbc,b->kmc", out.astype(total.dtype), w.astype(total.dtype))
    return total, (out if individual else None)

  num_outputs = jax.eval_shape(
      lambda x: apply(params, x), jax.ShapeDtypeStruct(x_blocks.shape[1:], x_blocks.dtype)
  )
  num_outputs = int(np.prod(num_outputs.shape[1:], dtype=int))
  dtype = jnp.promote_types(x_blocks.dtype, jnp.float32)
  total = jnp.zeros(columns.shape[:1] + points.shape[1:2] + (num_outputs,), dtype)
  return jax.lax.scan(block, total, (x_blocks, weights))


_pd_program_jit = jax.jit(_pd_program, static_argnames=("apply", "batch_size", "individual"))


def _rows_per_block(num_inputs: int, num_rows: int, batch_size: int, num_shards: int) -> int:
  """Rows per block so that one block feeds the model about `batch_size` rows."""
  rows = max(1, batch_size // max(num_inputs, 1))
  rows = min(rows, num_rows)
  return -(-rows // num_shards) * num_shards


def _evaluate(
    adapter, X, weights, columns, points, *, batch_size: int, individual: bool, mesh, axis
):
  """Runs the program on K feature sets of one kind and size; returns numpy results.

  Returns:
    (average [K, M, C], individual [K, M, N, C] or None).
  """
  num_rows = X.shape[0]
  num_shards = 1 if mesh is None else mesh.shape[axis]
  rows = _rows_per_block(columns.shape[0] * points.shape[1], num_rows, batch_size, num_shards)
  num_blocks = -(-num_rows // rows)
  padding = num_blocks * rows - num_rows
  x = jnp.concatenate([X, jnp.broadcast_to(X[:1], (padding,) + X.shape[1:])])
  w = jnp.concatenate([weights, jnp.zeros(padding, weights.dtype)])
  x = x.reshape((num_blocks, rows) + X.shape[1:])
  w = w.reshape(num_blocks, rows)
  if mesh is not None:
    from jax.sharding import NamedSharding, PartitionSpec

    x = jax.device_put(x, NamedSharding(mesh, PartitionSpec(None, axis)))
    w = jax.device_put(w, NamedSharding(mesh, PartitionSpec(None, axis)))
  total, ice = _pd_program_jit(
      adapter.apply,
      adapter.params,
      x,
      w,
      jnp.asarray(columns),
      jnp.asarray(points),
      batch_size=batch_size,
      individual=individual,
  )
  average = np.asarray(total, np.float64) / float(np.asarray(weights, np.float64).sum())
  if not individual:
    return average, None
  ice = np.asarray(ice)  # [R, K, M, B, C]
  ice = np.moveaxis(ice, 0, 2).reshape(ice.shape[1:3] + (-1, ice.shape[-1]))
  return average, ice[:, :, :num_rows]


def partial_dependences(
    model,
    X,
    features: Sequence,
    *,
    grid_resolution: int = 100,
    percentiles=(0.05, 0.95),
    custom_values=None,
    kind: str = "average",
    categorical_features=None,
    sample_weight=None,
    batch_size: int | None = None,
    mesh=None,
    mesh_axis: str | None = None,
) -> list[PartialDependence]:
  """Partial dependence of many feature sets at once, one result per entry of `features`.

  Feature sets of the same kind (one-way or pair) and grid size are computed together by one
  jitted program (e.g. all 30 one-way features of a dataset with 100-point grids). Arguments as
  `partial_dependence`, except:

  Args:
    features: a list whose entries are column indices (one-way) or pairs (i, j) (two-way).

  Returns:
    A list of `PartialDependence`, in the order of `features`.
  """
  checks.check_option("kind", kind, KINDS)
  grid_resolution = checks.positive_int("grid_resolution", grid_resolution, minimum=2)
  low_high = _percentiles(percentiles)
  X_host, X = _as_rows(X)
  num_rows, num_columns = X.shape
  feature_sets = _feature_sets(features, num_columns)
  if not feature_sets:
    raise ValueError("features is empty; pass at least one column index or pair.")
  categorical = _is_categorical(categorical_features, num_columns)
  _check_integer_columns(X_host, feature_sets, categorical)
  custom = _custom_values(custom_values, num_columns)
  weights = _sample_weight(sample_weight, num_rows)
  if batch_size is None:
    batch_size = DEFAULT_BATCH_SIZE
  batch_size = checks.positive_int("batch_size", batch_size, minimum=1)
  axis = _mesh_axis(mesh, mesh_axis)

  adapter, _, _ = checks.probe_model(model, X.shape[1:], X.dtype, example=X_host[0])

  def grid(column: int) -> np.ndarray:
    if column in custom:
      return custom[column]
    return feature_grid(
        X_host[:, column],
        grid_resolution=grid_resolution,
        percentiles=low_high,
        categorical=bool(categorical[column]),
    )

  grids = [[grid(column) for column in columns] for columns in feature_sets]
  groups: dict[tuple[int, ...], list[int]] = {}
  for position, set_grids in enumerate(grids):
    groups.setdefault(tuple(len(g) for g in set_grids), []).append(position)

  individual = kind != "average"
  results: list[PartialDependence | None] = [None] * len(feature_sets)
  for sizes, positions in groups.items():
    columns = np.array([feature_sets[p] for p in positions], np.int32)  # [K, P]
    points = np.stack([_cartesian(grids[p]) for p in positions])  # [K, M, P]
    average, ice = _evaluate(
        adapter,
        X,
        weights,
        columns,
        points,
        batch_size=batch_size,
        individual=individual,
        mesh=mesh,
        axis=axis,
    )
    for k, position in enumerate(positions):
      result = PartialDependence(grid_values=grids[position])
      if kind != "individual":
        result["average"] = np.moveaxis(average[k], -1, 0).reshape((-1,) + sizes)
      if individual:
        result["individual"] = ice[k].transpose(2, 1, 0).reshape((-1, num_rows) + sizes)
      result["features"] = feature_sets[position]
      results[position] = result
  return results


def partial_dependence(
    model,
    X,
    features,
    *,
    grid_resolution: int = 100,
    percentiles=(0.05, 0.95),
    custom_values=None,
    kind: str = "average",
    categorical_features=None,
    sample_weight=None,
    batch_size: int | None = None,
    mesh=None,
    mesh_axis: str | None = None,
) -> PartialDependence:
  """Partial dependence and ICE of one feature or a pair, as scikit-learn's (method="brute").

  Args:
    model: [B, F] -> [B, C] (or [B]): a jittable function, a Flax module, or
      `jaxlime.host_model(fn)` for a numpy model such as scikit-learn's `predict_proba`.
    X: [N, F] rows whose average the partial dependence is.
    features: a column index j (one-way) or a pair (i, j) (two-way); a list of one index is
      one-way, as in scikit-learn. `partial_dependences` computes many at once.
    grid_resolution: G >= 2, the number of grid points of a continuous feature with at least G
      unique values.
    percentiles: (low, high): the grid of such a feature spans these quantiles of its column.
    custom_values: optional {column: 1-D values}, the grid of that column, used as given.
    kind: "average" (partial dependence), "individual" (ICE) or "both".
    categorical_features: None, a boolean mask [F], or column indices: those columns' grid is
      their categories (unique values). An integer-typed column must be listed here (as
      scikit-learn requires), or cast to float to treat it as continuous.
    sample_weight: optional [N] weights of the average (the ICE values do not depend on them).
    batch_size: model rows per call (default 32768); bounds peak memory with N.
    mesh: optional `jax.sharding.Mesh`: the rows are sharded over its `mesh_axis` with
      `NamedSharding(mesh, P(mesh_axis))` and jit partitions the computation.
    mesh_axis: the mesh axis to shard rows over (default: the mesh's only axis).

  Returns:
    A `PartialDependence` (a dict also readable by attribute) with `grid_values`, `average`
    [C, G] / [C, G1, G2] and/or `individual` [C, N, G] / [C, N, G1, G2], and `features`.
    C is every model output: for a binary classifier scikit-learn's `average[0]` is our
    `average[1]` (see `PartialDependence`).
  """
  if isinstance(features, (numbers.Integral, np.integer)) and not isinstance(features, bool):
    features = [features]
  try:
    entry = tuple(features)
  except TypeError:
    raise TypeError(
        f"features must be a column index or a pair (i, j); got {features!r}."
    ) from None
  return partial_dependences(
      model,
      X,
      [entry],
      grid_resolution=grid_resolution,
      percentiles=percentiles,
      custom_values=custom_values,
      kind=kind,
      categorical_features=categorical_features,
      sample_weight=sample_weight,
      batch_size=batch_size,
      mesh=mesh,
      mesh_axis=mesh_axis,
  )[0]


def _as_rows(X) -> tuple[np.ndarray, jax.Array]:
  """(host copy [N, F] in X's own dtype, device [N, F] float array)."""
  if isinstance(X, (list, tuple)) and len(X) == 0:
    raise ValueError("X is empty; pass at least one row of shape (N, F).")
  host = np.asarray(X)
  if host.dtype.kind not in "biuf":
    raise TypeError(f"X must be a numeric [N, F] array; got dtype {host.dtype}.")
  if host.ndim != 2:
    raise ValueError(f"X must have shape (N, F); got {host.shape}.")
  if host.shape[0] < 1 or host.shape[1] < 1:
    raise ValueError(f"X is empty; pass at least one row and one column; got shape {host.shape}.")
  if not np.isfinite(host).all():
    where = tuple(np.argwhere(~np.isfinite(host))[0].tolist())
    raise ValueError(f"X has NaN/inf entries (first at index {where}); impute or drop them.")
  device = jnp.asarray(host if host.dtype.kind == "f" else host.astype(np.float64))
  return host, device


def _check_integer_columns(X: np.ndarray, feature_sets, categorical: np.ndarray):
  if X.dtype.kind not in "biu":
    return
  continuous = sorted({c for columns in feature_sets for c in columns if not categorical[c]})
  if continuous:
    raise ValueError(
        f"X has integer dtype {X.dtype} but features {continuous} are not in "
        "categorical_features: pass categorical_features=[...] to use their categories, or "
        "cast X to float to treat them as continuous (scikit-learn refuses integer columns "
        "for the same reason)."
    )


def _custom_values(custom_values, num_columns: int) -> dict[int, np.ndarray]:
  if custom_values is None:
    return {}
  if not isinstance(custom_values, dict):
    raise TypeError(
        f"custom_values must be a dict {{column: 1-D values}}; got "
        f"{type(custom_values).__name__}."
    )
  out = {}
  for column, values in custom_values.items():
    if not isinstance(column, (numbers.Integral, np.integer)) or not 0 <= column < num_columns:
      raise ValueError(
          f"custom_values has key {column!r}; keys must be column indices in "
          f"0..{num_columns - 1}."
      )
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or values.size < 1:
      raise ValueError(
          f"custom_values[{column}] must be a non-empty 1-D array; got shape " f"{values.shape}."
      )
    out[int(column)] = values
  return out


def _sample_weight(sample_weight, num_rows: int) -> jax.Array:
  if sample_weight is None:
    return jnp.ones(num_rows, jnp.float32)
  weights = np.asarray(sample_weight, np.float64)
  if weights.shape != (num_rows,):
    raise ValueError(
        f"sample_weight must have shape ({num_rows},) to match X; got " f"{weights.shape}."
    )
  if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
    raise ValueError("sample_weight must be finite, non-negative and not all zero.")
  return jnp.asarray(weights)


def _mesh_axis(mesh, mesh_axis) -> str | None:
  if mesh is None:
    if mesh_axis is not None:
      raise ValueError("mesh_axis is given without a mesh; pass mesh= too.")
    return None
  names = tuple(mesh.axis_names)
  if mesh_axis is None:
    if len(names) != 1:
      raise ValueError(f"the mesh has axes {names}; pass mesh_axis= to choose the row axis.")
    return names[0]
  if mesh_axis not in names:
    raise ValueError(f"mesh_axis must be one of the mesh's axes {names}; got {mesh_axis!r}.")
  return mesh_axis


def _cartesian(grids: Sequence[np.ndarray]) -> np.ndarray:
  """[prod G_p, P] every combination of the grid values, the last grid varying fastest."""
  mesh = np.meshgrid(*grids, indexing="ij")
  return np.stack([m.reshape(-1) for m in mesh], axis=-1)
