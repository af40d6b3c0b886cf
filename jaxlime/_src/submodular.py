"""Submodular pick (SP-LIME): a few explanations that together cover the important features.

lime's `lime.submodular_pick.SubmodularPick` (Ribeiro et al. 2016, section 4): from the
explanation matrix W [N, D] (instance i's weight of feature j, summed over its explained
labels), feature j's global importance is I_j = sqrt(sum_i |W_ij|), and instances are picked
greedily to maximise the coverage sum_j I_j [some picked instance has W_ij != 0].

The greedy core `submodular_pick` is a jittable `lax.fori_loop`; the host side builds W from an
`Explanation` with lime's meaning of a feature (its readable name) and mirrors lime's class.

Dimensions: N explanations (instances), D features (columns of W), L explained labels.
"""

import warnings
from typing import Hashable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import checks
from jaxlime._src import keys as keys_lib
from jaxlime._src.explanation import Explanation

METHODS = ("sample", "full")
FEATURE_KEYS = ("name", "index")


def submodular_pick(weights: jax.Array, num_picks: int) -> jax.Array:
  """lime's greedy submodular pick on an explanation matrix.

  Step t adds the not yet picked instance i that maximises the coverage of the picked set plus
  i, sum_j I_j [|W_vj| > 0 for some v picked or v = i], with I_j = sqrt(sum_i |W_ij|). As in
  lime (`current >= best` over ascending indices), ties go to the largest index. Coverages
  closer than the rounding error of their sums, D * eps * sum_j I_j, count as ties, so that
  mathematically equal coverages (two rows using the same features, or features of equal
  importance) tie whatever order the sums were added in; lime's numpy sums break such ties by
  rounding. Fixed shapes: jittable with `num_picks` static, e.g.
  `jax.jit(submodular_pick, static_argnames="num_picks")`.

  Args:
    weights: [N, D] explanation matrix W.
    num_picks: static int, 0 <= num_picks <= N.

  Returns:
    [num_picks] int32 indices of the picked instances, in the order they were picked.
  """
  weights = jnp.asarray(weights)
  if weights.ndim != 2:
    raise ValueError(f"weights must be an [N, D] explanation matrix; got shape {weights.shape}.")
  num_picks = checks.positive_int("num_picks", num_picks, minimum=0)
  num_instances, num_dims = weights.shape
  if num_picks > num_instances:
    raise ValueError(
        f"num_picks={num_picks} exceeds the {num_instances} explanations (rows of "
        "weights); pick at most N."
    )
  if num_picks == 0:
    return jnp.zeros(0, jnp.int32)
  magnitude = jnp.abs(weights.astype(jnp.promote_types(weights.dtype, jnp.float32)))
  importance = jnp.sqrt(magnitude.sum(axis=0))  # [D]
  used = magnitude > 0  # [N, D]
  tolerance = num_dims * jnp.finfo(importance.dtype).eps * importance.sum()

  def step(t, carry):
    covered, available, picks = carry
    coverage = (covered | used).astype(importance.dtype) @ importance  # [N]
    coverage = jnp.where(available, coverage, -jnp.inf)
    best = available & (coverage >= coverage.max() - tolerance)
    last = (num_instances - 1 - jnp.argmax(best[::-1])).astype(jnp.int32)
    return covered | used[last], available.at[last].set(False), picks.at[t].set(last)

  carry = (
      jnp.zeros(num_dims, bool),
      jnp.ones(num_instances, bool),
      jnp.zeros(num_picks, jnp.int32),
  )
  return jax.lax.fori_loop(0, num_picks, step, carry)[2]


_submodular_pick_jit = jax.jit(submodular_pick, static_argnames="num_picks")


def explanation_matrix(
    explanations: Explanation, *, by: str = "name"
) -> tuple[np.ndarray, list[Hashable]]:
  """lime's explanation matrix W of N explanations (host side).

  W[i, j] is the sum over instance i's explained labels (label 1 in regression) of its weight
  for feature j, zero where feature j is not in its explanation.

  Args:
    explanations: an `Explanation` of N instances.
    by: what makes two instances' features the same column. "name" (lime's meaning, the
      default): the readable name `as_list` reports, so a discretized tabular column gives one
      column per bin ("mean radius <= 13.37" and "13.37 < mean radius <= 15.78" differ), and a
      word of different texts is one column. "index": the feature index j (tabular columns,
      whatever the bin; not meaningful for text, whose indices are per-text words).

  Returns:
    (W [N, D'] float64, the D' column keys: names in lime's first-seen order, or indices).
  """
  checks.check_option("by", by, FEATURE_KEYS)
  num_instances = len(explanations)
  regression = explanations.mode == "regression"
  if by == "index":
    coef = np.asarray(explanations.coef, np.float64)
    matrix = coef[:, 0] if regression else coef.sum(axis=1)
    return matrix, list(range(matrix.shape[1]))
  columns: dict[Hashable, int] = {}
  entries = []
  for index in range(num_instances):
    labels = [1] if regression else explanations.available_labels(index)
    for label in labels:
      for name, weight in explanations.as_list(index, label):
        entries.append((index, columns.setdefault(name, len(columns)), weight))
  matrix = np.zeros((num_instances, len(columns)))
  for index, column, weight in entries:
    matrix[index, column] += weight
  return matrix, list(columns)


def _pick(matrix: np.ndarray, num_picks: int) -> list[int]:
  """The core on W in float64, as lime's numpy compares coverages."""
  with jax.enable_x64(True):
    picks = _submodular_pick_jit(jnp.asarray(matrix, jnp.float64), num_picks)
    return [int(v) for v in np.asarray(picks)]


def _clamped(num_exps_desired, num_explanations: int) -> int:
  """lime's handling of num_exps_desired: an int, clamped to the explanations with a warning."""
  num_exps_desired = checks.positive_int("num_exps_desired", num_exps_desired, minimum=0)
  if num_exps_desired > num_explanations:
    warnings.warn(
        f"num_exps_desired={num_exps_desired} is larger than the {num_explanations} "
        "explanations; returning all of them (as lime does).",
        stacklevel=3,
    )
  return min(num_exps_desired, num_explanations)


def pick_explanations(
    explanations: Explanation, num_exps_desired: int = 5, *, by: str = "name"
) -> list[int]:
  """SP-LIME on explanations already computed: the indices lime's SubmodularPick would pick.

  Args:
    explanations: an `Explanation` of N instances.
    num_exps_desired: the number of instances to pick; more than N warns and picks all N, as
      lime does.
    by: "name" (lime's meaning) or "index", see `explanation_matrix`.

  Returns:
    The picked instance indices (lime's `V`), in pick order.
  """
  matrix, _ = explanation_matrix(explanations, by=by)
  return _pick(matrix, _clamped(num_exps_desired, len(explanations)))


class SubmodularPick:
  """lime's `SubmodularPick`: explain many instances in one batch, then pick a covering few.

  Arguments as lime's, plus a key: with method="sample", `sample_size` instances are drawn
  without replacement by `jax.random.permutation(sample_key, M)` (lime uses numpy's global
  generator), where `sample_key, explain_key = jax.random.split(key)`; the candidates are
  explained in one call `explainer.explain(candidates, model, key=explain_key,
  num_features=num_features, top_labels=top_labels, **explain_kwargs)` with lime's default
  top_labels=1 (pass top_labels=None to explain `labels` instead).

  Attributes:
    explanations: an `Explanation` of the candidates (`explanations[i]` is candidate i).
    indices: [M'] int, the rows of `data` the candidates are, in explanation order.
    W: [M', D'] the explanation matrix, see `explanation_matrix`.
    features: the D' column keys of W (readable names with by="name").
    importance: [D'] the global feature importances sqrt(sum_i |W_ij|).
    V: the picked candidates, indices into `explanations`, in pick order (lime's `V`).
    sp_explanations: the picked explanations, a list of 1-instance `Explanation`s (lime's list).

  Args:
    explainer: a `TabularExplainer`, `ImageExplainer` or `TextExplainer`.
    data: [M, ...] instances, or M strings.
    model: the model, as the explainer's `explain` takes it.
    method: "sample" (explain `sample_size` random instances) or "full" (all of them).
    sample_size: candidates for method="sample"; more than M warns and uses all, as lime.
    num_exps_desired: the number of explanations to pick; more than the candidates warns and
      picks all, as lime.
    num_features: K, the largest number of features in each explanation.
    key: an int seed or a `jax.random.key`.
    by: "name" (lime's meaning) or "index", see `explanation_matrix`.
    **explain_kwargs: further arguments of `explain` (num_samples, top_labels, ...); an image
      `segments` [M, H, W] is subset with the images.
  """

  def __init__(
      self,
      explainer,
      data,
      model,
      method: str = "sample",
      sample_size: int = 1000,
      num_exps_desired: int = 5,
      num_features: int = 10,
      *,
      key=0,
      by: str = "name",
      **explain_kwargs,
  ):
    checks.check_option("method", method, METHODS)
    checks.check_option("by", by, FEATURE_KEYS)
    if isinstance(data, str):
      raise TypeError("data must be [M, ...] instances or a list of M strings; got one str.")
    num_rows = len(data)
    if num_rows < 1:
      raise ValueError("data is empty; pass at least one instance.")
    sample_key, explain_key = jax.random.split(keys_lib.as_key(key))
    if method == "sample":
      sample_size = checks.positive_int("sample_size", sample_size, minimum=1)
      if sample_size > num_rows:
        warnings.warn(
            f"sample_size={sample_size} is larger than the {num_rows} rows of data; "
            "using all of them (as lime does).",
            stacklevel=2,
        )
        sample_size = num_rows
      indices = np.asarray(jax.random.permutation(sample_key, num_rows))[:sample_size]
    else:
      indices = np.arange(num_rows)
    if isinstance(data, (list, tuple)):
      candidates = [data[i] for i in indices]
    else:
      candidates = (data if isinstance(data, jax.Array) else np.asarray(data))[indices]
    segments = explain_kwargs.get("segments")
    if segments is not None and np.ndim(segments) == 3:
      explain_kwargs["segments"] = np.asarray(segments)[indices]
    top_labels = explain_kwargs.pop("top_labels", 1)
    self.indices = indices
    self.explanations = explainer.explain(
        candidates,
        model,
        key=explain_key,
        num_features=num_features,
        top_labels=top_labels,
        **explain_kwargs,
    )
    num_exps_desired = _clamped(num_exps_desired, len(self.explanations))
    self.W, self.features = explanation_matrix(self.explanations, by=by)
    self.importance = np.sqrt(np.abs(self.W).sum(axis=0))
    self.V = _pick(self.W, num_exps_desired)
    self.sp_explanations = [self.explanations[v] for v in self.V]
