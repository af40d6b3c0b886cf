"""The weighted ridge surrogate and feature selection against scikit-learn and lime's LimeBase."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lime.lime_base import LimeBase
from sklearn.linear_model import Ridge
from sklearn.metrics.pairwise import cosine_distances

import jaxlime
from helpers import dense_weights
from jaxlime._src import kernels
from jaxlime._src import linalg


def _lime_problem(seed, num_samples, num_dims, num_labels, binary=True):
  """LIME-like samples: binary (or gaussian) z with z[0] the instance, sigmoid-ish targets."""
  rng = np.random.default_rng(seed)
  if binary:
    z = (rng.random((num_samples, num_dims)) < 0.5).astype(np.float64)
    z[0] = 1.0
    distances = np.sqrt((1 - z).sum(axis=1))
  else:
    z = rng.normal(size=(num_samples, num_dims))
    z[0] = rng.normal(size=num_dims)
    distances = np.linalg.norm(z - z[0], axis=1)
  beta = rng.normal(size=(num_dims, num_labels)) * rng.exponential(size=(num_dims, 1))
  y = 1 / (1 + np.exp(-(z @ beta + 0.3 * rng.normal(size=(num_samples, num_labels)))))
  width = 0.75 * np.sqrt(num_dims)
  return z, y, distances, width


def _kernel(width):
  return lambda d: np.sqrt(np.exp(-(d**2) / width**2))


CASES = [
    ("none", 5),
    ("highest_weights", 3),
    ("highest_weights", 8),
    ("forward_selection", 1),
    ("forward_selection", 4),
    ("auto", 3),
    ("auto", 8),
    ("lasso_path", 2),
    ("lasso_path", 6),
]


@pytest.mark.parametrize("method,num_features", CASES)
@pytest.mark.parametrize(
    "seed,num_samples,num_dims,binary",
    [
        (0, 1500, 12, True),
        (1, 3000, 20, True),
        (2, 800, 8, False),
    ],
)
@pytest.mark.slow
def test_fit_surrogate_equals_lime_base(method, num_features, seed, num_samples, num_dims, binary):
  num_labels = 3
  z, y, distances, width = _lime_problem(seed, num_samples, num_dims, num_labels, binary)
  weights = _kernel(width)(distances)
  fit = jaxlime.fit_surrogate(
      jnp.asarray(z, jnp.float32),
      jnp.asarray(y, jnp.float32),
      jnp.asarray(weights, jnp.float32),
      num_features=num_features,
      feature_selection=method,
  )
  base = LimeBase(kernel_fn=_kernel(width))
  for label in range(num_labels):
    intercept, pairs, score, local_pred = base.explain_instance_with_data(
        z, y, distances, label, num_features, feature_selection=method
    )
    expected_selected = sorted(int(j) for j, _ in pairs)
    assert np.flatnonzero(np.asarray(fit.selected[label])).tolist() == expected_selected
    np.testing.assert_allclose(
        fit.coef[label], dense_weights(pairs, num_dims), atol=5e-5, rtol=2e-3
    )
    np.testing.assert_allclose(fit.intercept[label], intercept, atol=5e-5, rtol=1e-3)
    np.testing.assert_allclose(fit.score[label], score, atol=5e-5)
    np.testing.assert_allclose(fit.local_pred[label], local_pred[0], atol=5e-5, rtol=1e-3)


@pytest.mark.parametrize("alpha", [0.01, 1.0, 30.0])
@pytest.mark.slow
def test_ridge_equals_sklearn_float32_and_float64(alpha):
  z, y, distances, width = _lime_problem(3, 1000, 10, 2, binary=False)
  weights = _kernel(width)(distances)
  reference = Ridge(alpha=alpha, fit_intercept=True).fit(z, y, sample_weight=weights)
  fit32 = jaxlime.fit_surrogate(
      jnp.asarray(z, jnp.float32),
      jnp.asarray(y, jnp.float32),
      jnp.asarray(weights, jnp.float32),
      num_features=10,
      feature_selection="none",
      alpha=alpha,
  )
  np.testing.assert_allclose(fit32.coef, reference.coef_, rtol=2e-3, atol=2e-5)
  np.testing.assert_allclose(fit32.intercept, reference.intercept_, rtol=2e-3, atol=2e-5)
  with jax.enable_x64(True):
    fit64 = jaxlime.fit_surrogate(
        jnp.asarray(z),
        jnp.asarray(y),
        jnp.asarray(weights),
        num_features=10,
        feature_selection="none",
        alpha=alpha,
    )
    assert fit64.coef.dtype == jnp.float64
    np.testing.assert_allclose(fit64.coef, reference.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit64.intercept, reference.intercept_, rtol=1e-9, atol=1e-12)
    scores = [
        Ridge(alpha=alpha)
        .fit(z, y[:, l], sample_weight=weights)
        .score(z, y[:, l], sample_weight=weights)
        for l in range(2)
    ]
    np.testing.assert_allclose(fit64.score, scores, rtol=1e-9)


@pytest.mark.parametrize(
    "invert, num_dims",
    [(linalg.spd_inverse, d) for d in (1, 7, 32, 33, 64, 100, 257)]
    + [(linalg.sweep_inverse, d) for d in (3, 39)],
)
def test_spd_inverse_equals_numpy_inverse(invert, num_dims):
  """Sizes on both sides of the 32-feature pivot block, multiples of it and not; the
  one-feature sweep at any size."""
  rng = np.random.default_rng(num_dims)
  factor = rng.normal(size=(2 * num_dims + 5, num_dims))
  matrix = factor.T @ factor / factor.shape[0] + 0.05 * np.eye(num_dims)
  reference = np.linalg.inv(matrix)
  with jax.enable_x64(True):
    inverse = jax.jit(invert)(jnp.asarray(matrix))
    np.testing.assert_allclose(inverse, reference, rtol=1e-9, atol=1e-9 * np.abs(reference).max())
  inverse32 = jax.jit(invert)(jnp.asarray(matrix, jnp.float32))
  assert inverse32.dtype == jnp.float32
  np.testing.assert_allclose(inverse32, reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max())


@pytest.mark.slow
def test_ridge_with_many_features_equals_sklearn():
  z, y, distances, width = _lime_problem(5, 600, 150, 2, binary=True)
  weights = _kernel(width)(distances)
  reference = Ridge(alpha=1.0, fit_intercept=True).fit(z, y, sample_weight=weights)
  with jax.enable_x64(True):
    fit = jaxlime.fit_surrogate(
        jnp.asarray(z),
        jnp.asarray(y),
        jnp.asarray(weights),
        num_features=150,
        feature_selection="none",
    )
    np.testing.assert_allclose(fit.coef, reference.coef_, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(fit.intercept, reference.intercept_, rtol=1e-8, atol=1e-11)


@pytest.mark.slow
def test_exact_linear_target_is_recovered():
  rng = np.random.default_rng(4)
  z = rng.normal(size=(500, 6))
  true_coef = rng.normal(size=6)
  y = (3.0 + z @ true_coef)[:, None]
  with jax.enable_x64(True):
    fit = jaxlime.fit_surrogate(
        jnp.asarray(z),
        jnp.asarray(y),
        jnp.ones(500),
        num_features=6,
        feature_selection="none",
        alpha=1e-9,
    )
    np.testing.assert_allclose(fit.coef[0], true_coef, rtol=1e-6)
    np.testing.assert_allclose(fit.intercept[0], 3.0, rtol=1e-6)
    np.testing.assert_allclose(fit.score[0], 1.0, atol=1e-9)
    np.testing.assert_allclose(fit.coef_std[0], 0.0, atol=1e-6)


@pytest.mark.slow
def test_coef_std_matches_bayesian_ridge_posterior():
  """sigma^2 diag((Zc'WZc + alpha I)^-1), sigma^2 = sum w r^2 / (S - k - 1), in float64."""
  z, y, distances, width = _lime_problem(5, 400, 5, 1, binary=False)
  weights = _kernel(width)(distances)
  with jax.enable_x64(True):
    fit = jaxlime.fit_surrogate(
        jnp.asarray(z),
        jnp.asarray(y),
        jnp.asarray(weights),
        num_features=5,
        feature_selection="none",
    )
  mean_z = np.average(z, axis=0, weights=weights)
  zc = z - mean_z
  reference = Ridge(alpha=1.0).fit(z, y[:, 0], sample_weight=weights)
  residuals = y[:, 0] - reference.predict(z)
  sigma2 = (weights * residuals**2).sum() / (400 - 5 - 1)
  covariance = sigma2 * np.linalg.inv(zc.T @ (weights[:, None] * zc) + np.eye(5))
  np.testing.assert_allclose(fit.coef_std[0], np.sqrt(np.diag(covariance)), rtol=1e-8)
  # The posterior std is a real uncertainty: pure-noise features have |coef| of the order of it.
  assert np.all(np.asarray(fit.coef_std[0]) > 0)


@pytest.mark.slow
def test_constant_target_scores_like_sklearn_and_zero_weights_are_flagged():
  z = (np.random.default_rng(6).random((50, 4)) < 0.5).astype(np.float32)
  fit = jaxlime.fit_surrogate(
      z,
      np.full((50, 1), 0.7, np.float32),
      np.ones(50, np.float32),
      num_features=4,
      feature_selection="none",
  )
  np.testing.assert_allclose(fit.coef, 0.0, atol=1e-6)
  np.testing.assert_allclose(fit.score, 1.0)  # sklearn's r2_score of an exact constant fit.
  assert int(fit.status[0]) == jaxlime.FitStatus.OK
  fit = jaxlime.fit_surrogate(
      z,
      np.random.default_rng(0).random((50, 1)),
      np.zeros(50),
      num_features=2,
      feature_selection="forward_selection",
  )
  assert int(fit.status[0]) == jaxlime.FitStatus.DEGENERATE_WEIGHTS
  assert np.isfinite(np.asarray(fit.coef)).all() and np.isfinite(np.asarray(fit.score)).all()


@pytest.mark.slow
def test_vmap_and_jit_over_instances_equal_one_by_one():
  problems = [_lime_problem(seed, 600, 9, 2) for seed in range(4)]
  z = jnp.asarray(np.stack([p[0] for p in problems]), jnp.float32)
  y = jnp.asarray(np.stack([p[1] for p in problems]), jnp.float32)
  w = jnp.asarray(np.stack([_kernel(p[3])(p[2]) for p in problems]), jnp.float32)
  for method in ("auto", "lasso_path"):
    fit = jax.jit(
        lambda a, b, c: jaxlime.fit_surrogate(a, b, c, num_features=4, feature_selection=method)
    )
    batched = jax.jit(jax.vmap(fit))(z, y, w)
    for i in range(4):
      single = fit(z[i], y[i], w[i])
      np.testing.assert_array_equal(batched.selected[i], single.selected)
      np.testing.assert_allclose(batched.coef[i], single.coef, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_gradient_of_coefficients_matches_finite_differences():
  z, y, distances, width = _lime_problem(7, 300, 4, 1, binary=False)
  weights = _kernel(width)(distances)
  with jax.enable_x64(True):

    def first_coef(scale):
      return jaxlime.fit_surrogate(
          jnp.asarray(z),
          jnp.asarray(y) * scale,
          jnp.asarray(weights),
          num_features=2,
          feature_selection="forward_selection",
      ).coef

    @jax.jit
    def objective(scale):
      return jnp.sum(first_coef(scale) ** 2)

    eps = 1e-6
    numeric = (objective(1.0 + eps) - objective(1.0 - eps)) / (2 * eps)
    np.testing.assert_allclose(jax.grad(objective)(1.0), numeric, rtol=1e-6)


def test_exponential_kernel_properties():
  distances = jnp.asarray([0.0, 0.5, 1.0, 3.0, 100.0])
  weights = jaxlime.exponential_kernel(distances, 2.0)
  np.testing.assert_allclose(weights, np.sqrt(np.exp(-np.asarray(distances) ** 2 / 4.0)), rtol=1e-6)
  assert weights[0] == 1.0
  assert np.all(np.diff(np.asarray(weights)) <= 0) and np.all(np.asarray(weights) >= 0)


@pytest.mark.parametrize("num_samples", [5000, 20000])
def test_distances_of_short_and_long_sample_rows_equal_references(num_samples):
  """Both sides of the row length where the sums over features switch to a product."""
  z = np.random.default_rng(num_samples).normal(size=(num_samples, 30))
  reference = np.linalg.norm(z - z[0], axis=1)
  masks = (z > 0).astype(np.float64)
  masks[0] = 1.0
  cosine_reference = cosine_distances(masks, masks[:1])[:, 0]
  with jax.enable_x64(True):
    distances = jax.jit(kernels.euclidean_distances_columns)(jnp.asarray(z.T))
    np.testing.assert_allclose(distances, reference, rtol=1e-12)
    np.testing.assert_allclose(jaxlime.euclidean_distances(jnp.asarray(z)), reference, rtol=1e-12)
    cosine = jax.jit(kernels.cosine_distances_columns)(jnp.asarray(masks.T))
    np.testing.assert_allclose(cosine, cosine_reference, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_bad_arguments_are_named():
  z = np.ones((10, 3), np.float32)
  with pytest.raises(ValueError, match="feature_selection"):
    jaxlime.fit_surrogate(
        z, np.ones((10, 1)), np.ones(10), num_features=2, feature_selection="best"
    )
  with pytest.raises(ValueError, match="num_features"):
    jaxlime.fit_surrogate(z, np.ones((10, 1)), np.ones(10), num_features=0)
  with pytest.raises(ValueError, match="same number of samples"):
    jaxlime.fit_surrogate(z, np.ones((9, 1)), np.ones(10), num_features=2)
