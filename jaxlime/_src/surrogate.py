"""The weighted ridge surrogate and lime's feature-selection methods, for one instance.

Everything here works on one instance's samples and is `vmap`-ed by callers over instances.
Selection keeps fixed shapes: a boolean mask [L, D] of selected features per label, and
coefficients that are exactly zero outside the mask.

The surrogate is lime's `Ridge(alpha, fit_intercept=True).fit(z[:, selected], y, sample_weight=w)`:
with weighted means zbar = sum_s w_s z_s / sum_s w_s and ybar likewise, centred Zc = z - zbar and
yc = y - ybar, the coefficients solve (Zc' W Zc + alpha I) coef = Zc' W yc on the selected block
and the unpenalised intercept is ybar - zbar . coef.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxlime._src import kernels
from jaxlime._src import lasso
from jaxlime._src import linalg
from jaxlime._src.status import FitStatus

FEATURE_SELECTION_METHODS = ("auto", "none", "highest_weights", "forward_selection", "lasso_path")

# Below this total kernel weight the weighted means are undefined: the fit is flagged degenerate.
_MIN_TOTAL_WEIGHT = 1e-30
# A final system whose 1-norm condition number times the float's epsilon exceeds this bounds the
# coefficients' relative error above 10%: the fit is flagged ill-conditioned. The default
# configurations stay far below it in float32 (S = 5000 binary features: below 0.005).
_ILL_CONDITIONED = 0.1


class Surrogate(NamedTuple):
  """The fitted local surrogate of one instance, for L labels over D interpretable features.

  `fit_surrogate` fills `labels` with 0..L - 1 (the columns of y) and `prediction` with y[0]
  [L]; an explainer's `explain_fn` fills them with the class ids explained and the model's
  output at the instance [C].
  """

  coef: jax.Array  # [L, D], zero where not selected.
  selected: jax.Array  # [L, D] bool.
  intercept: jax.Array  # [L]
  score: jax.Array  # [L] weighted R^2 of the surrogate on the samples.
  local_pred: jax.Array  # [L] surrogate prediction at row 0 (the instance).
  coef_std: jax.Array  # [L, D] posterior standard deviation of coef, zero where not selected.
  status: jax.Array  # [L] int32 `FitStatus` code; 0 (OK) when the fit can be trusted.
  labels: jax.Array  # [L] int32, the explained labels.
  prediction: jax.Array  # [C] the model's output at the instance ([L] from fit_surrogate).


class _Moments(NamedTuple):
  """Weighted, centred second moments shared by every fit on the same samples.

  Moments accumulated over rounds of samples (`moments_from_stats`) keep no sample: z_centred,
  y_centred and weights are None and the four sums below stand in for them.
  """

  z_mean: jax.Array  # [D]
  y_mean: jax.Array  # [L]
  z_centred: jax.Array | None  # [D, S], column-major: reductions over samples run along rows.
  y_centred: jax.Array | None  # [S, L]
  gram: jax.Array  # [D, D] Zc' W Zc
  cross: jax.Array  # [D, L] Zc' W yc
  y_total: jax.Array  # [L] sum_s w_s yc_s^2
  weights: jax.Array | None  # [S]
  degenerate: jax.Array  # [] bool, the total weight is ~0.
  weight_total: jax.Array | None = None  # [] sum_s w_s (accumulated moments only).
  num_positive: jax.Array | None = None  # [] samples with positive weight (accumulated only).
  num_rows: jax.Array | None = None  # [] samples, zero weights included (accumulated only).
  finite: jax.Array | None = None  # [L] bool, every output was finite (accumulated only).


def moments_from_stats(
    weight_total, num_positive, num_rows, mean, comoment, finite, num_dims: int
) -> _Moments:
  """`_Moments` of samples known only through their weighted sums, e.g. accumulated over rounds.

  Args:
    weight_total: [] sum_s w_s.
    num_positive: [] number of samples with w_s > 0.
    num_rows: [] number of samples.
    mean: [D + L] weighted mean of the stacked (z_s, y_s).
    comoment: [D + L, D + L] sum_s w_s (v_s - mean)(v_s - mean)' of the stacked v_s = (z_s, y_s).
    finite: [L] bool, every output of the label was finite.
    num_dims: D (static).
  """
  d = num_dims
  return _Moments(
      z_mean=mean[:d],
      y_mean=mean[d:],
      z_centred=None,
      y_centred=None,
      gram=comoment[:d, :d],
      cross=comoment[:d, d:],
      y_total=jnp.diagonal(comoment)[d:],
      weights=None,
      degenerate=weight_total < _MIN_TOTAL_WEIGHT,
      weight_total=weight_total,
      num_positive=num_positive,
      num_rows=num_rows,
      finite=finite,
  )


def _moments(z_columns: jax.Array, y: jax.Array, weights: jax.Array) -> _Moments:
  """Weighted moments of z_columns [D, S] (samples along rows), y [S, L] and weights [S]."""
  total = jnp.sum(weights)
  degenerate = total < _MIN_TOTAL_WEIGHT
  safe_total = jnp.where(degenerate, 1, total)
  z_mean = z_columns @ weights / safe_total
  y_mean = weights @ y / safe_total
  z_centred = z_columns - z_mean[:, None]
  y_centred = y - y_mean
  # Materialised once: fused into the Gram's operands, XLA recomputes them per use.
  z_centred, weights = jax.lax.optimization_barrier((z_centred, weights))
  weighted_z = z_centred * weights
  return _Moments(
      z_mean=z_mean,
      y_mean=y_mean,
      z_centred=z_centred,
      y_centred=y_centred,
      gram=weighted_z @ z_centred.T,
      cross=weighted_z @ y_centred,
      y_total=weights @ jnp.square(y_centred),
      weights=weights,
      degenerate=degenerate,
  )


def _masked_system(gram: jax.Array, mask: jax.Array, alpha) -> jax.Array:
  """[D, D] matrix equal to gram + alpha I on the selected block and the identity elsewhere."""
  mask = mask.astype(gram.dtype)
  outer = mask[:, None] * mask[None, :]
  diagonal = alpha * mask + (1 - mask)
  return gram * outer + jnp.diag(diagonal)


def _ridge_coefficients(moments: _Moments, mask: jax.Array, alpha) -> tuple[jax.Array, jax.Array]:
  """Ridge coefficients of every label on a shared feature mask.

  Args:
    moments: the weighted moments of the samples.
    mask: [D] bool, the features in the model.
    alpha: L2 penalty on the selected coefficients.

  Returns:
    coef [L, D] (zero off the mask) and the inverse [D, D] of the masked system.
  """
  inverse = linalg.spd_inverse(_masked_system(moments.gram, mask, alpha))
  coef = (inverse @ (moments.cross * mask[:, None].astype(moments.cross.dtype))).T
  return coef * mask, inverse


def weighted_r2(residual_total, y_total, weight_total, y_mean) -> jax.Array:
  """[...] weighted R^2, 1 - residual_total / y_total (weighted sums of squares about the fit
  and about y_mean). A target constant up to rounding (its weighted variance at the level of
  eps^2 relative to its magnitude) is fitted exactly by the intercept: score 1, as
  scikit-learn's r2_score."""
  eps = jnp.finfo(y_total.dtype).eps
  rounding_level = 100 * eps**2 * weight_total * jnp.square(y_mean)
  constant = y_total <= jnp.maximum(rounding_level, jnp.finfo(y_total.dtype).tiny)
  return jnp.where(constant, 1.0, 1 - residual_total / jnp.where(constant, 1, y_total))


def _fit_on_mask(
    moments: _Moments, z0: jax.Array, label: int, mask: jax.Array, alpha, *, max_selected: int
):
  """Final ridge fit and its statistics for label `label` on the features in `mask` [D].

  The mask selects at most `max_selected` (static) features: when that is fewer than D, the
  system is solved on those features alone, gathered into a [max_selected, max_selected] block
  (padded with the identity when fewer are selected), instead of the whole masked [D, D] one.
  """
  num_dims = mask.shape[0]
  maskf = mask.astype(moments.gram.dtype)
  if max_selected < num_dims:
    chosen = jnp.argsort(~mask, stable=True)[:max_selected]  # Selected features first.
    valid = mask[chosen]
    system = _masked_system(moments.gram[chosen][:, chosen], valid, alpha)
    inverse = linalg.spd_inverse(system)
    validf = valid.astype(maskf.dtype)
    chosen_coef = inverse @ (moments.cross[chosen, label] * validf) * validf
    coef = jnp.zeros(num_dims, maskf.dtype).at[chosen].set(chosen_coef)
    variance_factor = (
        jnp.zeros(num_dims, maskf.dtype).at[chosen].set(jnp.diagonal(inverse) * validf)
    )
  else:
    system = _masked_system(moments.gram, mask, alpha)
    inverse = linalg.spd_inverse(system)
    coef = inverse @ (moments.cross[:, label] * maskf) * maskf
    variance_factor = jnp.diagonal(inverse)
  intercept = moments.y_mean[label] - moments.z_mean @ coef
  if moments.z_centred is None:  # Accumulated moments: the residual total from the moments.
    y_total = moments.y_total[label]
    cross = moments.cross[:, label]
    residual_total = jnp.maximum(y_total - 2 * coef @ cross + coef @ moments.gram @ coef, 0)
    weight_total = moments.weight_total
  else:
    residuals = moments.y_centred[:, label] - coef @ moments.z_centred
    residual_total = moments.weights @ jnp.square(residuals)
    y_total = moments.y_total[label]
    weight_total = jnp.sum(moments.weights)
  score = weighted_r2(residual_total, y_total, weight_total, moments.y_mean[label])
  local_pred = intercept + z0 @ coef
  # Bayesian ridge posterior: precision of sample s is w_s / sigma^2, prior coef ~ N(0, sigma^2 /
  # alpha). sigma^2 is estimated from the weighted residuals with (samples - parameters) degrees of
  # freedom, counting only samples with positive weight.
  if moments.z_centred is None:
    num_samples = moments.num_positive
  else:
    num_samples = jnp.sum(moments.weights > 0)
  dof = jnp.maximum(num_samples - jnp.sum(mask) - 1, 1)
  noise_variance = residual_total / dof
  coef_std = jnp.sqrt(jnp.clip(noise_variance * variance_factor, 0)) * maskf
  status = _fit_status(moments, label, system, inverse)
  return coef, intercept, score, local_pred, coef_std, status


def _fit_status(moments: _Moments, label, system: jax.Array, inverse: jax.Array) -> jax.Array:
  """The `FitStatus` code of one label's final fit (the most serious problem found)."""
  if moments.finite is None:
    finite_outputs = jnp.all(jnp.isfinite(moments.y_centred[:, label]))
  else:
    finite_outputs = moments.finite[label]
  norm = lambda matrix: jnp.max(jnp.sum(jnp.abs(matrix), axis=0))  # noqa: E731
  singular = ~jnp.all(jnp.isfinite(inverse))
  condition = norm(system) * norm(jnp.where(singular, 0, inverse))
  ill = condition * jnp.finfo(system.dtype).eps > _ILL_CONDITIONED
  status = jnp.where(ill, FitStatus.ILL_CONDITIONED, FitStatus.OK)
  status = jnp.where(singular, FitStatus.SINGULAR, status)
  status = jnp.where(moments.degenerate, FitStatus.DEGENERATE_WEIGHTS, status)
  status = jnp.where(finite_outputs, status, FitStatus.NONFINITE_OUTPUT)
  return status.astype(jnp.int32)


def highest_weights_mask(moments: _Moments, z0: jax.Array, num_features: int) -> jax.Array:
  """lime's `highest_weights`: ridge (alpha 0.01) on all features, keep the K largest |coef * z0|.

  Ties keep the lower feature index first, as lime's stable sort does.

  Returns:
    [L, D] bool masks with min(K, D) features each.
  """
  num_dims = moments.gram.shape[0]
  coef, _ = _ridge_coefficients(moments, jnp.ones(num_dims, bool), 0.01)
  contribution = jnp.abs(coef * z0)
  order = jnp.argsort(-contribution, axis=-1, stable=True)
  ranks = jnp.argsort(order, axis=-1)
  return ranks < min(num_features, num_dims)


def forward_selection_mask(moments: _Moments, label: jax.Array, num_features: int) -> jax.Array:
  """lime's `forward_selection` for one label: greedy weighted OLS with intercept.

  Each of min(K, D) rounds adds the feature that most raises the weighted R^2, which for least
  squares is the largest reduction of the residual sum of squares. All candidates are scored at
  once from the Schur complement of the active block: with P the inverse of the active Gram block
  (zero outside it), r = b - G P b and d_j = G_jj - (G P G)_jj, adding j lowers the residual sum
  of squares by r_j^2 / d_j. P grows by the block-inverse update P + (u - e_j)(u - e_j)' / d_j
  with u = P G e_j, so no round factorises a matrix.

  Returns:
    [D] bool mask.
  """
  gram, cross = moments.gram, moments.cross[:, label]
  num_dims = gram.shape[0]
  diagonal = jnp.diagonal(gram)
  # A candidate whose residual variance is below this relative level is collinear with the
  # active set: it explains nothing and cannot extend P.
  collinear_tol = 1e3 * jnp.finfo(gram.dtype).eps * jnp.maximum(diagonal, 1e-30)

  def add_one(state, _):
    mask, inverse = state
    projections = inverse @ gram  # Column j is u_j = P G e_j.
    residual_cross = cross - gram @ (inverse @ cross)
    residual_var = diagonal - jnp.sum(gram * projections, axis=0)
    usable = residual_var > collinear_tol
    gain = jnp.where(usable, jnp.square(residual_cross) / jnp.where(usable, residual_var, 1), 0)
    best = jnp.argmax(jnp.where(mask, -jnp.inf, gain))
    step = projections[:, best] - jax.nn.one_hot(best, num_dims, dtype=gram.dtype)
    scale = jnp.where(usable[best], 1 / jnp.where(usable[best], residual_var[best], 1), 0)
    inverse = inverse + scale * jnp.outer(step, step)
    return (mask.at[best].set(True), inverse), None

  initial = (jnp.zeros(num_dims, bool), jnp.zeros_like(gram))
  (mask, _), _ = jax.lax.scan(add_one, initial, None, length=min(num_features, num_dims))
  return mask


def select_features(
    moments: _Moments, z_columns: jax.Array, y: jax.Array, num_features: int, method: str
) -> jax.Array:
  """Boolean masks [L, D] of the features each label's surrogate uses.

  Args:
    moments: weighted moments of the samples and y.
    z_columns: [D, S] samples, column 0 the instance.
    y: [S, L] targets.
    num_features: K (static).
    method: a name from FEATURE_SELECTION_METHODS other than "auto" resolved here.
  """
  num_dims = moments.gram.shape[0]
  num_labels = moments.cross.shape[1]
  if method == "auto":
    method = "forward_selection" if num_features <= 6 else "highest_weights"
  if method == "none":
    return jnp.ones((num_labels, num_dims), bool)
  if method == "highest_weights":
    return highest_weights_mask(moments, z_columns[:, 0], num_features)
  if method == "forward_selection":
    select = functools.partial(forward_selection_mask, num_features=num_features)
    return jax.vmap(select, in_axes=(None, 0))(moments, jnp.arange(num_labels))
  if method == "lasso_path" and moments.z_centred is None:
    select = functools.partial(
        lasso.lasso_path_mask_from_gram, num_samples=moments.num_rows, num_features=num_features
    )
    return jax.vmap(select, in_axes=(None, 1, 0))(
        moments.gram, moments.cross, jnp.sqrt(jnp.maximum(moments.y_total, 0))
    )
  if method == "lasso_path":
    select = functools.partial(lasso.lasso_path_mask, num_features=num_features)
    return jax.vmap(select, in_axes=(None, 1, None))(z_columns.T, y, moments.weights)
  raise ValueError(f"feature_selection must be one of {FEATURE_SELECTION_METHODS}; got {method!r}.")


def fit_surrogate(
    z: jax.Array,
    y: jax.Array,
    weights: jax.Array,
    *,
    num_features: int,
    feature_selection: str = "auto",
    alpha=1.0,
) -> Surrogate:
  """Fits lime's local surrogate for one instance, every label at once.

  It computes what `lime.lime_base.LimeBase.explain_instance_with_data` computes for each label
  given the same samples and kernel weights: feature selection, then a weighted ridge with an
  unpenalised intercept on the selected features. `vmap` it over instances.

  Args:
    z: [S, D] interpretable samples; row 0 is the instance itself.
    y: [S, L] model outputs for the labels to explain (a [S] vector is treated as L = 1).
    weights: [S] non-negative kernel weights.
    num_features: K, the largest number of features per label (static).
    feature_selection: "auto", "none", "highest_weights", "forward_selection" or "lasso_path".
    alpha: ridge penalty of the final fit (may be traced).

  Returns:
    A `Surrogate` with coef [L, D], selected [L, D], intercept [L], score [L], local_pred [L],
    coef_std [L, D], status [L] (`jaxlime.FitStatus` codes), labels [L] = 0..L - 1 and
    prediction [L] = y[0].
  """
  if feature_selection not in FEATURE_SELECTION_METHODS:
    raise ValueError(
        f"feature_selection must be one of {FEATURE_SELECTION_METHODS}; got {feature_selection!r}."
    )
  if int(num_features) < 1:
    raise ValueError(f"num_features must be >= 1; got {num_features}.")
  y = jnp.asarray(y)
  if y.ndim == 1:
    y = y[:, None]
  z = jnp.asarray(z)
  if z.ndim != 2 or y.ndim != 2 or jnp.ndim(weights) != 1:
    raise ValueError(
        f"fit_surrogate expects z [S, D], y [S, L] and weights [S]; got z {z.shape}, "
        f"y {y.shape}, weights {jnp.shape(weights)}."
    )
  if not (z.shape[0] == y.shape[0] == weights.shape[0]):
    raise ValueError(
        f"z, y and weights must have the same number of samples; got z {z.shape}, y {y.shape}, "
        f"weights {weights.shape}."
    )
  dtype = jnp.result_type(z.dtype, y.dtype, jnp.float32)
  return fit_surrogate_columns(
      z.T.astype(dtype),
      y.astype(dtype),
      jnp.asarray(weights, dtype),
      num_features=int(num_features),
      feature_selection=feature_selection,
      alpha=alpha,
  )


def fit_surrogate_columns(
    z_columns: jax.Array,
    y: jax.Array,
    weights: jax.Array,
    *,
    num_features: int,
    feature_selection: str,
    alpha=1.0,
    feature_mask: jax.Array | None = None,
) -> Surrogate:
  """`fit_surrogate` on column-major samples z_columns [D, S] (column 0 the instance).

  The explainers keep samples column-major: with D of a few dozen, reductions over [S, D] rows
  vectorise poorly on CPU, while [D, S] rows are long and contiguous.

  Instances with different numbers of features share one D by padding: `feature_mask` [D] marks
  the real features. A padding feature must be zero in every sample and come after every real
  feature: it then never enters the surrogate (selected False, coef and coef_std exactly 0), and
  the fit of the real features is the one of the unpadded instance.
  """
  moments = _moments(z_columns, y, weights)
  selected = select_features(moments, z_columns, y, num_features, feature_selection)
  return _fit_selected(
      moments, z_columns[:, 0], selected, feature_mask, num_features, feature_selection, alpha, y[0]
  )


def _fit_selected(
    moments, z0, selected, feature_mask, num_features, feature_selection, alpha, prediction
) -> Surrogate:
  """The final ridge fit of every label [L] on its selected features [L, D] (masked by
  `feature_mask` [D]), from the moments; `prediction` [L] is stored as given."""
  if feature_mask is not None:
    selected = selected & feature_mask
  num_dims, num_labels = moments.cross.shape
  labels = jnp.arange(num_labels)
  max_selected = num_dims if feature_selection == "none" else min(num_features, num_dims)
  fit = functools.partial(_fit_on_mask, max_selected=max_selected)
  coef, intercept, score, local_pred, coef_std, status = jax.vmap(
      fit, in_axes=(None, None, 0, 0, None)
  )(moments, z0, labels, selected, jnp.asarray(alpha, z0.dtype))
  return Surrogate(
      coef=coef,
      selected=selected,
      intercept=intercept,
      score=score,
      local_pred=local_pred,
      coef_std=coef_std,
      status=status,
      labels=labels.astype(jnp.int32),
      prediction=prediction,
  )


def fit_moments(
    moments: _Moments,
    z0: jax.Array,
    *,
    num_features: int,
    feature_selection: str,
    alpha=1.0,
    feature_mask: jax.Array | None = None,
) -> Surrogate:
  """`fit_surrogate_columns` on samples known only through their moments (`moments_from_stats`).

  Selection and the final fit read the samples only through their weighted sums, so the result
  is the fit of the samples the moments were accumulated from.

  Args:
    moments: accumulated moments over D features and L labels.
    z0: [D] the instance's interpretable row.
    num_features, feature_selection, alpha, feature_mask: as in `fit_surrogate_columns`.

  Returns:
    A `Surrogate` with labels 0..L - 1 and prediction the weighted mean of the outputs [L]
    (callers fill in the explained labels and the model's output at the instance).
  """
  selected = select_features(moments, z0[:, None], None, num_features, feature_selection)
  return _fit_selected(
      moments, z0, selected, feature_mask, num_features, feature_selection, alpha, moments.y_mean
  )


def full_posterior(moments: _Moments, alpha, feature_mask: jax.Array | None = None):
  """The ridge posterior on every feature (those in `feature_mask`), for every label.

  Returns:
    coef [L, D] (zero off the mask), the inverse [D, D] of the masked system and the noise
    variance [L] estimated as in the final fit: coef ~ N(coef, noise_variance * inverse).
  """
  num_dims = moments.gram.shape[0]
  mask = jnp.ones(num_dims, bool) if feature_mask is None else feature_mask
  coef, inverse = _ridge_coefficients(moments, mask, alpha)
  residual_total = jnp.maximum(
      moments.y_total
      - 2 * jnp.sum(coef * moments.cross.T, axis=-1)
      + jnp.einsum("ld,de,le->l", coef, moments.gram, coef),
      0,
  )
  dof = jnp.maximum(moments.num_positive - jnp.sum(mask) - 1, 1)
  return coef, inverse, residual_total / dof


def explained_labels(
    prediction: jax.Array, *, labels: tuple[int, ...] | None, top_labels: int | None
) -> jax.Array:
  """[L] int32 labels of one instance: `labels`, or the `top_labels` highest of prediction [C].

  lime's `argsort(prediction)[-top_labels:]` reversed: highest first, and among equal outputs
  the higher class id first.
  """
  if top_labels is not None:
    return jnp.argsort(prediction, stable=True)[::-1][:top_labels].astype(jnp.int32)
  return jnp.asarray(labels, jnp.int32)


def _score_on(fit: Surrogate, z_columns: jax.Array, y: jax.Array, weights: jax.Array) -> jax.Array:
  """[L] weighted R^2 (`weighted_r2`) of the surrogate fit (coef [L, D], intercept [L]) on
  targets y [S, L] other than those it was fitted to, at samples z_columns [D, S], weights [S]."""
  total = jnp.sum(weights)
  predicted = fit.intercept[:, None] + fit.coef @ z_columns  # [L, S]
  residual_total = jnp.sum(weights * jnp.square(y.T - predicted), axis=1)
  mean = y.T @ weights / total
  y_total = jnp.sum(weights * jnp.square(y.T - mean[:, None]), axis=1)
  return weighted_r2(residual_total, y_total, total, mean)


def fit_local(
    z_columns: jax.Array,
    outputs: jax.Array,
    distances: jax.Array,
    kernel_width,
    *,
    kernel: Callable | None,
    labels: tuple[int, ...] | None,
    top_labels: int | None,
    num_features: int,
    feature_selection: str,
    feature_mask: jax.Array | None = None,
    adjust: Callable | None = None,
) -> Surrogate:
  """The step every modality shares: kernel weights, the labels to explain, the surrogate.

  Args:
    z_columns: [D, S] interpretable samples, column 0 the instance.
    outputs: [S, C] model outputs on the samples (row 0 the instance).
    distances: [S] distances of the samples to the instance.
    kernel_width: scalar, may be traced.
    kernel: kernel(distances, kernel_width) -> weights, or None for `exponential_kernel`.
    labels, top_labels: as in `explained_labels`.
    num_features, feature_selection, feature_mask: as in `fit_surrogate_columns`.
    adjust: adjust(y [S, L], weights [S]) -> [S, L], the targets the surrogate is fitted to
      instead of the chosen labels' outputs y (tabular control variates); its score stays the
      R^2 on the model's outputs. None fits the outputs.

  Returns:
    The Surrogate over L labels, with its labels and the model's output at the instance
    (outputs[0], [C]).
  """
  weights = jnp.asarray(kernels.kernel_weights(distances, kernel_width, kernel), z_columns.dtype)
  chosen = explained_labels(outputs[0], labels=labels, top_labels=top_labels)
  y = outputs[:, chosen]
  fit = fit_surrogate_columns(
      z_columns,
      y if adjust is None else adjust(y, weights),
      weights,
      num_features=num_features,
      feature_selection=feature_selection,
      feature_mask=feature_mask,
  )
  if adjust is not None:
    fit = fit._replace(score=_score_on(fit, z_columns, y, weights))
  return fit._replace(labels=chosen, prediction=outputs[0])
