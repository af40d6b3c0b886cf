"""Host-side discretizers with the meaning of lime's `lime/discretize.py`, as padded arrays.

lime discretizes every continuous (non-categorical) column of the training data into bins
delimited by a sorted set of edges ("qts"): a value x falls into bin `np.searchsorted(qts, x)`
(side='left', i.e. bin i holds qts[i-1] < x <= qts[i]). For each bin it keeps the training
values' mean and std (+1e-11), and the bin's bounds in data units (the column's min and max
for the outer bins). lime's sampler draws a bin with its training frequency and maps it back to
data units with a normal truncated to the bin (`undiscretize`).

This module computes those statistics with numpy only (scikit-learn is not imported: the
entropy discretizer's depth-3 decision tree is reimplemented here) and returns them as
fixed-shape arrays padded to the largest number of edges, so that a JAX sampler can consume
them in one program.

Padding conventions of `DiscretizerStats` (E = largest number of edges, B = E + 1 bins):
  * `edges` is padded with +inf (so `searchsorted` / "count of edges < x" still finds the bin);
  * per-bin statistics of padded bins (and every bin of a non-discretized column) are
    means 0, stds 1, mins 0, maxs 0: harmless finite values that a sampler never selects.
  * Empty real bins follow lime: mean 0, std 0 + 1e-11, bounds from the edges.

lime's undiscretize quirk, deliberately not replicated (the sampler lives elsewhere): lime
computes minz = (min - mean) / std and maxz = (max - mean) / std and, when minz == maxz, returns
minz itself, i.e. a standardised value instead of a value in data units. Such a degenerate bin
has min == max, so its only possible value is that bound, which is also its mean: a sampler
should return the bin's mean (== min == max) for it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Mapping

import numpy as np

__all__ = [
    "DiscretizerStats",
    "quartile_discretizer",
    "decile_discretizer",
    "entropy_discretizer",
    "stats_discretizer",
    "build_discretizer",
    "entropy_tree_thresholds",
    "REQUIRED_STATS_KEYS",
]

# lime adds this to every computed per-bin std.
_STD_EPSILON = 0.00000000001

# Keys lime's LimeTabularExplainer.validate_training_data_stats requires.
REQUIRED_STATS_KEYS = ("means", "mins", "maxs", "stds", "feature_values", "feature_frequencies")

# Padding of per-bin statistics for bins that do not exist.
_PAD_MEAN = 0.0
_PAD_STD = 1.0
_PAD_BOUND = 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class DiscretizerStats:
  """Per-column bins of a lime discretizer, as padded arrays.

  F = number of columns, E = largest number of edges over discretized columns, B = E + 1.
  Arrays are read-only. Equality and hashing are by identity (eq=False), so an instance can be
  a static argument of a jitted function.
  """

  discretized: np.ndarray  # [F] bool: which columns are discretized (the continuous ones).
  edges: np.ndarray  # [F, E] float64 sorted unique edges (lime's qts after np.unique), +inf pad.
  num_edges: np.ndarray  # [F] int64: number of real edges (0 for non-discretized columns).
  means: np.ndarray  # [F, B] float64 per-bin training mean (0 for an empty bin, 0 padded).
  stds: np.ndarray  # [F, B] float64 per-bin np.std (ddof=0) + 1e-11 (1e-11 empty, 1 padded).
  mins: np.ndarray  # [F, B] float64 lower bound of each bin: [column min] + edges (0 padded).
  maxs: np.ndarray  # [F, B] float64 upper bound of each bin: edges + [column max] (0 padded).
  names: tuple  # per column: tuple of lime's bin names, () for non-discretized columns.

  @property
  def num_features(self) -> int:
    return int(self.discretized.shape[0])

  @property
  def num_bins(self) -> np.ndarray:
    """[F] int64: number of bins (num_edges + 1) of discretized columns, 0 for the others."""
    return np.where(self.discretized, self.num_edges + 1, 0)

  def discretize(self, x: np.ndarray, *, dtype=np.float64) -> np.ndarray:
    """lime's `BaseDiscretizer.discretize`: bins of discretized columns, other columns as is.

    Args:
      x: [..., F] values (one row or any batch of rows).
      dtype: the precision of the comparison: values and edges are cast to it first. float64 is
        lime's; the explainer's float32 sampler compares float32 values with float32 edges.

    Returns:
      [..., F] float64 copy of x where each discretized column holds its bin index
      `np.searchsorted(edges, value, side='left')` (as lime; NaN falls in the last bin) and the
      other columns keep their values.
    """
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[-1] != self.num_features:
      raise ValueError(
          f"discretize expects an array of shape [..., {self.num_features}], got shape {x.shape}"
      )
    out = np.array(x, dtype=np.float64, copy=True)
    for f in np.flatnonzero(self.discretized):
      qts = self.edges[f, : self.num_edges[f]].astype(dtype)
      out[..., f] = np.searchsorted(qts, x[..., f].astype(dtype), side="left")
    return out


# ---------------------------------------------------------------------------------------------
# Validation helpers.


def _validate_training_data(training_data: Any) -> np.ndarray:
  if training_data is None:
    raise ValueError("training_data is None; pass a 2-D array [num_rows, num_features]")
  if hasattr(training_data, "tocsr") or hasattr(training_data, "toarray"):
    raise ValueError(
        "training_data is a sparse matrix; lime does not discretize sparse data, pass a dense "
        "2-D array"
    )
  try:
    data = np.asarray(training_data, dtype=np.float64)
  except (TypeError, ValueError) as e:
    raise ValueError(f"training_data must be numeric, could not convert it to float64: {e}") from e
  if data.ndim != 2:
    raise ValueError(
        f"training_data must be a 2-D array [num_rows, num_features], got shape " f"{data.shape}"
    )
  if data.shape[0] == 0:
    raise ValueError(f"training_data has no rows (shape {data.shape})")
  bad = ~np.isfinite(data)
  if bad.any():
    rows, cols = np.nonzero(bad)
    kinds = sorted({"NaN" if np.isnan(v) else "inf" for v in data[rows[:10], cols[:10]]})
    raise ValueError(
        f"training_data contains {int(bad.sum())} non-finite value(s) ({'/'.join(kinds)}), first "
        f"at row {int(rows[0])}, column {int(cols[0])}; discretizers need finite values"
    )
  return data


def _validate_categorical(categorical_features: Any, num_features: int) -> frozenset:
  if categorical_features is None:
    return frozenset()
  try:
    if isinstance(categorical_features, (str, bytes)) or np.ndim(categorical_features) > 1:
      raise TypeError
    items = list(categorical_features)
  except TypeError:
    raise ValueError(
        f"categorical_features must be a sequence of column indices, got "
        f"{categorical_features!r}"
    ) from None
  out = set()
  for c in items:
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral):
      raise ValueError(f"categorical_features must hold integer column indices, got {c!r}")
    if not 0 <= int(c) < num_features:
      raise ValueError(
          f"categorical_features index {int(c)} is out of range for "
          f"{num_features} columns (valid: 0..{num_features - 1})"
      )
    out.add(int(c))
  return frozenset(out)


def _validate_feature_names(feature_names: Any, num_features: int) -> list:
  if feature_names is None:
    return [str(i) for i in range(num_features)]
  if isinstance(feature_names, (str, bytes)):
    raise ValueError(
        f"feature_names must be a sequence of names, got the string " f"{feature_names!r}"
    )
  names = list(feature_names)
  if len(names) != num_features:
    raise ValueError(
        f"feature_names has {len(names)} names but there are {num_features} " f"columns"
    )
  return names


def _bin_names(name: Any, qts: np.ndarray) -> tuple:
  """lime's names of the len(qts) + 1 bins, built with lime's exact format strings."""
  n_bins = qts.shape[0]
  names = ["%s <= %.2f" % (name, qts[0])]
  for i in range(n_bins - 1):
    names.append("%.2f < %s <= %.2f" % (qts[i], name, qts[i + 1]))
  names.append("%s > %.2f" % (name, qts[n_bins - 1]))
  return tuple(names)


def _readonly(a: np.ndarray) -> np.ndarray:
  a.setflags(write=False)
  return a


def _assemble(num_features: int, columns: dict, feature_names: list) -> DiscretizerStats:
  """Pads per-column (qts, means, stds, mins, maxs) into a DiscretizerStats.

  columns maps a discretized column index to a tuple of 1-D arrays (qts [n], means [n+1],
  stds [n+1], mins [n+1], maxs [n+1]).
  """
  num_edges = np.zeros(num_features, np.int64)
  for f, (qts, *_) in columns.items():
    num_edges[f] = qts.shape[0]
  e = int(num_edges.max()) if num_features else 0
  b = e + 1
  discretized = np.zeros(num_features, bool)
  edges = np.full((num_features, e), np.inf)
  means = np.full((num_features, b), _PAD_MEAN)
  stds = np.full((num_features, b), _PAD_STD)
  mins = np.full((num_features, b), _PAD_BOUND)
  maxs = np.full((num_features, b), _PAD_BOUND)
  names = [()] * num_features
  for f, (qts, m, s, lo, hi) in columns.items():
    n = qts.shape[0]
    discretized[f] = True
    edges[f, :n] = qts
    means[f, : n + 1] = m
    stds[f, : n + 1] = s
    mins[f, : n + 1] = lo
    maxs[f, : n + 1] = hi
    names[f] = _bin_names(feature_names[f], qts)
  return DiscretizerStats(
      discretized=_readonly(discretized),
      edges=_readonly(edges),
      num_edges=_readonly(num_edges),
      means=_readonly(means),
      stds=_readonly(stds),
      mins=_readonly(mins),
      maxs=_readonly(maxs),
      names=tuple(names),
  )


def _from_data(
    data: np.ndarray, categorical: frozenset, feature_names: list, bins_fn
) -> DiscretizerStats:
  """lime's BaseDiscretizer.__init__ without data_stats: per-bin stats from the data."""
  num_features = data.shape[1]
  columns = {}
  for f in range(num_features):
    if f in categorical:
      continue
    column = data[:, f]
    qts = np.unique(np.asarray(bins_fn(column, f), dtype=np.float64))
    n_bins = qts.shape[0]  # Number of edges (= number of bins - 1), as lime names it.
    discretized = np.searchsorted(qts, column)
    means, stds = [], []
    for x in range(n_bins + 1):
      # Same operations as lime, so the results are bitwise equal on float64 data.
      selection = column[discretized == x]
      mean = 0 if len(selection) == 0 else np.mean(selection)
      std = 0 if len(selection) == 0 else np.std(selection)
      std += _STD_EPSILON
      means.append(mean)
      stds.append(std)
    lo, hi = np.min(column), np.max(column)
    columns[f] = (
        qts,
        np.asarray(means, np.float64),
        np.asarray(stds, np.float64),
        np.concatenate([[lo], qts]),
        np.concatenate([qts, [hi]]),
    )
  return _assemble(num_features, columns, feature_names)


# ---------------------------------------------------------------------------------------------
# Quartile / decile.


def quartile_discretizer(
    training_data, categorical_features=None, feature_names=None
) -> DiscretizerStats:
  """lime's QuartileDiscretizer: edges are the 25/50/75th percentiles of each continuous column.

  Args:
    training_data: [N, F] finite numeric array.
    categorical_features: indices of categorical columns (not discretized); None for none.
    feature_names: F names used in the bin names; None for '0', '1', ...
  """
  data = _validate_training_data(training_data)
  categorical = _validate_categorical(categorical_features, data.shape[1])
  names = _validate_feature_names(feature_names, data.shape[1])
  return _from_data(
      data, categorical, names, lambda column, f: np.array(np.percentile(column, [25, 50, 75]))
  )


def decile_discretizer(
    training_data, categorical_features=None, feature_names=None
) -> DiscretizerStats:
  """lime's DecileDiscretizer: edges are the 10, 20, ..., 90th percentiles of each column."""
  data = _validate_training_data(training_data)
  categorical = _validate_categorical(categorical_features, data.shape[1])
  names = _validate_feature_names(feature_names, data.shape[1])
  return _from_data(
      data,
      categorical,
      names,
      lambda column, f: np.array(np.percentile(column, [10, 20, 30, 40, 50, 60, 70, 80, 90])),
  )


# ---------------------------------------------------------------------------------------------
# Entropy: scikit-learn's DecisionTreeClassifier(criterion='entropy', max_depth=3) on one column.

# sklearn/tree/_partitioner.pxd: values closer than this (in float32 arithmetic) are not split.
_FEATURE_THRESHOLD = np.float32(1e-7)
# sklearn/tree/_tree.pyx: EPSILON = np.finfo('double').eps (impurity tolerance).
_EPSILON = float(np.finfo(np.float64).eps)
_LN2 = math.log(2.0)
_MAX_DEPTH = 3
# Exact logarithm: the C library's log, which sklearn's Cython code calls (numpy's SIMD log may
# differ from it by an ulp, which can flip exact ties between candidate splits).
_libm_log = np.frompyfunc(math.log, 1, 1)


def _entropy(counts: np.ndarray, n: np.ndarray, exact: bool) -> np.ndarray:
  """sklearn's Entropy impurity, vectorised over rows: counts [C, K] and n [C] -> [C].

  Replicates `entropy -= p * log(p)` over classes in order, with log(p) = ln(p) / ln(2).
  """
  entropy = np.zeros(counts.shape[0])
  for k in range(counts.shape[1]):
    count = counts[:, k]
    present = count > 0.0
    p = np.where(present, count / np.where(n > 0, n, 1.0), 1.0)
    if exact:
      ln = _libm_log(p).astype(np.float64)
    else:
      ln = np.log(p)
    term = p * (ln / _LN2)
    entropy = np.where(present, entropy - term, entropy)
  return entropy


def _proxy(
    left: np.ndarray, n_left: np.ndarray, total: np.ndarray, n_node: float, exact: bool
) -> np.ndarray:
  """sklearn's proxy_impurity_improvement for the given left-child class counts [C, K]."""
  right = total[None, :] - left
  n_right = n_node - n_left
  return -n_right * _entropy(right, n_right, exact) - n_left * _entropy(left, n_left, exact)


def entropy_tree_thresholds(
    column: np.ndarray, label_codes: np.ndarray, num_classes: int
) -> np.ndarray:
  """Thresholds of sklearn's DecisionTreeClassifier(criterion='entropy', max_depth=3) on 1 column.

  A numpy reimplementation of scikit-learn's tree (depth-first builder, best splitter) for a
  single feature, no sample weights, min_samples_split=2,
  min_samples_leaf=1, min_impurity_decrease=0:
    * X is cast to float32, as sklearn does; a node is a contiguous range of the sorted column;
    * a node is a leaf at depth 3, with fewer than 2 samples, when its impurity <= eps, when
      it has no candidate split, or when the best split's improvement + eps < 0;
    * candidate split positions p are those with x[p] > x[p-1] + 1e-7 (float32 arithmetic);
      the threshold is x[p-1] / 2 + x[p] / 2 (in float64);
    * candidates are compared by sklearn's proxy improvement -n_R H_R - n_L H_L, the first one
      in scan order wins exact ties. The proxies are computed for all candidates at once from
      cumulative class counts with numpy's log, and those within a tolerance of the best are
      recomputed with the C library's log (the one sklearn uses) to break ties exactly as it.

  Args:
    column: [N] values of the feature.
    label_codes: [N] int class codes in [0, num_classes).
    num_classes: K.

  Returns:
    the thresholds of the internal nodes, in depth-first order (unsorted).
  """
  xs32 = np.asarray(column, dtype=np.float64).astype(np.float32)
  order = np.argsort(xs32, kind="stable")
  xs = xs32[order]
  ys = np.asarray(label_codes)[order]
  n = xs.shape[0]
  onehot = np.zeros((n, num_classes), np.float64)
  onehot[np.arange(n), ys] = 1.0
  cum = np.zeros((n + 1, num_classes), np.float64)
  np.cumsum(onehot, axis=0, out=cum[1:])  # Integers: exact in float64.
  # can_split[p]: a split between sorted positions p-1 and p is a candidate (1 <= p < n).
  can_split = np.zeros(n + 1, bool)
  can_split[1:n] = xs[1:] > (xs[:-1] + _FEATURE_THRESHOLD)  # float32 + float32 -> float32.

  thresholds = []
  root_impurity = float(_entropy(cum[n][None, :], np.array([float(n)]), exact=True)[0])
  stack = [(0, n, 0, root_impurity)]
  while stack:
    start, end, depth, impurity = stack.pop()
    n_node = end - start
    if depth >= _MAX_DEPTH or n_node < 2 or impurity <= _EPSILON:
      continue
    candidates = start + 1 + np.flatnonzero(can_split[start + 1 : end])
    if candidates.size == 0:
      continue  # Constant feature in this node (up to 1e-7): no split.
    total = cum[end] - cum[start]
    left = cum[candidates] - cum[start]
    n_left = (candidates - start).astype(np.float64)
    fast = _proxy(left, n_left, total, float(n_node), exact=False)
    best_fast = fast.max()
    # numpy's log is within a few ulp of libm's: anything farther from the best cannot win.
    tolerance = 1e-9 * n_node * max(1.0, math.log2(num_classes))
    near = np.flatnonzero(fast >= best_fast - tolerance)
    exact = _proxy(left[near], n_left[near], total, float(n_node), exact=True)
    pos = int(candidates[near[int(np.argmax(exact))]])  # argmax: first maximum (scan order).
    # Children impurities and the improvement, as sklearn computes them after the search.
    n_l, n_r = float(pos - start), float(end - pos)
    counts_l = (cum[pos] - cum[start])[None, :]
    counts_r = (cum[end] - cum[pos])[None, :]
    imp_l = float(_entropy(counts_l, np.array([n_l]), exact=True)[0])
    imp_r = float(_entropy(counts_r, np.array([n_r]), exact=True)[0])
    improvement = (float(n_node) / float(n)) * (
        impurity - (n_r / float(n_node) * imp_r) - (n_l / float(n_node) * imp_l)
    )
    if improvement + _EPSILON < 0.0:
      continue
    thresholds.append(float(xs[pos - 1]) / 2.0 + float(xs[pos]) / 2.0)
    # sklearn pushes the right child, then the left one (the left is built first).
    stack.append((pos, end, depth + 1, imp_r))
    stack.append((start, pos, depth + 1, imp_l))
  return np.asarray(thresholds, dtype=np.float64)


def _encode_labels(training_labels: Any, num_rows: int) -> tuple[np.ndarray, int]:
  if training_labels is None:
    raise ValueError("training_labels must not be None when using the entropy discretizer")
  labels = np.asarray(training_labels)
  if labels.ndim == 2 and labels.shape[1] == 1:
    labels = labels[:, 0]
  if labels.ndim != 1:
    raise ValueError(
        f"training_labels must be 1-D with one label per training row, got shape " f"{labels.shape}"
    )
  if labels.shape[0] != num_rows:
    raise ValueError(
        f"training_labels has {labels.shape[0]} labels but training_data has " f"{num_rows} rows"
    )
  if labels.dtype == object:
    try:
      classes, codes = np.unique(labels, return_inverse=True)
    except TypeError as e:
      raise ValueError(f"training_labels could not be sorted into classes: {e}") from e
    return codes.reshape(-1), classes.shape[0]
  if labels.dtype.kind == "f":
    if not np.isfinite(labels).all():
      raise ValueError("training_labels contains NaN or inf")
    if np.any(labels != np.round(labels)):
      raise ValueError(
          "training_labels look continuous (non-integer floats); the entropy "
          "discretizer needs class labels"
      )
  elif labels.dtype.kind not in "biuUS":
    raise ValueError(
        f"training_labels must hold class labels (ints or strings), got dtype " f"{labels.dtype}"
    )
  classes, codes = np.unique(labels, return_inverse=True)
  return codes.reshape(-1), classes.shape[0]


def entropy_discretizer(
    training_data, categorical_features=None, feature_names=None, labels=None
) -> DiscretizerStats:
  """lime's EntropyDiscretizer: edges are the thresholds of a depth-3 entropy tree per column.

  Each continuous column gets the sorted thresholds of the internal nodes of
  DecisionTreeClassifier(criterion='entropy', max_depth=3) fit on that column alone against
  `labels` (reimplemented in numpy, see `entropy_tree_thresholds`), or the column's median when
  the tree does not split.

  Args:
    training_data: [N, F] finite numeric array.
    categorical_features: indices of categorical columns (not discretized); None for none.
    feature_names: F names used in the bin names; None for '0', '1', ...
    labels: [N] class labels of the training rows (lime's `training_labels`), ints or strings.
  """
  data = _validate_training_data(training_data)
  categorical = _validate_categorical(categorical_features, data.shape[1])
  names = _validate_feature_names(feature_names, data.shape[1])
  codes, num_classes = _encode_labels(labels, data.shape[0])
  too_large = np.abs(data) > np.finfo(np.float32).max
  if too_large.any():
    raise ValueError(
        "training_data has values too large for float32 (the entropy tree, like "
        "scikit-learn's, works on float32 values)"
    )

  def bins_fn(column, f):
    qts = entropy_tree_thresholds(column, codes, num_classes)
    if qts.shape[0] == 0:
      return np.array([np.median(column)])
    return np.sort(qts)

  return _from_data(data, categorical, names, bins_fn)


# ---------------------------------------------------------------------------------------------
# Stats: lime's StatsDiscretizer (training_data_stats instead of training data).


def _lookup(mapping: Any, feature: int, what: str):
  """mapping[feature], also accepting str keys (e.g. after a JSON round trip); None if absent."""
  if not isinstance(mapping, Mapping):
    raise ValueError(
        f"training_data_stats[{what!r}] must be a dict feature index -> values, got "
        f"{type(mapping).__name__}"
    )
  if feature in mapping:
    return mapping[feature]
  if str(feature) in mapping:
    return mapping[str(feature)]
  return None


def _float_list(value: Any, what: str, feature: int) -> np.ndarray:
  try:
    arr = np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError) as e:
    raise ValueError(
        f"training_data_stats[{what!r}][{feature}] must be a list of numbers: " f"{e}"
    ) from e
  if arr.ndim != 1:
    raise ValueError(
        f"training_data_stats[{what!r}][{feature}] must be a 1-D list, got shape " f"{arr.shape}"
    )
  if np.isnan(arr).any():
    raise ValueError(f"training_data_stats[{what!r}][{feature}] contains NaN")
  return arr


def stats_discretizer(
    training_data_stats: Mapping,
    categorical_features=None,
    feature_names=None,
    num_features: int | None = None,
) -> DiscretizerStats:
  """lime's StatsDiscretizer: bins and per-bin statistics given by `training_data_stats`.

  Unlike lime (whose explainer still reads the training data's shape and min/max), no training
  data is needed: every statistic comes from the dict.

  Args:
    training_data_stats: lime's dict with keys "means", "stds", "mins", "maxs" (dicts feature
      index -> list with one value per bin), "feature_values", "feature_frequencies" (dicts
      feature index -> list, for every feature: the values, i.e. bin indices of discretized
      features, and their training frequencies) and "bins" (dict feature index -> list of edges;
      required for every continuous column, unsorted or duplicated edges are passed through
      np.unique as lime does).
    categorical_features: indices of categorical columns (not discretized); None for none.
    feature_names: names used in the bin names; None for '0', '1', ...
    num_features: F, the number of columns; None to take len(feature_names).

  Raises:
    ValueError: missing keys, missing features, wrong list lengths, NaN, non-positive stds,
      feature values that are not bins of a discretized feature.
  """
  if not isinstance(training_data_stats, Mapping):
    raise ValueError(
        f"training_data_stats must be a dict, got " f"{type(training_data_stats).__name__}"
    )
  missing = [k for k in REQUIRED_STATS_KEYS if k not in training_data_stats]
  if missing:
    raise ValueError(
        f"Missing keys in training_data_stats: {missing} (required: "
        f"{list(REQUIRED_STATS_KEYS)}, plus 'bins' for continuous features)"
    )
  if num_features is None:
    if feature_names is None:
      raise ValueError(
          "stats_discretizer needs num_features (or feature_names) since there is "
          "no training data"
      )
    num_features = len(list(feature_names))
  if (
      isinstance(num_features, bool)
      or not isinstance(num_features, numbers.Integral)
      or (num_features < 0)
  ):
    raise ValueError(f"num_features must be a non-negative int, got {num_features!r}")
  num_features = int(num_features)
  categorical = _validate_categorical(categorical_features, num_features)
  names = _validate_feature_names(feature_names, num_features)
  continuous = [f for f in range(num_features) if f not in categorical]

  bins = training_data_stats.get("bins")
  if continuous:
    if bins is None:
      raise ValueError(
          f"training_data_stats has no 'bins' but features {continuous} are continuous; give "
          f"their edges in training_data_stats['bins'] or list them in categorical_features"
      )
    no_bins = [f for f in continuous if _lookup(bins, f, "bins") is None]
    if no_bins:
      raise ValueError(
          f"training_data_stats['bins'] has no edges for continuous feature(s) {no_bins}; give "
          f"them or list these features in categorical_features"
      )
  for key in ("feature_values", "feature_frequencies"):
    absent = [f for f in range(num_features) if _lookup(training_data_stats[key], f, key) is None]
    if absent:
      raise ValueError(f"training_data_stats[{key!r}] has no entry for feature(s) {absent}")

  columns = {}
  for f in continuous:
    qts = np.unique(_float_list(_lookup(bins, f, "bins"), "bins", f))
    if qts.shape[0] == 0:
      raise ValueError(
          f"training_data_stats['bins'][{f}] is empty; a discretized feature needs "
          f"at least one edge"
      )
    if not np.isfinite(qts).all():
      raise ValueError(f"training_data_stats['bins'][{f}] contains inf")
    per_bin = []
    for key in ("means", "stds", "mins", "maxs"):
      value = _lookup(training_data_stats[key], f, key)
      if value is None:
        raise ValueError(f"training_data_stats[{key!r}] has no entry for continuous feature {f}")
      arr = _float_list(value, key, f)
      if arr.shape[0] != qts.shape[0] + 1:
        raise ValueError(
            f"training_data_stats[{key!r}][{f}] has {arr.shape[0]} values but feature {f} has "
            f"{qts.shape[0] + 1} bins ({qts.shape[0]} unique edges)"
        )
      per_bin.append(arr)
    means, stds, mins, maxs = per_bin
    if not np.isfinite(means).all():
      raise ValueError(f"training_data_stats['means'][{f}] contains inf")
    if not (np.isfinite(stds).all() and (stds > 0).all()):
      raise ValueError(
          f"training_data_stats['stds'][{f}] must be finite and > 0 (lime adds "
          f"1e-11 to the stds it computes), got {stds.tolist()}"
      )
    if np.any(mins > maxs):
      raise ValueError(f"training_data_stats['mins'][{f}] exceeds ['maxs'][{f}] for some bin")
    values = _float_list(
        _lookup(training_data_stats["feature_values"], f, "feature_values"), "feature_values", f
    )
    if np.any(values != np.round(values)) or np.any(values < 0) or np.any(values > qts.shape[0]):
      raise ValueError(
          f"training_data_stats['feature_values'][{f}] must hold bin indices in "
          f"0..{qts.shape[0]} for discretized feature {f}, got {values.tolist()}"
      )
    columns[f] = (qts, means, stds, mins, maxs)

  for f in range(num_features):
    values = np.asarray(_lookup(training_data_stats["feature_values"], f, "feature_values"))
    freqs = _float_list(
        _lookup(training_data_stats["feature_frequencies"], f, "feature_frequencies"),
        "feature_frequencies",
        f,
    )
    if values.ndim != 1 or values.shape[0] != freqs.shape[0] or freqs.shape[0] == 0:
      raise ValueError(
          f"training_data_stats['feature_values'][{f}] and "
          f"['feature_frequencies'][{f}] must be non-empty lists of equal length"
      )
    if np.any(freqs < 0) or not np.isfinite(freqs).all() or freqs.sum() <= 0:
      raise ValueError(
          f"training_data_stats['feature_frequencies'][{f}] must be finite, >= 0 "
          f"and not all 0, got {freqs.tolist()}"
      )
  return _assemble(num_features, columns, names)


# ---------------------------------------------------------------------------------------------


def build_discretizer(
    discretizer: str,
    training_data,
    categorical_features=None,
    feature_names=None,
    training_labels=None,
) -> DiscretizerStats:
  """Dispatches lime's `discretizer` argument: 'quartile', 'decile' or 'entropy'."""
  if discretizer == "quartile":
    return quartile_discretizer(training_data, categorical_features, feature_names)
  if discretizer == "decile":
    return decile_discretizer(training_data, categorical_features, feature_names)
  if discretizer == "entropy":
    return entropy_discretizer(training_data, categorical_features, feature_names, training_labels)
  raise ValueError(f"discretizer must be 'quartile', 'decile' or 'entropy', got {discretizer!r}")
