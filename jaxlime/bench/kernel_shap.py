"""Kernel SHAP: shap's KernelExplainer against jaxlime on a Flax MLP, with the model-only floor.

  jaxlime bench --only kernel_shap [--quick]

Everything runs in one process on the breast cancer MLP of `jaxlime.bench.models` (30 features,
2 classes), with a background of B = 50 training rows and nsamples = 2048 coalitions, so each
explanation evaluates the model on S * B = 102,400 rows:

* shap: `KernelExplainer(...).shap_values(x, nsamples=2048, l1_reg=0, silent=True)`, one row at
  a time, its model being the jitted MLP; seconds per explanation are the median over 10 rows
  (--quick: 2; skipped with a note when shap is not installed).
* jaxlime: `KernelShapExplainer.explain` on N = 200 rows (the test set tiled; --quick: 20).
  Compile time is the first call minus the steady time (and JAX's own compile time, from
  `jax.monitoring`); the steady time is the median of 3 calls (--quick: 1) with different keys.
* floor: the jitted model alone on the N * S * B rows, in calls of the explainer's size (50,000
  rows, jaxlime's `batch_size`).
* agreement: the correlation of jaxlime's and shap's values over the 30 features (class 1), for
  the rows shap explained, next to the correlation of shap with itself under another seed (the
  Monte-Carlo noise both share).
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src.kernel_shap import KernelShapExplainer
from jaxlime.bench import harness
from jaxlime.bench.models import train_breast_cancer_mlp

NSAMPLES = 2048
NUM_BACKGROUND = 50
# Model rows per call, for jaxlime (its batch_size) and for the floor.
CALL_ROWS = 50_000


def bench_shap(shap, forward, background, rows, seed: int) -> tuple[dict, np.ndarray]:
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


# jaxlime rows N, shap rows, repeated jaxlime calls.
FULL = dict(n=200, shap_instances=10, repeats=3)
QUICK = dict(n=20, shap_instances=2, repeats=1)


def run(options: harness.Options) -> dict:
  """The Kernel SHAP rows: shap, jaxlime and the model floor, and the agreement with shap."""
  settings = dict(
      QUICK if options.quick else FULL,
      nsamples=NSAMPLES,
      num_background=NUM_BACKGROUND,
      call_rows=CALL_ROWS,
  )
  n, repeats = settings["n"], settings["repeats"]
  shap = harness.peer("shap")
  notes = [] if shap else [harness.missing_peer_note("shap", "the shap row and the agreement")]
  compile_timer = harness.CompileTimer()
  model, data = train_breast_cancer_mlp()
  forward = harness.jitted_forward(model)
  rng = np.random.default_rng(0)
  background = data["X_train"][rng.choice(len(data["X_train"]), NUM_BACKGROUND, replace=False)]
  rows = np.resize(data["X_test"], (n, data["X_test"].shape[1]))
  case = f"B = {NUM_BACKGROUND}, nsamples = {NSAMPLES}"
  result_rows, details = [], {}

  print("jaxlime ...", flush=True)
  ours, jaxlime_values = bench_jaxlime(model, background, rows, repeats, compile_timer)
  jaxlime_row = dict(
      case=case,
      method="jaxlime",
      role="jaxlime",
      n=n,
      seconds=ours["seconds"],
      compile_seconds=ours["compile_seconds"],
      jax_compile_seconds=ours["jax_compile_seconds"],
      all_seconds=ours["all_seconds"],
  )
  if shap:
    print("shap ...", flush=True)
    shap_rows = rows[: settings["shap_instances"]]
    theirs, shap_values = bench_shap(shap, forward, background, shap_rows, seed=0)
    _, shap_values_again = bench_shap(shap, forward, background, shap_rows, seed=1)
    with_shap = correlations(jaxlime_values, shap_values)
    shap_with_shap = correlations(shap_values_again, shap_values)
    details = dict(correlations_with_shap=with_shap, correlations_shap_reseeded=shap_with_shap)
    jaxlime_row["note"] = (
        f"corr. with shap {np.mean(with_shap):.4f} (shap reseeded {np.mean(shap_with_shap):.4f})"
    )
    result_rows.append(
        dict(
            case=case,
            method="shap",
            role="peer",
            n=len(theirs["seconds"]),
            seconds=sum(theirs["seconds"]),
            seconds_per_item=theirs["seconds_per_explanation"],
            note="KernelExplainer, l1_reg=0; median per explanation",
        )
    )
  result_rows.append(jaxlime_row)
  print("floor ...", flush=True)
  num_rows = n * NSAMPLES * NUM_BACKGROUND
  floor = harness.model_floor(forward, num_rows, CALL_ROWS, rows.shape[1], repeats)
  result_rows.append(
      dict(
          case=case,
          method="model floor",
          role="floor",
          n=n,
          seconds=floor,
          note=f"the jitted model on N x nsamples x B = {num_rows:,} rows",
      )
  )
  settings["accuracy"] = data["test_accuracy"]
  return dict(rows=result_rows, figures=[], settings=settings, notes=notes, details=details)
