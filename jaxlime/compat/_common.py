"""What every compat explainer shares: lime's random states, the surrogate fits, lime's checks.

The default fit (lime's Ridge(alpha=1) after its feature selection) is `jaxlime.fit_surrogate`,
vmapped over instances in one jitted call. The host path does what lime's
`LimeBase.explain_instance_with_data` does with a custom scikit-learn `model_regressor`: the
features are selected as lime selects them (the engine's selection, run on the same samples and
weights), then the user's regressor is fit with `sample_weight` on those features, scored with
its own `score` and evaluated at the instance with its own `predict`.
"""

import functools
import numbers
import warnings

import jax
import numpy as np

from jaxlime._src import surrogate

# Distances that the fused path computes itself; any other metric goes to scikit-learn's
# `pairwise_distances` on the host, as lime does.
FUSED_DISTANCES = ("euclidean", "cosine")


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


def host_distances(z: np.ndarray, metric: str) -> np.ndarray:
  """lime's distances of every sample to sample 0: scikit-learn's pairwise_distances.

  Args:
    z: [N, S, D] interpretable samples, sample 0 of each instance the instance.
    metric: any metric `sklearn.metrics.pairwise_distances` accepts.

  Returns:
    [N, S] distances.
  """
  from sklearn.metrics import pairwise_distances

  return np.stack([pairwise_distances(rows, rows[:1], metric=metric).ravel() for rows in z])


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
  label_index = np.asarray(labels, np.int64)  # [N, L]
  y = np.take_along_axis(np.asarray(outputs), label_index[:, None, :], axis=2)  # [N, S, L]
  dtype = jax.dtypes.canonicalize_dtype(np.float64)
  fit = _fit_batch(
      z.astype(dtype),
      y.astype(dtype),
      np.asarray(weights, dtype),
      num_features=int(num_features),
      feature_selection=feature_selection,
  )
  fit = jax.tree.map(np.asarray, fit)
  results = []
  for n in range(z.shape[0]):
    per_label = {}
    for column, label in enumerate(label_index[n].tolist()):
      used = np.flatnonzero(fit.selected[n, column])
      if num_real is not None:
        used = used[used < num_real[n]]
      if model_regressor is None:
        intercept = float(fit.intercept[n, column])
        coef = fit.coef[n, column, used]
        score = float(fit.score[n, column])
        local_pred = np.array([fit.local_pred[n, column]], np.float64)
      else:
        data = z[n][:, used]
        target = y[n, :, column]
        model_regressor.fit(data, target, sample_weight=weights[n])
        score = model_regressor.score(data, target, sample_weight=weights[n])
        local_pred = model_regressor.predict(data[:1])
        intercept, coef = model_regressor.intercept_, np.ravel(model_regressor.coef_)
      if verbose:
        print("Intercept", intercept)
        print("Prediction_local", local_pred)
        print("Right:", outputs[n, 0, label])
      ranked = sorted(
          zip(used.tolist(), coef.tolist()), key=lambda item: abs(item[1]), reverse=True
      )
      per_label[label] = (intercept, ranked, score, local_pred)
    results.append(per_label)
  return results
