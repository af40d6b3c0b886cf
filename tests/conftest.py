"""Shared fixtures: real data that ships with scikit-learn and small JAX models on it."""

import atexit
import os
import shutil
import tempfile
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

# Most of the suite's time is XLA compiling small programs. This process asks XLA's CPU backend
# for optimisation level 0 (LLVM's code generation unoptimised) and for its older fusion code
# path (`--xla_cpu_use_fusion_emitters=false`): programs compile faster and run slower, and
# results may differ from the default in the last bits, within every test's tolerance (the suite
# passes both ways). Measured on 2 cores, tests/test_adaptive.py alone: XLA backend compiles of
# 49 s at level 0 and 22 s with both flags, the file 93 s and 66 s. XLA reads XLA_FLAGS once, at
# the first compile below; the variable is then restored, so the examples, the README blocks and
# the CLI run in their subprocesses as a user runs them (at level 0 they ran slower than they
# compiled faster). The subprocesses that only compile small programs (forced host devices,
# several processes) add TEST_XLA_FLAGS to theirs. JAXLIME_TEST_XLA_DEFAULT=1 runs everything
# with XLA's defaults.
TEST_XLA_FLAGS = (
    ""
    if os.environ.get("JAXLIME_TEST_XLA_DEFAULT")
    else "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
)
os.environ["JAXLIME_TEST_XLA_FLAGS"] = TEST_XLA_FLAGS
_USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")
os.environ["XLA_FLAGS"] = " ".join(filter(None, [_USER_XLA_FLAGS, TEST_XLA_FLAGS]))
jax.jit(lambda x: x + 1)(0).block_until_ready()
if _USER_XLA_FLAGS is None:
  del os.environ["XLA_FLAGS"]
else:
  os.environ["XLA_FLAGS"] = _USER_XLA_FLAGS

# jaxlime turns on JAX's persistent compilation cache in the user's ~/.cache at the first
# explain. The suite never writes there: unless the run names a directory
# (JAXLIME_CACHE_DIR=/tmp/somewhere or =off), it compiles into a fresh directory of its own,
# shared with the subprocesses it starts (examples, README blocks, the CLI) and deleted when the
# run ends, so a program compiled again (after a module's jax.clear_caches, or in a subprocess) is
# loaded instead. tests/test_cache.py checks the default in subprocesses with a fake HOME and
# XDG_CACHE_HOME.
if "JAXLIME_CACHE_DIR" not in os.environ:
  _SUITE_CACHE = tempfile.mkdtemp(prefix="jaxlime-test-cache-")
  atexit.register(shutil.rmtree, _SUITE_CACHE, ignore_errors=True)
  os.environ["JAXLIME_CACHE_DIR"] = _SUITE_CACHE


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
  """Frees each test module's compiled programs when it ends.

  Every compiled XLA CPU program keeps about 3 memory maps (measured: 300 small programs took
  965 maps, 881 of them freed by jax.clear_caches), and the whole suite in one process compiled
  enough of them to reach Linux's default vm.max_map_count of 65530: three full runs died with
  a segmentation fault or an abort inside XLA's compile or cache load at the same point, late in
  the suite, while every module passed on its own.
  """
  yield
  jax.clear_caches()


@pytest.fixture(scope="session")
def breast_cancer():
  data = load_breast_cancer()
  return data.data, data.target, list(data.feature_names), list(data.target_names)


class Logistic(NamedTuple):
  """One logistic regression on breast cancer, in every form a test feeds to an explainer."""

  model: Callable  # jnp [B, 30] -> [B, 2].
  numpy_model: Callable  # numpy [B, 30] -> [B, 2], for lime.
  weights: np.ndarray  # [30] float32 coefficients on the raw features.
  bias: float
  predict_proba: Callable  # scikit-learn's own predict_proba on raw features.


@pytest.fixture(scope="session")
def logistic(breast_cancer) -> Logistic:
  """A logistic regression on breast-cancer as a jnp function, a numpy one and scikit-learn's."""
  X, y, _, _ = breast_cancer
  mean, std = X.mean(axis=0), X.std(axis=0)
  classifier = LogisticRegression(max_iter=5000).fit((X - mean) / std, y)
  raw_weights = np.asarray(classifier.coef_[0] / std, np.float32)
  weights = jnp.asarray(raw_weights)
  bias = float(classifier.intercept_[0] - (classifier.coef_[0] * mean / std).sum())

  def model(x):
    p = jax.nn.sigmoid(x @ weights + bias)
    return jnp.stack([1 - p, p], axis=-1)

  def numpy_model(x):
    return np.asarray(model(jnp.asarray(x, jnp.float32)), np.float64)

  def predict_proba(x):
    return classifier.predict_proba((x - mean) / std)

  return Logistic(model, numpy_model, raw_weights, bias, predict_proba)
