"""Adaptive sample counts: samples added in rounds until each instance's top-k is settled.

`num_samples=jaxlime.UntilStable(...)` explains N instances in rounds. Round 0 draws `initial`
samples for every instance (from the key a fixed-count `explain` gives it, so it is that
explanation with `initial` samples); round r >= 1 draws `step` more for the instances still
running, from `fold_in(fold_in(k_i, ROUND_TAG), r)` with k_i the instance's key, so one seed
gives one explanation whatever the batching. A round keeps no sample: it reduces its samples to
the weighted sums of the ridge (total weight, weighted means and the centred co-moment matrix
of the stacked (z, y)), which are merged into the instance's running sums (Chan et al.'s
pairwise update, stable in float32). Row 0 of a round r >= 1 is the instance again: it gets
weight 0, so the instance counts once, as in a fixed-count run.

After each round, for every instance still running, the ridge posterior on all features
(`surrogate.full_posterior`, the posterior `coef_std` comes from) asks two questions of each
explained label. With z_ab = (|coef_a| - |coef_b|) / its posterior standard deviation for a top-k
feature a and another feature b:

* Separated (`converged`): z_ab of a and b the k-th and (k+1)-th largest |coef| reaches the
  one-sided normal quantile of `level` (S-LIME's question, asked of the Bayesian posterior).
* Settled (`settle=True`, the default): the top-k set would, with posterior predictive
  probability at least `level`, still be the top-k after all `max_samples` samples. Treating
  each pair's summed gap as a Brownian motion in the sample count with a flat prior on its
  drift, the probability that the pair's order at M = max_samples differs from its order now,
  at S samples, is Phi(-z_ab sqrt(M / (M - S))); the bound is that summed over every pair
  (Bonferroni), at most 1 - level. Far from the budget it asks that every pair be separated;
  close to it, an instance whose remaining samples could not change its top-k stops.

An instance stops when every explained label is settled (with `settle=False`: separated), or
at `max_samples`; `converged` records whether every label is separated at its last round.
Settled asks more than separated of the pairs (all of them, jointly) and less near the end of
the budget. Measured on the breast-cancer MLP (`jaxlime.bench.stability`, 200 instances x 8
seeds, level 0.95), it needed 2.7x (top-3) and 1.7x (top-5) fewer model evaluations than fixed
counts for the same top-k Jaccard across seeds, where stopping when separated needed 1.7x and
1.5x fewer.
With `early_stop=True` an instance also stops, unconverged, once it has at least a quarter of
`max_samples` and the projection of its gap statistic to `max_samples` (it grows as sqrt(S))
falls short of the level. The quarter bounds the projection's factor at 2: the statistic's
noise (about one unit) times sqrt(max_samples / S) swamps the threshold at small S, and an
unguarded projection stopped most instances after their first round. Measured, even the
guarded rule lowers stability per evaluation: the instances it stops are those whose top-k is
still settling, so it is off by default.
The still-running instances are packed into the next round's calls, so a finished instance
costs no model evaluation. The final explanation is lime's selection and fit on the accumulated
moments of each instance.
"""

import dataclasses
import functools
import math
import statistics
from typing import Any, Callable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import cache
from jaxlime._src import streaming
from jaxlime._src import surrogate

# Round r >= 1 of instance i draws from fold_in(fold_in(k_i, ROUND_TAG), r): a tag keeps the
# rounds apart from `jaxlime.stability`'s repeats, which use fold_in(k_i, r).
ROUND_TAG = 0x524F554E  # "ROUN"


@dataclasses.dataclass(frozen=True)
class UntilStable:
  """A sample count chosen per instance: add samples until its top-k features are settled.

  Pass it as `num_samples` to `explain` / `explain_iter` (tabular, image, text). See
  `jaxlime._src.adaptive` for the rounds, the two tests and the early stop.

  Attributes:
    top_k: k, the size of the feature set that must be settled (or separated from the others).
    level: the probability of the settled test (see settle), and the confidence of the
      one-sided test of the gap between the k-th and (k+1)-th |coef| (0.95: the gap must
      exceed 1.645 posterior standard deviations; `converged`).
    initial: samples of round 0 (every instance).
    step: samples added per later round (only to the instances still running).
    max_samples: the largest number of samples of an instance.
    settle: stop an instance once its top-k set is settled for the budget: the posterior
      predictive probability that max_samples samples would give another top-k set is at most
      1 - level (True, the default); False: once its k-th and (k+1)-th |coef| are separated
      at the level. Either way also at max_samples (and by early_stop). See the module
      docstring.
    early_stop: also stop an instance, unconverged, once it has at least max_samples / 4
      samples and the projection of its gap statistic to max_samples falls short of the level
      (False, the default). It saves evaluations on instances that will not separate, at a
      cost in stability on those that separate late (see the module docstring).
  """

  top_k: int = 5
  level: float = 0.95
  initial: int = 1000
  step: int = 1000
  max_samples: int = 64_000
  early_stop: bool = False
  settle: bool = True

  def __post_init__(self):
    for name, minimum in (("top_k", 1), ("initial", 2), ("step", 1), ("max_samples", 2)):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"UntilStable {name} must be an int; got {type(value).__name__} {value!r}.")
      if value < minimum:
        raise ValueError(f"UntilStable {name} must be >= {minimum}; got {value}.")
    if not isinstance(self.level, (float, int)) or not 0.5 < float(self.level) < 1:
      raise ValueError(f"UntilStable level must be in (0.5, 1); got {self.level!r}.")
    for name in ("early_stop", "settle"):
      if not isinstance(getattr(self, name), bool):
        raise TypeError(f"UntilStable {name} must be a bool; got {getattr(self, name)!r}.")
    if self.max_samples < self.initial:
      raise ValueError(
          f"UntilStable max_samples ({self.max_samples}) must be >= initial ({self.initial})."
      )

  def round_sizes(self) -> list[int]:
    """Samples drawn in each round: `initial`, then `step`s up to `max_samples` (the last round
    smaller when the budget is not a whole number of steps)."""
    sizes, total = [self.initial], self.initial
    while total < self.max_samples:
      sizes.append(min(self.step, self.max_samples - total))
      total += sizes[-1]
    return sizes

  @property
  def critical_value(self) -> float:
    """The one-sided normal quantile of `level` the gap statistic must reach."""
    return statistics.NormalDist().inv_cdf(float(self.level))


def is_adaptive(num_samples) -> bool:
  return isinstance(num_samples, UntilStable)


class RoundStats(NamedTuple):
  """The weighted sums of one instance's samples that the ridge needs; V = D + L."""

  weight_total: jax.Array  # [] sum_s w_s
  num_positive: jax.Array  # [] int32, samples with w_s > 0
  num_rows: jax.Array  # [] int32, samples
  mean: jax.Array  # [V] weighted mean of v_s = (z_s, y_s)
  comoment: jax.Array  # [V, V] sum_s w_s (v_s - mean)(v_s - mean)'
  finite: jax.Array  # [L] bool, every output of the label was finite


class InstanceRound(NamedTuple):
  """One round of one instance: its sums, and (read from round 0) what the final fit needs."""

  stats: RoundStats
  z0: jax.Array  # [D] the instance's interpretable row.
  prediction: jax.Array  # [C] the model's output at the instance.
  labels: jax.Array  # [L] int32 the explained labels.


def round_stats(z_columns: jax.Array, y: jax.Array, weights: jax.Array) -> RoundStats:
  """The sums of samples z_columns [D, S], outputs y [S, L] and weights [S]."""
  values = jnp.concatenate([z_columns, y.T.astype(z_columns.dtype)])
  total = jnp.sum(weights)
  mean = values @ weights / jnp.where(total > 0, total, 1)
  centred = values - mean[:, None]
  return RoundStats(
      weight_total=total,
      num_positive=jnp.sum(weights > 0, dtype=jnp.int32),
      num_rows=jnp.asarray(weights.shape[0], jnp.int32),
      mean=mean,
      comoment=(centred * weights) @ centred.T,
      finite=jnp.all(jnp.isfinite(y), axis=0),
  )


def instance_round(
    z_columns: jax.Array,
    outputs: jax.Array,
    weights: jax.Array,
    chosen: jax.Array,
    *,
    labels,
    top_labels,
    first: bool,
    adjust: Callable | None = None,
) -> InstanceRound:
  """A round's sums for one instance: z_columns [D, S], outputs [S, C], kernel weights [S].

  Round 0 (`first`) chooses the labels from the model's output at the instance (`labels` /
  `top_labels` as in `surrogate.explained_labels`); later rounds use `chosen` [L] and give
  their row 0 (the instance again) weight 0. adjust, as in `surrogate.fit_local`, replaces the
  chosen labels' outputs [S, L] (given the round's weights, row 0 included) by the targets summed.
  """
  if first:
    chosen = surrogate.explained_labels(outputs[0], labels=labels, top_labels=top_labels)
  y = outputs[:, chosen]
  if adjust is not None:
    y = adjust(y, weights.astype(z_columns.dtype))
  if not first:
    weights = weights.at[0].set(0)
  stats = round_stats(z_columns, y, weights.astype(z_columns.dtype))
  return InstanceRound(stats, z_columns[:, 0], outputs[0], chosen.astype(jnp.int32))


def _combine_one(a: RoundStats, b: RoundStats) -> RoundStats:
  total = a.weight_total + b.weight_total
  safe = jnp.where(total > 0, total, 1)
  delta = b.mean - a.mean
  return RoundStats(
      weight_total=total,
      num_positive=a.num_positive + b.num_positive,
      num_rows=a.num_rows + b.num_rows,
      mean=a.mean + delta * (b.weight_total / safe),
      comoment=a.comoment
      + b.comoment
      + jnp.outer(delta, delta) * (a.weight_total * b.weight_total / safe),
      finite=a.finite & b.finite,
  )


combine = jax.jit(jax.vmap(_combine_one))
combine.__doc__ = "Merges the sums of two sets of samples of N instances: [N, ...] each."


def _moments(stats: RoundStats, num_dims: int):
  return surrogate.moments_from_stats(
      stats.weight_total,
      stats.num_positive,
      stats.num_rows,
      stats.mean,
      stats.comoment,
      stats.finite,
      num_dims,
  )


def instance_tests(
    stats: RoundStats,
    num_dims: int,
    top_k: int,
    samples,
    max_samples,
    alpha=1.0,
    feature_mask=None,
):
  """The two questions of the rounds for one instance at `samples` samples: [L] each.

  With z_ab = (|coef_a| - |coef_b|) / its posterior std (+inf where that std is 0), for a in the
  top-k by |coef| of the ridge on all features (those in `feature_mask` [D]) and b an eligible
  feature outside it:

  Returns:
    statistic: z_ab of a and b the k-th and (k+1)-th largest |coef| (+inf with at most k
      eligible features: the top-k holds them all).
    unsettled: sum over the pairs (a, b) of Phi(-z_ab sqrt(M / (M - S))), M = max_samples,
      S = samples: a bound on the posterior predictive probability that M samples would give
      another top-k set (0 at or past M, and with at most k eligible features).
  """
  dtype = stats.mean.dtype
  if top_k >= num_dims:
    return jnp.full(stats.finite.shape, jnp.inf, dtype), jnp.zeros(stats.finite.shape, dtype)
  moments = _moments(stats, num_dims)
  coef, inverse, noise_variance = surrogate.full_posterior(moments, alpha, feature_mask)
  eligible = jnp.ones(num_dims, bool) if feature_mask is None else feature_mask
  magnitude = jnp.where(eligible, jnp.abs(coef), -1.0)  # [L, D]
  top = jnp.argsort(-magnitude, axis=-1, stable=True)[:, :top_k]  # [L, k]
  rows = jnp.arange(coef.shape[0])[:, None]
  outside = eligible & ~jnp.zeros(coef.shape, bool).at[rows, top].set(True)  # [L, D]
  gap = magnitude[rows, top][:, :, None] - magnitude[:, None, :]  # [L, k, D]
  signs = jnp.sign(coef[rows, top])[:, :, None] * jnp.sign(coef)[:, None, :]
  diagonal = jnp.diagonal(inverse)
  variance_factor = diagonal[top][:, :, None] + diagonal - 2 * signs * inverse[top]
  std = jnp.sqrt(jnp.maximum(noise_variance[:, None, None] * variance_factor, 0))
  z = jnp.where(std > 0, gap / jnp.where(std > 0, std, 1), jnp.inf)
  # The (k+1)-th: the first of the largest |coef| outside the top-k (argsort's stable order).
  following = jnp.argmax(jnp.where(outside, magnitude, -jnp.inf), axis=-1)  # [L]
  labels = jnp.arange(coef.shape[0])
  statistic = jnp.where(jnp.any(outside, -1), z[labels, -1, following], jnp.inf)
  remaining = max_samples - samples
  factor = jnp.sqrt(max_samples / jnp.where(remaining > 0, remaining, 1))
  flips = jnp.where(outside[:, None, :], jax.scipy.special.ndtr(-z * factor), 0)
  unsettled = jnp.where(remaining > 0, jnp.sum(flips, axis=(-2, -1)), 0)
  return statistic, unsettled


@functools.partial(jax.jit, static_argnames=("num_dims", "top_k"))
def _test(stats, feature_mask, samples, *, num_dims, top_k, critical, level, max_samples):
  """[N] separated, settled, hopeless: every label separated; every label settled (see
  `instance_tests`); with at least max_samples / 4 samples, some label projected not
  separable by max_samples (and not every label separated)."""
  test = functools.partial(instance_tests, num_dims=num_dims, top_k=top_k, max_samples=max_samples)
  statistic, unsettled = jax.vmap(test)(stats, samples=samples, feature_mask=feature_mask)
  converged = jnp.all(statistic >= critical, axis=-1)
  settled = jnp.all(unsettled <= 1 - level, axis=-1)
  # The statistic grows as sqrt(S): at max_samples it is expected to reach
  # statistic * sqrt(max_samples / S); judged from max_samples / 4 on (a factor of at most 2).
  projected = statistic * jnp.sqrt(max_samples / samples)[:, None]
  hopeless = jnp.any(projected < critical, axis=-1) & (4 * samples >= max_samples)
  return converged, settled, hopeless & ~converged


@functools.partial(jax.jit, static_argnames=("num_dims", "num_features", "feature_selection"))
def _fit(stats, z0, feature_mask, *, num_dims, num_features, feature_selection):
  def one(stats, z0, feature_mask):
    return surrogate.fit_moments(
        _moments(stats, num_dims),
        z0,
        num_features=num_features,
        feature_selection=feature_selection,
        feature_mask=feature_mask,
    )

  return jax.vmap(one)(stats, z0, feature_mask)


def round_keys(key_data: np.ndarray, impl, round_index: int) -> np.ndarray:
  """Raw key data [n, ...] of round `round_index` from the instances' raw key data [n, ...]:
  the keys themselves in round 0, fold_in(fold_in(k, ROUND_TAG), r) in round r >= 1."""
  if round_index == 0:
    return key_data
  count = key_data.shape[0]
  padded = streaming._pad(key_data, _bucketed(count))  # Few shapes: few compiles.
  return np.asarray(_fold_round(jnp.asarray(padded), impl, round_index))[:count]


@functools.partial(jax.jit, static_argnums=(1,))
def _fold_round(key_data, impl, round_index):
  keys = jax.random.wrap_key_data(key_data, impl=impl)
  fold = lambda key: jax.random.fold_in(jax.random.fold_in(key, ROUND_TAG), round_index)  # noqa: E731
  return jax.random.key_data(jax.vmap(fold)(keys))


def _padded(tree, size: int):
  return jax.tree.map(lambda leaf: streaming._pad(np.asarray(leaf), size), tree)


def _bucketed(count: int) -> int:
  """The power of two at or above count: the padded size of the host-side programs' inputs."""
  return 1 << (max(count, 1) - 1).bit_length()


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveJob:
  """What an explainer hands the adaptive driver.

  Attributes:
    per_instance: host numpy arrays with a leading [N] axis.
    round_call_for: round_call_for(block_size, num_samples, first) -> call(*slices, labels,
      keys) -> a stacked `InstanceRound` [per_call, ...]; slices are the per-instance arrays
      of one call, labels [per_call, L] int32 (ignored when first).
    max_block_for: max_block_for(num_samples) -> the most instances per block for a round size.
    finish: finish(fit, start) -> the Explanation of instances start.., from a host
      `Surrogate` with the explained labels and the model's outputs at the instances.
    num_dims: D, interpretable features.
    num_labels: L.
    num_features, feature_selection: lime's selection of the final fit.
    feature_mask: [N, D] bool host array of each instance's real features, or None (all).
  """

  per_instance: tuple
  round_call_for: Callable[[int, int, bool], Callable[..., Any]]
  max_block_for: Callable[[int], int]
  finish: Callable[[Any, int], Any]
  num_dims: int
  num_labels: int
  num_features: int
  feature_selection: str
  feature_mask: np.ndarray | None = None


def _run_chunk(
    job: AdaptiveJob,
    until: UntilStable,
    plan: streaming.KeyPlan,
    options: streaming.RunOptions,
    placement: streaming.Placement,
    start: int,
    stop: int,
    bar,
):
  """Explains instances start..stop adaptively; returns (host Surrogate, num_samples, converged)."""
  count = stop - start
  key_data = streaming._call_keys(plan, start, start, count)
  per_instance = [leaf[start:stop] for leaf in job.per_instance]
  mask = job.feature_mask
  mask = np.ones((count, job.num_dims), bool) if mask is None else mask[start:stop]
  labels = np.zeros((count, job.num_labels), np.int32)
  samples = np.zeros(count, np.int64)
  converged = np.zeros(count, bool)
  active = np.arange(count)
  stats = z0 = prediction = None
  for round_index, size in enumerate(until.round_sizes()):
    first = round_index == 0
    # Calls of a power of two of instances (at most twice the running ones, each size
    # compiled once): the running set shrinks every round, and per-size buckets would compile
    # a program per round.
    block, per_call, _ = streaming.choose_call(
        _bucketed(active.size),
        job.max_block_for(size),
        placement.local_shards,
        instances_per_call=options.instances_per_call,
    )
    num_calls = math.ceil(active.size / per_call)
    calls = streaming.CallPlan(
        num_instances=active.size,
        block_size=block,
        per_call=per_call,
        num_calls=num_calls,
        last_call=per_call,  # Power-of-two calls throughout (see above).
        global_offset=0,
        placement=placement,
    )
    round_keys_data = round_keys(key_data[active], plan.impl, round_index)
    given = streaming.KeyPlan(base=None, given=round_keys_data, impl=plan.impl)
    parts = [
        part
        for _, part in streaming.run_calls(
            job.round_call_for(calls.block_size, size, first),
            [leaf[active] for leaf in per_instance] + [labels[active]],
            given,
            calls,
            progress=False,
        )
    ]
    result = streaming.concatenate(parts)
    if first:
      stats, z0, prediction = result.stats, result.z0, result.prediction
      labels = np.asarray(result.labels)
    else:
      padded = _bucketed(active.size)
      merged = combine(
          _padded(jax.tree.map(lambda leaf: leaf[active], stats), padded),
          _padded(result.stats, padded),
      )
      merged = jax.tree.map(lambda leaf: np.asarray(leaf)[: active.size], merged)
      stats = jax.tree.map(lambda old, new: _set_rows(old, active, new), stats, merged)
    samples[active] += size
    padded = _bucketed(active.size)
    done_converged, settled, hopeless = _test(
        _padded(jax.tree.map(lambda leaf: leaf[active], stats), padded),
        _padded(mask[active], padded),
        _padded(samples[active].astype(np.float32), padded),
        num_dims=job.num_dims,
        top_k=until.top_k,
        critical=until.critical_value,
        level=float(until.level),
        max_samples=float(until.max_samples),
    )
    done_converged = np.asarray(done_converged)[: active.size]
    hopeless = np.asarray(hopeless)[: active.size]
    converged[active] = done_converged
    stops = np.asarray(settled)[: active.size] if until.settle else done_converged
    finished = stops | (samples[active] >= until.max_samples)
    if until.early_stop:
      finished |= hopeless
    if bar is not None:
      bar.update(int(finished.sum()))
    active = active[~finished]
    if not active.size:
      break
  padded = _bucketed(count)
  fit = _fit(
      _padded(stats, padded),
      _padded(z0, padded),
      _padded(mask, padded),
      num_dims=job.num_dims,
      num_features=job.num_features,
      feature_selection=job.feature_selection,
  )
  fit = jax.tree.map(lambda leaf: np.asarray(leaf)[:count], fit)
  fit = fit._replace(labels=labels, prediction=np.asarray(prediction))
  return fit, samples, converged


def _set_rows(array: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
  array = np.array(array)
  array[rows] = values
  return array


def _chunks(job: AdaptiveJob, options: streaming.RunOptions) -> int:
  return options.instances_per_call or streaming.DEFAULT_INSTANCES_PER_CALL


def _check(placement: streaming.Placement):
  if placement.process_local:
    raise ValueError(
        "num_samples=UntilStable(...) with process_local=True is not supported: each "
        "process would run a different number of rounds. Pass the same X in every process."
    )


def _with_counts(explanation, samples: np.ndarray, converged: np.ndarray):
  return dataclasses.replace(
      explanation, num_samples=jnp.asarray(samples, jnp.int32), converged=jnp.asarray(converged)
  )


def explain_all(job: AdaptiveJob, until: UntilStable, key, options, placement):
  """Explains every instance adaptively; the Explanation records num_samples and converged."""
  ((_, explanation),) = explain_parts(job, until, key, options, placement, chunked=False)
  return explanation


def explain_parts(
    job: AdaptiveJob, until: UntilStable, key, options, placement, *, chunked: bool = True
) -> Iterator:
  """Explains the instances chunk by chunk (each chunk to the end of its rounds), yielding
  (index of the chunk's first instance, its Explanation)."""
  cache.enable_default()
  _check(placement)
  num_instances = job.per_instance[0].shape[0]
  plan = streaming.key_plan(key, num_instances)
  size = _chunks(job, options) if chunked else num_instances
  num_chunks = math.ceil(num_instances / size)
  bar = streaming._progress_bar(num_instances, options.progress, 2)
  try:
    for index in range(num_chunks):
      start, stop = index * size, min((index + 1) * size, num_instances)
      fit, samples, converged = _run_chunk(job, until, plan, options, placement, start, stop, bar)
      yield start, _with_counts(job.finish(fit, start), samples, converged)
  finally:
    if bar is not None:
      bar.close()


def not_traced(name: str):
  """The error for UntilStable under a JAX transformation or in a per-instance function."""
  return ValueError(
      f"num_samples=UntilStable(...) decides on the host, round by round; {name} needs a "
      "fixed int num_samples."
  )
