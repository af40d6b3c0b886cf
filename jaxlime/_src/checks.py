"""Input validation shared by the explainers: clear errors naming the argument and what was seen.

Shape checks are static and also run under `jax.jit`; value checks (NaN, range) run only when
the values are concrete, so `explain` stays traceable.
"""

import functools
import numbers
import warnings
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import models
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
    raise TypeError(
        f"{name} must be a numeric [M, F] array; got {type(value).__name__}."
    ) from error
  if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
    raise ValueError(f"{name} must have shape [M, F] with M, F >= 1; got {array.shape}.")
  _check_finite(name, array)
  check_representable(name, array, jax.dtypes.canonicalize_dtype(jnp.float64), columns=True)
  return array


_X64_HINT = (
    'Enable float64 with jax.config.update("jax_enable_x64", True) before building the ' "explainer"
)


def check_representable(name: str, array: np.ndarray, dtype, *, columns: bool = False):
  """Raises when the cast of finite host values to the explainer's float dtype would lose them.

  Args:
    name: the argument's name, for the message.
    array: [..., F] host values.
    dtype: the explainer's float dtype (float32 unless jax_enable_x64 is on).
    columns: also refuse columns whose largest magnitude is below the dtype's smallest normal
      number (training data: their scale is not representable, so bins and statistics would
      differ from lime's float64 ones).
  """
  info = np.finfo(dtype)
  if info.bits >= 64:
    return
  magnitude = np.abs(np.where(np.isfinite(array), array, 0.0))
  too_large = magnitude > info.max
  if too_large.any():
    where = tuple(np.argwhere(too_large)[0].tolist())
    raise ValueError(
        f"{name}{list(where)} = {float(array[where])!r} is beyond the range of the explainer's dtype "
        f"{np.dtype(dtype).name} (largest {info.max:.4g}): it would become inf. {_X64_HINT}, or rescale the data."
    )
  if columns and array.ndim == 2:
    largest = magnitude.max(axis=0)
    tiny = (largest > 0) & (largest < info.tiny)
    if tiny.any():
      column = int(np.flatnonzero(tiny)[0])
      raise ValueError(
          f"{name} column {column} has values no larger than {largest[column]:.4g}, below the "
          f"smallest normal {np.dtype(dtype).name} ({info.tiny:.4g}): the explainer's dtype keeps "
          f"too few digits of them to bin or scale them as lime does. {_X64_HINT}, or rescale the data."
      )


def bins_as_lime(name: str, X: np.ndarray, discretizer, dtype):
  """Raises when a row's bin in the explainer's dtype (the sampler's) differs from lime's float64.

  A value within `dtype` rounding of a bin edge can fall on the other side of it once cast; its
  explanation would then describe another bin than lime's.

  Args:
    name: the argument's name, for the message.
    X: [N, F] float64 host rows.
    discretizer: the explainer's DiscretizerStats, or None.
    dtype: the explainer's float dtype.
  """
  if discretizer is None or np.finfo(dtype).bits >= 64:
    return
  lime_bins = discretizer.discretize(X)
  bins = discretizer.discretize(X, dtype=dtype)
  differ = lime_bins != bins
  if differ.any():
    row, column = np.argwhere(differ)[0].tolist()
    names = discretizer.names[column]
    raise ValueError(
        f"{name}[{row}, {column}] = {float(X[row, column])!r} lies within {np.dtype(dtype).name} "
        f"rounding of a bin edge: in the explainer's {np.dtype(dtype).name} it falls in "
        f"{names[int(bins[row, column])]!r}, lime's float64 puts it in "
        f"{names[int(lime_bins[row, column])]!r} ({int(differ.any(axis=1).sum())} rows "
        f"differ). {_X64_HINT}."
    )


def _check_finite(name: str, array: np.ndarray):
  bad = ~np.isfinite(array)
  if bad.any():
    where = np.argwhere(bad)[0].tolist()
    raise ValueError(
        f"{name} has {int(bad.sum())} NaN/inf entries (first at index {tuple(where)}); "
        "impute or drop them before explaining."
    )


def as_instances(name: str, value, num_features: int, reference: str):
  """[N, F] instances (a single [F] row becomes [1, F]); checked finite when concrete."""
  if not isinstance(value, jax.Array):
    try:
      value = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
      raise TypeError(
          f"{name} must be a numeric [N, {num_features}] array; got " f"{type(value).__name__}."
      ) from error
  shape = tuple(np.shape(value))
  if len(shape) == 1:
    value = value[None, :]
    shape = (1,) + shape
  if len(shape) != 2 or shape[1] != num_features:
    hint = ""
    if len(shape) == 2 and shape[0] == num_features:
      hint = " Did you pass X.T?"
    raise ValueError(
        f"{name} must have shape (N, {num_features}) to match {reference}; got {shape}.{hint}"
    )
  if shape[0] < 1:
    raise ValueError(f"{name} has no rows; got shape {shape}.")
  if is_concrete(value):
    _check_finite(name, np.asarray(value))
    check_representable(name, np.asarray(value), jax.dtypes.canonicalize_dtype(jnp.float64))
  return value


# What JAX raises when a model reads the values of its traced input (numpy code, float(x), a
# Python branch on x): such a model can only run on the host.
class _ReturnsNumpy(Exception):
  """The model returned a numpy array for a traced input: it computes on the host."""


_UNTRACEABLE = (
    jax.errors.TracerArrayConversionError,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.NonConcreteBooleanIndexError,
    _ReturnsNumpy,
)


def _traced_output(apply, params, x):
  out = apply(params, x)
  if isinstance(out, (np.ndarray, np.generic)):
    raise _ReturnsNumpy
  return out


@functools.lru_cache(maxsize=64)
def _host_fallback(apply) -> models.HostModel:
  """The host model standing for a callable JAX cannot trace: one per model, warned once."""
  name = getattr(apply.fn, "__qualname__", None) or type(apply.fn).__name__
  warnings.warn(
      f"the model {name} cannot be traced by JAX (it reads its input's values, e.g. with numpy), "
      "so it runs on the host as jaxlime.host_model(model), called on whole chunks of rows "
      "(explain's batch_size bounds them). Pass jaxlime.host_model(model, batch_size=...) "
      "yourself to choose the rows per call and silence this warning.",
      stacklevel=6,
  )
  return models.host_model(apply.fn)


def probe_model(
    model, row_shape: tuple[int, ...], dtype, *, example=None
) -> tuple[models.ModelAdapter, tuple[int, ...], tuple[int, ...]]:
  """The model as an adapter, probed on a [3, *row_shape] batch traced abstractly.

  A plain callable that JAX cannot trace is wrapped in `host_model` (one warning per model).
  An error of the model itself is re-raised as it is, with a note naming the probe batch.

  Args:
    model: anything `models.as_model` accepts.
    row_shape: the shape of one model input row.
    dtype: the dtype of the model's inputs.
    example: one concrete input row, the probe row of a host model; None under tracing.

  Returns:
    (adapter, probe input shape, output shape on the probe).
  """
  adapter = models.as_model(model, example=example)
  probe = jax.ShapeDtypeStruct((models.PROBE_ROWS,) + tuple(row_shape), dtype)
  try:
    out = jax.eval_shape(functools.partial(_traced_output, adapter.apply), adapter.params, probe)
  except _UNTRACEABLE as error:
    if not isinstance(adapter.apply, models._CallableApply):
      models.add_note(
          error, f"jaxlime: raised by the model on a batch of shape {probe.shape} " f"({dtype})."
      )
      raise
    adapter = models.as_model(_host_fallback(adapter.apply), example=example)
    out = jax.eval_shape(adapter.apply, adapter.params, probe)
  except Exception as error:  # The model's own error, kept as it is: say where it came from.
    models.add_note(
        error, f"jaxlime: raised by the model on a batch of shape {probe.shape} " f"({dtype})."
    )
    raise
  models.check_output(out, probe.shape)
  return adapter, probe.shape, tuple(out.shape)


def model_outputs(
    model, row_shape: tuple[int, ...], dtype, mode: str, *, example=None
) -> tuple[models.ModelAdapter, int]:
  """The model's adapter (see `probe_model`) and C, its number of outputs (1 for regression)."""
  adapter, probe_shape, shape = probe_model(model, row_shape, dtype, example=example)
  if mode == "classification":
    if len(shape) != 2:
      raise ValueError(
          f"in classification the model must return [B, C] class probabilities; on input "
          f"{probe_shape} it returned shape {shape}. A model returning labels or a single "
          "score is not supported: return probabilities, or use mode='regression'."
      )
    if shape[1] == 1:
      raise ValueError(
          f"in classification the model must return [B, C] probabilities of C >= 2 classes; on "
          f"input {probe_shape} it returned {shape}, one column, so the default labels=(1,) do "
          "not exist. Return [B, 2] (1 - p, p), or use mode='regression' for a score."
      )
    return adapter, shape[1]
  if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
    return adapter, 1
  raise ValueError(
      f"in regression the model must return [B] (or [B, 1]) predictions; on input {probe_shape} "
      f"it returned shape {shape}."
  )


def labels_in_range(labels, num_outputs: int) -> tuple[int, ...]:
  try:
    labels = tuple(int(label) for label in np.atleast_1d(np.asarray(labels)))
  except (TypeError, ValueError) as error:
    raise TypeError(f"labels must be a sequence of class ids; got {labels!r}.") from error
  if not labels:
    raise ValueError("labels is empty; pass at least one class id or top_labels.")
  bad = [label for label in labels if not 0 <= label < num_outputs]
  if bad:
    raise ValueError(
        f"labels {bad} are out of range for a model with {num_outputs} outputs "
        f"(valid: 0..{num_outputs - 1})."
    )
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
  nonfinite = (
      (status == FitStatus.NONFINITE_OUTPUT)
      | ~np.isfinite(coef).all(axis=-1)
      | (~np.isfinite(np.asarray(result.intercept)))
  )
  if nonfinite.any():
    rows = np.flatnonzero(nonfinite.any(axis=-1))
    raise ValueError(
        f"the explanations of instances {rows[:10].tolist()} are not finite: the model returned "
        "NaN/inf on some perturbed samples. Check the model on inputs away from the data."
    )
  for code in (FitStatus.DEGENERATE_WEIGHTS, FitStatus.SINGULAR, FitStatus.ILL_CONDITIONED):
    rows = np.flatnonzero((status == code).any(axis=-1))
    if rows.size:
      warnings.warn(
          f"{rows.size} explanations (instances {rows[:10].tolist()}) have status "
          f"{code.name}: {code.message} (see Explanation.status).",
          stacklevel=3,
      )
  if mode == "classification":
    sums = prediction.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-3):
      warnings.warn(
          "the model's outputs do not sum to 1 over classes: LIME explains probabilities, not "
          "logits or labels (as lime warns).",
          stacklevel=3,
      )
