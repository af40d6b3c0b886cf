"""lime's `lime.lime_tabular` on jaxlime's tabular engine.

`LimeTabularExplainer` keeps lime's constructor and `explain_instance` (positional order
included) and returns lime's `Explanation`. The training statistics, the bins and the sampling
are `jaxlime.TabularExplainer`'s (its tables and `tabular_core`'s sampler, jitted and vmapped
over the rows), the model runs on the host once per call on all perturbations, and the fit is
`jaxlime.fit_surrogate` vmapped over the rows. Host paths, doing what lime does:

* `distance_metric` other than "euclidean": scikit-learn's `pairwise_distances` on the samples;
* `kernel` (a numpy function kernel(d, kernel_width)): called on each row's distances [S];
* `model_regressor` (a scikit-learn regressor): fit with `sample_weight` on the features the
  engine selected (see `jaxlime.compat._common.fit_instances`).

With any of them the weights are lime's, computed on the host in float64 for each row
(`_common.host_weights`: `pairwise_distances`, then the kernel), from the same samples.

Differences from lime, by design: the random numbers come from JAX keys drawn from the
`random_state` (same seed, same explanations; never lime's numbers); sparse training data and
rows are densified and handled like dense ones.
"""

import copy
import dataclasses
import functools

import jax
import numpy as np

from jaxlime._src import cache
from jaxlime._src import checks
from jaxlime._src import keys as keys_lib
from jaxlime._src import html as html_lib
from jaxlime._src import kernels
from jaxlime._src import tabular_core
from jaxlime._src.tabular import TabularExplainer
from jaxlime.compat import _common
from jaxlime.compat import explanation
from jaxlime.compat import lime_base
from jaxlime.compat.discretize import BaseDiscretizer
from jaxlime.compat.discretize import DecileDiscretizer
from jaxlime.compat.discretize import EntropyDiscretizer
from jaxlime.compat.discretize import QuartileDiscretizer
from jaxlime.compat.discretize import StatsDiscretizer

# Perturbation values (rows x samples x columns) held by one sampling call of explain_instances:
# 16 MB of float64 per array.
_BLOCK_ELEMENTS = 2_000_000


@dataclasses.dataclass(frozen=True)
class _SampleOptions:
  """The one option of `tabular_core.perturb_instance` that sampling needs."""

  sample_around_instance: bool


@functools.partial(jax.jit, static_argnames=("num_samples", "sample_around_instance"))
def _sample_rows(
    keys, rows, tables, kernel_width, *, num_samples: int, sample_around_instance: bool
):
  """lime's perturbations of B rows and their euclidean kernel weights.

  Args:
    keys: [B] PRNG keys.
    rows: [B, F] instances.
    tables: the engine's `TabularTables`.
    kernel_width: scalar.

  Returns:
    inputs [B, S, F] (model inputs, data units), z [B, S, F] (lime's scaled_data) and the
    exponential-kernel weights [B, S] of their euclidean distances; sample 0 is the row itself.
  """
  options = _SampleOptions(sample_around_instance)
  dtype = tables.mean.dtype

  def one(key, row):
    bits = tabular_core.draw_bits(key, num_samples, row.shape[0])
    choice, values = tabular_core.draw_tabular(bits, tables, dtype)
    inputs, z = tabular_core.perturb_instance(row, choice, values, tables, options)
    return inputs.T, z.T, kernels.euclidean_distances_columns(z)

  inputs, z, distances = jax.vmap(one)(keys, rows.astype(dtype))
  return inputs, z, kernels.exponential_kernel(distances, kernel_width)


def _dense(data) -> np.ndarray:
  return np.asarray(data.toarray() if hasattr(data, "toarray") else data)


class TableDomainMapper(explanation.DomainMapper):
  """lime's tabular mapper: feature ids -> "name <= 1.00" / "name=value" / "name"."""

  def __init__(
      self,
      feature_names,
      feature_values,
      scaled_row,
      categorical_features,
      discretized_feature_names=None,
      feature_indexes=None,
  ):
    self.exp_feature_names = feature_names
    self.discretized_feature_names = discretized_feature_names
    self.feature_names = feature_names
    self.feature_values = feature_values
    self.feature_indexes = feature_indexes
    self.scaled_row = scaled_row
    self.all_categorical = len(categorical_features) == len(scaled_row)
    self.categorical_features = categorical_features

  def map_exp_ids(self, exp):
    names = self.exp_feature_names
    if self.discretized_feature_names is not None:
      names = self.discretized_feature_names
    return [(names[x[0]], x[1]) for x in exp]

  def visualize_instance_html(
      self, exp, label, div_name, exp_object_name, show_table=True, show_all=False
  ):
    """The instance's feature values, tinted by their weight for `label` (lime's third panel)."""
    if not show_table:
      return ""
    weights = [0.0] * len(self.feature_names)
    for feature, weight in exp:
      weights[feature] = weight
    rows = list(zip(self.exp_feature_names, self.feature_values, weights))
    if not show_all:
      rows = [rows[feature] for feature, _ in exp]
    return html_lib.values_panel(rows)


class LimeTabularExplainer:
  """lime's `LimeTabularExplainer` (same arguments, same meaning) on jaxlime's engine.

  Args: as lime's. `discretizer` is "quartile", "decile", "entropy" or a `BaseDiscretizer`
  instance (lime's subclasses from `jaxlime.compat.discretize`, or your own). `random_state`:
  an int, a `np.random.RandomState`, or None for numpy's global state; each explanation draws
  its JAX key from it (and from the discretizer's own state when it has another one).
  """

  def __init__(
      self,
      training_data,
      mode="classification",
      training_labels=None,
      feature_names=None,
      categorical_features=None,
      categorical_names=None,
      kernel_width=None,
      kernel=None,
      verbose=False,
      class_names=None,
      feature_selection="auto",
      discretize_continuous=True,
      discretizer="quartile",
      sample_around_instance=False,
      random_state=None,
      training_data_stats=None,
  ):
    self.random_state = _common.check_random_state(random_state)
    self.mode = mode
    self.categorical_names = categorical_names or {}
    self.sample_around_instance = sample_around_instance
    self.training_data_stats = training_data_stats
    if training_data_stats:
      self.validate_training_data_stats(training_data_stats)
    training_data = _dense(training_data)
    num_columns = training_data.shape[1]
    categorical_features = list(categorical_features if categorical_features is not None else [])
    feature_names = list(
        feature_names if feature_names is not None else [str(i) for i in range(num_columns)]
    )
    self.categorical_features = [int(c) for c in categorical_features]
    self.feature_names = [str(name) for name in feature_names]
    self.discretizer = None
    if discretize_continuous:
      arguments = (training_data, self.categorical_features, self.feature_names)
      if training_data_stats:
        self.discretizer = StatsDiscretizer(
            *arguments,
            labels=training_labels,
            data_stats=training_data_stats,
            random_state=self.random_state,
        )
      elif isinstance(discretizer, BaseDiscretizer):
        self.discretizer = discretizer
      elif discretizer in ("quartile", "decile", "entropy"):
        kind = {
            "quartile": QuartileDiscretizer,
            "decile": DecileDiscretizer,
            "entropy": EntropyDiscretizer,
        }[discretizer]
        self.discretizer = kind(*arguments, labels=training_labels, random_state=self.random_state)
      else:
        raise ValueError(
            "discretizer must be 'quartile', 'decile', 'entropy' or a "
            f"BaseDiscretizer instance; got {discretizer!r}."
        )
    self.engine = TabularExplainer(
        training_data,
        mode=mode,
        training_labels=training_labels,
        feature_names=self.feature_names,
        categorical_features=self.categorical_features,
        categorical_names=self.categorical_names,
        kernel_width=kernel_width,
        class_names=class_names,
        feature_selection=feature_selection,
        discretize_continuous=discretize_continuous,
        discretizer=self.discretizer.stats if self.discretizer is not None else discretizer,
        sample_around_instance=sample_around_instance,
        training_data_stats=training_data_stats,
    )
    if self.discretizer is not None:
      self.categorical_features = list(range(num_columns))
    self.kernel_width = self.engine.kernel_width
    self.kernel = kernel
    kernel_fn = functools.partial(kernel or _common.lime_kernel, kernel_width=self.kernel_width)
    self.feature_selection = feature_selection
    self.verbose = verbose
    self.base = lime_base.LimeBase(kernel_fn, verbose, random_state=self.random_state)
    self.class_names = class_names
    self.feature_values, self.feature_frequencies = {}, {}
    columns = training_data
    if self.discretizer is not None and not training_data_stats:
      columns = self.discretizer.discretize(training_data)
    for feature in self.categorical_features:
      if training_data_stats:
        values = training_data_stats["feature_values"][feature]
        frequencies = training_data_stats["feature_frequencies"][feature]
      else:
        values, frequencies = np.unique(columns[:, feature], return_counts=True)
        values = values.tolist()
      self.feature_values[feature] = values
      self.feature_frequencies[feature] = np.array(frequencies) / float(sum(frequencies))

  @staticmethod
  def convert_and_round(values):
    return ["%.2f" % v for v in values]

  @staticmethod
  def validate_training_data_stats(training_data_stats):
    """lime's check of the keys of `training_data_stats`."""
    missing = {"means", "mins", "maxs", "stds", "feature_values", "feature_frequencies"} - set(
        training_data_stats
    )
    if missing:
      raise ValueError(f"Missing keys in training_data_stats: {sorted(missing)}.")

  def explain_instance(
      self,
      data_row,
      predict_fn,
      labels=(1,),
      top_labels=None,
      num_features=10,
      num_samples=5000,
      distance_metric="euclidean",
      model_regressor=None,
  ):
    """lime's `explain_instance`: the explanation of one row [F] (an `Explanation`)."""
    row = _dense(data_row).reshape(1, -1)
    return self.explain_instances(
        row,
        predict_fn,
        labels,
        top_labels,
        num_features,
        num_samples,
        distance_metric,
        model_regressor,
    )[0]

  def explain_instances(
      self,
      rows,
      predict_fn,
      labels=(1,),
      top_labels=None,
      num_features=10,
      num_samples=5000,
      distance_metric="euclidean",
      model_regressor=None,
  ):
    """`explain_instance` for N rows [N, F] at once: a list of N lime `Explanation`s.

    The rows are sampled by one jitted, vmapped call per block of rows, `predict_fn` runs once
    per block on all its perturbations, and the surrogates are fit by one vmapped call.
    """
    cache.enable_default()
    rows = _dense(rows)
    if rows.ndim != 2 or rows.shape[1] != self.engine.num_features_in:
      raise ValueError(
          f"rows must have shape (N, {self.engine.num_features_in}) to match the "
          f"training data; got {rows.shape}."
      )
    checks.as_finite_matrix("rows", rows)
    num_samples = checks.positive_int("num_samples", num_samples, minimum=2)
    num_rows, num_columns = rows.shape
    states = [self.random_state]
    if self.discretizer is not None:
      states.append(self.discretizer.random_state)
    keys = keys_lib.instance_keys(_common.draw_key(*states), num_rows)
    block = max(1, min(num_rows, _BLOCK_ELEMENTS // (num_samples * num_columns)))
    explanations = []
    for start in range(0, num_rows, block):
      count = min(block, num_rows - start)
      padded = np.concatenate(
          [rows[start : start + count], np.repeat(rows[start : start + 1], block - count, axis=0)]
      )
      block_keys = keys[np.minimum(np.arange(start, start + block), num_rows - 1)]
      inputs, z, weights = jax.tree.map(
          np.asarray,
          _sample_rows(
              block_keys,
              padded,
              self.engine.tables,
              self.kernel_width,
              num_samples=num_samples,
              sample_around_instance=self.sample_around_instance,
          ),
      )
      explanations += self._explain_block(
          rows[start : start + count],
          inputs,
          z,
          weights,
          predict_fn,
          labels,
          top_labels,
          num_features,
          distance_metric,
          model_regressor,
      )
    return explanations

  def _explain_block(
      self,
      rows,
      inputs,
      z,
      weights,
      predict_fn,
      labels,
      top_labels,
      num_features,
      distance_metric,
      model_regressor,
  ):
    """Explains the first len(rows) of a block padded to a fixed size (so that the fit compiles
    once): the model runs on the real rows' samples, padding rows copy the first row's outputs.
    """
    count = len(rows)
    block, num_samples, num_columns = inputs.shape
    outputs = _common.check_outputs(
        predict_fn(inputs[:count].reshape(-1, num_columns)), self.mode, count * num_samples
    )
    outputs = outputs.reshape(count, num_samples, -1)
    outputs = np.concatenate([outputs, np.repeat(outputs[:1], block - count, axis=0)])
    if distance_metric != "euclidean" or self.kernel is not None or model_regressor is not None:
      weights = _common.host_weights(z, distance_metric, self.base.kernel_fn)
    if self.mode == "classification" and self.class_names is None:
      self.class_names = [str(c) for c in range(outputs.shape[-1])]
    chosen, reported = _common.explained_labels(outputs, self.mode, labels, top_labels)
    fits = _common.fit_instances(
        z,
        outputs,
        weights,
        chosen,
        num_features=num_features,
        feature_selection=self.feature_selection,
        model_regressor=model_regressor,
        verbose=self.verbose,
    )
    return [
        self._explanation(row, z_row[0], out, fit, top)
        for row, z_row, out, fit, top in zip(rows, z[:count], outputs, fits, reported)
    ]

  def _explanation(self, row, scaled_row, outputs, fit, top_labels):
    feature_names = copy.deepcopy(self.feature_names)
    values = self.convert_and_round(row)
    for i in self.categorical_features:
      if self.discretizer is not None and i in self.discretizer.lambdas:
        continue
      name = int(row[i])
      if i in self.categorical_names:
        name = self.categorical_names[i][name]
      feature_names[i] = f"{feature_names[i]}={name}"
      values[i] = "True"
    discretized_feature_names = None
    if self.discretizer is not None:
      bins = self.discretizer.discretize(row)
      discretized_feature_names = copy.deepcopy(feature_names)
      for f in self.discretizer.names:
        discretized_feature_names[f] = self.discretizer.names[f][int(bins[f])]
    mapper = TableDomainMapper(
        feature_names,
        values,
        scaled_row,
        self.categorical_features,
        discretized_feature_names=discretized_feature_names,
    )
    result = explanation.Explanation(mapper, mode=self.mode, class_names=self.class_names)
    if self.mode == "classification":
      result.predict_proba = outputs[0]
      result.top_labels = top_labels
    else:
      result.predicted_value = outputs[0, 0]
      result.min_value = outputs[:, 0].min()
      result.max_value = outputs[:, 0].max()
    _common.fill_explanation(result, fit)
    if self.mode == "regression":
      result.intercept[1] = result.intercept[0]
      result.local_exp[1] = list(result.local_exp[0])
      result.local_exp[0] = [(i, -1 * w) for i, w in result.local_exp[1]]
    return result


class RecurrentTabularExplainer(LimeTabularExplainer):
  """lime's explainer for [M, T, F] sequences: each (feature, time step) is one column."""

  def __init__(
      self,
      training_data,
      mode="classification",
      training_labels=None,
      feature_names=None,
      categorical_features=None,
      categorical_names=None,
      kernel_width=None,
      kernel=None,
      verbose=False,
      class_names=None,
      feature_selection="auto",
      discretize_continuous=True,
      discretizer="quartile",
      random_state=None,
  ):
    training_data = np.asarray(training_data)
    num_rows, num_timesteps, num_features = training_data.shape
    training_data = np.transpose(training_data, axes=(0, 2, 1)).reshape(
        num_rows, num_timesteps * num_features
    )
    self.n_timesteps = num_timesteps
    self.n_features = num_features
    if feature_names is None:
      feature_names = [str(i) for i in range(num_features)]
    feature_names = [
        f"{n}_t-{num_timesteps - (i + 1)}" for n in feature_names for i in range(num_timesteps)
    ]
    super().__init__(
        training_data,
        mode=mode,
        training_labels=training_labels,
        feature_names=feature_names,
        categorical_features=categorical_features,
        categorical_names=categorical_names,
        kernel_width=kernel_width,
        kernel=kernel,
        verbose=verbose,
        class_names=class_names,
        feature_selection=feature_selection,
        discretize_continuous=discretize_continuous,
        discretizer=discretizer,
        random_state=random_state,
    )

  def _make_predict_proba(self, func):
    """Wraps `func` on [B, T, F] sequences as a function of the flattened rows [B, F * T]."""

    def predict_proba(X):
      X = np.transpose(X.reshape(X.shape[0], self.n_features, self.n_timesteps), axes=(0, 2, 1))
      return func(X)

    return predict_proba

  def _flatten(self, sequences):
    sequences = np.asarray(sequences)
    return np.transpose(sequences, axes=(0, 2, 1)).reshape(sequences.shape[0], -1)

  def explain_instance(
      self,
      data_row,
      classifier_fn,
      labels=(1,),
      top_labels=None,
      num_features=10,
      num_samples=5000,
      distance_metric="euclidean",
      model_regressor=None,
  ):
    """lime's `explain_instance` for one sequence [T, F]."""
    return self.explain_instances(
        np.asarray(data_row)[None],
        classifier_fn,
        labels,
        top_labels,
        num_features,
        num_samples,
        distance_metric,
        model_regressor,
    )[0]

  def explain_instances(
      self,
      rows,
      classifier_fn,
      labels=(1,),
      top_labels=None,
      num_features=10,
      num_samples=5000,
      distance_metric="euclidean",
      model_regressor=None,
  ):
    """`explain_instance` for N sequences [N, T, F] at once."""
    return super().explain_instances(
        self._flatten(rows),
        self._make_predict_proba(classifier_fn),
        labels,
        top_labels,
        num_features,
        num_samples,
        distance_metric,
        model_regressor,
    )
