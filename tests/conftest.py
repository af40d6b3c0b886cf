"""Shared fixtures: real data that ships with scikit-learn and small JAX models on it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression


@pytest.fixture(scope="session")
def breast_cancer():
  data = load_breast_cancer()
  return data.data, data.target, list(data.feature_names), list(data.target_names)


@pytest.fixture(scope="session")
def logistic(breast_cancer):
  """A logistic regression on breast-cancer as a jnp function [B, 30] -> [B, 2], and its sklearn twin."""
  X, y, _, _ = breast_cancer
  mean, std = X.mean(axis=0), X.std(axis=0)
  classifier = LogisticRegression(max_iter=5000).fit((X - mean) / std, y)
  weights = jnp.asarray(classifier.coef_[0] / std, jnp.float32)
  bias = float(classifier.intercept_[0] - (classifier.coef_[0] * mean / std).sum())

  def model(x):
    p = jax.nn.sigmoid(x @ weights + bias)
    return jnp.stack([1 - p, p], axis=-1)

  def numpy_model(x):
    return np.asarray(model(jnp.asarray(x, jnp.float32)), np.float64)

  return model, numpy_model
