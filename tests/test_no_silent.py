"""Issue 15: inputs that used to give a wrong answer without an error (lime is the oracle)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lime.lime_tabular import LimeTabularExplainer
from sklearn.datasets import load_iris

import jaxlime

_IRIS_WEIGHTS = np.random.RandomState(0).randn(4, 3)


def _iris_model(x):
  return jax.nn.softmax(x @ _IRIS_WEIGHTS, axis=-1)


def _iris_numpy_model(x):
  return np.asarray(_iris_model(jnp.asarray(x, jnp.float32)), np.float64)


@pytest.mark.parametrize("discretizer", ["quartile", "decile"])
def test_iris_bin_names_equal_limes_on_every_row(discretizer):
  # Before: 28 (quartile) and 79 (decile) of 150 rows were named from the float32 instance
  # against float64 edges ("0.30 < petal width (cm) <= 1.30" for a petal width of 0.3).
  iris = load_iris()
  X, names = iris.data, iris.feature_names
  explainer = jaxlime.TabularExplainer(X, feature_names=names, discretizer=discretizer,
                                       feature_selection="none")
  lime_explainer = LimeTabularExplainer(X, feature_names=names, discretizer=discretizer,
                                        feature_selection="none")
  explanation = explainer.explain(X, _iris_model, key=0, num_samples=50, num_features=4)
  for row in range(len(X)):
    lime_names = lime_explainer.explain_instance(
        X[row], _iris_numpy_model, num_samples=10, num_features=4).as_list()
    assert sorted(name for name, _ in explanation.as_list(row, label=1)) == sorted(
        name for name, _ in lime_names), row


def _two_class(x):
  return jax.nn.softmax(x @ jnp.ones((x.shape[-1], 2)).at[:, 0].set(-1.0), axis=-1)


def test_value_within_float32_rounding_of_an_edge_is_refused():
  X = np.random.RandomState(0).randn(50, 3)
  explainer = jaxlime.TabularExplainer(X)
  edge = explainer.discretizer.edges[0, 1]
  row = np.array([[np.nextafter(edge, np.inf), 0.0, 0.0]])  # lime: the bin above the edge.
  if jax.config.jax_enable_x64:
    pytest.skip("float64 explainer: bins are lime's")
  with pytest.raises(ValueError, match=r"X\[0, 0\] = .* within float32 rounding of a bin edge"
                     r".*jax_enable_x64"):
    explainer.explain(row, _two_class, key=0, num_samples=20)


def test_subnormal_training_data_is_refused_in_float32():
  X = np.random.RandomState(0).randn(50, 3) * 1e-40
  with pytest.raises(ValueError, match=r"training_data column 0 .* smallest normal float32"
                     r".*jax_enable_x64"):
    jaxlime.TabularExplainer(X)


def test_instance_beyond_float32_is_refused():
  explainer = jaxlime.TabularExplainer(np.random.RandomState(0).randn(50, 3))
  with pytest.raises(ValueError, match=r"X\[0, 1\] = 1e\+39 is beyond the range of the "
                     r"explainer's dtype float32.*jax_enable_x64"):
    explainer.explain(np.array([[0.0, 1e39, 0.0]]), _two_class, key=0, num_samples=20)


def test_training_data_beyond_float32_is_refused_not_blamed_on_the_model():
  # Before: "the model returned NaN/inf" after the explainer's own overflow.
  X = np.random.RandomState(0).randn(50, 3) * 1e300
  with pytest.raises(ValueError, match=r"training_data\[0, 0\] = .* beyond the range .*float32"):
    jaxlime.TabularExplainer(X)
  with pytest.raises(ValueError, match=r"background\[0, 0\] = .* beyond the range .*float32"):
    jaxlime.KernelShapExplainer(X)
