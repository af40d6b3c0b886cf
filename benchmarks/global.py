"""Partial dependence of every breast-cancer feature: jaxlime against scikit-learn, same model.

  python benchmarks/global.py            # full run (about a minute on a 2-core CPU)
  python benchmarks/global.py --quick    # smoke run: 5 features, grid 20, 1 repeat

Everything runs in one process on the breast cancer MLP of `examples/_models.py` (Flax NNX,
30 -> 64 -> 64 -> 2), X = all N = 569 rows, grid_resolution = 100, kind="average":

* scikit-learn: `sklearn.inspection.partial_dependence(estimator, X, [j], method="brute",
  grid_resolution=100)` for j = 0..29 in a Python loop; `estimator` is a scikit-learn classifier
  whose `predict_proba` is the jitted model (`_harness.jitted_forward`), so it makes 100 model
  calls of 569 rows per feature.
* jaxlime: `jaxlime.partial_dependences(model, X, range(30), grid_resolution=100)`, one jitted
  program for the 30 features (compile time reported apart: the first call minus the steady
  time, and JAX's own compile time).
* floor: the jitted model alone on the same 30 * 100 * 569 rows, in calls of jaxlime's
  `batch_size` rows.
* agreement: the largest difference between our `average[1]` and scikit-learn's (positive
  class), and that the grids are equal.

Steady times are medians of `--repeats` calls. Results are printed and written as JSON to
benchmarks/results/global.json (global_quick.json with --quick), with the load average.
`--batch-sizes a,b,c` also times jaxlime with those model rows per call (the sweep that chose
`partial_dependence.DEFAULT_BATCH_SIZE`).
"""

import argparse
import json
import os
import pathlib
import shlex
import sys
import time

import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_breast_cancer
from sklearn.inspection import partial_dependence as sklearn_partial_dependence

from jaxlime._src import partial_dependence as pd_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from _models import train_breast_cancer_mlp  # noqa: E402
import _harness as harness  # noqa: E402  (benchmarks/, the script's own folder)


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


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument(
      "--batch-sizes", default="", help="comma-separated model rows per call to sweep for jaxlime"
  )
  parser.add_argument("--output", type=pathlib.Path, default=None)
  args = parser.parse_args()
  output = args.output or ROOT / "benchmarks" / "results" / (
      "global_quick.json" if args.quick else "global.json"
  )
  load_start = [round(load, 2) for load in os.getloadavg()]

  model, data = train_breast_cancer_mlp()
  X = load_breast_cancer().data.astype(np.float32)
  num_features = 5 if args.quick else X.shape[1]
  grid_resolution = 20 if args.quick else 100
  repeats = 1 if args.quick else args.repeats
  features = list(range(num_features))
  forward = harness.jitted_forward(model)
  estimator = JittedClassifier(forward).fit(X)

  def ours(batch_size=None):
    return pd_lib.partial_dependences(
        model, X, features, grid_resolution=grid_resolution, batch_size=batch_size
    )

  compile_timer = harness.CompileTimer()
  first = harness.timed(lambda: [r.average for r in ours()])
  jax_compile = compile_timer.seconds
  jaxlime_seconds = harness.steady_seconds(lambda: [r.average for r in ours()], repeats)
  forward(X[:1])  # Compiles the 569-row and the 1-row shapes outside the timings.
  forward(X)
  sklearn_seconds = harness.steady_seconds(
      lambda: [r["average"] for r in run_sklearn(estimator, X, features, grid_resolution)], repeats
  )
  total_rows = num_features * grid_resolution * X.shape[0]
  floor = harness.model_floor(forward, total_rows, pd_lib.DEFAULT_BATCH_SIZE, X.shape[1], repeats)

  reference = run_sklearn(estimator, X, features, grid_resolution)
  results_ours = ours()
  max_difference = max(
      float(np.abs(a.average[1] - b["average"][0]).max()) for a, b in zip(results_ours, reference)
  )
  same_grids = all(
      np.array_equal(a.grid_values[0], b["grid_values"][0]) for a, b in zip(results_ours, reference)
  )

  sweep = {}
  for size in [int(s) for s in args.batch_sizes.split(",") if s]:
    ours(size)  # Compiles this batch size.
    sweep[str(size)] = harness.steady_seconds(lambda: [r.average for r in ours(size)], repeats)

  results = dict(
      command=shlex.join(["python", *sys.argv]),
      machine=harness.machine_info("scikit-learn", "flax", "jaxlime"),
      load_average_start=load_start,
      load_average_end=[round(load, 2) for load in os.getloadavg()],
      settings=dict(
          num_rows=int(X.shape[0]),
          num_features=num_features,
          grid_resolution=grid_resolution,
          repeats=repeats,
          batch_size=pd_lib.DEFAULT_BATCH_SIZE,
          model_rows=total_rows,
          test_accuracy=data["test_accuracy"],
      ),
      sklearn=dict(seconds=sklearn_seconds),
      jaxlime=dict(
          seconds=jaxlime_seconds,
          first_call_seconds=first,
          compile_seconds=first - jaxlime_seconds,
          jax_compile_seconds=jax_compile,
          batch_size_sweep=sweep,
      ),
      floor=dict(seconds=floor),
      agreement=dict(max_abs_difference=max_difference, same_grids=same_grids),
      derived=dict(
          speedup=sklearn_seconds / jaxlime_seconds,
          speedup_with_compile=sklearn_seconds / first,
          over_floor=jaxlime_seconds / floor,
      ),
  )
  print(
      f"PDP of {num_features} features x {grid_resolution} grid points x {X.shape[0]} rows "
      f"({total_rows:,} model rows), {results['machine']['cpu_count']} CPUs, load "
      f"{load_start} -> {results['load_average_end']}"
  )
  print(f"  scikit-learn loop : {sklearn_seconds:8.3f} s")
  print(
      f"  jaxlime           : {jaxlime_seconds:8.3f} s  (first call {first:.2f} s, JAX compile "
      f"{jax_compile:.2f} s)  -> {sklearn_seconds / jaxlime_seconds:.1f}x"
  )
  print(f"  model-only floor  : {floor:8.3f} s  (jaxlime / floor = {jaxlime_seconds / floor:.2f})")
  print(f"  max |ours - sklearn| = {max_difference:.2e}, same grids: {same_grids}")
  for size, seconds in sweep.items():
    print(f"  batch_size {size:>7}: {seconds:.3f} s")
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(results, indent=2) + "\n")
  print(f"wrote {output}")


if __name__ == "__main__":
  start = time.perf_counter()
  main()
  print(f"total {time.perf_counter() - start:.0f} s")
