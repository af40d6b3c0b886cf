"""Kernel SHAP: shap's KernelExplainer against jaxlime on a Flax MLP, with the model-only floor.

  python benchmarks/kernel_shap.py            # full run (a few minutes on a 2-core CPU)
  python benchmarks/kernel_shap.py --quick    # smoke run

Everything runs in one process on the breast cancer MLP of `examples/_models.py` (30 features,
2 classes), with a background of B = 50 training rows and nsamples = 2048 coalitions, so each
explanation evaluates the model on S * B = 102,400 rows:

* shap: `KernelExplainer(...).shap_values(x, nsamples=2048, l1_reg=0, silent=True)`, one row at
  a time, its model being the jitted MLP; seconds per explanation are the median over
  `--shap-instances` rows.
* jaxlime: `KernelShapExplainer.explain` on N = `--n` rows (the test set tiled). Compile time is
  the first call minus the steady time (and JAX's own compile time, from `jax.monitoring`); the
  steady time is the median of `--repeats` calls with different keys.
* floor: the jitted model alone on the N * S * B rows, in calls of the explainer's size (50,000
  rows, jaxlime's `batch_size`).
* agreement: the correlation of jaxlime's and shap's values over the 30 features (class 1), for
  the rows shap explained, next to the correlation of shap with itself under another seed (the
  Monte-Carlo noise both share).

Results are printed and written as JSON to benchmarks/results/, with the load average.
"""

import argparse
import json
import os
import pathlib
import shlex
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import shap

import jaxlime
from jaxlime._src.kernel_shap import KernelShapExplainer

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from _models import train_breast_cancer_mlp  # noqa: E402
import _harness as harness  # noqa: E402  (benchmarks/, the script's own folder)

NSAMPLES = 2048
NUM_BACKGROUND = 50
# Model rows per call, for jaxlime (its batch_size) and for the floor.
CALL_ROWS = 50_000


def bench_shap(forward, background, rows, seed: int) -> tuple[dict, np.ndarray]:
  """Seconds per shap explanation, and shap's values [n, F, C] (numpy's global seed `seed`)."""
  model_fn = lambda x: np.asarray(forward(jnp.asarray(x, jnp.float32)), np.float64)  # noqa: E731
  model_fn(np.repeat(background, NSAMPLES, axis=0))  # Compiles for shap's batch.
  explainer = shap.KernelExplainer(model_fn, background)
  np.random.seed(seed)  # shap draws its coalitions from numpy's global generator.
  seconds, values = [], []
  for x in rows:
    start = time.perf_counter()
    values.append(explainer.shap_values(x, nsamples=NSAMPLES, l1_reg=0, silent=True))
    seconds.append(time.perf_counter() - start)
  return dict(seconds_per_explanation=statistics.median(seconds), seconds=seconds), np.stack(values)


def correlations(values, reference) -> list[float]:
  """Per-row correlation of class-1 values [n, F, C] with a reference of the same shape."""
  return [float(np.corrcoef(a[:, 1], b[:, 1])[0, 1]) for a, b in zip(values, reference)]


def bench_jaxlime(model, background, rows, repeats, compile_timer) -> tuple[dict, np.ndarray]:
  """First-call and steady seconds of jaxlime on all rows, and the values of the first call."""
  explainer = KernelShapExplainer(background)

  def run(key):
    return explainer.explain(rows, model, key=key, nsamples=NSAMPLES, batch_size=CALL_ROWS)

  compile_before = compile_timer.seconds
  start = time.perf_counter()
  first = jax.block_until_ready(run(0))
  first_seconds = time.perf_counter() - start
  jax_compile = compile_timer.seconds - compile_before
  seconds = [harness.timed(lambda: run(key)) for key in range(1, repeats + 1)]
  steady = statistics.median(seconds)
  n = len(rows)
  return (
      dict(
          first_call_seconds=first_seconds,
          compile_seconds=first_seconds - steady,
          jax_compile_seconds=jax_compile,
          seconds=steady,
          all_seconds=seconds,
          seconds_per_explanation=steady / n,
          explanations_per_second=n / steady,
      ),
      first.shap_values(),
  )


def machine_info() -> dict:
  return dict(harness.machine_info("shap", "flax"), jaxlime=jaxlime.__version__)


def print_report(results: dict):
  settings, floor = results["settings"], results["floor"]
  n = settings["n"]
  jl, sh = results["jaxlime"], results["shap"]
  print(
      f"\nKernel SHAP, breast-cancer MLP 30-64-64-2, B = {NUM_BACKGROUND} background rows, "
      f"nsamples = {NSAMPLES} ({NSAMPLES * NUM_BACKGROUND:,} model rows per explanation); "
      f"{results['machine']['cpu_count']} CPUs, jax {results['machine']['jax']}, shap "
      f"{results['machine']['shap']}; load average {results['load_average_start']} at start, "
      f"{results['load_average_end']} at end."
  )
  print(
      f"  shap KernelExplainer (l1_reg=0): {sh['seconds_per_explanation'] * 1e3:8.1f} ms per "
      f"explanation (median of {settings['shap_instances']})"
  )
  print(
      f"  jaxlime, N = {n}:                {jl['seconds_per_explanation'] * 1e3:8.1f} ms per "
      f"explanation ({jl['seconds']:.2f} s steady, {jl['explanations_per_second']:.1f} expl/s; "
      f"first call {jl['first_call_seconds']:.2f} s, JAX compile "
      f"{jl['jax_compile_seconds']:.2f} s)"
  )
  print(
      f"  floor, model alone on N*S*B = {floor['rows']:,} rows: {floor['seconds']:.2f} s, "
      f"{floor['seconds'] / n * 1e3:.1f} ms per explanation"
  )
  derived = results["derived"]
  print(
      f"  jaxlime is {derived['speedup_vs_shap']:.1f}x shap and "
      f"{derived['time_over_floor']:.2f}x the floor"
  )
  print(
      f"  correlation of the class-1 values with shap's: jaxlime mean "
      f"{derived['mean_correlation_with_shap']:.4f} (min "
      f"{derived['min_correlation_with_shap']:.4f}); shap with another seed mean "
      f"{derived['mean_correlation_shap_reseeded']:.4f} (min "
      f"{derived['min_correlation_shap_reseeded']:.4f})"
  )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=200, help="instances explained by jaxlime")
  parser.add_argument("--shap-instances", type=int, default=10, help="instances timed for shap")
  parser.add_argument("--repeats", type=int, default=3, help="steady-state calls timed")
  parser.add_argument(
      "--quick", action="store_true", help="smoke run: N=20, 2 shap instances, 1 repeat"
  )
  parser.add_argument(
      "--output",
      type=pathlib.Path,
      default=None,
      help="JSON path (default benchmarks/results/kernel_shap[_quick].json)",
  )
  args = parser.parse_args()
  if args.quick:
    args.n, args.shap_instances, args.repeats = 20, 2, 1
  output = args.output or ROOT / "benchmarks" / "results" / (
      "kernel_shap_quick.json" if args.quick else "kernel_shap.json"
  )
  load_start = [round(load, 2) for load in os.getloadavg()]

  compile_timer = harness.CompileTimer()
  model, data = train_breast_cancer_mlp()
  print(f"MLP test accuracy: {data['test_accuracy']:.3f}")
  forward = harness.jitted_forward(model)
  rng = np.random.default_rng(0)
  background = data["X_train"][rng.choice(len(data["X_train"]), NUM_BACKGROUND, replace=False)]
  rows = np.resize(data["X_test"], (args.n, data["X_test"].shape[1]))

  print("shap ...", flush=True)
  shap_run, shap_values = bench_shap(forward, background, rows[: args.shap_instances], seed=0)
  _, shap_values_again = bench_shap(forward, background, rows[: args.shap_instances], seed=1)
  print("jaxlime ...", flush=True)
  jaxlime_run, jaxlime_values = bench_jaxlime(model, background, rows, args.repeats, compile_timer)
  print("floor ...", flush=True)
  num_rows = args.n * NSAMPLES * NUM_BACKGROUND
  floor_seconds = harness.model_floor(forward, num_rows, CALL_ROWS, rows.shape[1], args.repeats)

  with_shap = correlations(jaxlime_values, shap_values)
  shap_with_shap = correlations(shap_values_again, shap_values)
  results = dict(
      command=shlex.join(["python", *sys.argv]),
      machine=machine_info(),
      load_average_start=load_start,
      load_average_end=[round(load, 2) for load in os.getloadavg()],
      settings=dict(
          n=args.n,
          nsamples=NSAMPLES,
          num_background=NUM_BACKGROUND,
          num_columns=rows.shape[1],
          shap_instances=args.shap_instances,
          repeats=args.repeats,
          call_rows=CALL_ROWS,
          test_accuracy=data["test_accuracy"],
      ),
      shap=shap_run,
      jaxlime=jaxlime_run,
      floor=dict(rows=num_rows, seconds=floor_seconds),
      derived=dict(
          speedup_vs_shap=shap_run["seconds_per_explanation"]
          / jaxlime_run["seconds_per_explanation"],
          time_over_floor=jaxlime_run["seconds"] / floor_seconds,
          mean_correlation_with_shap=float(np.mean(with_shap)),
          min_correlation_with_shap=float(np.min(with_shap)),
          correlations_with_shap=with_shap,
          mean_correlation_shap_reseeded=float(np.mean(shap_with_shap)),
          min_correlation_shap_reseeded=float(np.min(shap_with_shap)),
          correlations_shap_reseeded=shap_with_shap,
      ),
  )
  print_report(results)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(results, indent=2) + "\n")
  print(f"\nWrote {output}")


if __name__ == "__main__":
  main()
