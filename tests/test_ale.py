"""Accumulated local effects: the centred component of additive models, and PyALE's values."""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxlime
from jaxlime._src.ale import ale_bin_edges

PyALE = pytest.importorskip("PyALE")


@pytest.fixture(scope="module")
def correlated():
  rng = np.random.default_rng(0)
  X = rng.normal(size=(400, 3))
  X[:, 1] += 0.8 * X[:, 0]  # Correlated features: where ALE and PDP differ.
  X[:, 2] = np.round(X[:, 2], 1)  # Ties in a column: repeated quantiles merge.
  return X


COMPONENTS = (jnp.sin, lambda v: v**3 - v, lambda v: jnp.exp(v / 2))


def additive(x):
  return sum(g(x[:, j]) for j, g in enumerate(COMPONENTS))


@pytest.mark.parametrize("feature", [0, 1, 2])
def test_additive_model_gives_the_centred_component(correlated, feature):
  result = jaxlime.accumulated_local_effects(additive, correlated, feature, grid_size=25)
  edges, size = result.grid_values, result.size
  component = np.asarray(COMPONENTS[feature](jnp.asarray(edges, jnp.float32)), np.float64)
  centre = (size * (component[1:] + component[:-1]) / 2).sum() / size.sum()
  assert result.ale.shape == (1, edges.shape[0])
  np.testing.assert_allclose(result.ale[0], component - centre, atol=2e-5)
  assert size.sum() == correlated.shape[0]


def test_linear_model_slope_and_two_outputs(correlated):
  def model(x):
    return jnp.stack([2.0 * x[:, 0] - x[:, 1], -3.0 * x[:, 0] * jnp.ones_like(x[:, 2])], axis=-1)

  result = jaxlime.accumulated_local_effects(model, correlated, 0, grid_size=10)
  rise = result.grid_values - result.grid_values[0]
  np.testing.assert_allclose(result.ale[0] - result.ale[0, 0], 2.0 * rise, atol=1e-5)
  np.testing.assert_allclose(result.ale[1] - result.ale[1, 0], -3.0 * rise, atol=1e-5)


def interacting(x):
  return jnp.sin(x[:, 0]) * x[:, 1] + x[:, 2] ** 2 * x[:, 0] + jnp.tanh(x[:, 1] * x[:, 2])


class PredictModel:
  """PyALE calls model.predict(DataFrame)."""

  def predict(self, frame):
    return np.asarray(interacting(jnp.asarray(frame.values, jnp.float32)), np.float64)


@pytest.mark.parametrize("feature", [0, 1, 2])
@pytest.mark.parametrize("grid_size", [7, 20])
def test_agrees_with_pyale_on_a_non_additive_model(correlated, feature, grid_size):
  frame = pd.DataFrame(correlated, columns=["a", "b", "c"])
  reference = PyALE.ale(
      frame,
      PredictModel(),
      feature=[frame.columns[feature]],
      grid_size=grid_size,
      include_CI=False,
      plot=False,
  )
  ours = jaxlime.accumulated_local_effects(interacting, correlated, feature, grid_size=grid_size)
  np.testing.assert_array_equal(ours.grid_values, reference.index.values)
  np.testing.assert_allclose(ours.ale[0], reference["eff"].values, atol=1e-5)
  np.testing.assert_array_equal(ours.size, reference["size"].values[1:])


def test_bin_edges_are_values_of_the_column(correlated):
  for j in range(3):
    edges = ale_bin_edges(correlated[:, j], 13)
    assert np.isin(edges, correlated[:, j]).all()
    assert edges[0] == correlated[:, j].min() and edges[-1] == correlated[:, j].max()


def test_host_model_equals_jax_model(correlated):
  host = jaxlime.host_model(lambda x: PredictModel().predict(pd.DataFrame(x)))
  np.testing.assert_allclose(
      jaxlime.accumulated_local_effects(host, correlated, 1, grid_size=9).ale,
      jaxlime.accumulated_local_effects(interacting, correlated, 1, grid_size=9).ale,
      atol=1e-6,
  )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(feature=3), r"features \[3\] are out of range"),
        (dict(feature=(0, 1)), "one column index"),
        (dict(grid_size=0), "grid_size must be >= 1; got 0"),
        (dict(X=np.zeros((0, 3))), "X is empty"),
        (dict(X=np.ones((1, 3))), "at least 2 rows"),
        (dict(X=np.ones((5, 3))), "feature 0 is constant"),
    ],
)
def test_bad_input(correlated, kwargs, match):
  arguments = dict(model=additive, X=correlated, feature=0) | kwargs
  with pytest.raises(ValueError, match=match):
    jaxlime.accumulated_local_effects(
        arguments.pop("model"), arguments.pop("X"), arguments.pop("feature"), **arguments
    )
