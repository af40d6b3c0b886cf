"""Control variates for tabular explanations: lime's surrogate with less sampling noise.

lime draws every choice column (a discretized continuous column, or a categorical one) on its
own: a choice c with its training frequency p_c, then, in a binned column, a value from the
bin's truncated normal. The interpretable feature z_f is 1 when the drawn choice is the
instance's own, b_f, and the kernel weight is a function of z. So given z (and the weight), a
column with z_f = 0 holds one of the other choices with probability p_c / (1 - p_b), and a binned
column's value is distributed as its bin's truncated normal, whatever the other columns hold.
The covariates of column f

    (1 - z_f) (1[choice_f = c] - p_c / (1 - p_b))     for each choice c != b_f but one, and
    value_f - E[value_f | choice_f]                   (binned columns)

(the contrasts of all other choices sum to zero where z_f = 0, so the first is left out) have
conditional mean zero given z: in lime's weighted sampling distribution they are
orthogonal to every function of z. For any gamma chosen without the samples it is applied to,
the weighted least squares of y - A gamma on z therefore has lime's population coefficients,
and its noise loses what the covariates explain: how the model's output varies among the bins
a feature is not in, and inside the bins (benchmarks/README.md, "Control variates", measures
what that saves on the breast-cancer MLP).

gamma is fitted by cross-fitting: the samples fall into two halves (the first and the second);
on each half a weighted ridge on z gives residuals, which are regressed on all covariates by
block Jacobi iterations over the columns (`_column_coefficients`). Each half is then adjusted
with the gamma of the other half, so no sample's adjustment is fitted to its own noise. Sample
0, the instance itself, is not adjusted. The covariates are never formed as an [F, K, S] array:
every sum is taken from their factors (`_Factored`), as matrix products with the one-hot draws.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxlime._src import linalg
from jaxlime._src import surrogate

# Ridge of each column's covariate system, relative to each covariate's own sum of squares (a
# guard: without the reference choice's contrast the system is not singular).
_RELATIVE_RIDGE = 1e-6
# Block Jacobi iterations of the covariates' regression after the first (see
# `_column_coefficients`).
JACOBI_ITERATIONS = 3
# Contrasts per column up to which the draws are also kept one-hot (`_Factored`): past about 16,
# gathers and scatters by slot beat the products with the one-hot (CPU, F J = 120-380 rows).
_ONE_HOT = 16


def _choice_bounds(tables) -> jax.Array:
  """[F, V + 1] cumulative training frequency at the start and end of every choice."""
  cdf = jnp.clip(tables.cdf, 0, 1)  # Padding choices (cdf 2) become empty.
  zeros = jnp.zeros(cdf.shape[:1] + (1,), cdf.dtype)
  return jnp.concatenate([zeros, cdf, jnp.ones_like(zeros)], axis=1)


def choice_frequencies(tables) -> jax.Array:
  """[F, V] training frequency of every choice of every column (0 for padding)."""
  return jnp.diff(_choice_bounds(tables), axis=1)


def choice_means(tables) -> jax.Array:
  """[F, V] mean value of each bin's truncated normal, as `draw_tabular` draws it.

  A draw of choice c is loc + scale * erfinv(e), e uniform between the erf-domain ends
  a = offset + slope * cdf_lo and b = offset + slope * cdf_hi of the choice; the mean of erfinv
  over (a, b) is (exp(-erfinv(a)^2) - exp(-erfinv(b)^2)) / (sqrt(pi) (b - a)). Zero-width bins and
  choices of unbinned columns have their loc.
  """
  bounds = _choice_bounds(tables)
  bound = 1 - 2.0**-24  # draw_tabular's clip of the erf domain.
  low = jnp.clip(tables.offset + tables.slope * bounds[:, :-1], -bound, bound)
  high = jnp.clip(tables.offset + tables.slope * bounds[:, 1:], -bound, bound)
  width = high - low
  erfinv_mean = (jnp.exp(-jax.lax.erf_inv(low) ** 2) - jnp.exp(-jax.lax.erf_inv(high) ** 2)) / (
      jnp.sqrt(jnp.pi) * jnp.where(width > 0, width, 1)
  )
  return tables.loc + tables.scale * jnp.where(width > 0, erfinv_mean, 0)


class _Factored(NamedTuple):
  """The covariates of one instance's samples, factored (`covariates` stacks them): for column f
  and sample s, contrast j is 1[slot[f, s] = j] - not_own[f, s] * given_other[f, j].

  With few contrasts per column the indicators are also kept one-hot (`drawn`), and sums over
  the samples are matrix products; with many (high-cardinality categorical columns) the one-hot
  would hold J times the slots, and the sums gather and scatter by slot instead.
  """

  slot: jax.Array  # [F, S] int32: the contrast column f drew, J for none.
  drawn: jax.Array | None  # [F * J, S] float: 1 where column f drew contrast j (J <= _ONE_HOT).
  not_own: jax.Array  # [F, S] 1 - z_f in choice columns (0 elsewhere and for the instance).
  given_other: jax.Array  # [F, J] p_c / (1 - p_b) of the choice of contrast j (0 if none).
  deviation: jax.Array  # [F, S] value - its bin's mean in binned columns (0 elsewhere, instance).


def num_contrasts(tables) -> int:
  """J, the contrasts per column: one per choice but the instance's own and the reference."""
  return max(tables.slope.shape[1] - 2, 0)


def _factored(z, choice, values, own_choice, tables, is_instance) -> _Factored:
  """The factors of the covariates of samples z [F, S] (`covariates`); is_instance [S] marks the
  instance's own row, whose covariates are zero."""
  num_choices, num_slots = tables.slope.shape[1], num_contrasts(tables)
  frequencies = choice_frequencies(tables)  # [F, V]
  others = jnp.where(jnp.arange(num_choices) == own_choice[:, None], 0, frequencies)
  others_total = jnp.sum(others, axis=1, keepdims=True)
  # The contrasts of the other choices sum to zero where z_f = 0: the first other choice (the
  # reference) has none, and the others span the same space without that dependence. The rest
  # take the slots 0..J-1 in order; with an unseen own choice (every choice is another) the last
  # has no slot, which leaves a valid, smaller set of covariates.
  reference = jnp.argmax(others > 0, axis=1)  # [F]
  has_contrast = (others > 0) & (jnp.arange(num_choices) != reference[:, None])
  slot = jnp.cumsum(has_contrast, axis=1) - 1
  slot = jnp.where(has_contrast & (slot < num_slots), slot, num_slots)  # [F, V]; J: none.
  given_other = others / jnp.where(others_total > 0, others_total, 1)
  in_slot = slot[:, :, None] == jnp.arange(num_slots)  # [F, V, J]
  given_other = jnp.einsum("fvj,fv->fj", in_slot.astype(given_other.dtype), given_other)
  is_choice = tables.is_choice[:, None]
  sample_slot = jnp.where(
      is_choice & ~is_instance, jnp.take_along_axis(slot, choice, axis=1), num_slots
  )
  means = jnp.take_along_axis(choice_means(tables), choice, axis=1)  # [F, S]
  deviation = jnp.where(tables.is_binned[:, None] & ~is_instance, values - means, 0)
  drawn = None
  if num_slots <= _ONE_HOT:
    drawn = sample_slot[:, None, :] == jnp.arange(num_slots)[None, :, None]  # [F, J, S]
    drawn = drawn.reshape(-1, z.shape[1]).astype(z.dtype)
  return _Factored(
      slot=sample_slot.astype(jnp.int32),
      drawn=drawn,
      not_own=jnp.where(is_choice & ~is_instance, 1 - z, 0),
      given_other=given_other.astype(z.dtype),
      deviation=deviation.astype(z.dtype),
  )


def covariates(
    z: jax.Array, choice: jax.Array, values: jax.Array, own_choice: jax.Array, tables
) -> jax.Array:
  """The control covariates of one instance's samples: [F, J + 1, S] (J = `num_contrasts`).

  Args:
    z: [F, S] interpretable samples (column 0 the instance).
    choice: [F, S] int32 drawn choice of each choice column (`draw_tabular`).
    values: [F, S] drawn values in data units (the model's input columns).
    own_choice: [F] int32 the instance's own choice (`instance_choice`; -1 if unseen).
    tables: the training statistics (`tabular_core.TabularTables`).

  Returns:
    Per column, the contrasts of its choices other than the instance's own and the first other
    one (whose contrast the others determine), in order and zero-padded to J, and the value's
    deviation from its bin's mean (zero outside binned columns); zero for sample 0 and for
    columns that are not choice columns. `adjusted_outputs` works on their factors instead.
  """
  parts = _factored(z, choice, values, own_choice, tables, jnp.arange(z.shape[1]) == 0)
  drawn = parts.slot[:, None, :] == jnp.arange(parts.given_other.shape[1])[None, :, None]
  contrasts = drawn - parts.not_own[:, None, :] * parts.given_other[:, :, None]
  return jnp.concatenate([contrasts, parts.deviation[:, None, :]], axis=1)


def _halves(samples: jax.Array) -> jax.Array:
  """[2, ..., ceil(S / 2)]: the first and the second half of samples [..., S] along the last axis.

  For odd S the halves share the middle sample; `adjusted_outputs` gives it no weight in the
  second half and takes its adjusted output from the first.
  """
  num_samples = samples.shape[-1]
  size = (num_samples + 1) // 2
  first = jax.lax.slice_in_dim(samples, 0, size, axis=-1)
  second = jax.lax.slice_in_dim(samples, num_samples // 2, num_samples, axis=-1)
  return jnp.stack([first, second])


def _ridge_residuals(z: jax.Array, outputs: jax.Array, weights: jax.Array) -> jax.Array:
  """[C, S] residuals of the weighted ridge (alpha 1, unpenalised intercept) of outputs [C, S] on
  z [D, S] with weights [S]: the surrogate's own moments and ridge, on every feature."""
  moments = surrogate._moments(z, outputs.T, weights)
  coef, _ = surrogate._ridge_coefficients(moments, jnp.ones(z.shape[0], bool), 1.0)  # [C, D]
  return moments.y_centred.T - coef @ moments.z_centred


# The sums below keep the samples along the minor axis of every operand and result ([F J, S]
# draws, [C, S] targets): with the samples along a result's rows instead, XLA's CPU products
# ran 4-9x slower (an [S, 4] result from [120, S] draws: 0.57 against 0.14 ms per instance).


def _segments(parts: _Factored) -> jax.Array:
  """[F, S] segment of every sample's slot: f (J + 1) + slot[f, s] (the last of each column's
  J + 1 segments collects the samples with no contrast)."""
  num_columns, per_column = parts.given_other.shape
  return parts.slot + (per_column + 1) * jnp.arange(num_columns)[:, None]


def _by_contrast(parts: _Factored, values: jax.Array) -> jax.Array:
  """[F, J, M]: sums over the samples of values [M, S] where column f drew contrast j."""
  num_columns, per_column = parts.given_other.shape
  if parts.drawn is not None:
    return jnp.einsum("ks,ms->km", parts.drawn, values).reshape(num_columns, per_column, -1)
  data = jnp.broadcast_to(values.T, (num_columns,) + values.T.shape)  # [F, S, M]
  sums = jax.ops.segment_sum(
      data.reshape(-1, values.shape[0]),
      _segments(parts).reshape(-1),
      num_segments=num_columns * (per_column + 1),
  )
  return sums.reshape(num_columns, per_column + 1, -1)[:, :per_column]


def _by_own_contrast(parts: _Factored, values: jax.Array) -> jax.Array:
  """[F, J]: sums over the samples of column f's own values [F, S] where it drew contrast j."""
  num_columns, per_column = parts.given_other.shape
  if parts.drawn is not None:
    repeated = jnp.repeat(values, per_column, axis=0)  # [F J, S]
    return jnp.sum(parts.drawn * repeated, axis=1).reshape(num_columns, per_column)
  sums = jax.ops.segment_sum(
      values.reshape(-1), _segments(parts).reshape(-1), num_segments=num_columns * (per_column + 1)
  )
  return sums.reshape(num_columns, per_column + 1)[:, :per_column]


def _picked(parts: _Factored, table: jax.Array) -> jax.Array:
  """[C, S]: sum over columns f of table[f, j] [C] for the contrast j column f drew."""
  if parts.drawn is not None:
    return table.reshape(-1, table.shape[-1]).T @ parts.drawn
  padded = jnp.concatenate([table, jnp.zeros_like(table[:, :1])], axis=1)  # [F, J + 1, C]
  picked = jnp.take_along_axis(padded[:, :, None, :], parts.slot[:, None, :, None], axis=1)
  return jnp.sum(picked[:, 0], axis=0).T  # [F, S, C] -> [C, S]


def _cross(parts: _Factored, weights: jax.Array, targets: jax.Array) -> jax.Array:
  """[F, K, C]: sum_s weights[s] A[f, k, s] targets[c, s], from the factors."""
  weighted = weights * targets  # [C, S]
  per_choice = _by_contrast(parts, weighted)
  not_own = jnp.einsum("fs,cs->fc", parts.not_own, weighted)
  contrasts = per_choice - parts.given_other[:, :, None] * not_own[:, None, :]
  deviation = jnp.einsum("fs,cs->fc", parts.deviation, weighted)
  return jnp.concatenate([contrasts, deviation[:, None, :]], axis=1)


def _gram(parts: _Factored, weights: jax.Array) -> jax.Array:
  """[F, K, K]: sum_s weights[s] A[f, k, s] A[f, j, s], from the factors."""
  per_column = parts.given_other.shape[1]
  counts = _by_contrast(parts, weights[None])[..., 0]
  # Column f's draws of contrast j weighted by its own deviations.
  by_deviation = _by_own_contrast(parts, parts.deviation * weights)
  own_total = parts.not_own @ weights  # not_own is 0 or 1.
  deviation_total = (parts.not_own * parts.deviation) @ weights
  squares = jnp.square(parts.deviation) @ weights
  p = parts.given_other  # [F, J]
  contrasts = (
      counts[:, :, None] * jnp.eye(per_column, dtype=counts.dtype)
      - counts[:, :, None] * p[:, None, :]
      - p[:, :, None] * counts[:, None, :]
      + own_total[:, None, None] * p[:, :, None] * p[:, None, :]
  )
  mixed = by_deviation - p * deviation_total[:, None]  # [F, J]
  top = jnp.concatenate([contrasts, mixed[:, :, None]], axis=2)
  bottom = jnp.concatenate([mixed, squares[:, None]], axis=1)[:, None, :]
  return jnp.concatenate([top, bottom], axis=1)


def _explained(parts: _Factored, gamma: jax.Array) -> jax.Array:
  """[C, S]: A' gamma summed over columns, from the factors (gamma [F, K, C])."""
  per_column = parts.given_other.shape[1]
  contrast_gamma = gamma[:, :per_column]  # [F, J, C]
  mean_gamma = jnp.einsum("fv,fvc->fc", parts.given_other, contrast_gamma)
  return (
      _picked(parts, contrast_gamma)
      - mean_gamma.T @ parts.not_own
      + gamma[:, per_column].T @ parts.deviation
  )


def _column_coefficients(parts: _Factored, residuals: jax.Array, weights: jax.Array) -> jax.Array:
  """[F, K, C] gamma: the weighted regression (weights [S]) of residuals [C, S] on all F x K
  covariates, by block Jacobi iterations over the columns.

  The columns' covariates are uncorrelated with each other in the sampling distribution, so the
  joint system is block diagonal up to the samples' chance correlations: each iteration solves
  every column's small K x K system against what the other columns leave unexplained. One
  pass alone (each column on its own) leaves the other columns' variation as noise in every
  column's gamma: on a model additive in the bins (tests/test_control_variates.py), six instances
  at 4,000 samples, the coefficients' mean absolute error was 0.039 after one pass, 0.015 after
  two and 0.0107 after four (lime's estimator: 0.167).
  """
  gram = _gram(parts, weights)
  # Each covariate's own scale (a value's deviation is in data units, a contrast in [-1, 1]).
  diagonal = jnp.diagonal(gram, axis1=-2, axis2=-1)  # [F, K]
  ridge = jnp.where(diagonal > 0, _RELATIVE_RIDGE * diagonal, 1)  # 1: a covariate always 0.
  system = gram + ridge[..., None] * jnp.eye(gram.shape[-1], dtype=gram.dtype)
  inverse = jax.vmap(linalg.sweep_inverse)(system)  # [F, K, K]

  def solve_step(unexplained):  # [C, S] -> the covariates' update [F, K, C].
    return jnp.einsum("fkj,fjc->fkc", inverse, _cross(parts, weights, unexplained))

  gamma = solve_step(residuals)
  for _ in range(JACOBI_ITERATIONS):
    gamma = gamma + solve_step(residuals - _explained(parts, gamma))
  return gamma


def adjusted_outputs(
    z: jax.Array,
    outputs: jax.Array,
    weights: jax.Array,
    choice: jax.Array,
    values: jax.Array,
    own_choice: jax.Array,
    tables,
) -> jax.Array:
  """The model's outputs less their cross-fitted control variates (see the module docstring).

  Args:
    z: [F, S] interpretable samples, column 0 the instance.
    outputs: [S, C] model outputs.
    weights: [S] kernel weights.
    choice: [F, S] drawn choices; values: [F, S] drawn values in data units.
    own_choice: [F] the instance's own choices.
    tables: the training statistics (`tabular_core.TabularTables`).

  Returns:
    [S, C]: outputs - A gamma, with gamma fitted on the other half of the samples; row 0 as given.
  """
  num_samples = z.shape[1]
  instance = jnp.arange(num_samples) == 0
  half_weights = _halves(weights)
  if num_samples % 2:  # The middle sample, in both halves, counts in the first only.
    half_weights = half_weights.at[1, 0].set(0)
  halves = [_halves(x) for x in (z, outputs.T, choice, values, instance)]
  half_z, half_outputs, half_choice, half_values, half_instance = halves
  parts = jax.vmap(lambda *x: _factored(*x[:3], own_choice, tables, x[3]))(
      half_z, half_choice, half_values, half_instance
  )
  residuals = jax.vmap(_ridge_residuals)(half_z, half_outputs, half_weights)  # [2, C, S / 2]
  gamma = jax.vmap(_column_coefficients)(parts, residuals, half_weights)  # [2, F, K, C]
  # The first half is adjusted with the gamma of the second, and the second with the first's.
  adjusted = half_outputs - jax.vmap(_explained)(parts, gamma[::-1])  # [2, C, S / 2]
  skip = adjusted.shape[-1] - num_samples // 2  # The shared middle sample's second copy.
  return jnp.concatenate([adjusted[0], adjusted[1, :, skip:]], axis=1).T
