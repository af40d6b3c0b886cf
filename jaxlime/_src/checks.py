"""Input validation shared by the explainers: clear errors naming the argument and what was seen.

Shape checks are static and also run under `jax.jit`; value checks (NaN, range) run only when
the values are concrete, so `explain` stays traceable.
"""

import numbers
import warnings
from typing import Sequence

import jax
import numpy as np

from jaxlime._src.status import FitStatus

def is_concrete(*values) -> bool:
  """True when no value is a tracer (its contents can be inspected on the host)."""
  return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(values))


def check_option(name: str, value, allowed: Sequence[str]):
  if not isinstance(value, str) or value not in allowed:
    raise ValueError(f"{name} must be one of {tuple(allowed)}; got {value!r}.")


def positive_int(name: str, value, *, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}.")
  if value < minimum:
    raise ValueError(f"{name} must be >= {minimum}; got {value}.")
  return int(value)


def as_finite_matrix(name: str, value) -> np.ndarray:
  """A host [M, F] float64 matrix with finite entries."""
  try:
    array = np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError) as error:
    raise TypeError(f"{name} must be a numeric [M, F] array; got {type(value).__name__}.") from error
  if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
    raise ValueError(f"{name} must have shape [M, F] with M, F >= 1; got {array.shape}.")
  _check_finite(name, array)
  return array


def _check_finite(name: str, array: np.ndarray):
  bad = ~np.isfinite(array)
  if bad.any():
    where = np.argwhere(bad)[0].tolist()
    raise ValueError(
        f"{name} has {int(bad.sum())} NaN/inf entries (first at index {tuple(where)}); "
        "impute or drop them before explaining.")


def as_instances(name: str, value, num_features: int, reference: str):
  """[N, F] instances (a single [F] row becomes [1, F]); checked finite when concrete."""
  if not isinstance(value, jax.Array):
    try:
      value = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
      raise TypeError(f"{name} must be a numeric [N, {num_features}] array; got "
                      f"{type(value).__name__}.") from error
  shape = tuple(np.shape(value))
  if len(shape) == 1:
    value = value[None, :]
    shape = (1,) + shape
  if len(shape) != 2 or shape[1] != num_features:
    hint = ""
    if len(shape) == 2 and shape[0] == num_features:
      hint = " Did you pass X.T?"
    raise ValueError(
        f"{name} must have shape (N, {num_features}) to match {reference}; got {shape}.{hint}")
  if shape[0] < 1:
    raise ValueError(f"{name} has no rows; got shape {shape}.")
  if is_concrete(value):
    _check_finite(name, np.asarray(value))
  return value


def probe_output_shape(adapter, row_shape: tuple[int, ...], dtype
                       ) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(input shape, output shape) of the model on a [2, *row_shape] input, traced abstractly.

  A failure of the user's model is re-raised with the batch shape it was called on.
  """
  probe = jax.ShapeDtypeStruct((2,) + tuple(row_shape), dtype)
  try:
    out = jax.eval_shape(adapter.apply, adapter.params, probe)
  except Exception as error:  # Any failure of the user's model: say where it came from.
    raise type(error)(
        f"the model failed on a batch of shape {probe.shape} ({dtype}): {error}") from error
  return probe.shape, tuple(getattr(out, "shape", ()))


def model_outputs(adapter, row_shape: tuple[int, ...], dtype, mode: str) -> int:
  """Checks the model's output shape on a [2, *row_shape] input; returns C (1 for regression)."""
  probe_shape, shape = probe_output_shape(adapter, row_shape, dtype)
  if mode == "classification":
    if len(shape) != 2:
      raise ValueError(
          f"in classification the model must return [B, C] class probabilities; on input "
          f"{probe_shape} it returned shape {shape}. A model returning labels or a single "
          "score is not supported: return probabilities, or use mode='regression'.")
    return shape[1]
  if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
    return 1
  raise ValueError(
      f"in regression the model must return [B] (or [B, 1]) predictions; on input {probe_shape} "
      f"it returned shape {shape}.")


def labels_in_range(labels, num_outputs: int) -> tuple[int, ...]:
  try:
    labels = tuple(int(label) for label in np.atleast_1d(np.asarray(labels)))
  except (TypeError, ValueError) as error:
    raise TypeError(f"labels must be a sequence of class ids; got {labels!r}.") from error
  if not labels:
    raise ValueError("labels is empty; pass at least one class id or top_labels.")
  bad = [label for label in labels if not 0 <= label < num_outputs]
  if bad:
    raise ValueError(f"labels {bad} are out of range for a model with {num_outputs} outputs "
                     f"(valid: 0..{num_outputs - 1}).")
  return labels


def check_result(result, mode: str):
  """Value checks on a computed explanation (skipped under tracing): an error for NaN/inf, a
  warning naming the instances of every other non-OK fit status."""
  if not is_concrete(result.prediction, result.coef):
    return
  prediction = np.asarray(result.prediction)
  if not np.isfinite(prediction).all():
    rows = np.flatnonzero(~np.isfinite(prediction).all(axis=-1))
    raise ValueError(f"the model returned NaN/inf at instances {rows[:10].tolist()}.")
  status = np.asarray(result.status)
  coef = np.asarray(result.coef)
  nonfinite = (status == FitStatus.NONFINITE_OUTPUT) | ~np.isfinite(coef).all(axis=-1) | (
      ~np.isfinite(np.asarray(result.intercept)))
  if nonfinite.any():
    rows = np.flatnonzero(nonfinite.any(axis=-1))
    raise ValueError(
        f"the explanations of instances {rows[:10].tolist()} are not finite: the model returned "
        "NaN/inf on some perturbed samples. Check the model on inputs away from the data.")
  for code in (FitStatus.DEGENERATE_WEIGHTS, FitStatus.SINGULAR, FitStatus.ILL_CONDITIONED):
    rows = np.flatnonzero((status == code).any(axis=-1))
    if rows.size:
      warnings.warn(
          f"{rows.size} explanations (instances {rows[:10].tolist()}) have status "
          f"{code.name}: {code.message} (see Explanation.status).", stacklevel=3)
  if mode == "classification":
    sums = prediction.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-3):
      warnings.warn(
          "the model's outputs do not sum to 1 over classes: LIME explains probabilities, not "
          "logits or labels (as lime warns).", stacklevel=3)
