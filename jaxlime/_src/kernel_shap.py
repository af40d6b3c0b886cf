"""Kernel SHAP (shap's `KernelExplainer`) for N instances in one jitted computation.

For one instance x, a background [B, F] with weights v_b (summing to 1) and a model f, the value of
a coalition z in {0, 1}^F is the background-weighted mean output

    y(z) = sum_b v_b f(where(z, x, background_b)),

and Kernel SHAP finds phi [F] minimising sum_s w_s (link(y(z_s)) - link(y(0)) - z_s . phi)^2 over S
coalitions under the efficiency constraint sum_j phi_j = link(f(x)) - link(y(0)), with the Shapley
kernel weights w_s. The coalitions are chosen as shap chooses them (`coalition_plan`): every
coalition of the subset sizes whose coalitions all fit in the budget (with their complements),
then coalitions of the other sizes drawn at random with the kernel's weights.

Dimension names: N instances, S coalitions, F features, B background rows, C model outputs.
"""

import dataclasses
import functools
import itertools
import math
import warnings
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import checks
from jaxlime._src import linalg
from jaxlime._src import models
from jaxlime._src import streaming
from jaxlime._src.status import FitStatus

LINKS = ("identity", "logit")
# shap's logit link clips probabilities to [eps, 1 - eps] before taking the log-odds.
_LOGIT_EPSILON = 1e-15
# shap's "varying" test is np.allclose(x_j, background[:, j]) with numpy's default tolerances.
_VARYING_RTOL = 1e-5
_VARYING_ATOL = 1e-8
# Model-input elements (rows x F) of one model call, and coalition-mask elements (instances x S x
# F) of one block of instances, when batch_size is not given: about 6 MB of float32 each.
_DEFAULT_CALL_ELEMENTS = 1_500_000
_DEFAULT_BLOCK_ELEMENTS = 1_500_000


class CoalitionPlan(NamedTuple):
  """shap's coalitions for F features and a budget: the enumerated part and the sampling law.

  The S coalitions of one instance are the `num_fixed` enumerated rows followed by `num_random`
  rows drawn at random: each draw picks a subset size first_random_size + k with probability
  size_probabilities[k] and a uniformly random subset of that size, followed by its complement
  when the size is at most `num_paired_sizes` (the last draw keeps only the subset when the
  budget is then full). Every random row weighs random_weight.
  """

  fixed_masks: jax.Array  # [S_fixed, F] bool, the enumerated coalitions.
  fixed_weights: jax.Array  # [S_fixed] their Shapley kernel weights.
  size_probabilities: jax.Array  # [K] law of the random subset sizes (K >= 1).
  random_weight: jax.Array  # [] weight of each random row.


@dataclasses.dataclass(frozen=True)
class KernelShapConfig:
  """Static options of one Kernel SHAP program (hashable: a jit cache key)."""

  num_fixed: int  # enumerated coalitions.
  num_random: int  # random coalitions.
  first_random_size: int  # smallest subset size drawn at random.
  num_paired_sizes: int  # subset sizes up to this one come with their complement.
  link: str  # "identity" or "logit".
  block_size: int  # instances per block.
  pairs_per_call: int  # (instance, coalition) pairs per model call, each B rows.


def coalition_plan(
    num_features: int, nsamples, dtype=np.float32
) -> tuple[CoalitionPlan, dict[str, int]]:
  """shap's coalition budget for F features, computed on the host with shap's float64 arithmetic.

  Args:
    num_features: F.
    nsamples: "auto" (2 F + 2048, as shap) or an int >= 2; capped at 2^F - 2 when F <= 30.
    dtype: float dtype of the weights.

  Returns:
    The plan's arrays and its static sizes: num_fixed, num_random, first_random_size and
    num_paired_sizes (the matching `KernelShapConfig` fields).
  """
  m = num_features
  if nsamples == "auto":
    nsamples = 2 * m + 2**11
  if m <= 30:
    nsamples = min(nsamples, 2**m - 2)
  num_subset_sizes = int(np.ceil((m - 1) / 2.0))
  num_paired_sizes = int(np.floor((m - 1) / 2.0))
  sizes = np.arange(1, num_subset_sizes + 1, dtype=np.float64)
  weight_vector = (m - 1.0) / (sizes * (m - sizes))
  weight_vector[:num_paired_sizes] *= 2
  weight_vector /= np.sum(weight_vector)

  fixed_masks, fixed_weights = [], []
  num_full_subsets = 0
  samples_left = nsamples
  remaining = weight_vector.copy()
  for size in range(1, num_subset_sizes + 1):
    num_subsets = math.comb(m, size) * (2 if size <= num_paired_sizes else 1)
    if samples_left * remaining[size - 1] / num_subsets < 1.0 - 1e-8:
      break
    num_full_subsets += 1
    samples_left -= num_subsets
    if remaining[size - 1] < 1.0:
      remaining /= 1 - remaining[size - 1]
    weight = weight_vector[size - 1] / math.comb(m, size)
    if size <= num_paired_sizes:
      weight /= 2.0
    for members in itertools.combinations(range(m), size):
      mask = np.zeros(m, bool)
      mask[list(members)] = True
      fixed_masks.append(mask)
      fixed_weights.append(weight)
      if size <= num_paired_sizes:
        fixed_masks.append(~mask)
        fixed_weights.append(weight)

  num_fixed = len(fixed_masks)
  num_random = max(nsamples - num_fixed, 0) if num_full_subsets < num_subset_sizes else 0
  size_probabilities = np.ones(1)
  random_weight = 0.0
  if num_random:
    size_probabilities = weight_vector.copy()
    size_probabilities[:num_paired_sizes] /= 2  # A paired draw adds two rows.
    size_probabilities = size_probabilities[num_full_subsets:]
    size_probabilities /= np.sum(size_probabilities)
    random_weight = np.sum(weight_vector[num_full_subsets:]) / num_random
  plan = CoalitionPlan(
      fixed_masks=jnp.asarray(np.reshape(np.asarray(fixed_masks, bool), (num_fixed, m))),
      fixed_weights=jnp.asarray(np.asarray(fixed_weights, np.float64), dtype),
      size_probabilities=jnp.asarray(size_probabilities, dtype),
      random_weight=jnp.asarray(random_weight, dtype),
  )
  sizes = dict(
      num_fixed=num_fixed,
      num_random=num_random,
      first_random_size=num_full_subsets + 1,
      num_paired_sizes=num_paired_sizes,
  )
  return plan, sizes


def sample_coalitions(
    key: jax.Array,
    plan: CoalitionPlan,
    *,
    num_random: int,
    first_random_size: int,
    num_paired_sizes: int,
) -> tuple[jax.Array, jax.Array]:
  """The S coalitions of one instance and their Shapley kernel weights.

  Unlike shap, which draws until it has S distinct coalitions and adds weight to a repeat, the
  draws stop at the budget and a coalition drawn twice is two rows of the same weight.

  Args:
    key: the instance's PRNG key.
    plan: from `coalition_plan`.
    num_random, first_random_size, num_paired_sizes: the plan's static sizes.

  Returns:
    masks [S, F] bool (True: the feature takes the instance's value) and weights [S].
  """
  num_features = plan.fixed_masks.shape[1]
  if not num_random:
    return plan.fixed_masks, plan.fixed_weights
  size_key, order_key = jax.random.split(key)
  num_sizes = plan.size_probabilities.shape[0]
  sizes = first_random_size + jax.random.choice(
      size_key, num_sizes, (num_random,), p=plan.size_probabilities
  )
  # A uniformly random subset of each drawn size by selection sampling (Knuth's algorithm S):
  # feature j joins with probability (members still needed) / (features left), with no sort.
  uniforms = jax.random.uniform(order_key, (num_features, num_random))

  def select(needed, feature):
    uniform, features_left = feature
    joins = uniform * features_left < needed
    return needed - joins, joins

  _, drawn = jax.lax.scan(select, sizes, (uniforms, jnp.arange(num_features, 0, -1)))
  drawn = drawn.T  # [draws, F]
  # Draws laid out one after the other (a subset, then its complement when paired) up to the
  # budget: row r comes from the draw whose rows end first after r.
  paired = sizes <= num_paired_sizes
  ends = jnp.cumsum(1 + paired.astype(jnp.int32))
  rows = jnp.arange(num_random)
  draw = jnp.searchsorted(ends, rows, side="right", method="scan")
  complement = paired[draw] & (rows == ends[draw] - 1)
  masks = drawn[draw] ^ complement[:, None]
  weights = jnp.full((num_random,), plan.random_weight)
  return (
      jnp.concatenate([plan.fixed_masks, masks]),
      jnp.concatenate([plan.fixed_weights, weights]),
  )


class KernelShapSolution(NamedTuple):
  """Kernel SHAP values of one instance for C outputs.

  `kernel_shap_solve` leaves prediction and expected_value None; `explain_fn` fills them.
  """

  values: jax.Array  # [C, F], zero for features that do not vary.
  status: jax.Array  # [C] int32 `FitStatus`: SINGULAR when the weighted system was singular.
  prediction: jax.Array | None = None  # [C] link(model output at the instance).
  expected_value: jax.Array | None = None  # [C] link(background-weighted mean output).


def kernel_shap_solve(
    masks: jax.Array,
    weights: jax.Array,
    y: jax.Array,
    total: jax.Array,
    varying: jax.Array | None = None,
) -> KernelShapSolution:
  """shap's efficiency-constrained weighted least squares, for one instance and C outputs.

  Minimises sum_s weights_s (y_s - masks_s . phi)^2 subject to sum_j phi_j = total, with phi_j = 0
  for features that do not vary. As shap does, the constraint eliminates the last varying feature
  l: phi_l = total - sum_{j != l} phi_j, and the others solve the normal equations of the design
  masks_j - masks_l against y - masks_l total (an SPD solve in plain jnp operations, safe
  inside `shard_map`, all outputs at once).

  Args:
    masks: [S, F] coalitions (bool or 0/1).
    weights: [S] Shapley kernel weights.
    y: [S, C] link(coalition value) - link(expected value).
    total: [C] link(f(x)) - link(expected value).
    varying: [F] bool, the features that differ from the background; None: all of them.

  Returns:
    A `KernelShapSolution` with values [C, F] and status [C] (SINGULAR, or NONFINITE_OUTPUT
    when y or total hold NaN/inf).
  """
  num_features = masks.shape[-1]
  z = masks.astype(y.dtype)
  if varying is None:
    varying = jnp.ones(num_features, bool)
  index = jnp.arange(num_features)
  last = num_features - 1 - jnp.argmax(varying[::-1])
  free = varying & (index != last)
  z_last = z[:, last]
  design = jnp.where(free, z - z_last[:, None], 0)  # [S, F]
  target = y - z_last[:, None] * total  # [S, C]
  weighted = design * weights[:, None]
  # The identity on the fixed features keeps the system positive definite and their phi at 0.
  gram = design.T @ weighted + jnp.diag(jnp.where(free, 0, 1).astype(y.dtype))
  cross = weighted.T @ target  # [F, C]
  inverse, smallest_pivot = linalg.spd_inverse_and_pivot(gram)
  solved = inverse @ cross
  phi = solved.at[last].set(total - jnp.sum(solved, axis=0))
  phi = jnp.where(jnp.any(varying), phi, 0)
  tolerance = num_features * jnp.finfo(y.dtype).eps * jnp.max(jnp.diagonal(gram))
  singular = ~jnp.all(jnp.isfinite(inverse)) | (smallest_pivot <= tolerance)
  finite = jnp.all(jnp.isfinite(y), axis=0) & jnp.isfinite(total)
  status = jnp.where(singular, FitStatus.SINGULAR, FitStatus.OK)
  status = jnp.where(finite, status, FitStatus.NONFINITE_OUTPUT).astype(jnp.int32)
  return KernelShapSolution(values=phi.T, status=status)


def linked_mean(outputs: jax.Array, weights: jax.Array, link: str) -> jax.Array:
  """shap's link of the weighted mean of outputs [..., B, C] over the background axis: [..., C].

  The logit link is shap's log(p / (1 - p)) with p clipped to [1e-15, 1 - 1e-15]. It takes the
  mean of 1 - p separately: in float32, 1 - mean(p) loses the digits of a probability near 1
  that the mean of 1 - p_b keeps (1 - p_b is exact for p_b >= 1/2), as shap's float64 does.

  Args:
    outputs: [..., B, C] model outputs.
    weights: [B] summing to 1.
    link: "identity" or "logit".
  """
  mean = jnp.einsum("...bc,b->...c", outputs, weights)
  if link == "identity":
    return mean
  complement = jnp.einsum("...bc,b->...c", 1 - outputs, weights)
  return jnp.log(jnp.maximum(mean, _LOGIT_EPSILON)) - jnp.log(
      jnp.maximum(complement, _LOGIT_EPSILON)
  )


def varying_features(x: jax.Array, background: jax.Array) -> jax.Array:
  """[F] bool: features whose value x_j differs from some background value (shap's allclose)."""
  close = jnp.abs(x - background) <= _VARYING_ATOL + _VARYING_RTOL * jnp.abs(background)
  return ~jnp.all(close, axis=0)


def _model_outputs(apply, params, rows, dtype) -> jax.Array:
  """apply(params, rows [R, F]) as [R, C] in dtype ([R] becomes [R, 1])."""
  outputs = models.call_model(apply, params, rows)
  if outputs.ndim == 1:
    outputs = outputs[:, None]
  return outputs.astype(dtype)


def _coalition_values(
    apply,
    params,
    x_block,
    masks,
    background,
    background_weights,
    link: str,
    pairs_per_call: int,
    num_outputs: int,
) -> jax.Array:
  """The link of the background-weighted mean model output of every (instance, coalition) pair.

  The model sees pairs_per_call * B rows per call: the inputs of a call are built inside the loop
  and reduced over the background at once, so memory is bounded by one call, not by the block.

  Args:
    x_block: [Nb, F] instances.
    masks: [Nb, S, F] bool coalitions.
    background: [B, F], background_weights: [B] summing to 1.
    link: "identity" or "logit".
    pairs_per_call: pairs evaluated per model call.
    num_outputs: C.

  Returns:
    [Nb, S, C].
  """
  num_block, num_coalitions, num_features = masks.shape
  num_pairs = num_block * num_coalitions
  if not num_pairs:  # One feature: no coalition besides the empty and the full one.
    return jnp.zeros((num_block, 0, num_outputs), background.dtype)
  flat_masks = masks.reshape(num_pairs, num_features)
  flat_x = jnp.broadcast_to(x_block[:, None, :], masks.shape).reshape(num_pairs, num_features)

  def values(pair_masks, pair_x):
    rows = jnp.where(pair_masks[:, None, :], pair_x[:, None, :], background[None])
    outputs = _model_outputs(apply, params, rows.reshape(-1, num_features), background.dtype)
    outputs = outputs.reshape(pair_masks.shape[0], background.shape[0], -1)
    return linked_mean(outputs, background_weights, link)

  per_call = min(pairs_per_call, num_pairs)
  num_full, remainder = divmod(num_pairs, per_call)
  main = slice(0, num_full * per_call)
  chunks = (
      flat_masks[main].reshape(num_full, per_call, num_features),
      flat_x[main].reshape(num_full, per_call, num_features),
  )
  out = jax.lax.map(lambda chunk: values(*chunk), chunks)
  out = out.reshape(num_full * per_call, -1)
  if remainder:
    rest = slice(num_full * per_call, None)
    out = jnp.concatenate([out, values(flat_masks[rest], flat_x[rest])])
  return out.reshape(num_block, num_coalitions, -1)


def _sampler(plan: CoalitionPlan, config: KernelShapConfig) -> Callable:
  return functools.partial(
      sample_coalitions,
      plan=plan,
      num_random=config.num_random,
      first_random_size=config.first_random_size,
      num_paired_sizes=config.num_paired_sizes,
  )


def _expected_value(apply, params, background, background_weights, link: str) -> jax.Array:
  """[C] link of the background-weighted mean model output."""
  background_outputs = _model_outputs(apply, params, background, background.dtype)
  return linked_mean(background_outputs, background_weights, link)


def _explain_block(
    params,
    x_block,
    keys,
    background,
    background_weights,
    plan,
    expected,
    config: KernelShapConfig,
    apply,
) -> KernelShapSolution:
  """Kernel SHAP of a block of Nb instances: x_block [Nb, F], keys [Nb], expected [C] (link)."""
  masks, weights = jax.vmap(_sampler(plan, config))(keys)
  outputs = _model_outputs(apply, params, x_block, background.dtype)
  prediction = linked_mean(outputs[:, None, :], jnp.ones(1, outputs.dtype), config.link)
  values = _coalition_values(
      apply,
      params,
      x_block,
      masks,
      background,
      background_weights,
      config.link,
      config.pairs_per_call,
      prediction.shape[-1],
  )
  y = values - expected
  varying = jax.vmap(varying_features, in_axes=(0, None))(x_block, background)
  solution = jax.vmap(kernel_shap_solve)(masks, weights, y, prediction - expected, varying)
  return solution._replace(
      prediction=prediction, expected_value=jnp.broadcast_to(expected, prediction.shape)
  )


def explain_instance(
    params: Any,
    x: jax.Array,
    key: jax.Array,
    *,
    background: jax.Array,
    background_weights: jax.Array,
    plan: CoalitionPlan,
    config: KernelShapConfig,
    apply: Callable,
) -> KernelShapSolution:
  """Kernel SHAP of ONE instance x [F]: the function `KernelShapExplainer.explain_fn` returns.

  The same steps as a block of `explain_kernel_shap`, for one instance: draw its coalitions
  from `key`, evaluate the background-weighted model output of each, and solve.

  Returns:
    A `KernelShapSolution` with values [C, F], status [C], prediction [C] and
    expected_value [C] (link space).
  """
  expected = _expected_value(apply, params, background, background_weights, config.link)
  solution = _explain_block(
      params, x[None], key[None], background, background_weights, plan, expected, config, apply
  )
  return jax.tree.map(lambda leaf: leaf[0], solution)


@functools.partial(jax.jit, static_argnames=("config", "apply"))
def explain_kernel_shap(
    params: Any,
    instances: jax.Array,
    keys: jax.Array,
    background: jax.Array,
    background_weights: jax.Array,
    plan: CoalitionPlan,
    *,
    config: KernelShapConfig,
    apply: Callable,
) -> KernelShapSolution:
  """Kernel SHAP of N instances in blocks; the jitted program behind `KernelShapExplainer`.

  Instance i draws its coalitions from keys[i] alone, so its values do not depend on the batch
  or the block it is computed in.

  Args:
    params: the model's parameters (a pytree of arrays, or None).
    instances: [N, F] with N a multiple of config.block_size.
    keys: [N] PRNG keys, one per instance.
    background: [B, F]; background_weights: [B] summing to 1.
    plan: from `coalition_plan`.
    config: static options.
    apply: apply(params, inputs [R, F]) -> [R, C] or [R].

  Returns:
    The stacked solutions: values [N, C, F], status [N, C], the link-space prediction [N, C]
    and expected value [N, C] (the same row for every instance).
  """
  num_instances, num_features = instances.shape
  block = config.block_size
  expected = _expected_value(apply, params, background, background_weights, config.link)

  def run_block(args):
    x_block, key_block = args
    return _explain_block(
        params, x_block, key_block, background, background_weights, plan, expected, config, apply
    )

  blocks = (
      instances.reshape(num_instances // block, block, num_features),
      keys.reshape(num_instances // block, block),
  )
  solution = jax.lax.map(run_block, blocks)
  return jax.tree.map(lambda leaf: leaf.reshape((num_instances,) + leaf.shape[2:]), solution)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ShapExplanation:
  """Kernel SHAP values of N instances for C model outputs over F features.

  A pytree: it passes through `jax.jit` and `jax.vmap`. `len(exp)` is N and `exp[i]` holds
  instance i (N = 1; `expected_value` is shared). For every instance and output,
  values.sum(-1) == prediction - expected_value.
  """

  values: jax.Array  # [N, C, F] SHAP values in link space, zero for features that do not vary.
  expected_value: jax.Array  # [C] link(background-weighted mean model output).
  prediction: jax.Array  # [N, C] link(model output at the instance).
  status: jax.Array  # [N, C] int32 `FitStatus`: SINGULAR means the values are not meaningful.
  instances: jax.Array  # [N, F] the explained instances.
  feature_names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True), default=())
  scalar_output: bool = dataclasses.field(metadata=dict(static=True), default=False)

  def __len__(self) -> int:
    return int(np.shape(self.values)[0])

  def __getitem__(self, index) -> "ShapExplanation":
    if isinstance(index, (int, np.integer)):
      index = slice(index, index + 1 if index != -1 else None)
    pick = lambda leaf: leaf[index]  # noqa: E731
    return dataclasses.replace(
        self,
        values=pick(self.values),
        prediction=pick(self.prediction),
        status=pick(self.status),
        instances=pick(self.instances),
    )

  def as_list(self, index: int = 0, label: int = 0) -> list[tuple[str, float]]:
    """[(feature name, SHAP value), ...] of instance `index` for output `label`, by |value|."""
    size = len(self)
    if not -size <= index < size:
      raise IndexError(f"instance index {index} is out of range for {size} explanations.")
    num_outputs = np.shape(self.values)[1]
    if not 0 <= label < num_outputs:
      raise ValueError(
          f"label must be in 0..{num_outputs - 1} for a model with {num_outputs} "
          f"output(s); got {label}."
      )
    values = np.asarray(self.values[index, label], np.float64)
    order = np.argsort(-np.abs(values), kind="stable")
    return [(self.feature_names[j], float(values[j])) for j in order]

  def shap_values(self) -> np.ndarray:
    """The values in shap's layout: [N, F, C], or [N, F] for a model returning [B]."""
    values = np.moveaxis(np.asarray(self.values), 1, 2)
    return values[..., 0] if self.scalar_output else values


def _as_background(background, background_weights):
  """Host float64 background [B, F] and weights [B] summing to 1."""
  data, weights = getattr(background, "data", None), getattr(background, "weights", None)
  if background_weights is None and all(isinstance(a, np.ndarray) for a in (data, weights)):
    background, background_weights = data, weights  # shap's DenseData, e.g. shap.kmeans(X, K).
  background = checks.as_finite_matrix("background", background)
  if background_weights is None:
    return background, np.full(background.shape[0], 1.0 / background.shape[0])
  try:
    weights = np.asarray(background_weights, np.float64)
  except (TypeError, ValueError) as error:
    raise TypeError(
        "background_weights must be a numeric [B] array; got "
        f"{type(background_weights).__name__}."
    ) from error
  if weights.shape != (background.shape[0],):
    raise ValueError(
        f"background_weights must have shape ({background.shape[0]},), one weight "
        f"per background row; got {weights.shape}."
    )
  if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not weights.sum() > 0:
    raise ValueError(
        "background_weights must be finite and >= 0 with a positive sum; got "
        f"min {weights.min()}, sum {weights.sum()}."
    )
  return background, weights / weights.sum()


class KernelShapExplainer:
  """shap's `KernelExplainer` for N instances at once, as one jitted, vmapped program.

  The same estimator as shap with `l1_reg=0` (no feature selection): shap's coalition plan, the
  background-weighted model output of each coalition, shap's link, and the efficiency-constrained
  weighted least squares. See `explain`.

  Where it differs from shap 0.51:
    * No l1 feature selection. shap's default `l1_reg="num_features(10)"` keeps the 10 features
      a LARS path picks first, and its deprecated "auto" selects by AIC when less than 20% of
      the coalitions are enumerated; compare with shap's `l1_reg=0` (or F <= 10 enumerated).
    * Features equal to every background value are held at 0 in the solve, as shap reports
      them, but the coalitions are planned over all F features (static shapes), where shap plans
      them over the M features that vary: the same values when every coalition is enumerated or
      every feature varies, another random design (of the same estimator) otherwise.
    * shap keeps drawing random coalitions until it has nsamples distinct ones, adding weight to
      a repeat; jaxlime draws exactly the remaining budget and keeps a repeat as its own row.
    * A singular weighted system (too few coalitions) is flagged in `singular` with a warning,
      where shap warns and falls back to a minimum-norm least-squares solution.

  Args:
    background: [B, F] rows that stand in for a missing feature (e.g. a sample of the training
      data, or `shap.kmeans(data, K)`, whose `.data` and `.weights` are then used).
    background_weights: [B] non-negative weights of the background rows (normalised to sum to
      1); defaults to equal weights.
    link: "identity" or "logit" (values in log-odds of the model's probabilities).
    feature_names: F names for `as_list`; defaults to "0", "1", ...
  """

  def __init__(
      self,
      background,
      *,
      background_weights=None,
      link: str = "identity",
      feature_names: Sequence[str] | None = None,
  ):
    checks.check_option("link", link, LINKS)
    background, weights = _as_background(background, background_weights)
    self.num_features_in = background.shape[1]
    if feature_names is None:
      feature_names = [str(j) for j in range(self.num_features_in)]
    feature_names = tuple(str(name) for name in feature_names)
    if len(feature_names) != self.num_features_in:
      raise ValueError(
          f"feature_names has {len(feature_names)} names for "
          f"{self.num_features_in} background columns."
      )
    self.link = link
    self.feature_names = feature_names
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    self.background = jnp.asarray(background, dtype)
    self.background_weights = jnp.asarray(weights, dtype)

  def explain(
      self,
      X,
      model,
      *,
      key=0,
      nsamples="auto",
      batch_size: int | None = None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> ShapExplanation:
    """Kernel SHAP values of the model's outputs on N rows.

    Instance i draws its random coalitions from `fold_in(key, i)` (or its own key), i its
    global row index, so its values depend neither on the batch, `batch_size`, the calls, the
    mesh nor the processes; `jax.vmap(self.explain_fn(model, nsamples=...))(X,
    jaxlime.instance_keys(key, N))` computes the same values. `explain` is traceable: under
    `jax.jit` (X traced) the value checks are skipped.

    Args:
      X: [N, F] rows to explain (a single [F] row is treated as N = 1).
      model: [R, F] -> [R, C] (e.g. class probabilities) or [R] (regression): a jittable
        function, a Flax NNX module, `functools.partial(linen_module.apply, variables)`, or
        `jaxlime.host_model(fn)` for numpy functions such as scikit-learn's predict_proba.
      key: an int seed or a `jax.random.key`, or N keys (one per instance).
      nsamples: S, coalitions per instance: "auto" (2 F + 2048, as shap) or an int >= 2; at
        most 2^F - 2 (every coalition) when F <= 30.
      batch_size: the largest number of model rows per call (at least B: one coalition against
        the whole background); bounds memory.
      progress, mesh, axis, instances_per_call, process_local: how the work runs (see
        `jaxlime.RunOptions`).

    Returns:
      A `ShapExplanation` with values [N, C, F] (C = 1 for a model returning [R]).
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    job, placement = self._job(X, model, run, nsamples)
    return streaming.explain_all(job, key, run, placement)

  def explain_iter(
      self,
      X,
      model,
      *,
      key=0,
      nsamples="auto",
      batch_size: int | None = None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> Iterator[tuple[int, ShapExplanation]]:
    """`explain`, yielded call by call: (index of the first instance, its ShapExplanation).

    The parts equal `explain`'s result; with `process_local=True` each process gets the parts
    of its own rows. Arguments as in `explain`; X must hold concrete values.
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    job, placement = self._job(X, model, run, nsamples)
    yield from streaming.explain_parts(job, key, run, placement)

  def explain_fn(
      self, model, *, nsamples="auto", batch_size: int | None = None
  ) -> Callable[[jax.Array, jax.Array], KernelShapSolution]:
    """The per-instance computation under `explain`: a pure `fn(x [F], key)`.

    `fn` is jittable, vmappable and differentiable wherever the model is; `jax.vmap(fn)(X,
    jaxlime.instance_keys(key, N))` gives `explain(X, model, key=key)`'s values.

    Returns:
      fn(x, key) -> `KernelShapSolution` with values [C, F], status [C], prediction [C] and
      expected_value [C] (link space).
    """
    adapter, plan, config, _, _ = self._configure(model, None, nsamples, batch_size)
    return functools.partial(
        explain_instance,
        adapter.params,
        background=self.background,
        background_weights=self.background_weights,
        plan=plan,
        config=config,
        apply=adapter.apply,
    )

  def _configure(self, model, host_X, nsamples, batch_size):
    """The model adapter, the coalition plan, the static options for blocks of one instance,
    the largest block the memory bound allows, and whether the model returns [R]."""
    num_features = self.num_features_in
    if isinstance(nsamples, str) and nsamples != "auto":
      raise ValueError(f'nsamples must be "auto" or an int >= 2; got {nsamples!r}.')
    if nsamples != "auto":
      nsamples = checks.positive_int("nsamples", nsamples, minimum=2)
    dtype = self.background.dtype
    adapter, scalar_output = self._check_model(
        model, dtype, example=None if host_X is None else host_X[0]
    )
    plan, sizes = coalition_plan(num_features, nsamples, dtype)
    num_coalitions = sizes["num_fixed"] + sizes["num_random"]
    num_background = self.background.shape[0]
    if batch_size is None:
      rows = max(num_background, _DEFAULT_CALL_ELEMENTS // num_features)
    else:
      rows = checks.positive_int("batch_size", batch_size, minimum=1)
      if rows < num_background:
        raise ValueError(
            f"batch_size must be at least B = {num_background} (one coalition against "
            f"the whole background); got {batch_size}."
        )
    max_block = max(1, _DEFAULT_BLOCK_ELEMENTS // max(num_coalitions * num_features, 1))
    config = KernelShapConfig(
        num_fixed=sizes["num_fixed"],
        num_random=sizes["num_random"],
        first_random_size=sizes["first_random_size"],
        num_paired_sizes=sizes["num_paired_sizes"],
        link=self.link,
        block_size=1,
        pairs_per_call=max(1, rows // num_background),
    )
    return adapter, plan, config, max_block, scalar_output

  def _job(self, X, model, run: streaming.RunOptions, nsamples):
    """Validates the arguments; returns the driver's job and the placement."""
    X = checks.as_instances("X", X, self.num_features_in, "the background")
    placement = streaming.placement_for(X, run)
    concrete = checks.is_concrete(X)
    host_X = streaming.to_host(X, placement) if concrete else None
    adapter, plan, config, max_block, scalar_output = self._configure(
        model, host_X, nsamples, run.batch_size
    )
    dtype = self.background.dtype
    instances = host_X.astype(dtype) if concrete else jnp.asarray(X, dtype)
    # explain_kernel_shap(params, instances, keys, background, weights, plan): split X, keys.
    split = (False, True, True, False, False, False)

    def call_for(block_size):
      program = streaming.split_over(
          explain_kernel_shap,
          placement,
          split,
          config=dataclasses.replace(config, block_size=block_size),
          apply=adapter.apply,
      )

      def call(instances, keys):
        return program(
            adapter.params, instances, keys, self.background, self.background_weights, plan
        )

      return call

    def finish(solution, start):
      rows = instances[start : start + solution.values.shape[0]]
      expected = solution.expected_value[0]  # The same row for every instance.
      if checks.is_concrete(solution):
        solution, rows = streaming.put((solution, rows), placement)
        expected = jax.device_put(expected)
      result = ShapExplanation(
          values=solution.values,
          expected_value=expected,
          prediction=solution.prediction,
          status=solution.status,
          instances=rows,
          feature_names=self.feature_names,
          scalar_output=scalar_output,
      )
      self._check_result(result)
      return result

    job = streaming.Job(
        per_instance=(instances,),
        call_for=call_for,
        finish=finish,
        max_block=max_block,
        traced=not checks.is_concrete(adapter.params),
        program=("kernel_shap", placement, config, adapter.apply, self.background.shape),
    )
    return job, placement

  def _check_model(self, model, dtype, *, example):
    """(adapter, True when the model returns [R] (one output)): its output shape on a probe."""
    adapter, probe_shape, shape = checks.probe_model(
        model, (self.num_features_in,), dtype, example=example
    )
    if len(shape) not in (1, 2):
      raise ValueError(
          f"the model must return [R, C] outputs (or [R] for one output); on input "
          f"{probe_shape} it returned shape {shape}."
      )
    return adapter, len(shape) == 1

  def _check_result(self, result: ShapExplanation):
    """Value checks on computed values (skipped under tracing)."""
    if not checks.is_concrete(result.values, result.expected_value):
      return
    expected = np.asarray(result.expected_value)
    prediction = np.asarray(result.prediction)
    if not np.isfinite(expected).all():
      raise ValueError(
          f"the expected value over the background is not finite: {expected}; the "
          "model returned NaN/inf on the background."
      )
    if not np.isfinite(prediction).all():
      rows = np.flatnonzero(~np.isfinite(prediction).all(axis=-1))
      raise ValueError(f"the model output is not finite at instances {rows[:10].tolist()}.")
    status = np.asarray(result.status)
    singular = (status == FitStatus.SINGULAR).any(axis=-1)
    finite = np.isfinite(np.asarray(result.values)).all(axis=(1, 2)) & ~(
        status == FitStatus.NONFINITE_OUTPUT
    ).any(axis=-1)
    if not (finite | singular).all():
      rows = np.flatnonzero(~finite & ~singular)
      raise ValueError(
          f"the SHAP values of instances {rows[:10].tolist()} are not finite: the model returned "
          "NaN/inf on some coalitions (rows mixing the instance and the background)."
      )
    if singular.any():
      warnings.warn(
          f"{int(singular.sum())} explanations (instances {np.flatnonzero(singular)[:10].tolist()}"
          ") have a singular weighted system: their values are not meaningful (see "
          "ShapExplanation.status). Raise nsamples; shap falls back to least squares here.",
          stacklevel=4,
      )
