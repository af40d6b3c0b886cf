"""Tabular LIME: lime 0.2.0.1 against jaxlime on a Flax MLP, with the floors jaxlime cannot beat.

  jaxlime bench --only tabular [--quick]

Everything runs in one process on the breast cancer MLP of `jaxlime.bench.models` (30 features,
2 classes), with S = 5000 perturbations per explanation, in three configurations (`CONFIGS`;
--quick: `default` only, N = 100, 2 lime instances, 1 repeat, no memory rows, philox4x32 floors):

* lime: `LimeTabularExplainer.explain_instance`, one instance at a time, its `predict_fn` being
  the jitted model; seconds per explanation are the median over 5 instances (skipped with a note
  when lime is not installed).
* jaxlime: `TabularExplainer.explain` on N = 1000 rows (the test set tiled), with independent
  and with shared samples, and (default configuration) with independent samples and control
  variates (`control_variates=True`). Compile time is the first call minus the steady time (and
  JAX's own compile time, from `jax.monitoring`); the steady time is the median of 3 calls with
  different keys.
* floors: the jitted model alone on the N * S rows (shared samples: S + N rows), in the
  explainer's chunk size; and drawing the N * S * F random words the sampler needs, for each PRNG
  implementation, vmapped over per-instance keys in the explainer's blocks (normals for
  orientation).
* memory: the peak RSS of a subprocess explaining N = 10,000 rows against N = 1,000 (VmHWM: a
  subprocess's ru_maxrss would count this process's memory too).
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxlime
from jaxlime._src.streaming import choose_call  # The explainer's calls, to match the floors.
from jaxlime._src.tabular import plan_blocks  # The explainer's blocks, to match the floors.
from jaxlime.bench import harness
from jaxlime.bench.models import train_breast_cancer_mlp

NUM_SAMPLES = 5000
LABELS = (1,)
PRNG_IMPLS = ("threefry2x32", "philox4x32", "rbg", "unsafe_rbg")
FLOOR_IMPL = "philox4x32"  # jaxlime's PRNG for int seeds.
MEMORY_SIZES = (1_000, 10_000)
# Options shared by lime's and jaxlime's explainers, and num_features.
CONFIGS = {
    "default": (
        dict(discretize_continuous=True, discretizer="quartile", feature_selection="auto"),
        10,
    ),
    "forward_selection": (
        dict(
            discretize_continuous=True,
            discretizer="quartile",
            feature_selection="forward_selection",
        ),
        5,
    ),
    "continuous": (dict(discretize_continuous=False, feature_selection="auto"), 10),
}


def tiled(X: np.ndarray, n: int) -> np.ndarray:
  """[n, F]: the rows of X [T, F] repeated."""
  return np.resize(X, (n, X.shape[1]))


# ---- lime ----


def bench_lime(lime_tabular, forward, data, options, num_features, num_instances) -> dict:
  """Seconds per lime explanation over the first test rows."""
  predict_fn = lambda x: np.asarray(forward(x))  # noqa: E731
  predict_fn(data["X_train"][:1].repeat(NUM_SAMPLES, axis=0))  # Compiles for lime's batch.
  explainer = lime_tabular.LimeTabularExplainer(
      data["X_train"],
      feature_names=data["feature_names"],
      class_names=data["class_names"],
      random_state=0,
      **options,
  )
  seconds = []
  for x in data["X_test"][:num_instances]:
    start = time.perf_counter()
    explainer.explain_instance(
        x, predict_fn, labels=LABELS, num_features=num_features, num_samples=NUM_SAMPLES
    )
    seconds.append(time.perf_counter() - start)
  return dict(seconds_per_explanation=statistics.median(seconds), seconds=seconds)


# ---- jaxlime ----


def bench_jaxlime(
    model, data, options, num_features, n, repeats, shared, compile_timer, control_variates=False
) -> dict:
  """Compile and steady seconds of one explain call on n rows."""
  explainer = jaxlime.TabularExplainer(
      data["X_train"],
      feature_names=data["feature_names"],
      class_names=data["class_names"],
      shared_samples=shared,
      control_variates=control_variates,
      **options,
  )
  X = tiled(data["X_test"], n)

  def run(key):
    return explainer.explain(
        X, model, key=key, num_samples=NUM_SAMPLES, num_features=num_features, labels=LABELS
    )

  compiled_before = compile_timer.seconds
  first = harness.timed(lambda: run(0))
  jax_compile = compile_timer.seconds - compiled_before
  seconds = [harness.timed(lambda: run(key)) for key in range(1, repeats + 1)]
  steady = statistics.median(seconds)
  return dict(
      first_call_seconds=first,
      compile_seconds=first - steady,
      jax_compile_seconds=jax_compile,
      seconds=steady,
      all_seconds=seconds,
      explanations_per_second=n / steady,
  )


# ---- floors ----


def sampling_floor(
    impl: str, draw, n: int, block_size: int, num_columns: int, repeats: int
) -> float:
  """Seconds to draw S x F variates for each of n instances, as the explainer's blocks do.

  Args:
    impl: PRNG implementation name.
    draw: draw(key, shape) -> random array, e.g. `jax.random.bits`.
    n: instances, padded to a multiple of block_size as the explainer does.
    block_size: instances per block (a `jax.lax.map` step).
    num_columns: F.
    repeats: timed calls.
  """
  num_blocks = -(-n // block_size)

  @jax.jit
  def run(key):
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(num_blocks * block_size))

    def one_block(block_keys):
      values = jax.vmap(lambda k: draw(k, (NUM_SAMPLES, num_columns)))(block_keys)
      return jnp.sum(values, dtype=values.dtype)  # Keeps every draw live.

    return jax.lax.map(one_block, keys.reshape(num_blocks, block_size))

  key = jax.random.key(0, impl=impl)
  return harness.steady_seconds(lambda: run(key), repeats)


def bench_floors(forward, n, block_size, chunk_size, num_columns, repeats, impls) -> dict:
  """Seconds of the model and of the random draws alone (for each PRNG implementation of
  `impls`), for independent and shared samples."""
  bits = lambda key, shape: jax.random.bits(key, shape, jnp.uint32)  # noqa: E731
  normal = lambda key, shape: jax.random.normal(key, shape, jnp.float32)  # noqa: E731

  def floor(num_rows):
    return harness.model_floor(forward, num_rows, chunk_size, num_columns, repeats)

  return dict(
      model_seconds=floor(n * NUM_SAMPLES),
      model_shared_seconds=floor(NUM_SAMPLES) + floor(n),
      bits_seconds={
          impl: sampling_floor(impl, bits, n, block_size, num_columns, repeats) for impl in impls
      },
      bits_shared_seconds=sampling_floor(FLOOR_IMPL, bits, 1, 1, num_columns, repeats),
      normal_seconds={
          impl: sampling_floor(impl, normal, n, block_size, num_columns, repeats) for impl in impls
      },
  )


# ---- memory ----


def memory_child(spec: dict) -> dict:
  """Explains spec["n"] rows (default config); its peak RSS (runs in a subprocess)."""
  n = spec["n"]
  model, data = train_breast_cancer_mlp()
  options, num_features = CONFIGS["default"]
  explainer = jaxlime.TabularExplainer(data["X_train"], **options)
  before, _ = harness.peak_rss_mb()
  start = time.perf_counter()
  jax.block_until_ready(
      explainer.explain(
          tiled(data["X_test"], n),
          model,
          key=0,
          num_samples=NUM_SAMPLES,
          num_features=num_features,
          labels=LABELS,
      )
  )
  seconds = time.perf_counter() - start
  peak, maxrss = harness.peak_rss_mb()
  return dict(
      n=n,
      seconds=seconds,
      peak_rss_before_explain_mb=before,
      peak_rss_mb=peak,
      ru_maxrss_mb=maxrss,
  )


# ---- rows ----

# (configs, N, lime instances, repeats, PRNG floors, memory rows) of the full and quick runs.
FULL = dict(configs=tuple(CONFIGS), n=1000, lime_instances=5, repeats=3, impls=PRNG_IMPLS)
QUICK = dict(configs=("default",), n=100, lime_instances=2, repeats=1, impls=(FLOOR_IMPL,))


def run(options: harness.Options) -> dict:
  """The tabular rows: lime, jaxlime (independent and shared samples) and their floors per
  configuration, and (full runs) the peak memory of N = 1,000 and 10,000 in subprocesses."""
  settings = dict(QUICK if options.quick else FULL, num_samples=NUM_SAMPLES, labels=LABELS)
  n, repeats = settings["n"], settings["repeats"]
  lime = harness.peer("lime")
  notes = [] if lime else [harness.missing_peer_note("lime", "the lime rows")]
  compile_timer = harness.CompileTimer()
  model, data = train_breast_cancer_mlp()
  forward = harness.jitted_forward(model)
  num_columns = data["X_train"].shape[1]
  max_block, call_rows = plan_blocks(NUM_SAMPLES, num_columns, None)
  block_size, _, _ = choose_call(n, max_block, 1, instances_per_call=None)
  chunk_size = min(call_rows, block_size * NUM_SAMPLES)
  settings.update(block_size=block_size, chunk_size=chunk_size, accuracy=data["test_accuracy"])

  print("floors ...", flush=True)
  floors = bench_floors(forward, n, block_size, chunk_size, num_columns, repeats, settings["impls"])
  floor_rows = [
      dict(
          method="floor, independent samples",
          role="floor",
          n=n,
          seconds=floors["bits_seconds"][FLOOR_IMPL] + floors["model_seconds"],
          note=f"model on N x S rows + {FLOOR_IMPL} bits",
      ),
      dict(
          method="floor, shared samples",
          role="floor",
          n=n,
          seconds=floors["bits_shared_seconds"] + floors["model_shared_seconds"],
          note=f"model on S + N rows + {FLOOR_IMPL} bits for S",
      ),
  ]
  rows = []
  for name in settings["configs"]:
    config, num_features = CONFIGS[name]
    if lime:
      print(f"lime {name} ...", flush=True)
      from lime import lime_tabular

      run_lime = bench_lime(
          lime_tabular, forward, data, config, num_features, settings["lime_instances"]
      )
      rows.append(
          dict(
              case=name,
              method="lime",
              role="peer",
              n=len(run_lime["seconds"]),
              seconds=sum(run_lime["seconds"]),
              seconds_per_item=run_lime["seconds_per_explanation"],
              note="median per explanation",
          )
      )
    modes = [("independent", False), ("shared", False)]
    if name == "default":
      modes.append(("independent", True))
    for mode, control_variates in modes:
      method = f"jaxlime, {mode} samples" + (", control variates" if control_variates else "")
      print(f"{method}, {name} ...", flush=True)
      ours = bench_jaxlime(
          model,
          data,
          config,
          num_features,
          n,
          repeats,
          shared=mode == "shared",
          compile_timer=compile_timer,
          control_variates=control_variates,
      )
      rows.append(
          dict(
              case=name,
              method=method,
              role="jaxlime",
              n=n,
              seconds=ours["seconds"],
              compile_seconds=ours["compile_seconds"],
              jax_compile_seconds=ours["jax_compile_seconds"],
              first_call_seconds=ours["first_call_seconds"],
              all_seconds=ours["all_seconds"],
              floor=f"floor, {mode} samples",
          )
      )
    rows += [dict(row, case=name) for row in floor_rows]
  if not options.quick:
    for size in MEMORY_SIZES:
      print(f"memory, N = {size} (subprocess) ...", flush=True)
      memory = harness.run_child("tabular", "memory_child", dict(n=size))
      rows.append(
          dict(
              case="memory, default config",
              method=f"jaxlime, N = {size:,}",
              role="jaxlime",
              n=size,
              seconds=memory["seconds"],
              peak_rss_mb=memory["peak_rss_mb"],
              peak_rss_before_explain_mb=memory["peak_rss_before_explain_mb"],
              note=f"peak RSS {memory['peak_rss_mb']:.0f} MB "
              f"({memory['peak_rss_before_explain_mb']:.0f} MB before explain), first call",
          )
      )
  return dict(rows=rows, figures=[], settings=settings, notes=notes, details=dict(floors=floors))
