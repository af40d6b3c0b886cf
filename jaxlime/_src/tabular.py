"""`TabularExplainer`: lime's `LimeTabularExplainer` for N instances in one jitted computation."""

import collections
import dataclasses
import functools
import math
import warnings
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import adaptive
from jaxlime._src import checks
from jaxlime._src import discretize as discretize_lib
from jaxlime._src import frames
from jaxlime._src import kernels
from jaxlime._src import keys as keys_lib
from jaxlime._src import streaming
from jaxlime._src import surrogate
from jaxlime._src import tabular_core
from jaxlime._src.explanation import Explanation
from jaxlime._src.explanation import ValueDomain

DISCRETIZERS = ("quartile", "decile", "entropy")
MODES = ("classification", "regression")
# Model-input elements held by one block of instances when batch_size is not given: about 6 MB
# of float32, which measured fastest for small models on a 2-core CPU (10 instances of 5000 x 30).
_DEFAULT_BLOCK_ELEMENTS = 1_500_000


@dataclasses.dataclass(frozen=True, eq=False)
class TabularDomain(ValueDomain):
  """Host-side names of tabular features, to read explanations as lime does."""

  mode: str
  class_names: tuple[str, ...] | None
  base_names: tuple[str, ...]
  categorical_features: tuple[int, ...]  # the user's categorical columns.
  categorical_names: Mapping[int, Sequence[Any]]
  discretizer: Any  # DiscretizerStats or None.

  def feature_names(self, explanation: Explanation, index: int) -> list[str]:
    """lime's readable names for instance `index`: "age <= 30.00", "sex=female", "fare".

    Bins are read as the sampler finds them: the stored instance against the edges, both in the
    instance's dtype (`explain` refused rows where this differs from lime's float64 bins).
    """
    row = np.asarray(explanation.instances[index])
    names = list(self.base_names)
    for column in self.categorical_features:
      value = int(row[column])
      label = value
      if column in self.categorical_names and 0 <= value < len(self.categorical_names[column]):
        label = self.categorical_names[column][value]
      names[column] = f"{self.base_names[column]}={label}"
    if self.discretizer is not None:
      bins = self.discretizer.discretize(row[None, :], dtype=row.dtype)[0]
      for column, bin_names in enumerate(self.discretizer.names):
        if bin_names:
          names[column] = bin_names[int(bins[column])]
    return names

  def instance_panel(
      self, explanation: Explanation, index: int, weights: Mapping[int, float]
  ) -> str:
    """lime's third panel: the explained features' values, tinted by their weight."""
    from jaxlime._src import html as html_lib

    row = np.asarray(explanation.instances[index], dtype=np.float64)
    rows = []
    for column in weights:
      value = f"{row[column]:.2f}"
      names = self.categorical_names.get(column)
      if (
          column in self.categorical_features
          and names is not None
          and (0 <= int(row[column]) < len(names))
      ):
        value = str(names[int(row[column])])
      rows.append((self.base_names[column], value, weights[column]))
    return html_lib.values_panel(rows)


def _normal_cdf(values: np.ndarray) -> np.ndarray:
  return 0.5 * np.vectorize(math.erfc)(-np.asarray(values, np.float64) / math.sqrt(2.0))


def _choice_frequencies(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  counts = collections.Counter(column.tolist())
  values = np.array(sorted(counts), dtype=np.float64)
  frequencies = np.array([counts[v] for v in sorted(counts)], dtype=np.float64)
  return values, frequencies / frequencies.sum()


def build_tables(
    num_columns: int,
    choice_columns: Sequence[int],
    choice_values: Mapping[int, np.ndarray],
    choice_frequencies: Mapping[int, np.ndarray],
    gaussian_mean: np.ndarray,
    gaussian_std: np.ndarray,
    discretizer: Any,
    dtype,
) -> tabular_core.TabularTables:
  """Packs the training statistics of F columns into padded arrays (host side, float64 math).

  Args:
    num_columns: F.
    choice_columns: the columns sampled from training frequencies.
    choice_values: column -> [n] values (bin ids of binned columns, categories otherwise).
    choice_frequencies: column -> [n] frequencies summing to 1.
    gaussian_mean, gaussian_std: [F] statistics of gaussian columns.
    discretizer: DiscretizerStats of binned columns, or None.
    dtype: float dtype of the tables.
  """
  width = max([len(choice_values[c]) for c in choice_columns] + [1])
  is_choice = np.zeros(num_columns, bool)
  is_binned = np.zeros(num_columns, bool)
  keys = np.full((num_columns, width), np.nan)
  cdf = np.full((num_columns, width - 1), 2.0)
  # Gaussian columns: one choice whose erf-domain argument is 2u - 1, scaled to a standard normal.
  slope = np.full((num_columns, width), 2.0)
  offset = np.full((num_columns, width), -1.0)
  loc = np.zeros((num_columns, width))
  scale = np.full((num_columns, width), math.sqrt(2.0))
  for column in choice_columns:
    values = np.asarray(choice_values[column], np.float64)
    frequencies = np.asarray(choice_frequencies[column], np.float64)
    count = len(values)
    is_choice[column] = True
    keys[column, :count] = values
    ends = np.cumsum(frequencies)
    ends[-1] = 1.0  # Draws lie strictly below 1, so the last real choice catches them all.
    cdf[column, : count - 1] = ends[:-1]
    starts = ends - frequencies
    slope[column], offset[column], scale[column] = 0.0, 0.0, 0.0
    loc[column, :count] = values
    if discretizer is not None and discretizer.discretized[column]:
      is_binned[column] = True
      bins = values.astype(int)
      bin_mean, bin_std = discretizer.means[column, bins], discretizer.stds[column, bins]
      lower = _normal_cdf((discretizer.mins[column, bins] - bin_mean) / bin_std)
      upper = _normal_cdf((discretizer.maxs[column, bins] - bin_mean) / bin_std)
      # The draw's position inside its cdf interval, (u - start) / frequency, is uniform on
      # (0, 1); it maps linearly to (2 lower - 1, 2 upper - 1), the erf-domain image of the bin.
      drawn = frequencies > 0
      bin_slope = np.where(drawn, 2 * (upper - lower) / np.where(drawn, frequencies, 1), 0.0)
      slope[column, :count] = bin_slope
      offset[column, :count] = 2 * lower - 1 - starts * bin_slope
      loc[column, :count] = bin_mean
      # A bin holding a single training value (lime adds 1e-11 to its zero std) is that value.
      scale[column, :count] = np.where(bin_std > 1e-10, bin_std * math.sqrt(2.0), 0.0)
  if discretizer is not None:
    edges = np.asarray(discretizer.edges, np.float64)
  else:
    edges = np.full((num_columns, 1), np.inf)
  as_array = lambda a: jnp.asarray(a, dtype)  # noqa: E731
  return tabular_core.TabularTables(
      is_choice=jnp.asarray(is_choice),
      is_binned=jnp.asarray(is_binned),
      edges=as_array(edges),
      choice_keys=as_array(keys),
      cdf=as_array(cdf),
      slope=as_array(slope),
      offset=as_array(offset),
      loc=as_array(loc),
      scale=as_array(scale),
      mean=as_array(np.where(is_choice, 0.0, gaussian_mean)),
      std=as_array(np.where(is_choice, 1.0, gaussian_std)),
  )


class TabularExplainer:
  """Explains predictions on tabular data, as lime's `LimeTabularExplainer`, for N rows at once.

  Continuous columns are discretized into bins (quartiles by default) or kept continuous and
  standardised; categorical columns are sampled from their training frequencies. Each
  explanation fits a weighted ridge surrogate on S perturbations of the instance. See
  `explain`.

  Args:
    training_data: [M, F] training rows, or None when `training_data_stats` is given; or a
      pandas DataFrame (see `jaxlime._src.frames`): names from its columns, bool, category and
      string columns categorical, and X then a DataFrame with the same columns.
    mode: "classification" (the model returns [B, C] probabilities) or "regression" ([B]).
    training_labels: [M] labels, needed by the "entropy" discretizer.
    feature_names: F names; defaults to "0", "1", ...
    categorical_features: indices of categorical columns (integer-valued).
    categorical_names: {column: [name of value 0, name of value 1, ...]}.
    kernel_width: kernel width; defaults to 0.75 * sqrt(F).
    kernel: kernel(distances, kernel_width) -> weights, written with jax.numpy; defaults to
      `jaxlime.exponential_kernel`.
    class_names: names of the C classes; defaults to "0", "1", ...
    feature_selection: "auto", "none", "highest_weights", "forward_selection", "lasso_path".
    discretize_continuous: discretize non-categorical columns.
    discretizer: "quartile", "decile", "entropy", or the bins of F columns as a
      `DiscretizerStats` (e.g. from a `jaxlime.compat.discretize` discretizer).
    sample_around_instance: without discretization, sample around the instance instead of the
      training mean.
    random_state: an int, the default key of `explain` (lime's name for the seed).
    training_data_stats: lime's dict of training statistics ("means", "mins", "maxs", "stds",
      "feature_values", "feature_frequencies", and "bins" for discretization), to explain
      without the training data.
    shared_samples: explain every instance of a batch on one shared pool of perturbations (see
      `explain`); not available with `sample_around_instance`.
    control_variates: fit each surrogate to the model's outputs less their control variates
      (`jaxlime._src.control_variates`): functions of the drawn bins and values whose mean is
      zero under lime's sampling given the interpretable sample, fitted on one half of the
      samples and subtracted from the other. The surrogate estimates the same coefficients as
      lime's with less sampling noise (`coef_std` reports the reduced noise; `score` stays
      lime's R^2 on the model's outputs). Needs discretized or categorical columns; off by
      default, where the explanations are lime's estimator.
  """

  def __init__(
      self,
      training_data=None,
      mode: str = "classification",
      training_labels=None,
      feature_names: Sequence[str] | None = None,
      categorical_features: Sequence[int] | None = None,
      categorical_names: Mapping[int, Sequence[Any]] | None = None,
      kernel_width: float | None = None,
      kernel: Callable | None = None,
      class_names: Sequence[str] | None = None,
      feature_selection: str = "auto",
      discretize_continuous: bool = True,
      discretizer: str = "quartile",
      sample_around_instance: bool = False,
      random_state: int | None = None,
      training_data_stats: Mapping[str, Any] | None = None,
      *,
      shared_samples: bool = False,
      control_variates: bool = False,
  ):
    checks.check_option("mode", mode, MODES)
    checks.check_option("feature_selection", feature_selection, surrogate.FEATURE_SELECTION_METHODS)
    self.frame_schema = None
    if frames.is_dataframe(training_data):
      self.frame_schema = frames.schema_from_frame(training_data, categorical_features)
      if feature_names is None:
        feature_names = [str(c) for c in training_data.columns]
      categorical_features = sorted(self.frame_schema.categories)
      categorical_names = {
          **{j: list(v) for j, v in self.frame_schema.categories.items()},
          **(categorical_names or {}),
      }
      training_data = self.frame_schema.encode(training_data, "training_data")
    if discretize_continuous and not isinstance(discretizer, discretize_lib.DiscretizerStats):
      checks.check_option("discretizer", discretizer, DISCRETIZERS)
    if kernel is not None and not callable(kernel):
      raise TypeError(f"kernel must be a callable kernel(distances, kernel_width); got {kernel!r}.")
    if shared_samples and sample_around_instance:
      raise ValueError(
          "shared_samples=True needs samples that do not depend on the instance, but "
          "sample_around_instance=True centres them on each instance. Use one or the other."
      )
    if not isinstance(control_variates, bool):
      raise TypeError(f"control_variates must be a bool; got {control_variates!r}.")
    if control_variates and not discretize_continuous and not categorical_features:
      raise ValueError(
          "control_variates=True adjusts by the bins and categories drawn, but with "
          "discretize_continuous=False and no categorical_features every column is sampled "
          "continuously: there is nothing to adjust by."
      )
    if training_data is None and training_data_stats is None:
      raise ValueError("Pass training_data [M, F], or training_data_stats to explain without it.")
    if training_data_stats is not None and not discretize_continuous:
      raise ValueError(
          "training_data_stats holds per-bin statistics, which only discretize_continuous=True "
          "uses; without discretization pass training_data."
      )

    if training_data is not None:
      training_data = checks.as_finite_matrix("training_data", training_data)
      num_columns = training_data.shape[1]
    else:
      missing = {"feature_values", "feature_frequencies"} - set(training_data_stats)
      if missing:
        raise ValueError(f"training_data_stats lacks the keys {sorted(missing)}.")
      num_columns = len(training_data_stats["feature_values"])
    self.num_features_in = num_columns
    categorical_features = sorted(int(c) for c in (categorical_features or []))
    for column in categorical_features:
      if not 0 <= column < num_columns:
        raise ValueError(f"categorical_features has column {column}, outside 0..{num_columns - 1}.")
    if feature_names is None:
      feature_names = [str(i) for i in range(num_columns)]
    feature_names = [str(name) for name in feature_names]
    if len(feature_names) != num_columns:
      raise ValueError(f"feature_names has {len(feature_names)} names for {num_columns} columns.")

    self.mode = mode
    self.feature_names = feature_names
    self.categorical_features = categorical_features
    self.categorical_names = dict(categorical_names or {})
    self.class_names = None if class_names is None else [str(c) for c in class_names]
    self.feature_selection = feature_selection
    self.sample_around_instance = bool(sample_around_instance)
    self.shared_samples = bool(shared_samples)
    self.control_variates = control_variates
    self.kernel = kernel
    self.random_state = random_state
    self.kernel_width = float(
        kernel_width if kernel_width is not None else 0.75 * math.sqrt(num_columns)
    )
    if not self.kernel_width > 0:
      raise ValueError(f"kernel_width must be > 0; got {kernel_width}.")

    self.discretizer = None
    if discretize_continuous and isinstance(discretizer, discretize_lib.DiscretizerStats):
      self.discretizer = discretizer
    elif discretize_continuous:
      if training_data_stats is not None:
        self.discretizer = discretize_lib.stats_discretizer(
            training_data_stats, categorical_features, feature_names, num_features=num_columns
        )
      else:
        self.discretizer = discretize_lib.build_discretizer(
            discretizer,
            training_data,
            categorical_features,
            feature_names,
            training_labels=training_labels,
        )
    self._set_statistics(training_data, training_data_stats)

  def _set_statistics(self, training_data, training_data_stats):
    num_columns = self.num_features_in
    if self.discretizer is not None:
      choice_columns = list(range(num_columns))
    else:
      choice_columns = list(self.categorical_features)
    values, frequencies = {}, {}
    if training_data_stats is not None:
      # Only with discretization (checked in __init__): every column is a choice column.
      for column in choice_columns:
        values[column] = np.asarray(training_data_stats["feature_values"][column], np.float64)
        counts = np.asarray(training_data_stats["feature_frequencies"][column], np.float64)
        frequencies[column] = counts / counts.sum()
      mean, scale = np.zeros(num_columns), np.ones(num_columns)
    else:
      columns = training_data
      if self.discretizer is not None:
        columns = self.discretizer.discretize(training_data)
      for column in choice_columns:
        values[column], frequencies[column] = _choice_frequencies(columns[:, column])
      mean = training_data.mean(axis=0)
      scale = training_data.std(axis=0)
    scale = np.where(scale == 0, 1.0, scale)  # scikit-learn's StandardScaler does the same.
    self.choice_values = values
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    self.tables = build_tables(
        num_columns, choice_columns, values, frequencies, mean, scale, self.discretizer, dtype
    )
    self.domain = TabularDomain(
        mode=self.mode,
        class_names=None if self.class_names is None else tuple(self.class_names),
        base_names=tuple(self.feature_names),
        categorical_features=tuple(self.categorical_features),
        categorical_names=self.categorical_names,
        discretizer=self.discretizer,
    )

  def explain(
      self,
      X,
      model,
      *,
      key=None,
      num_samples: int = 5000,
      num_features: int = 10,
      labels: Sequence[int] = (1,),
      top_labels: int | None = None,
      batch_size: int | None = None,
      model_input_dtype=None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> Explanation:
    """Explains the model's predictions on N rows with lime's tabular method.

    Instance i draws its randomness from `fold_in(key, i)` (or its own key), i its global row
    index: its explanation does not depend on `batch_size`, `instances_per_call`, the mesh or
    the number of processes, and `jax.vmap(self.explain_fn(model, ...))(X,
    jaxlime.instance_keys(key, N))` computes the same explanations. With
    `shared_samples=True` all instances share one pool of perturbations (drawn from `key`): the
    model runs on S + N rows instead of N * S, each explanation still follows lime's sampling
    distribution, but their noise is shared.

    The work is one jitted program per call of `instances_per_call` instances (the last call
    padded; see `jaxlime._src.streaming` for how call sizes are chosen so a new N rarely
    compiles), processing blocks of instances so memory depends on the block, not on N.
    `explain` stays traceable: under `jax.jit` or `jax.grad` it is one call.

    Args:
      X: [N, F] rows to explain (a single [F] row is treated as N = 1). A jax.Array sharded over
        a mesh axis (NamedSharding) is explained on those devices.
      model: [B, F] -> [B, C] probabilities (classification) or [B] (regression): a jittable
        function, a Flax NNX module, `functools.partial(linen_module.apply, variables)`, or
        `jaxlime.host_model(fn)` for numpy functions such as scikit-learn's predict_proba.
      key: an int seed, a `jax.random.key` (instance i then draws from `fold_in(key, i)`), or N
        keys, one per instance (not with shared_samples); defaults to `random_state` or 0. An
        int seed gives the same explanations on any number of devices and processes.
      num_samples: S, perturbations per instance (row 0 is the instance); or
        `jaxlime.UntilStable(...)`: samples added in rounds per instance until its top-k
        features are settled (concrete inputs only, not with shared_samples or
        process_local); the result then records `num_samples` [N] and `converged` [N].
      num_features: K, the largest number of features in each explanation.
      labels: class ids to explain (classification).
      top_labels: explain the K classes of highest predicted probability instead of `labels`.
      batch_size: the largest number of model-input rows evaluated at once; bounds memory.
      model_input_dtype: dtype the model's inputs are cast to (e.g. jnp.bfloat16); samples,
        weights and the solve stay in the explainer's float dtype.
      progress, mesh, axis, instances_per_call, process_local: how the work runs (see
        `jaxlime.RunOptions`). With UntilStable the progress bar counts finished instances.

    Returns:
      An `Explanation` with coef [N, L, F] and L = len(labels), top_labels, or 1 (regression);
      sharded like the instances when a mesh of one process is used.
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    options = dict(
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        model_input_dtype=model_input_dtype,
    )
    if adaptive.is_adaptive(num_samples):
      job, placement = self._adaptive_job(X, model, run, num_samples, **options)
      return adaptive.explain_all(job, num_samples, self._key(key), run, placement)
    job, placement = self._job(X, model, run, key, num_samples=num_samples, **options)
    return streaming.explain_all(job, self._key(key), run, placement)

  def explain_iter(
      self,
      X,
      model,
      *,
      key=None,
      num_samples: int = 5000,
      num_features: int = 10,
      labels: Sequence[int] = (1,),
      top_labels: int | None = None,
      batch_size: int | None = None,
      model_input_dtype=None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> Iterator[tuple[int, Explanation]]:
    """`explain`, yielded call by call: (index of the first instance, its Explanation).

    For streaming very large N to disk: each part is computed while the previous one is
    handed back, and the results equal `explain`'s. With `process_local=True` each process
    gets the parts of its own rows (indices local to its X). Arguments as in `explain`; X
    must hold concrete values.
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    options = dict(
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        model_input_dtype=model_input_dtype,
    )
    if adaptive.is_adaptive(num_samples):
      job, placement = self._adaptive_job(X, model, run, num_samples, **options)
      yield from adaptive.explain_parts(job, num_samples, self._key(key), run, placement)
      return
    job, placement = self._job(X, model, run, key, num_samples=num_samples, **options)
    yield from streaming.explain_parts(job, self._key(key), run, placement)

  def explain_fn(
      self,
      model,
      *,
      num_samples: int = 5000,
      num_features: int = 10,
      labels: Sequence[int] = (1,),
      top_labels: int | None = None,
      batch_size: int | None = None,
      model_input_dtype=None,
  ) -> Callable[[jax.Array, jax.Array], surrogate.Surrogate]:
    """The per-instance explanation under `explain`: a pure `fn(x [F], key) -> Surrogate`.

    `fn` samples S perturbations of x from `key`, evaluates the model on them, weights them
    and fits the surrogate, for ONE instance. It is jittable, vmappable and differentiable
    wherever the model is (with respect to x, or to the model's parameters when `explain_fn`
    is called inside the differentiated function). `jax.vmap(fn)(X, jaxlime.instance_keys(key,
    N))` gives the coefficients, selections and scores of `explain(X, model, key=key)` with
    the same options (equal up to float rounding of the model on other batch shapes).

    Args:
      model, num_samples, num_features, labels, top_labels, batch_size, model_input_dtype: as
        in `explain`.

    Returns:
      fn(x, key) -> `jaxlime.Surrogate` with coef [L, F], labels [L] and prediction [C].
    """
    if adaptive.is_adaptive(num_samples):
      raise adaptive.not_traced("explain_fn")
    if self.shared_samples:
      raise ValueError(
          "explain_fn explains one instance on its own samples; an explainer with "
          "shared_samples=True shares one pool across a batch. Use explain."
      )
    adapter, config, _ = self._configure(
        model,
        None,
        num_samples=num_samples,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        batch_size=batch_size,
        model_input_dtype=model_input_dtype,
    )
    return functools.partial(
        tabular_core.explain_instance,
        adapter.params,
        tables=self.tables,
        kernel_width=self.kernel_width,
        config=config,
        apply=adapter.apply,
    )

  def _key(self, key):
    return key if key is not None else (self.random_state or 0)

  def _configure(
      self,
      model,
      host_X,
      *,
      num_samples,
      num_features,
      labels,
      top_labels,
      batch_size,
      model_input_dtype,
  ):
    """The model adapter, the static program options for blocks of one instance (checked
    against the model), and the largest block the memory bound allows."""
    num_samples = checks.positive_int("num_samples", num_samples, minimum=2)
    num_features = checks.positive_int("num_features", num_features, minimum=1)
    dtype = self.tables.mean.dtype
    input_dtype = None if model_input_dtype is None else jnp.dtype(model_input_dtype).name
    adapter, num_outputs = checks.model_outputs(
        model,
        (self.num_features_in,),
        input_dtype or dtype,
        self.mode,
        example=None if host_X is None else host_X[0],
    )
    if self.mode == "classification":
      if top_labels is not None:
        top_labels = checks.positive_int("top_labels", top_labels, minimum=1)
        if top_labels > num_outputs:
          raise ValueError(f"top_labels={top_labels} exceeds the model's {num_outputs} outputs.")
        labels = None
      else:
        labels = checks.labels_in_range(labels, num_outputs)
    else:
      labels, top_labels = (0,), None
    max_block, rows = plan_blocks(num_samples, self.num_features_in, batch_size)
    config = self._config(
        num_samples,
        num_features,
        labels,
        top_labels,
        chunk_size=min(rows, num_samples),
        input_dtype=input_dtype,
        num_outputs=num_outputs,
    )
    return adapter, config, (max_block, rows)

  def _config(
      self,
      num_samples,
      num_features,
      labels,
      top_labels,
      *,
      chunk_size=None,
      input_dtype=None,
      num_outputs=None,
  ):
    """The static program options of this explainer for blocks of one instance."""
    return tabular_core.TabularConfig(
        num_samples=num_samples,
        num_features=num_features,
        feature_selection=self.feature_selection,
        mode=self.mode,
        labels=labels,
        top_labels=top_labels,
        discretize=self.discretizer is not None,
        sample_around_instance=self.sample_around_instance,
        block_size=1,
        chunk_size=num_samples if chunk_size is None else chunk_size,
        shared_samples=self.shared_samples,
        kernel=self.kernel,
        input_dtype=input_dtype,
        num_outputs=num_outputs,
        control_variates=self.control_variates,
    )

  def _instance_samples(self, x, key, num_samples: int):
    """One instance's samples as `explain` draws them from key (a single key, x [F]): z [F, S],
    the model's input columns [F, S], the drawn choices [F, S] and the kernel weights [S]. For
    tests and benchmarks that check the sampler or refit its samples."""
    config = self._config(num_samples, 1, (0,), None)
    x = jnp.asarray(x, self.tables.mean.dtype)
    input_columns, z, choice = tabular_core.draw_instance(x, key, self.tables, config)
    distances = kernels.euclidean_distances_columns(z)
    return (
        z,
        input_columns,
        choice,
        kernels.kernel_weights(distances, self.kernel_width, self.kernel),
    )

  def _job(self, X, model, run: streaming.RunOptions, key, **options):
    """Validates the arguments; returns the driver's job and the placement."""
    if self.frame_schema is not None:
      X, model = self.frame_schema.encode(X), frames.model_for(self.frame_schema, model)
    X = checks.as_instances("X", X, self.num_features_in, "the training data")
    placement = streaming.placement_for(X, run)
    concrete = checks.is_concrete(X)
    # A host copy: calls take slices of it, so only one call's instances live on the devices
    # (and slicing a sharded array with explicit axes is avoided).
    host_X = streaming.to_host(X, placement) if concrete else None
    adapter, config, (max_block, rows) = self._configure(
        model, host_X, batch_size=run.batch_size, **options
    )
    dtype = self.tables.mean.dtype
    if concrete:
      if np.dtype(host_X.dtype).itemsize > np.dtype(dtype).itemsize:
        # Rows given in a wider float than the explainer's: their conversion must not move a
        # value across a bin edge. Rows already in the explainer's float are binned by the same
        # comparisons for the samples and the names (there is no wider value to disagree with).
        checks.bins_as_lime("X", np.asarray(host_X, np.float64), self.discretizer, dtype)
      self._warn_unseen_categories(host_X)
      instances = host_X.astype(dtype)
    else:
      instances = jnp.asarray(X, dtype)
    # explain_tabular(params, instances, keys, tables, kernel_width): instances split, and keys
    # too unless one key is shared.
    split = (False, True, not self.shared_samples, False, False)
    if self.shared_samples:
      if keys_lib.is_key(key) and key.ndim:
        raise ValueError(
            "shared_samples=True draws one pool of samples from one key; got "
            f"a key array of shape {key.shape}."
        )
      pool_key = keys_lib.as_key(self._key(key))
      pool_key = jax.random.wrap_key_data(
          jax.random.key_data(pool_key),
          impl=keys_lib.impl_for(jax.random.key_impl(pool_key), placement.mesh is not None),
      )

    def call_for(block_size):
      block_config = dataclasses.replace(
          config, block_size=block_size, chunk_size=min(rows, block_size * config.num_samples)
      )
      program = streaming.split_over(
          tabular_core.explain_tabular, placement, split, config=block_config, apply=adapter.apply
      )

      def call(instances, keys):
        if self.shared_samples:  # One pool of samples for every instance, from the key itself.
          keys = pool_key
        return program(adapter.params, instances, keys, self.tables, self.kernel_width)

      return call

    domain = self._domain_for(config.num_outputs)

    def finish(fit, start):
      rows = instances[start : start + fit.coef.shape[0]]
      if checks.is_concrete(fit):
        fit, rows = streaming.put((fit, rows), placement)
      result = Explanation.from_surrogate(fit, rows, domain=domain)
      checks.check_result(result, self.mode)
      return result

    tables_shape = jax.tree.map(np.shape, self.tables)
    job = streaming.Job(
        per_instance=(instances,),
        call_for=call_for,
        finish=finish,
        max_block=max_block,
        traced=not checks.is_concrete(adapter.params),
        program=("tabular", placement, config, adapter.apply, tables_shape),
    )
    return job, placement

  def _adaptive_job(self, X, model, run: streaming.RunOptions, until, **options):
    """The adaptive driver's job for `num_samples=UntilStable(...)`, and the placement."""
    if self.shared_samples:
      raise ValueError(
          "num_samples=UntilStable(...) adds samples per instance; an explainer with "
          "shared_samples=True shares one pool across the batch. Use an int num_samples."
      )
    if self.frame_schema is not None:
      X, model = self.frame_schema.encode(X), frames.model_for(self.frame_schema, model)
    X = checks.as_instances("X", X, self.num_features_in, "the training data")
    placement = streaming.placement_for(X, run)
    adapter, config, _ = self._configure(
        model, None, batch_size=run.batch_size, num_samples=until.initial, **options
    )
    if not checks.is_concrete(X, adapter.params):
      raise adaptive.not_traced("explaining traced instances or parameters")
    host_X = streaming.to_host(X, placement)
    dtype = self.tables.mean.dtype
    if np.dtype(host_X.dtype).itemsize > np.dtype(dtype).itemsize:
      checks.bins_as_lime("X", np.asarray(host_X, np.float64), self.discretizer, dtype)
    self._warn_unseen_categories(host_X)
    instances = host_X.astype(dtype)
    split = (False, True, True, True, False, False)

    def round_config(size, block_size=1):
      _, rows = plan_blocks(size, self.num_features_in, run.batch_size)
      return dataclasses.replace(
          config,
          num_samples=size,
          block_size=block_size,
          chunk_size=min(rows, block_size * size),
      )

    def round_call_for(block_size, size, first):
      program = streaming.split_over(
          tabular_core.explain_round,
          placement,
          split,
          config=round_config(size, block_size),
          apply=adapter.apply,
          first=first,
      )
      return lambda rows, labels, keys: program(
          adapter.params, rows, labels, keys, self.tables, self.kernel_width
      )

    domain = self._domain_for(config.num_outputs)

    def finish(fit, start):
      rows = instances[start : start + fit.coef.shape[0]]
      fit, rows = streaming.put((fit, rows), placement)
      result = Explanation.from_surrogate(fit, rows, domain=domain)
      checks.check_result(result, self.mode)
      return result

    num_labels = len(config.labels) if config.labels is not None else config.top_labels
    job = adaptive.AdaptiveJob(
        per_instance=(instances,),
        round_call_for=round_call_for,
        max_block_for=lambda size: plan_blocks(size, self.num_features_in, run.batch_size)[0],
        finish=finish,
        num_dims=self.num_features_in,
        num_labels=num_labels,
        num_features=config.num_features,
        feature_selection=config.feature_selection,
    )
    return job, placement

  def _domain_for(self, num_outputs: int) -> TabularDomain:
    if self.mode == "classification" and self.class_names is None:
      return dataclasses.replace(self.domain, class_names=tuple(str(c) for c in range(num_outputs)))
    return self.domain

  def _warn_unseen_categories(self, X: np.ndarray):
    """lime's behaviour for a category never seen in training, made visible."""
    for column in self.categorical_features:
      seen = self.choice_values[column]
      unseen = np.setdiff1d(np.unique(X[:, column]), seen)
      if unseen.size:
        warnings.warn(
            f"X column {column} ({self.feature_names[column]}) has values {unseen.tolist()} "
            f"never seen in the training data (seen: {np.asarray(seen).tolist()}). As in lime, "
            "perturbations never reproduce such a value: the feature is 'same as the instance' "
            "only in row 0, so its weight says how the model treats every seen category "
            "against this unseen one.",
            stacklevel=3,
        )


def plan_blocks(num_samples: int, num_columns: int, batch_size: int | None) -> tuple[int, int]:
  """The largest block of instances and the model rows per call.

  Args:
    num_samples: S.
    num_columns: F, model-input size of one row.
    batch_size: the user's bound on model rows per call, or None.

  Returns:
    (max_block, rows): blocks of at most max_block instances; the model sees at most `rows`
    rows at once (a block of b instances: min(rows, b * S)).
  """
  if batch_size is None:
    rows = max(num_samples, _DEFAULT_BLOCK_ELEMENTS // max(num_columns, 1))
  else:
    rows = checks.positive_int("batch_size", batch_size, minimum=1)
  return int(max(1, rows // num_samples)), int(rows)
