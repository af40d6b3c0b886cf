"""What every compat explainer shares: lime's random states, the surrogate fits, lime's checks.

The default fit (lime's Ridge(alpha=1) after its feature selection) is `jaxlime.fit_surrogate`,
vmapped over instances in one jitted call. The host path does what lime's
`LimeBase.explain_instance_with_data` does with a custom scikit-learn `model_regressor`: the
features are selected as lime selects them (the engine's selection, run on the same samples and
weights), then the user's regressor is fit with `sample_weight` on those features, scored with
its own `score` and evaluated at the instance with its own `predict`.

The options lime allows that the fused path cannot run (another `distance_metric`, a numpy
`kernel`, a `model_regressor`) share `host_weights` (lime's distances and kernel, instance by
instance, in float64) and `fit_instances`; `surrogate_results` and `fill_explanation` turn
either path's fits into lime's `local_exp`, `intercept`, `score` and `local_pred`.
"""

import functools
import numbers
import warnings

import jax
import numpy as np

from jaxlime._src import surrogate


def check_random_state(seed) -> np.random.RandomState:
  """lime's (scikit-learn's) `check_random_state`: None -> numpy's global state, int -> a new
  RandomState(seed), a RandomState -> itself."""
  if seed is None or seed is np.random:
    return np.random.mtrand._rand
  if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
    return np.random.RandomState(int(seed))
  if isinstance(seed, np.random.RandomState):
    return seed
  raise ValueError(
      f"random_state must be None, an int or a numpy RandomState; got {type(seed).__name__}."
  )


def draw_key(*states: np.random.RandomState) -> jax.Array:
  """A PRNG key drawn from lime's random states (each distinct state advances by one draw).

  An explainer built with random_state=10 thus gives the same explanations in the same order as
  another built with 10, and successive calls differ, as in lime.
  """
  seeds, seen = [], []
  for state in states:
    if any(state is other for other in seen):
      continue
    seen.append(state)
    seeds.append(int(state.randint(0, 2**31 - 1)))
  key = jax.random.key(seeds[0])
  for seed in seeds[1:]:
    key = jax.random.fold_in(key, seed)
  return key


def lime_kernel(distances, kernel_width):
  """lime's default kernel, in numpy: sqrt(exp(-d^2 / width^2))."""
  return np.sqrt(np.exp(-(distances**2) / kernel_width**2))


def host_weights(z, metric: str, kernel_fn, *, num_real=None, scale: float = 1.0) -> np.ndarray:
  """lime's kernel weights on the host, instance by instance, as lime computes them.

  For each instance: `kernel_fn(pairwise_distances(z_n, z_n[:1], metric=metric).ravel() *
  scale)`, in float64 (scikit-learn's distances; lime's text multiplies them by 100).

  Args:
    z: [N, S, D] interpretable samples, sample 0 of each instance the instance.
    metric: any metric `sklearn.metrics.pairwise_distances` accepts.
    kernel_fn: distances [S] -> weights [S] (numpy), e.g. `LimeBase.kernel_fn`.
    num_real: N numbers of real features when instances are padded to one D; the distances
      are taken on those features only (padding would change metrics such as "hamming").
    scale: the distances' factor.

  Returns:
    [N, S] weights.
  """
  from sklearn.metrics import pairwise_distances

  weights = []
  for index, rows in enumerate(np.asarray(z, np.float64)):
    if num_real is not None:
      rows = rows[:, : num_real[index]]
    distances = pairwise_distances(rows, rows[:1], metric=metric).ravel() * scale
    weights.append(np.asarray(kernel_fn(distances), np.float64))
  return np.stack(weights)


@functools.partial(jax.jit, static_argnames=("num_features", "feature_selection"))
def _fit_batch(z, y, weights, *, num_features: int, feature_selection: str):
  fit = functools.partial(
      surrogate.fit_surrogate, num_features=num_features, feature_selection=feature_selection
  )
  return jax.vmap(fit)(z, y, weights)


def check_outputs(outputs: np.ndarray, mode: str, num_rows: int) -> np.ndarray:
  """lime's checks of `classifier_fn`'s output; returns it as float [rows, C] ([rows, 1] in
  regression)."""
  outputs = np.asarray(outputs)
  if outputs.ndim == 0 or outputs.shape[0] != num_rows:
    raise ValueError(
        f"classifier_fn returned shape {outputs.shape} for {num_rows} rows; expected "
        f"{'[rows, C]' if mode == 'classification' else '[rows]'} with rows = {num_rows}."
    )
  if mode == "classification":
    if outputs.ndim == 1:
      raise NotImplementedError(
          "LIME does not currently support classifier models without probability scores: "
          f"classifier_fn returned shape {outputs.shape}; pass predict_proba, not predict."
      )
    if outputs.ndim != 2:
      raise ValueError(f"Your model outputs arrays with {outputs.ndim} dimensions; expected 2.")
    if not np.allclose(outputs.sum(axis=1), 1.0):
      warnings.warn(
          "Prediction probabilities do not sum to 1, and thus do not constitute a probability "
          "space. Check that your classifier outputs probabilities (not log probabilities, or "
          "actual class predictions).",
          stacklevel=4,
      )
    return outputs.astype(np.float64)
  if outputs.ndim == 2 and outputs.shape[1] == 1:
    outputs = outputs[:, 0]
  if outputs.ndim != 1:
    raise ValueError(
        f"Your model needs to output single-dimensional numpy arrays, not arrays of shape "
        f"{outputs.shape}."
    )
  return outputs.astype(np.float64)[:, None]


def explained_labels(outputs: np.ndarray, mode: str, labels, top_labels) -> tuple[list, list]:
  """lime's label choice per instance, from outputs [N, S, C].

  Returns:
    (labels per instance, top_labels per instance or None): with top_labels, lime's
    `argsort(prediction)[-top_labels:]` (explained in that order, reported highest first).
  """
  count = outputs.shape[0]
  if mode == "regression":
    return [[0]] * count, [None] * count
  if top_labels:
    chosen = [list(np.argsort(row[0])[-top_labels:]) for row in outputs]
    return chosen, [list(reversed(c)) for c in chosen]
  num_outputs = outputs.shape[-1]
  labels = [int(label) for label in labels]
  outside = [label for label in labels if not 0 <= label < num_outputs]
  if outside:
    raise ValueError(
        f"labels {outside} are out of range for a model with {num_outputs} outputs "
        f"(labels={tuple(labels)})."
    )
  return [labels] * count, [None] * count


def _label_result(intercept, used, coef, score, local_pred, right, verbose: bool) -> tuple:
  """One label's lime result: (intercept, [(feature, weight)] sorted by |weight|, score,
  local_pred), printing what lime prints with verbose."""
  if verbose:
    print("Intercept", intercept)
    print("Prediction_local", local_pred)
    print("Right:", right)
  ranked = sorted(
      zip(np.asarray(used).tolist(), np.ravel(coef).tolist()),
      key=lambda item: abs(item[1]),
      reverse=True,
  )
  return intercept, ranked, score, local_pred


def _used_features(selected: np.ndarray, num_real, index: int) -> np.ndarray:
  used = np.flatnonzero(selected)
  return used if num_real is None else used[used < num_real[index]]


def surrogate_results(fit, order, predictions, *, verbose: bool, num_real=None) -> list[dict]:
  """lime's per-label results of N instances from a batched host `Surrogate`.

  Args:
    fit: a `Surrogate` of numpy arrays with fields [N, L, ...] (coef [N, L, D]).
    order: N lists of (label, column of fit) in the order lime fits the labels.
    predictions: [N, C] the model's outputs at the instances (printed with verbose).
    verbose: print what lime prints.
    num_real: N numbers of real features (features at or above are padding, dropped).

  Returns:
    N dicts label -> (intercept, [(feature, weight)] sorted by |weight|, score, local_pred [1]).
  """
  results = []
  for n, pairs in enumerate(order):
    per_label = {}
    for label, column in pairs:
      used = _used_features(fit.selected[n, column], num_real, n)
      per_label[label] = _label_result(
          float(fit.intercept[n, column]),
          used,
          fit.coef[n, column, used],
          float(fit.score[n, column]),
          np.array([fit.local_pred[n, column]], np.float64),
          predictions[n, label],
          verbose,
      )
    results.append(per_label)
  return results


def fill_explanation(result, per_label: dict):
  """Writes one instance's label results into a lime explanation, as lime does: `intercept`
  and `local_exp` per label, `score` and `local_pred` of the last label fitted. Returns it."""
  for label, (intercept, ranked, score, local_pred) in per_label.items():
    result.intercept[label] = intercept
    result.local_exp[label] = ranked
    result.score, result.local_pred = score, local_pred
  return result


def fit_instances(
    z,
    outputs,
    weights,
    labels,
    *,
    num_features: int,
    feature_selection: str,
    model_regressor,
    verbose: bool,
    num_real=None,
) -> list[dict]:
  """lime's `explain_instance_with_data` for every label of N instances.

  Args:
    z: [N, S, D] interpretable samples (lime's scaled_data), sample 0 the instance.
    outputs: [N, S, C] model outputs.
    weights: [N, S] kernel weights.
    labels: N lists of the same length L: the labels to explain, in lime's order.
    num_features: K.
    feature_selection: lime's method name.
    model_regressor: None for lime's Ridge(alpha=1), or a scikit-learn regressor (host path).
    verbose: print what lime prints.
    num_real: N numbers of real features when instances are padded to one D with features
      that are zero in every sample (such a feature's ridge coefficient is exactly 0 and leaves
      the others unchanged); padding features are dropped from the results.

  Returns:
    N dicts label -> (intercept, [(feature, weight)] sorted by |weight|, score, local_pred).
  """
  z = np.asarray(z)
  outputs = np.asarray(outputs)
  label_index = np.asarray(labels, np.int64)  # [N, L]
  y = np.take_along_axis(outputs, label_index[:, None, :], axis=2)  # [N, S, L]
  dtype = jax.dtypes.canonicalize_dtype(np.float64)
  fit = _fit_batch(
      z.astype(dtype),
      y.astype(dtype),
      np.asarray(weights, dtype),
      num_features=int(num_features),
      feature_selection=feature_selection,
  )
  fit = jax.tree.map(np.asarray, fit)
  order = [list(zip(row.tolist(), range(len(row)))) for row in label_index]
  if model_regressor is None:
    return surrogate_results(fit, order, outputs[:, 0], verbose=verbose, num_real=num_real)
  results = []
  for n, pairs in enumerate(order):
    per_label = {}
    for label, column in pairs:
      used = _used_features(fit.selected[n, column], num_real, n)
      data, target = z[n][:, used].astype(np.float64), y[n, :, column]
      model_regressor.fit(data, target, sample_weight=weights[n])
      per_label[label] = _label_result(
          model_regressor.intercept_,
          used,
          model_regressor.coef_,
          model_regressor.score(data, target, sample_weight=weights[n]),
          model_regressor.predict(data[:1]),
          outputs[n, 0, label],
          verbose,
      )
    results.append(per_label)
  return results
