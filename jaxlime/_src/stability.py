"""Stability of explanations over PRNG keys: R repeats of N explanations in one batch.

LIME's coefficients are Monte-Carlo estimates: another key gives another explanation. Here the
N instances are explained under R keys at once (the instances tiled R times, one `explain`
call, so the repeats share one compiled program and one batch), and each explanation's
stability is scored as the mean pairwise Jaccard overlap of its top-k features across the R
repeats.

Dimensions: R repeats (keys), N instances, L explained labels, D interpretable features.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import checks
from jaxlime._src import keys as keys_lib
from jaxlime._src.explanation import Explanation
from jaxlime._src.tabular import TabularExplainer


@functools.partial(jax.jit, static_argnames="k")
def top_k_jaccard(coef: jax.Array, k: int, *, mask: jax.Array | None = None) -> jax.Array:
  """Mean pairwise Jaccard overlap of the top-k features of R repeats of one explanation.

  The top-k set of repeat r holds the k features of largest |coef[r]| among its eligible
  features: those with mask True (the features its surrogate selected) or a non-zero
  coefficient; without `mask`, the features with a non-zero coefficient. Equal |coef| are
  ordered by feature index, lower first (as `Explanation.as_map` orders them), so the result is
  deterministic. A repeat with fewer than k eligible features contributes all of them: an
  explanation limited to 3 features is compared on those 3, and two repeats that select
  nothing at all count as identical (overlap 1).

  Written for one instance and label; `jax.vmap` it over [N, L] (see `stability`). Jitted,
  with `k` static.

  Args:
    coef: [R, D] coefficients of the R repeats, R >= 2.
    k: static int >= 1, the number of top features compared.
    mask: [R, D] bool, the features each repeat selected (`Explanation.selected`), or None.

  Returns:
    [] the mean over the R (R - 1) / 2 pairs of repeats of |T_r & T_s| / |T_r | T_s|, in
    [0, 1], in coef's float dtype (float32 for integer coef).
  """
  k = checks.positive_int("k", k, minimum=1)
  coef = jnp.asarray(coef)
  if coef.ndim != 2 or coef.shape[0] < 2:
    raise ValueError(
        f"coef must have shape [R, D] with R >= 2 repeats (one instance and "
        f"label; vmap over the others); got shape {coef.shape}."
    )
  magnitude = jnp.abs(coef)
  eligible = magnitude > 0
  if mask is not None:
    mask = jnp.asarray(mask)
    if mask.shape != coef.shape:
      raise ValueError(f"mask must have the shape of coef {coef.shape}; got {mask.shape}.")
    eligible = eligible | mask.astype(bool)
  num_repeats, num_dims = coef.shape
  ranking = jnp.where(eligible, magnitude, -jnp.inf)
  order = jnp.argsort(-ranking, axis=-1, stable=True)  # [R, D] best first, ties by index.
  rank = (
      jnp.zeros_like(order)
      .at[jnp.arange(num_repeats)[:, None], order]
      .set(jnp.arange(num_dims, dtype=order.dtype))
  )
  dtype = jnp.promote_types(coef.dtype, jnp.float32)
  top = (eligible & (rank < k)).astype(dtype)  # [R, D]
  intersection = top @ top.T  # [R, R]
  size = top.sum(axis=-1)
  union = size[:, None] + size[None, :] - intersection
  overlap = jnp.where(union > 0, intersection / jnp.maximum(union, 1), 1.0)
  pairs = jnp.triu(jnp.ones((num_repeats, num_repeats), bool), k=1)
  return jnp.where(pairs, overlap, 0).sum() / (num_repeats * (num_repeats - 1) // 2)


def repeat_keys(key, num_instances: int, num_keys: int) -> jax.Array:
  """[R, N] keys: repeat 0 uses each instance's own explain key, repeat r > 0 folds r into it.

  keys[0, i] is k_i = `fold_in(key, i)` for one key or int seed (exactly the key `explain`
  gives instance i), or the i-th of N given keys; keys[r, i] = `fold_in(k_i, r)` for r >= 1.

  Args:
    key: an int seed, a `jax.random.key`, or N keys (one per instance).
    num_instances: N.
    num_keys: R >= 1.
  """
  base = keys_lib.instance_keys(key, num_instances)  # [N]
  repeats = jnp.arange(1, num_keys)
  folded = jax.vmap(jax.vmap(jax.random.fold_in, in_axes=(0, None)), in_axes=(None, 0))(
      base, repeats
  )  # [R - 1, N]
  return jnp.concatenate([base[None], folded])


def _tile(name: str, values, num_keys: int):
  """values [N, ...] repeated R times along axis 0: [R * N, ...], repeat-major."""
  if isinstance(values, jax.Array):
    return jnp.tile(values, (num_keys,) + (1,) * (values.ndim - 1))
  array = np.asarray(values)
  if array.ndim == 0:
    raise ValueError(f"{name} must have a leading instance axis [N, ...]; got a scalar.")
  return np.tile(array, (num_keys,) + (1,) * (array.ndim - 1))


def _num_instances(explainer, instances):
  """(instances as explain takes them with a leading N axis, N)."""
  if isinstance(instances, str):
    return [instances], 1
  if (
      isinstance(instances, (list, tuple))
      and instances
      and all(isinstance(text, str) for text in instances)
  ):
    return list(instances), len(instances)
  if not isinstance(instances, jax.Array):
    try:
      instances = np.asarray(instances)
    except (TypeError, ValueError) as error:
      raise TypeError(
          f"instances must be an [N, ...] array or a list of N strings; got "
          f"{type(instances).__name__}."
      ) from error
  if isinstance(explainer, TabularExplainer) and instances.ndim == 1:
    instances = instances[None, :]
  if instances.ndim == 0 or instances.shape[0] < 1:
    raise ValueError(
        f"instances must have a leading instance axis [N, ...] with N >= 1; got "
        f"shape {tuple(instances.shape)}."
    )
  return instances, int(instances.shape[0])


def explain_under_keys(
    explainer, instances, model, *, num_keys: int = 10, key=0, **explain_kwargs
) -> Explanation:
  """Explains N instances under R keys in one call of `explainer.explain`.

  The instances are tiled R times (repeat-major: row r * N + i is repeat r of instance i) and
  explained in one batch with keys[r, i] from `repeat_keys`: repeat 0 of instance i uses the
  key `explainer.explain(instances, model, key=key)` gives it, so repeat 0 equals that
  explanation; repeat r >= 1 uses `fold_in(k_i, r)`. Works with any explainer whose `explain`
  takes (instances, model, key=N keys, ...): tabular and image arrays, text lists of strings.
  An image `segments` argument [N, H, W] is tiled with the images. Traceable (e.g. under
  `jax.jit`) whenever the explainer's `explain` is.

  Args:
    explainer: a `TabularExplainer`, `ImageExplainer` or `TextExplainer`.
    instances: [N, ...] instances (a single tabular row [F] is N = 1), or N strings.
    model: the model, as the explainer's `explain` takes it.
    num_keys: R >= 1, the number of keys (repeats).
    key: an int seed, a `jax.random.key` or N keys, one per instance.
    **explain_kwargs: further arguments of `explain` (num_samples, num_features, labels, ...).

  Returns:
    An `Explanation` (of the explainer's type) whose array leaves have a leading [R, N] axis
    pair: coef [R, N, L, D], labels [R, N, L], ... `take_repeat(result, r)` is the ordinary
    N-instance explanation of repeat r (with all its readers: as_list, as_map, plots).
  """
  num_keys = checks.positive_int("num_keys", num_keys, minimum=1)
  if getattr(explainer, "shared_samples", False):
    raise ValueError(
        "explainer has shared_samples=True: all instances of a call share one pool of "
        "perturbations drawn from a single key, so per-(repeat, instance) keys cannot be given. "
        "Use an explainer with shared_samples=False to measure stability over keys."
    )
  instances, num_instances = _num_instances(explainer, instances)
  if isinstance(instances, list):
    tiled = instances * num_keys
  else:
    tiled = _tile("instances", instances, num_keys)
  segments = explain_kwargs.get("segments")
  if segments is not None and np.ndim(segments) == 3:
    explain_kwargs["segments"] = _tile("segments", segments, num_keys)
  keys = repeat_keys(key, num_instances, num_keys).reshape(-1)
  result = explainer.explain(tiled, model, key=keys, **explain_kwargs)
  result = jax.tree.map(
      lambda leaf: jnp.reshape(leaf, (num_keys, num_instances) + jnp.shape(leaf)[1:]), result
  )
  if checks.is_concrete(result.labels):
    labels = np.asarray(result.labels)
    differ = np.flatnonzero((labels != labels[:1]).any(axis=(0, 2)))
    if differ.size:
      raise ValueError(
          f"the explained labels of instances {differ[:10].tolist()} differ between keys (the "
          "model's output at the instance changed between repeats?); pass labels= instead of "
          "top_labels, or a deterministic model."
      )
  return result


def take_repeat(explanations: Explanation, repeat: int) -> Explanation:
  """The N-instance explanation of one repeat of an `explain_under_keys` result.

  Args:
    explanations: an `Explanation` with leaves [R, N, ...].
    repeat: r in 0..R-1 (negative values count from the end).

  Returns:
    An `Explanation` with leaves [N, ...], read as any explanation (as_list, as_map, ...).
  """
  num_keys = int(np.shape(explanations.labels)[0])
  if isinstance(repeat, bool) or not isinstance(repeat, (int, np.integer)):
    raise TypeError(f"repeat must be an int; got {repeat!r}.")
  if not -num_keys <= repeat < num_keys:
    raise IndexError(f"repeat {repeat} is out of range for {num_keys} repeats.")
  return jax.tree.map(lambda leaf: leaf[repeat], explanations)


class Stability(NamedTuple):
  """Stability of N explanations over R keys (see `stability`)."""

  score: jax.Array  # [N, L] mean pairwise Jaccard overlap of the top-k features, in [0, 1].
  coef_mean: jax.Array  # [N, L, D] mean coefficient over the R keys.
  coef_spread: jax.Array  # [N, L, D] sample standard deviation (ddof=1) over the R keys.
  explanations: Explanation  # leaves [R, N, ...], as `explain_under_keys` returns them.


@functools.partial(jax.jit, static_argnames="top_k")
def stability_statistics(coef: jax.Array, selected: jax.Array, top_k: int):
  """Stability statistics of R repeats of N explanations.

  Args:
    coef: [R, N, L, D] coefficients.
    selected: [R, N, L, D] bool selected features.
    top_k: static, the number of top features compared.

  Returns:
    (score [N, L], coef_mean [N, L, D], coef_spread [N, L, D]) as in `Stability`.
  """
  per_label = functools.partial(top_k_jaccard, k=top_k)
  score = jax.vmap(jax.vmap(lambda c, m: per_label(c, mask=m)))(
      jnp.moveaxis(coef, 0, 2), jnp.moveaxis(selected, 0, 2)
  )  # over [N, L] of [N, L, R, D].
  return score, coef.mean(axis=0), coef.std(axis=0, ddof=1)


def stability(
    explainer, instances, model, *, num_keys: int = 10, key=0, top_k: int = 5, **explain_kwargs
) -> Stability:
  """How much N explanations change with the PRNG key: R repeats in one batch, then scores.

  Example:
    >>> result = jaxlime.stability(explainer, X[:20], model, num_keys=10, num_samples=1000)
    >>> result.score  # [20, 1]: 1 = the same top-5 features under every key.

  Args:
    explainer: a `TabularExplainer`, `ImageExplainer` or `TextExplainer`.
    instances: [N, ...] instances or N strings, as `explain` takes them.
    model: the model, as `explain` takes it.
    num_keys: R >= 2, the number of keys.
    key: an int seed, a `jax.random.key` or N keys; repeat keys as in `explain_under_keys`.
    top_k: the number of top features (by |coef|) compared between keys, see `top_k_jaccard`.
    **explain_kwargs: further arguments of `explain` (num_samples, num_features, labels, ...).

  Returns:
    A `Stability`: score [N, L], coef_mean [N, L, D], coef_spread [N, L, D] and the
    explanations [R, N, ...].
  """
  num_keys = checks.positive_int("num_keys", num_keys, minimum=2)
  top_k = checks.positive_int("top_k", top_k, minimum=1)
  explanations = explain_under_keys(
      explainer, instances, model, num_keys=num_keys, key=key, **explain_kwargs
  )
  score, coef_mean, coef_spread = stability_statistics(
      explanations.coef, explanations.selected, top_k
  )
  return Stability(
      score=score, coef_mean=coef_mean, coef_spread=coef_spread, explanations=explanations
  )
