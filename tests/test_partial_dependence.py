"""Partial dependence and ICE against scikit-learn's `partial_dependence(method="brute")`."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.datasets import load_iris
from sklearn.inspection import partial_dependence as sklearn_pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import jaxlime
from jaxlime._src.partial_dependence import partial_dependences
from helpers import forced_devices_env

ATOL = 1e-5


class JaxClassifier(ClassifierMixin, BaseEstimator):
  """A fitted-looking scikit-learn classifier whose predict_proba is a JAX function."""

  def __init__(self, fn=None, num_classes=2):
    self.fn = fn
    self.num_classes = num_classes

  def fit(self, X, y=None):
    self.classes_ = np.arange(self.num_classes)
    return self

  def predict_proba(self, X):
    return np.asarray(self.fn(jnp.asarray(X, jnp.float32)), np.float64)


class JaxRegressor(RegressorMixin, BaseEstimator):

  def __init__(self, fn=None):
    self.fn = fn

  def fit(self, X, y=None):
    self.fitted_ = True
    return self

  def predict(self, X):
    return np.asarray(self.fn(jnp.asarray(X, jnp.float32)), np.float64)


@pytest.fixture(scope="module")
def data(breast_cancer):
  X, y, _, _ = breast_cancer
  X = X[::3].copy()  # 190 rows keep the host model fast.
  X[:, 4] = np.round(X[:, 4] * 50) / 50  # A float column with few unique values.
  return X, y[::3]


@pytest.fixture(scope="module")
def sklearn_classifier(data):
  X, y = data
  return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)


@pytest.fixture(scope="module")
def mlp(data):
  """A small nonlinear JAX classifier [B, 30] -> [B, 2] (random weights, standardised input)."""
  X, _ = data
  mean, std = jnp.asarray(X.mean(0), jnp.float32), jnp.asarray(X.std(0), jnp.float32)
  k1, k2 = jax.random.split(jax.random.key(0))
  w1 = jax.random.normal(k1, (30, 16)) / np.sqrt(30)
  w2 = jax.random.normal(k2, (16, 2))

  @jax.jit
  def model(x):
    h = jnp.tanh(((x - mean) / std) @ w1)
    return jax.nn.softmax(h @ w2, axis=-1)

  return model


def assert_same_grid(ours, reference):
  assert len(ours) == len(reference)
  for a, b in zip(ours, reference):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("features", [3, (0, 5)], ids=["one-way", "two-way"])
def test_sklearn_classifier_through_host_model(data, sklearn_classifier, features):
  X, _ = data
  ours = jaxlime.partial_dependence(
      jaxlime.host_model(sklearn_classifier.predict_proba),
      X,
      features,
      grid_resolution=12,
      kind="both",
  )
  reference = sklearn_pd(
      sklearn_classifier,
      X,
      features if isinstance(features, int) else list(features),
      grid_resolution=12,
      kind="both",
      method="brute",
  )
  assert_same_grid(ours.grid_values, reference["grid_values"])
  # scikit-learn keeps only the positive class of a binary classifier: our output 1.
  assert ours.average.shape == (2,) + reference["average"].shape[1:]
  np.testing.assert_allclose(ours.average[1:], reference["average"], atol=ATOL)
  np.testing.assert_allclose(ours["individual"][1:], reference["individual"], atol=ATOL)
  np.testing.assert_allclose(ours.average[0], 1 - ours.average[1], atol=ATOL)


@pytest.mark.slow
def test_jax_model_one_way_two_way_and_ice(data, mlp):
  X, _ = data
  estimator = JaxClassifier(mlp).fit(X)
  for features in (7, (7, 21)):
    ours = jaxlime.partial_dependence(mlp, X, features, kind="both", grid_resolution=25)
    reference = sklearn_pd(
        estimator,
        X,
        [features] if isinstance(features, int) else list(features),
        kind="both",
        method="brute",
        grid_resolution=25,
    )
    assert_same_grid(ours.grid_values, reference["grid_values"])
    np.testing.assert_allclose(ours.average[1:], reference["average"], atol=ATOL)
    np.testing.assert_allclose(ours.individual[1:], reference["individual"], atol=ATOL)


def test_feature_with_few_unique_values_uses_them(data, mlp):
  X, _ = data
  ours = jaxlime.partial_dependence(mlp, X, 4, kind="individual")
  reference = sklearn_pd(JaxClassifier(mlp).fit(X), X, [4], kind="individual", method="brute")
  assert len(np.unique(X[:, 4])) < 100
  np.testing.assert_array_equal(ours.grid_values[0], np.unique(X[:, 4]))
  assert_same_grid(ours.grid_values, reference["grid_values"])
  assert "average" not in ours
  np.testing.assert_allclose(ours.individual[1:], reference["individual"], atol=ATOL)


def test_multiclass_keeps_every_class_like_sklearn():
  X, y = load_iris(return_X_y=True)
  classifier = LogisticRegression(max_iter=2000).fit(X, y)
  ours = jaxlime.partial_dependence(
      jaxlime.host_model(classifier.predict_proba), X, (2, 3), grid_resolution=8
  )
  reference = sklearn_pd(classifier, X, [2, 3], grid_resolution=8, method="brute")
  assert ours.average.shape == reference["average"].shape == (3, 8, 8)
  np.testing.assert_allclose(ours.average, reference["average"], atol=ATOL)


def test_regressor_sample_weight_and_custom_values(data):
  X, _ = data
  weights = jnp.linspace(-1, 1, 30)

  def regressor(x):
    return jnp.tanh(((x - X.mean(0)) / X.std(0)).astype(jnp.float32) @ weights) * 2

  sample_weight = np.linspace(0.1, 3, X.shape[0])
  custom = {2: [60.0, 80.0, 100.0, 140.0]}
  estimator = JaxRegressor(regressor).fit(X)
  for features in (2, (2, 9)):
    ours = jaxlime.partial_dependence(
        regressor,
        X,
        features,
        kind="both",
        custom_values=custom,
        sample_weight=sample_weight,
        grid_resolution=9,
    )
    reference = sklearn_pd(
        estimator,
        X,
        [features] if isinstance(features, int) else list(features),
        kind="both",
        custom_values=custom,
        sample_weight=sample_weight,
        grid_resolution=9,
        method="brute",
    )
    assert_same_grid(ours.grid_values, reference["grid_values"])
    np.testing.assert_allclose(ours.average, reference["average"], atol=ATOL)
    np.testing.assert_allclose(ours.individual, reference["individual"], atol=ATOL)


def test_categorical_feature_uses_its_categories(data):
  X, _ = data
  rng = np.random.default_rng(0)
  X_int = np.concatenate(
      [np.round(X[:, :3]).astype(np.int64), rng.integers(0, 4, (X.shape[0], 1))], axis=1
  )

  def model(x):
    x = x.astype(jnp.float32)
    p = jax.nn.sigmoid(0.01 * x[:, 0] - 0.05 * x[:, 1] + jnp.cos(x[:, 3]))
    return jnp.stack([1 - p, p], axis=-1)

  ours = jaxlime.partial_dependence(model, X_int, (1, 3), categorical_features=[1, 3], kind="both")
  reference = sklearn_pd(
      JaxClassifier(model).fit(X_int),
      X_int,
      [1, 3],
      categorical_features=[1, 3],
      kind="both",
      method="brute",
  )
  assert_same_grid(ours.grid_values, reference["grid_values"])
  np.testing.assert_array_equal(ours.grid_values[1], [0, 1, 2, 3])
  np.testing.assert_allclose(ours.average[1:], reference["average"], atol=ATOL)
  np.testing.assert_allclose(ours.individual[1:], reference["individual"], atol=ATOL)


@pytest.mark.slow
def test_many_features_in_one_call_equal_one_at_a_time_and_chunking(data, mlp):
  X, _ = data
  features = [0, 4, (1, 2), 13, (3, 4)]
  together = partial_dependences(mlp, X, features, grid_resolution=10, kind="both", batch_size=1000)
  for features_entry, result in zip(features, together):
    alone = jaxlime.partial_dependence(mlp, X, features_entry, grid_resolution=10, kind="both")
    assert result.features == alone.features
    assert_same_grid(result.grid_values, alone.grid_values)
    np.testing.assert_allclose(result.average, alone.average, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(result.individual, alone.individual, rtol=1e-6, atol=1e-6)


def test_bunch_access_and_kinds(data, mlp):
  X, _ = data
  result = jaxlime.partial_dependence(mlp, X[:20], 0, grid_resolution=5)
  assert set(result) == {"grid_values", "average", "features"}
  assert result["average"] is result.average
  with pytest.raises(AttributeError):
    result.individual


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, X: jaxlime.partial_dependence(m, X, 30), r"features \[30\] are out of range"),
        (
            lambda m, X: jaxlime.partial_dependence(m, X, (0, 31)),
            r"features \[31\] are out of range",
        ),
        (lambda m, X: jaxlime.partial_dependence(m, X, -1), r"features \[-1\] are out of range"),
        (lambda m, X: jaxlime.partial_dependence(m, X, (1, 2, 3)), "one column index or a pair"),
        (lambda m, X: jaxlime.partial_dependence(m, X[:0], 0), "X is empty"),
        (lambda m, X: jaxlime.partial_dependence(m, [], 0), "X is empty"),
        (
            lambda m, X: jaxlime.partial_dependence(m, X, 0, grid_resolution=1),
            "grid_resolution must be >= 2; got 1",
        ),
        (
            lambda m, X: jaxlime.partial_dependence(m, X.astype(int), 0),
            r"integer dtype .* features \[0\] are not in categorical_features",
        ),
        (
            lambda m, X: jaxlime.partial_dependence(
                m, X.astype(int), (0, 1), categorical_features=[0]
            ),
            r"features \[1\] are not in categorical_features",
        ),
        (lambda m, X: jaxlime.partial_dependence(m, X, 0, kind="mean"), "kind must be one of"),
        (lambda m, X: jaxlime.partial_dependence(m, X, 0, percentiles=(0.9, 0.1)), "percentiles"),
        (
            lambda m, X: jaxlime.partial_dependence(m, X, 0, sample_weight=np.ones(3)),
            r"sample_weight must have shape \(190,\)",
        ),
        (
            lambda m, X: jaxlime.partial_dependence(m, X, 0, categorical_features=[40]),
            r"categorical_features \[40\] are out of range",
        ),
        (
            lambda m, X: jaxlime.partial_dependence(m, X, 0, custom_values={0: [[1.0]]}),
            r"custom_values\[0\] must be a non-empty 1-D array",
        ),
    ],
)
def test_bad_input(data, mlp, call, match):
  X, _ = data
  with pytest.raises(ValueError, match=match):
    call(mlp, X)


@pytest.mark.slow  # A 4-device subprocess: 12 s at load average 10 on 2 cores.
def test_on_a_mesh_of_four_devices_equals_one_device():
  """Rows sharded over 4 forced host devices give the single-device result."""
  script = textwrap.dedent("""
      import jax, jax.numpy as jnp, numpy as np
      from jax.sharding import Mesh
      import jaxlime
      assert jax.device_count() == 4
      X = np.random.default_rng(0).normal(size=(37, 6))
      w = jnp.linspace(-1.0, 1.0, 6)
      model = lambda x: jnp.stack([jnp.tanh(x @ w), jnp.sin(x[:, 0] * x[:, 1])], axis=-1)
      mesh = Mesh(np.array(jax.devices()), ("rows",))
      for features in (1, (2, 3)):
        plain = jaxlime.partial_dependence(model, X, features, grid_resolution=7, kind="both")
        sharded = jaxlime.partial_dependence(model, X, features, grid_resolution=7, kind="both",
                                             mesh=mesh, batch_size=100)
        np.testing.assert_allclose(sharded.average, plain.average, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sharded.individual, plain.individual, rtol=1e-5, atol=1e-6)
      print("ok")
  """)
  env = forced_devices_env(4, PYTHONPATH=os.getcwd())
  result = subprocess.run(
      [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == "ok"
