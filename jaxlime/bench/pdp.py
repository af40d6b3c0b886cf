"""Partial dependence of every breast-cancer feature: jaxlime against scikit-learn, same model.

  jaxlime bench --only pdp            # about a minute on a 2-core CPU
  jaxlime bench --only pdp --quick    # 5 features, grid 20, 1 repeat

Everything runs in one process on the breast cancer MLP of `jaxlime.bench.models` (Flax NNX,
30 -> 64 -> 64 -> 2), X = all N = 569 rows, grid_resolution = 100, kind="average":

* scikit-learn: `sklearn.inspection.partial_dependence(estimator, X, [j], method="brute",
  grid_resolution=100)` for j = 0..29 in a Python loop; `estimator` is a scikit-learn classifier
  whose `predict_proba` is the jitted model (`harness.jitted_forward`), so it makes 100 model
  calls of 569 rows per feature.
* jaxlime: `jaxlime.partial_dependences(model, X, range(30), grid_resolution=100)`, one jitted
  program for the 30 features (compile time reported apart: the first call minus the steady
  time, and JAX's own compile time).
* floor: the jitted model alone on the same 30 * 100 * 569 rows, in calls of jaxlime's
  `batch_size` rows.
* agreement: the largest difference between our `average[1]` and scikit-learn's (positive
  class), and that the grids are equal.

Steady times are medians of 5 calls.
"""

import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_breast_cancer
from sklearn.inspection import partial_dependence as sklearn_partial_dependence

from jaxlime._src import partial_dependence as pd_lib
from jaxlime.bench import harness
from jaxlime.bench.models import train_breast_cancer_mlp


class JittedClassifier(ClassifierMixin, BaseEstimator):
  """A scikit-learn classifier around a jitted x [B, F] -> [B, 2] probability function."""

  def __init__(self, forward=None):
    self.forward = forward

  def fit(self, X, y=None):
    self.classes_ = np.arange(2)
    return self

  def predict_proba(self, X):
    return np.asarray(self.forward(jnp.asarray(X, jnp.float32)))


def run_sklearn(estimator, X, features, grid_resolution):
  return [
      sklearn_partial_dependence(estimator, X, [j], method="brute", grid_resolution=grid_resolution)
      for j in features
  ]


# Features (None: all 30), grid points, repeated calls.
FULL = dict(num_features=None, grid_resolution=100, repeats=5)
QUICK = dict(num_features=5, grid_resolution=20, repeats=1)


def run(options: harness.Options) -> dict:
  """The partial dependence rows: scikit-learn's loop, jaxlime and the model floor."""
  settings = dict(QUICK if options.quick else FULL)
  model, data = train_breast_cancer_mlp()
  X = load_breast_cancer().data.astype(np.float32)
  num_features = settings["num_features"] or X.shape[1]
  grid_resolution, repeats = settings["grid_resolution"], settings["repeats"]
  features = list(range(num_features))
  forward = harness.jitted_forward(model)
  estimator = JittedClassifier(forward).fit(X)

  def ours():
    return [
        r.average
        for r in pd_lib.partial_dependences(model, X, features, grid_resolution=grid_resolution)
    ]

  print("jaxlime ...", flush=True)
  compile_timer = harness.CompileTimer()
  first = harness.timed(ours)
  jax_compile = compile_timer.seconds
  jaxlime_seconds = harness.steady_seconds(ours, repeats)
  forward(X[:1])  # Compiles the 569-row and the 1-row shapes outside the timings.
  forward(X)
  print("scikit-learn ...", flush=True)
  sklearn_seconds = harness.steady_seconds(
      lambda: [r["average"] for r in run_sklearn(estimator, X, features, grid_resolution)], repeats
  )
  total_rows = num_features * grid_resolution * X.shape[0]
  print("floor ...", flush=True)
  floor = harness.model_floor(forward, total_rows, pd_lib.DEFAULT_BATCH_SIZE, X.shape[1], repeats)

  reference = run_sklearn(estimator, X, features, grid_resolution)
  results_ours = pd_lib.partial_dependences(model, X, features, grid_resolution=grid_resolution)
  max_difference = max(
      float(np.abs(a.average[1] - b["average"][0]).max()) for a, b in zip(results_ours, reference)
  )
  same_grids = all(
      np.array_equal(a.grid_values[0], b["grid_values"][0]) for a, b in zip(results_ours, reference)
  )
  case = f"{num_features} features x grid {grid_resolution} x {X.shape[0]} rows"
  rows = [
      dict(
          case=case,
          method="scikit-learn",
          role="peer",
          n=num_features,
          seconds=sklearn_seconds,
          note="partial_dependence(method='brute') per feature",
      ),
      dict(
          case=case,
          method="jaxlime",
          role="jaxlime",
          n=num_features,
          seconds=jaxlime_seconds,
          compile_seconds=first - jaxlime_seconds,
          jax_compile_seconds=jax_compile,
          note=f"max |ours - sklearn| {max_difference:.1e}, same grids: {same_grids}",
      ),
      dict(
          case=case,
          method="model floor",
          role="floor",
          n=num_features,
          seconds=floor,
          note=f"the jitted model on {total_rows:,} rows",
      ),
  ]
  settings.update(
      num_features=num_features,
      num_rows=int(X.shape[0]),
      batch_size=pd_lib.DEFAULT_BATCH_SIZE,
      model_rows=total_rows,
      accuracy=data["test_accuracy"],
  )
  details = dict(max_abs_difference=max_difference, same_grids=same_grids)
  return dict(rows=rows, figures=[], settings=settings, notes=[], details=details)
