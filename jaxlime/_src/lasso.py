"""LIME's ``lasso_path`` feature selection as a fixed-shape JAX program.

lime 0.2.0.1 (``LimeBase.feature_selection(..., method='lasso_path')``) centres
the samples with the kernel weights, scales them by ``sqrt(weights)``, runs
``sklearn.linear_model.lars_path(X, y, method='lasso')`` and keeps the support
of the least-regularised point of the path with at most ``num_features``
non-zero coefficients.  :func:`lasso_path_mask` reproduces this for one
instance and one label with a ``jax.lax.while_loop`` over LARS steps; all
arrays keep their shapes, so the function can be jitted and vmapped.

The LARS-lasso steps follow ``sklearn.linear_model._least_angle.
_lars_path_solver`` (scikit-learn 1.x) with ``lars_path``'s defaults
(``alpha_min=0``, ``max_iter=500``, ``positive=False``): the same candidate
choice (largest ``|correlation|``, exact ties broken by sklearn's internal
feature order), equiangular direction, step length (``min_pos`` of the two
ratios over inactive features, capped by ``C / AA``), lasso drop, rounding of
``corr_eq_dir`` and stopping rules (``alpha <= float32 eps``, all features
active, ``max_iter``, alpha increasing).  Differences, which only matter for
degenerate problems:

* Linear algebra uses the Gram matrix ``G = X^T X`` and a fresh inverse of the
  masked active block at every step (``linalg.spd_inverse``, plain jnp: LAPACK
  calls hung inside ``shard_map`` on CPU) instead of sklearn's incrementally
  updated Cholesky factor of ``X``; the results agree to rounding.
* A candidate in the span of the active features (squared Cholesky pivot
  below ``max(1e-14, 100 eps G[j, j])``; sklearn: pivot below 1e-7, absolute)
  is excluded until a feature is dropped.  sklearn misses such features when
  ``G[j, j]`` is large and then follows an ill-conditioned path; when it does
  catch them it zeroes the correlation of another feature by mistake.  Here
  exact copies of a feature are simply redundant.
* Inactive features whose correlation moves in lockstep with the active ones
  (e.g. copies of an active feature) cannot end a step: their ``0 / 0`` step
  ratio is rounding noise.
* The path also stops once the residual correlations ``X^T (y - X coef)`` are
  at rounding-noise level (``20 eps max_j ||x_j|| ||y||``).  This only
  matters in float32 for (near) exact fits, e.g. when ``y`` is linear in
  ``z`` with large values; sklearn relies on its absolute ``alpha``
  tolerance alone.
* If rounding makes the equiangular system indefinite, the path stops
  (sklearn regularises the factor and continues).
* Several features crossing zero in the same step are all dropped, and a
  dropped coefficient is exactly zero (sklearn keeps its rounding residue at
  that path point).
* A zero weight sum gives all-zero data, hence all features (lime raises).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import linalg

__all__ = ["lasso_path_mask", "lasso_path_mask_from_gram"]

# sklearn's lars_path default.
_MAX_ITER = 500
# sklearn: ``equality_tolerance``; the path stops when ``alpha = C / n_samples``
# falls to it (``alpha_min = 0``).
_ALPHA_TOL = float(np.finfo(np.float32).eps)
# sklearn adds float32's ``tiny`` to denominators to avoid division by zero.
_TINY32 = float(np.finfo(np.float32).tiny)
# sklearn rejects a feature whose Cholesky pivot is below 1e-7 (squared here).
_MIN_PIVOT_SQ = 1e-14
# Relative tolerance, in units of the dtype's epsilon, for a squared pivot
# (relative to G[j, j]) and for lockstep correlations (relative to ||x_j||).
_DEGENERATE_RTOL_EPS = 100.0
# The path stops when all |x_j^T residual| <= this * eps * max ||x_j|| * ||y||.
_NOISE_RTOL_EPS = 20.0


class _State(NamedTuple):
  n_iter: jax.Array  # int32 [], number of path points after the first
  active: jax.Array  # bool [D], active set
  excluded: jax.Array  # bool [D], in the span of the active set (skipped)
  pos: jax.Array  # int32 [D], position of each feature in sklearn's `indices`
  sign: jax.Array  # [D], sign of the correlation of active features, 0 else
  coef: jax.Array  # [D], coefficients at the current path point
  cov: jax.Array  # [D], X^T residual; only the inactive entries are used
  prev_alpha: jax.Array  # [], alpha of the previous step
  drop: jax.Array  # bool [], the previous step dropped a feature
  done: jax.Array  # bool []
  best: jax.Array  # bool [D], selected support so far


def _min_pos(x: jax.Array, valid: jax.Array) -> jax.Array:
  """sklearn's ``arrayfuncs.min_pos`` over ``x[valid]``: the smallest value in
  ``(0, finfo.max)``, or ``finfo.max`` if there is none.  [D], [D] -> []."""
  big = jnp.finfo(x.dtype).max
  return jnp.min(jnp.where(valid & (x > 0) & (x < big), x, big))


def _weighted_design(z, y, weights, dtype):
  """lime's weighted centring and sqrt-weight scaling: z [S, D], y [S],
  weights [S] -> X [S, D], y [S]; plain least squares on them is weighted
  least squares with an intercept."""
  w = weights.astype(dtype)
  sw = jnp.sum(w)
  # np.average would raise on a zero weight sum; here everything becomes 0.
  sw = jnp.where(sw > 0, sw, 1)
  z_mean = (w @ z) / sw
  y_mean = (w @ y) / sw
  sqrt_w = jnp.sqrt(w)
  return (z - z_mean) * sqrt_w[:, None], (y - y_mean) * sqrt_w


def lasso_path_mask(z, y, weights, num_features: int) -> jax.Array:
  """Features selected by lime's ``lasso_path`` method, for one instance.

  Args:
    z: [S, D] perturbed samples (e.g. LIME's interpretable 0/1 samples).
    y: [S] black-box outputs for one label.
    weights: [S] non-negative kernel weights of the samples.
    num_features: K, the maximum number of selected features (a Python int
      or an integer scalar, which may be traced).

  Returns:
    bool [D]: the support of the last point of the LARS-lasso path (of the
    weighted, centred problem) with at most K non-zero coefficients; if no
    point after the first has at most K, the support of the first point
    after the all-zero start; if the path has no step at all (e.g. constant
    ``y``), all features.

  Computations are done in the floating dtype of the inputs (float32 unless
  float64 arrays are passed with x64 enabled).  Jittable and vmappable.
  """
  z = jnp.asarray(z)
  y = jnp.asarray(y)
  weights = jnp.asarray(weights)
  dtype = jnp.result_type(z, y, weights, jnp.float32)
  z, y = z.astype(dtype), y.astype(dtype)
  x, yw = _weighted_design(z, y, weights, dtype)
  return lasso_path_mask_from_gram(
      x.T @ x, x.T @ yw, jnp.linalg.norm(yw), num_samples=z.shape[0], num_features=num_features
  )


def lasso_path_mask_from_gram(gram, xy, y_norm, *, num_samples, num_features) -> jax.Array:
  """`lasso_path_mask` from the weighted, centred problem's sufficient statistics.

  LARS reads the data only through X'X, X'y, ||y|| and the number of rows, so samples known
  only through accumulated moments select what their concatenation would.

  Args:
    gram: [D, D] Zc' W Zc.
    xy: [D] Zc' W yc for one label.
    y_norm: [] sqrt(sum_s w_s yc_s^2).
    num_samples: S, the number of rows (zero weights included; may be traced).
    num_features: K.

  Returns:
    bool [D], as `lasso_path_mask`.
  """
  dtype = gram.dtype
  n_samples, n_features = num_samples, gram.shape[0]
  eps = jnp.finfo(dtype).eps
  decimals = jnp.finfo(dtype).precision  # sklearn rounds corr_eq_dir to it
  eye = jnp.eye(n_features, dtype=dtype)
  diag = jnp.diagonal(gram)
  features = jnp.arange(n_features, dtype=jnp.int32)
  # Rounding-noise level of a correlation x_j^T r: eps * ||x_j|| * ||y||.
  noise_floor = _NOISE_RTOL_EPS * eps * jnp.sqrt(jnp.max(diag)) * y_norm

  def cond(st: _State):
    return ~st.done

  def body(st: _State) -> _State:
    eligible = ~st.active & ~st.excluded
    # Next candidate: the eligible feature with the largest |correlation|.
    abs_cov = jnp.where(eligible, jnp.abs(st.cov), 0)
    c_max = jnp.max(abs_cov)
    # Exact ties go to the first in sklearn's (permuted) feature order.
    tied = eligible & (abs_cov == c_max)
    j = jnp.argmin(jnp.where(tied, st.pos, n_features))
    alpha = c_max / n_samples
    stop = (
        ~(alpha > _ALPHA_TOL)
        | ~(jnp.max(jnp.abs(xy - gram @ st.coef)) > noise_floor)
        | (st.n_iter >= _MAX_ITER)
        | jnp.all(st.active)
    )

    # Factor the current active block; inactive rows/cols are identity.
    m = jnp.where(st.active[:, None] & st.active[None, :], gram, eye)
    inverse = linalg.spd_inverse(m)
    # Schur complement (squared Cholesky pivot) of candidate j against
    # the active set; it is ~0 if x_j is in the span of the active set.
    add = ~st.drop
    onehot = features == j
    b = jnp.where(st.active, gram[:, j], 0)  # G[A, j]
    u = inverse @ b  # G[A, A]^-1 G[A, j]
    schur = diag[j] - b @ u
    pivot_tol = jnp.maximum(_MIN_PIVOT_SQ, _DEGENERATE_RTOL_EPS * eps * diag[j])
    degenerate = add & ~(schur > pivot_tol)
    # sklearn swaps the candidate into position n_active of its feature
    # order, with the feature `a` that held that position.
    n_active = jnp.sum(st.active, dtype=jnp.int32)
    a = jnp.argmax(st.pos == n_active)
    pos_swapped = jnp.where(features == a, st.pos[j], jnp.where(onehot, n_active, st.pos))

    active = st.active | (add & onehot)
    sign = jnp.where(add & onehot, jnp.sign(st.cov[j]), st.sign)
    # sklearn bails out if alpha increased (numerical trouble or ties).
    alpha_up = (st.n_iter > 0) & (st.prev_alpha < alpha)

    # Equiangular direction: solve G[A', A'] x = sign[A'] for the new
    # active set A' = A + {j} by block elimination with the factor of A.
    t = inverse @ jnp.where(st.active, sign, 0)
    x_j = jnp.where(add, (sign[j] - b @ t) / schur, 0)
    ls = t - u * x_j + jnp.where(onehot, x_j, 0)
    ss = sign @ ls
    bad_direction = ~(ss > 0)  # only possible through severe rounding
    aa = jax.lax.rsqrt(jnp.where(bad_direction, 1, ss))
    ls = ls * aa
    corr = jnp.round(gram @ ls, decimals)  # X^T (X[:, A'] ls)

    # Step length: the next eligible feature reaching the same |corr|...
    # A feature whose correlation moves in lockstep with the active ones
    # (aa -/+ corr = 0 up to rounding, e.g. a copy of an active feature)
    # never catches up; rounding must not turn its 0/0 into a step.
    eligible = eligible & ~active
    lockstep_tol = _DEGENERATE_RTOL_EPS * eps * jnp.sqrt(diag)
    gamma = jnp.minimum(
        jnp.minimum(
            _min_pos(
                (c_max - st.cov) / (aa - corr + _TINY32),
                eligible & (jnp.abs(aa - corr) > lockstep_tol),
            ),
            _min_pos(
                (c_max + st.cov) / (aa + corr + _TINY32),
                eligible & (jnp.abs(aa + corr) > lockstep_tol),
            ),
        ),
        c_max / aa,
    )
    # ... or the first active coefficient crossing zero (lasso drop).
    zc = -st.coef / (ls + _TINY32)
    z_pos = _min_pos(zc, active)
    drop = z_pos < gamma
    gamma = jnp.where(drop, z_pos, gamma)
    dropped = drop & active & (zc == z_pos)

    coef = jnp.where(active & ~dropped, st.coef + gamma * ls, 0)
    cov = st.cov - gamma * corr
    cov = jnp.where(dropped, xy - gram @ coef, cov)
    # sklearn moves dropped features behind the remaining active ones.
    kept = active & ~dropped
    pos = jnp.where(add, pos_swapped, st.pos)
    precedes = pos[None, :] < pos[:, None]  # [f, g]: g is before f
    rank_kept = jnp.sum(precedes & kept[None, :], axis=1, dtype=jnp.int32)
    rank_dropped = jnp.sum(kept, dtype=jnp.int32) + jnp.sum(
        precedes & dropped[None, :], axis=1, dtype=jnp.int32
    )
    pos = jnp.where(kept, rank_kept, jnp.where(dropped, rank_dropped, pos))
    active = kept
    sign = jnp.where(active, sign, 0)
    n_iter = st.n_iter + 1
    support = coef != 0
    keep = (n_iter == 1) | (jnp.sum(support) <= num_features)
    stepped = _State(
        n_iter=n_iter,
        active=active,
        # A drop shrinks the span of the active set.
        excluded=st.excluded & ~drop,
        pos=pos,
        sign=sign,
        coef=coef,
        cov=cov,
        prev_alpha=alpha,
        drop=drop,
        done=jnp.zeros((), bool),
        best=jnp.where(keep, support, st.best),
    )

    # A degenerate candidate is excluded until the active set shrinks.
    skipped = st._replace(pos=pos_swapped, excluded=st.excluded | onehot)
    finished = st._replace(done=jnp.ones((), bool))
    halt = stop | (~degenerate & (alpha_up | bad_direction))
    return jax.tree.map(
        lambda fin, skip, step: jnp.where(halt, fin, jnp.where(degenerate, skip, step)),
        finished,
        skipped,
        stepped,
    )

  init = _State(
      n_iter=jnp.zeros((), jnp.int32),
      active=jnp.zeros(n_features, bool),
      excluded=jnp.zeros(n_features, bool),
      pos=features,
      sign=jnp.zeros(n_features, dtype),
      coef=jnp.zeros(n_features, dtype),
      cov=xy,
      prev_alpha=jnp.zeros((), dtype),
      drop=jnp.zeros((), bool),
      done=jnp.zeros((), bool),
      best=jnp.ones(n_features, bool),
  )
  return jax.lax.while_loop(cond, body, init).best
