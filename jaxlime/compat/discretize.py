"""lime's `lime.discretize`: discretizer classes whose bins feed jaxlime's tabular engine.

A subclass of `BaseDiscretizer` that overrides `bins(data, labels)` is accepted by
`LimeTabularExplainer(discretizer=...)`, as in lime. The per-bin statistics are computed by
`jaxlime._src.discretize` (bitwise equal to lime's on float64 data) and handed to the engine as a
`DiscretizerStats`.
"""

import numpy as np

from jaxlime._src import discretize as discretize_lib
from jaxlime.compat._common import check_random_state


class BaseDiscretizer:
  """lime's abstract discretizer: subclasses define `bins(data, labels)`.

  Args:
    data: [M, F] training rows.
    categorical_features: indices of columns that are not discretized.
    feature_names: F names, used in the bin names ("age <= 30.00").
    labels: [M] training labels, for discretizers that need them (entropy).
    random_state: an int, a `np.random.RandomState` or None (numpy's global state): the state
      `undiscretize` draws from, and a second source of the explainer's sampling seed.
    data_stats: lime's dict with "means", "stds", "mins", "maxs" to use instead of the data's.
  """

  def __init__(
      self,
      data,
      categorical_features,
      feature_names,
      labels=None,
      random_state=None,
      data_stats=None,
  ):
    data = np.asarray(data)
    self.to_discretize = [x for x in range(data.shape[1]) if x not in categorical_features]
    self.data_stats = data_stats
    self.random_state = check_random_state(random_state)
    edges = [np.unique(np.asarray(qts, np.float64)) for qts in self.bins(data, labels)]
    if len(edges) != len(self.to_discretize):
      raise ValueError(
          f"{type(self).__name__}.bins returned edges for {len(edges)} columns; expected one "
          f"array per column to discretize ({len(self.to_discretize)}: {self.to_discretize})."
      )
    by_column = dict(zip(self.to_discretize, edges))
    names = [str(name) for name in feature_names]
    if data_stats:
      columns = {}
      for column in self.to_discretize:
        per_bin = [
            np.asarray(data_stats[key][column], np.float64)
            for key in ("means", "stds", "mins", "maxs")
        ]
        columns[column] = (by_column[column], *per_bin)
      self.stats = discretize_lib._assemble(data.shape[1], columns, names)
    else:
      categorical = frozenset(range(data.shape[1])) - frozenset(self.to_discretize)
      self.stats = discretize_lib._from_data(
          np.asarray(data, np.float64), categorical, names, lambda column, index: by_column[index]
      )
    stats = self.stats
    self.names, self.lambdas = {}, {}
    self.means, self.stds, self.mins, self.maxs = {}, {}, {}, {}
    for column in self.to_discretize:
      count = int(stats.num_edges[column]) + 1
      self.names[column] = list(stats.names[column])
      self.lambdas[column] = lambda x, qts=stats.edges[column, : count - 1]: np.searchsorted(qts, x)
      self.means[column] = stats.means[column, :count].tolist()
      self.stds[column] = stats.stds[column, :count].tolist()
      self.mins[column] = stats.mins[column, :count].tolist()
      self.maxs[column] = stats.maxs[column, :count].tolist()

  def bins(self, data, labels):
    """The edges of each column to discretize: a list of 1-D arrays, one per `to_discretize`."""
    raise NotImplementedError(f"{type(self).__name__} must override bins(data, labels).")

  def discretize(self, data):
    """lime's `discretize`: [M, F] or [F] values -> the same array with bin ids in binned columns."""
    result = np.array(data, copy=True)
    for column, to_bin in self.lambdas.items():
      if result.ndim == 1:
        result[column] = int(to_bin(result[column]))
      else:
        result[:, column] = to_bin(result[:, column]).astype(int)
    return result

  def get_undiscretize_values(self, feature, values):
    """Values drawn inside the bins `values` of column `feature` (a normal truncated to the bin)."""
    from scipy import stats as scipy_stats

    mins = np.array(self.mins[feature])[values]
    maxs = np.array(self.maxs[feature])[values]
    means = np.array(self.means[feature])[values]
    stds = np.array(self.stds[feature])[values]
    minz = (mins - means) / stds
    maxz = (maxs - means) / stds
    unequal = minz != maxz
    result = minz
    result[np.where(unequal)] = scipy_stats.truncnorm.rvs(
        minz[unequal],
        maxz[unequal],
        loc=means[unequal],
        scale=stds[unequal],
        random_state=self.random_state,
    )
    return result

  def undiscretize(self, data):
    """lime's `undiscretize`: bin ids -> values drawn from the training distribution of each bin."""
    result = np.array(data, copy=True)
    for column in self.means:
      if result.ndim == 1:
        result[column] = self.get_undiscretize_values(
            column, result[column].astype(int).reshape(-1, 1)
        )
      else:
        result[:, column] = self.get_undiscretize_values(column, result[:, column].astype(int))
    return result


class StatsDiscretizer(BaseDiscretizer):
  """Bins and per-bin statistics given by lime's `training_data_stats` dict."""

  def __init__(
      self,
      data,
      categorical_features,
      feature_names,
      labels=None,
      random_state=None,
      data_stats=None,
  ):
    super().__init__(
        data,
        categorical_features,
        feature_names,
        labels=labels,
        random_state=random_state,
        data_stats=data_stats,
    )

  def bins(self, data, labels):
    edges = self.data_stats.get("bins") or {}
    return [np.array(edges[column]) for column in self.to_discretize if column in edges]


class QuartileDiscretizer(BaseDiscretizer):
  """Edges at the 25th, 50th and 75th percentiles."""

  def __init__(self, data, categorical_features, feature_names, labels=None, random_state=None):
    super().__init__(
        data, categorical_features, feature_names, labels=labels, random_state=random_state
    )

  def bins(self, data, labels):
    return [np.percentile(data[:, column], [25, 50, 75]) for column in self.to_discretize]


class DecileDiscretizer(BaseDiscretizer):
  """Edges at the 10th, 20th, ..., 90th percentiles."""

  def __init__(self, data, categorical_features, feature_names, labels=None, random_state=None):
    super().__init__(
        data, categorical_features, feature_names, labels=labels, random_state=random_state
    )

  def bins(self, data, labels):
    return [
        np.percentile(data[:, column], [10, 20, 30, 40, 50, 60, 70, 80, 90])
        for column in self.to_discretize
    ]


class EntropyDiscretizer(BaseDiscretizer):
  """Edges of a depth-3 entropy decision tree on each column (jaxlime's tree, lime's splits)."""

  def __init__(self, data, categorical_features, feature_names, labels=None, random_state=None):
    if labels is None:
      raise ValueError("labels must not be None for EntropyDiscretizer: pass the training labels.")
    super().__init__(
        data, categorical_features, feature_names, labels=labels, random_state=random_state
    )

  def bins(self, data, labels):
    codes, num_classes = discretize_lib._encode_labels(labels, data.shape[0])
    edges = []
    for column in self.to_discretize:
      values = np.asarray(data[:, column], np.float64)
      qts = discretize_lib.entropy_tree_thresholds(values, codes, num_classes)
      edges.append(np.array([np.median(values)]) if len(qts) == 0 else np.sort(qts))
    return edges
