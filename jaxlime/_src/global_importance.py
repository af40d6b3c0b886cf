"""Global feature importance from many LIME explanations (host side).

For one explained label, instance i's coefficient of feature j is c_ij (zero where the surrogate
did not select j). Feature j's global importance is the mean over the N instances of |c_ij|,
the aggregate shap's summary bar shows for Shapley values, with an interval:

* interval="bootstrap" (default): the percentile interval of the mean |c_ij| over bootstrap
  resamples of the N instances (drawn with replacement, `num_bootstrap` times, from `key`). It
  reflects how much the importance depends on which instances were explained.
* interval="posterior": mean |c_ij| -/+ z sigma_j with sigma_j = sqrt(sum_i s_ij^2) / N, s_ij the
  per-instance posterior standard deviation `coef_std` and z the normal quantile of the
  confidence. It reflects the sampling noise of the surrogates only (each |c_ij| is taken to
  have the standard deviation of c_ij, exact when c_ij is several s_ij away from 0); the lower
  end is clipped at 0.

SP-LIME's importance sqrt(sum_i |W_ij|) is reported next to it, as lime's `SubmodularPick`
computes it: W is lime's explanation matrix, whose columns are the readable features of
`as_list` (a discretized column gives one column per bin, "worst area > 1084.00") and whose
entries sum each instance's explained labels (signed: with both classes of a binary classifier
explained they cancel, as in lime; its default explains one label).

Dimensions: N instances, L explained labels, D features, B bootstrap resamples.
"""

import dataclasses
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import checks
from jaxlime._src import keys as keys_lib
from jaxlime._src import submodular
from jaxlime._src.explanation import Explanation

INTERVALS = ("bootstrap", "posterior")


@dataclasses.dataclass(frozen=True)
class GlobalImportance:
  """Per-feature global importance of a batch of explanations for one label (numpy, host)."""

  feature_names: tuple[str, ...]  # D names.
  label: int  # the class explained (1 in regression).
  mean_abs: np.ndarray  # [D] mean over instances of |coef|.
  lower: np.ndarray  # [D] lower end of the interval.
  upper: np.ndarray  # [D] upper end of the interval.
  interval: str  # "bootstrap" or "posterior".
  confidence: float  # the interval's level, e.g. 0.95.
  sp_features: tuple[str, ...]  # D' readable features of lime's explanation matrix W.
  sp_importance: np.ndarray  # [D'] SP-LIME's sqrt(sum_i |W_ij|).
  coef: np.ndarray  # [N, D] each instance's coefficients for the label.
  coef_std: np.ndarray  # [N, D] their posterior standard deviations.
  selected: np.ndarray  # [N, D] bool, the features each surrogate selected.

  @property
  def order(self) -> np.ndarray:
    """[D] feature indices by decreasing mean |coef| (ties by index)."""
    return np.argsort(-self.mean_abs, kind="stable")

  def as_list(self) -> list[tuple[str, float, float, float]]:
    """[(name, mean |coef|, lower, upper), ...] by decreasing mean |coef|."""
    return [
        (self.feature_names[j], float(self.mean_abs[j]), float(self.lower[j]), float(self.upper[j]))
        for j in self.order
    ]


def label_coefficients(
    explanation: Explanation, label: int | None
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
  """(label, coef [N, D], coef_std [N, D], selected [N, D]) of every instance for one label.

  Regression explanations have one fitted output, reported as lime's label 1. In classification
  `label` defaults to the first label explained for instance 0 and must be explained for every
  instance (pass labels=(label,) to `explain`).
  """
  coef = np.asarray(explanation.coef, np.float64)
  std = np.asarray(explanation.coef_std, np.float64)
  selected = np.asarray(explanation.selected, bool)
  if explanation.mode == "regression":
    if label not in (None, 1):
      raise ValueError(
          f"label must be 1 (the fitted output) for a regression explanation; got " f"{label!r}."
      )
    return 1, coef[:, 0], std[:, 0], selected[:, 0]
  labels = np.asarray(explanation.labels)
  if label is None:
    label = int(labels[0, 0])
  matches = labels == label
  missing = np.flatnonzero(~matches.any(axis=1))
  if missing.size:
    raise ValueError(
        f"label {label} is not explained for instances {missing[:10].tolist()} (of "
        f"{labels.shape[0]}); explain every instance for it with labels=({label},) or pass "
        "another label."
    )
  column = np.argmax(matches, axis=1)
  rows = np.arange(coef.shape[0])
  return int(label), coef[rows, column], std[rows, column], selected[rows, column]


def _feature_names(explanation: Explanation, feature_names, num_features: int) -> tuple[str, ...]:
  if feature_names is None:
    feature_names = getattr(explanation.domain, "base_names", None)
  if feature_names is None:
    return tuple(str(j) for j in range(num_features))
  names = tuple(str(name) for name in feature_names)
  if len(names) != num_features:
    raise ValueError(
        f"feature_names must have {num_features} entries (the explanation's D); "
        f"got {len(names)}."
    )
  return names


@jax.jit
def _bootstrap_means(key: jax.Array, magnitude: jax.Array, num: jax.Array) -> jax.Array:
  """[B, D] mean |coef| of resamples: `num` rows drawn with replacement per key in [B].

  Each resample's rows become counts per row ([B, N], a scatter-add), and the means one matmul
  of the counts with `magnitude` [N, D]: gathering the rows ([B, N, D] values) was 2-3x slower
  on CPU (2,000 resamples of 4,000 rows)."""
  num_rows = magnitude.shape[0]

  def counts(k):
    rows = jax.random.randint(k, (num_rows,), 0, num)
    return jnp.zeros(num_rows, magnitude.dtype).at[rows].add(1)

  resample_counts = jax.vmap(counts)(key)
  totals = jnp.matmul(resample_counts, magnitude, precision=jax.lax.Precision.HIGHEST)
  return totals / num_rows


def global_importance(
    explanation: Explanation,
    *,
    label: int | None = None,
    interval: str = "bootstrap",
    confidence: float = 0.95,
    num_bootstrap: int = 1000,
    key=0,
    feature_names=None,
) -> GlobalImportance:
  """Mean |coefficient| per feature over N explanations, with an interval and SP-LIME's importance.

  Args:
    explanation: an `Explanation` of N >= 1 instances with D features per instance (tabular,
      or any modality whose feature j means the same thing in every instance).
    label: the class to aggregate; default the first label explained for instance 0.
    interval: "bootstrap" over instances or "posterior" from `coef_std` (module docstring).
    confidence: the interval's level in (0, 1).
    num_bootstrap: B, resamples for interval="bootstrap".
    key: int seed or `jax.random.key` of the resamples.
    feature_names: D names; default the explainer's column names, else "0", "1", ...

  Returns:
    A `GlobalImportance`.
  """
  checks.check_option("interval", interval, INTERVALS)
  if not 0 < confidence < 1:
    raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
  num_bootstrap = checks.positive_int("num_bootstrap", num_bootstrap, minimum=1)
  label, coef, std, selected = label_coefficients(explanation, label)
  num_instances, num_features = coef.shape
  if num_instances < 1:
    raise ValueError("explanation is empty; explain at least one instance.")
  names = _feature_names(explanation, feature_names, num_features)
  magnitude = np.abs(coef)
  mean_abs = magnitude.mean(axis=0)
  tail = (1 - confidence) / 2
  if interval == "bootstrap":
    keys = jax.random.split(keys_lib.as_key(key), num_bootstrap)
    means = np.asarray(
        _bootstrap_means(keys, jnp.asarray(magnitude, jnp.float32), jnp.int32(num_instances)),
        np.float64,
    )
    lower, upper = np.quantile(means, [tail, 1 - tail], axis=0)
  else:
    z = NormalDist().inv_cdf(1 - tail)
    sigma = np.sqrt((std**2).sum(axis=0)) / num_instances
    lower, upper = np.maximum(mean_abs - z * sigma, 0.0), mean_abs + z * sigma
  if explanation.domain is None:  # No readable names: lime's W by feature index.
    matrix, _ = submodular.explanation_matrix(explanation, by="index")
    sp_features = names
  else:
    matrix, sp_features = submodular.explanation_matrix(explanation, by="name")
  sp_importance = np.sqrt(np.abs(matrix).sum(axis=0))
  return GlobalImportance(
      feature_names=names,
      label=label,
      mean_abs=mean_abs,
      lower=lower,
      upper=upper,
      interval=interval,
      confidence=float(confidence),
      sp_features=tuple(str(f) for f in sp_features),
      sp_importance=sp_importance,
      coef=coef,
      coef_std=std,
      selected=selected,
  )
