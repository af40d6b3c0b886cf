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

gamma is fitted by cross-fitting: the samples fall into two halves (even and odd positions);
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
  and sample s, contrast v is drawn[f * V + v, s] - not_own[f, s] * given_other[f, v]."""

  drawn: jax.Array  # [F * V, S] float: 1 where column f drew choice v and v has a contrast.
  not_own: jax.Array  # [F, S] 1 - z_f in choice columns (0 elsewhere and for sample 0).
  given_other: jax.Array  # [F, V] p_c / (1 - p_b); 0 for the own, reference and padding choices.
  deviation: jax.Array  # [F, S] value - its bin's mean in binned columns (0 elsewhere, sample 0).


def _factored(z, choice, values, own_choice, tables) -> _Factored:
  num_choices = tables.slope.shape[1]
  frequencies = choice_frequencies(tables)  # [F, V]
  others = jnp.where(jnp.arange(num_choices) == own_choice[:, None], 0, frequencies)
  others_total = jnp.sum(others, axis=1, keepdims=True)
  # The contrasts of the other choices sum to zero where z_f = 0: the first other choice (the
  # reference) has none, and the others span the same space without that dependence.
  reference = jnp.argmax(others > 0, axis=1)  # [F]
  is_reference = jnp.arange(num_choices) == reference[:, None]
  given_other = jnp.where(is_reference, 0, others / jnp.where(others_total > 0, others_total, 1))
  is_choice = tables.is_choice[:, None]
  first = jnp.arange(z.shape[1]) == 0
  contrast = is_choice & (choice != own_choice[:, None]) & (choice != reference[:, None]) & ~first
  means = jnp.take_along_axis(choice_means(tables), choice, axis=1)  # [F, S]
  deviation = jnp.where(tables.is_binned[:, None] & ~first, values - means, 0)
  drawn = contrast[:, None, :] & (choice[:, None, :] == jnp.arange(num_choices)[None, :, None])
  return _Factored(
      drawn=drawn.reshape(-1, z.shape[1]).astype(z.dtype),  # [F * V, S]
      not_own=jnp.where(is_choice & ~first, 1 - z, 0),
      given_other=given_other.astype(z.dtype),
      deviation=deviation.astype(z.dtype),
  )


def covariates(
    z: jax.Array, choice: jax.Array, values: jax.Array, own_choice: jax.Array, tables
) -> jax.Array:
  """The control covariates of one instance's samples: [F, V + 1, S].

  Args:
    z: [F, S] interpretable samples (column 0 the instance).
    choice: [F, S] int32 drawn choice of each choice column (`draw_tabular`).
    values: [F, S] drawn values in data units (the model's input columns).
    own_choice: [F] int32 the instance's own choice (`instance_choice`; -1 if unseen).
    tables: the training statistics (`tabular_core.TabularTables`).

  Returns:
    Per column, V contrasts (zero for the instance's own choice, for the first other choice,
    whose contrast the others determine, and for padding choices) and the value's deviation
    from its bin's mean (zero outside binned columns); zero for sample 0 and for columns that
    are not choice columns. `adjusted_outputs` works on their factors instead of this array.
  """
  parts = _factored(z, choice, values, own_choice, tables)
  drawn = parts.drawn.reshape(parts.given_other.shape + z.shape[1:])
  contrasts = drawn - parts.not_own[:, None, :] * parts.given_other[:, :, None]
  return jnp.concatenate([contrasts, parts.deviation[:, None, :]], axis=1)


def _ridge_residuals(z: jax.Array, outputs: jax.Array, half_weights: jax.Array) -> jax.Array:
  """[H, S, C] residuals of H weighted ridges (alpha 1, unpenalised intercept) of outputs
  [S, C] on z [D, S], ridge h fitted with half_weights[h] [S] (zero outside its half): the
  surrogate's own moments and ridge, on every feature."""

  def residuals(weights):
    moments = surrogate._moments(z, outputs, weights)
    coef, _ = surrogate._ridge_coefficients(moments, jnp.ones(z.shape[0], bool), 1.0)  # [C, D]
    return moments.y_centred - moments.z_centred.T @ coef.T

  return jax.vmap(residuals)(half_weights)


def _by_choice(parts: _Factored, weighted: jax.Array) -> jax.Array:
  """[F, V, ...]: sums over samples of weighted [S, ...] where column f drew contrast v."""
  num_columns, num_choices = parts.given_other.shape
  flat = weighted.reshape(weighted.shape[0], -1)
  return (parts.drawn @ flat).reshape((num_columns, num_choices) + weighted.shape[1:])


def _cross(parts: _Factored, half_weights: jax.Array, targets: jax.Array) -> jax.Array:
  """[H, F, K, C]: sum_s half_weights[h, s] A[f, k, s] targets[h, s, c], from the factors."""
  weighted = jnp.moveaxis(half_weights[:, :, None] * targets, 1, 0)  # [S, H, C]
  per_choice = jnp.moveaxis(_by_choice(parts, weighted), 2, 0)  # [H, F, V, C]
  not_own = jnp.einsum("fs,shc->hfc", parts.not_own, weighted)
  contrasts = per_choice - parts.given_other[None, :, :, None] * not_own[:, :, None, :]
  deviation = jnp.einsum("fs,shc->hfc", parts.deviation, weighted)
  return jnp.concatenate([contrasts, deviation[:, :, None, :]], axis=2)


def _gram(parts: _Factored, half_weights: jax.Array) -> jax.Array:
  """[H, F, K, K]: sum_s half_weights[h, s] A[f, k, s] A[f, j, s], from the factors."""
  num_columns, num_choices = parts.given_other.shape
  counts = jnp.moveaxis(_by_choice(parts, half_weights.T), 2, 0)  # [H, F, V]
  # Column f's draws of v weighted by its own deviations: [F * V, S] times [F * V, S].
  deviations = jnp.repeat(parts.deviation, num_choices, axis=0)
  by_deviation = ((parts.drawn * deviations) @ half_weights.T).T.reshape(
      -1, num_columns, num_choices
  )
  own_total = jnp.einsum("fs,hs->hf", parts.not_own, half_weights)  # not_own is 0 or 1.
  deviation_total = jnp.einsum("fs,hs->hf", parts.not_own * parts.deviation, half_weights)
  squares = jnp.einsum("fs,hs->hf", jnp.square(parts.deviation), half_weights)
  p = parts.given_other[None]  # [1, F, V]
  contrasts = (
      counts[..., :, None] * jnp.eye(num_choices, dtype=counts.dtype)
      - counts[..., :, None] * p[..., None, :]
      - p[..., :, None] * counts[..., None, :]
      + own_total[..., None, None] * p[..., :, None] * p[..., None, :]
  )
  mixed = by_deviation - p * deviation_total[..., None]  # [H, F, V]
  top = jnp.concatenate([contrasts, mixed[..., None]], axis=-1)
  bottom = jnp.concatenate([mixed, squares[..., None]], axis=-1)[..., None, :]
  return jnp.concatenate([top, bottom], axis=-2)


def _explained(parts: _Factored, gamma: jax.Array) -> jax.Array:
  """[H, S, C]: A' gamma[h] summed over columns, from the factors (gamma [H, F, K, C])."""
  num_columns, num_choices = parts.given_other.shape
  contrast_gamma = gamma[:, :, :num_choices]  # [H, F, V, C]
  flat = jnp.moveaxis(contrast_gamma, 0, 2).reshape(num_columns * num_choices, -1)  # [F V, H C]
  picked = (parts.drawn.T @ flat).reshape(-1, gamma.shape[0], gamma.shape[-1])  # [S, H, C]
  mean_gamma = jnp.einsum("fv,hfvc->hfc", parts.given_other, contrast_gamma)
  return (
      jnp.moveaxis(picked, 1, 0)
      - jnp.einsum("fs,hfc->hsc", parts.not_own, mean_gamma)
      + jnp.einsum("fs,hfc->hsc", parts.deviation, gamma[:, :, num_choices])
  )


def _column_coefficients(
    parts: _Factored, residuals: jax.Array, half_weights: jax.Array
) -> jax.Array:
  """[H, F, K, C] gamma: per half h, the weighted regression (half_weights[h] [S]) of its
  residuals [S, C] on all F x K covariates, by block Jacobi iterations over the columns.

  The columns' covariates are uncorrelated with each other in the sampling distribution, so the
  joint system is block diagonal up to the samples' chance correlations: each iteration solves
  every column's small K x K system against what the other columns leave unexplained. One
  pass alone (each column on its own) leaves the other columns' variation as noise in every
  column's gamma: on a model additive in the bins (tests/test_control_variates.py), one instance
  at 4,000 samples, the coefficients' mean absolute error was 0.029 after one pass, 0.015 after
  two and 0.0136 after four, where the joint least squares gave 0.0139 (lime's estimator: 0.11).
  """
  gram = _gram(parts, half_weights)
  # Each covariate's own scale (a value's deviation is in data units, a contrast in [-1, 1]).
  diagonal = jnp.diagonal(gram, axis1=-2, axis2=-1)  # [H, F, K]
  ridge = jnp.where(diagonal > 0, _RELATIVE_RIDGE * diagonal, 1)  # 1: a covariate always 0.
  system = gram + ridge[..., None] * jnp.eye(gram.shape[-1], dtype=gram.dtype)
  inverse = jax.vmap(jax.vmap(linalg.spd_inverse))(system)  # [H, F, K, K]

  def solve_step(unexplained):  # [H, S, C] -> the covariates' update [H, F, K, C].
    return jnp.einsum("hfkj,hfjc->hfkc", inverse, _cross(parts, half_weights, unexplained))

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
  parts = _factored(z, choice, values, own_choice, tables)
  half = jnp.arange(z.shape[1]) % 2  # [S]
  half_weights = jnp.where(half == jnp.arange(2)[:, None], weights, 0).astype(z.dtype)  # [2, S]
  residuals = _ridge_residuals(z, outputs, half_weights)
  gamma = _column_coefficients(parts, residuals, half_weights)  # [2, F, K, C]
  # Half 0 is adjusted with the gamma of half 1, and half 1 with that of half 0.
  explained = _explained(parts, gamma[::-1])  # [2, S, C]
  return outputs - jnp.where((half == 0)[:, None], explained[0], explained[1])


def score_on_outputs(
    coef: jax.Array, intercept: jax.Array, z: jax.Array, outputs: jax.Array, weights: jax.Array
) -> jax.Array:
  """[L] weighted R^2 (`surrogate.weighted_r2`) of the surrogate (coef [L, D], intercept [L])
  on the unadjusted outputs [S, L] of its samples z [D, S] with weights [S]: lime's score of
  that surrogate."""
  total = jnp.sum(weights)
  predicted = intercept[:, None] + coef @ z  # [L, S]
  residual_total = jnp.sum(weights * jnp.square(outputs.T - predicted), axis=1)
  mean = outputs.T @ weights / total
  y_total = jnp.sum(weights * jnp.square(outputs.T - mean[:, None]), axis=1)
  return surrogate.weighted_r2(residual_total, y_total, total, mean)
