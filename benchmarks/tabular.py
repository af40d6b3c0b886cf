"""Tabular LIME: lime 0.2.0.1 against jaxlime on a Flax MLP, with the floors jaxlime cannot beat.

  python benchmarks/tabular.py            # full run (a few minutes on a 2-core CPU)
  python benchmarks/tabular.py --quick    # smoke run

Everything runs in one process on the breast cancer MLP of `examples/_models.py` (30 features,
2 classes), with S = 5000 perturbations per explanation:

* lime: `LimeTabularExplainer.explain_instance`, one instance at a time, its `predict_fn` being
  the jitted model; seconds per explanation are the median over `--lime-instances` instances.
* jaxlime: `TabularExplainer.explain` on N = `--n` rows (the test set tiled), with independent
  and with shared samples. Compile time is the first call minus the steady time (and JAX's own
  compile time, from `jax.monitoring`); the steady time is the median of `--repeats` calls with
  different keys.
* floors: the jitted model alone on the N * S rows (shared samples: S + N rows), in the
  explainer's chunk size; and drawing the N * S * F random words the sampler needs, for each PRNG
  implementation, vmapped over per-instance keys in the explainer's blocks (normals for
  orientation).
* memory: the peak RSS of a subprocess explaining N = 10,000 rows against N = 1,000 (VmHWM: a
  subprocess's ru_maxrss would count this process's memory too).

Results are printed and written as JSON to benchmarks/results/.
"""

import argparse
import json
import pathlib
import shlex
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from lime import lime_tabular

import jaxlime
from jaxlime._src.streaming import choose_call  # The explainer's calls, to match the floors.
from jaxlime._src.tabular import plan_blocks  # The explainer's blocks, to match the floors.

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from _models import train_breast_cancer_mlp  # noqa: E402
import _harness as harness  # noqa: E402  (benchmarks/, the script's own folder)

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


def bench_lime(forward, data, options, num_features, num_instances) -> dict:
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


def bench_jaxlime(model, data, options, num_features, n, repeats, shared, compile_timer) -> dict:
  """Compile and steady seconds of one explain call on n rows."""
  explainer = jaxlime.TabularExplainer(
      data["X_train"],
      feature_names=data["feature_names"],
      class_names=data["class_names"],
      shared_samples=shared,
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


def bench_floors(forward, n, block_size, chunk_size, num_columns, repeats) -> dict:
  """Seconds of the model and of the random draws alone, for independent and shared samples."""
  bits = lambda key, shape: jax.random.bits(key, shape, jnp.uint32)  # noqa: E731
  normal = lambda key, shape: jax.random.normal(key, shape, jnp.float32)  # noqa: E731

  def floor(num_rows):
    return harness.model_floor(forward, num_rows, chunk_size, num_columns, repeats)

  return dict(
      model_seconds=floor(n * NUM_SAMPLES),
      model_shared_seconds=floor(NUM_SAMPLES) + floor(n),
      bits_seconds={
          impl: sampling_floor(impl, bits, n, block_size, num_columns, repeats)
          for impl in PRNG_IMPLS
      },
      bits_shared_seconds=sampling_floor(FLOOR_IMPL, bits, 1, 1, num_columns, repeats),
      normal_seconds={
          impl: sampling_floor(impl, normal, n, block_size, num_columns, repeats)
          for impl in PRNG_IMPLS
      },
  )


# ---- memory ----


def memory_child(n: int):
  """Explains n rows (default config) and prints the peak RSS as JSON (runs in a subprocess)."""
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
  print(
      json.dumps(
          dict(
              n=n,
              seconds=seconds,
              peak_rss_before_explain_mb=before,
              peak_rss_mb=peak,
              ru_maxrss_mb=maxrss,
          )
      )
  )


def bench_memory() -> list[dict]:
  results = []
  for n in MEMORY_SIZES:
    completed = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
  return results


# ---- report ----


def machine_info() -> dict:
  return dict(harness.machine_info("lime", "flax"), device=str(jax.devices()[0]))


def derive(results: dict) -> dict:
  """Speed-up over lime and time over the floor, per config and sampling mode."""
  floors = results["floors"]
  floor = dict(
      independent=floors["bits_seconds"][FLOOR_IMPL] + floors["model_seconds"],
      shared=floors["bits_shared_seconds"] + floors["model_shared_seconds"],
  )
  derived = {}
  for name, modes in results["jaxlime"].items():
    lime_rate = 1 / results["lime"][name]["seconds_per_explanation"]
    derived[name] = {
        mode: dict(
            speedup_vs_lime=run["explanations_per_second"] / lime_rate,
            time_over_floor=run["seconds"] / floor[mode],
        )
        for mode, run in modes.items()
    }
  return derived


def print_report(results: dict):
  settings = results["settings"]
  n = settings["n"]
  print(
      f"\nTabular LIME, S = {NUM_SAMPLES} samples, N = {n} instances for jaxlime "
      f"(blocks of {settings['block_size']}, model chunks of {settings['chunk_size']} rows); "
      f"{results['machine']['cpu_count']} CPUs, jax {results['machine']['jax']}."
  )
  header = (
      f"{'config':18s} {'lime s/expl':>11s} | {'mode':11s} {'compile s':>9s} "
      f"{'(jax)':>6s} {'steady s':>9s} {'expl/s':>8s} {'x lime':>7s} {'/ floor':>8s}"
  )
  print(header)
  print("-" * len(header))
  for name, modes in results["jaxlime"].items():
    lime_seconds = f"{results['lime'][name]['seconds_per_explanation']:.4f}"
    for row, (mode, run) in enumerate(modes.items()):
      ratios = results["derived"][name][mode]
      first = (name, lime_seconds) if row == 0 else ("", "")
      print(
          f"{first[0]:18s} {first[1]:>11s} | {mode:11s} {run['compile_seconds']:9.2f} "
          f"{run['jax_compile_seconds']:6.2f} {run['seconds']:9.3f} "
          f"{run['explanations_per_second']:8.0f} {ratios['speedup_vs_lime']:7.1f} "
          f"{ratios['time_over_floor']:8.2f}"
      )

  floors = results["floors"]
  print(f"\nFloors for N = {n}:")
  print(
      f"  model on N*S = {n * NUM_SAMPLES:,} rows: {floors['model_seconds']:.3f} s; "
      f"on S + N = {NUM_SAMPLES + n:,} rows (shared): {floors['model_shared_seconds']:.4f} s"
  )
  print(
      f"  {'PRNG':14s} {'bits s':>8s} {'normal s':>9s}   (N*S*F = "
      f"{n * NUM_SAMPLES * settings['num_columns']:,} variates)"
  )
  for impl in PRNG_IMPLS:
    print(f"  {impl:14s} {floors['bits_seconds'][impl]:8.3f} {floors['normal_seconds'][impl]:9.3f}")
  print(f"  shared pool, {FLOOR_IMPL} bits for S*F: {floors['bits_shared_seconds']:.4f} s")
  print(
      "  'compile s' is the first call minus the steady time; '(jax)' is JAX's own trace, lower "
      f"and compile time;\n  '/ floor' divides the steady time by {FLOOR_IMPL} bits + model."
  )

  if results["memory"]:
    print(
        "\nPeak RSS (VmHWM) of a subprocess explaining N rows, default config, independent "
        "samples:"
    )
    for run in results["memory"]:
      print(
          f"  N = {run['n']:6,d}: {run['peak_rss_mb']:7.0f} MB peak "
          f"({run['peak_rss_before_explain_mb']:.0f} MB before explain), {run['seconds']:.1f} s"
      )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=1000, help="instances explained by jaxlime")
  parser.add_argument("--lime-instances", type=int, default=5, help="instances timed for lime")
  parser.add_argument("--repeats", type=int, default=3, help="steady-state calls timed")
  parser.add_argument("--skip-memory", action="store_true", help="skip the peak-RSS subprocesses")
  parser.add_argument(
      "--quick",
      action="store_true",
      help="smoke run: N=100, 2 lime instances, 1 repeat, no memory runs",
  )
  parser.add_argument(
      "--output",
      type=pathlib.Path,
      default=None,
      help="JSON path (default benchmarks/results/tabular[_quick].json)",
  )
  parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.memory_child is not None:
    memory_child(args.memory_child)
    return
  if args.quick:
    args.n, args.lime_instances, args.repeats, args.skip_memory = 100, 2, 1, True
  output = args.output or ROOT / "benchmarks" / "results" / (
      "tabular_quick.json" if args.quick else "tabular.json"
  )

  compile_timer = harness.CompileTimer()
  model, data = train_breast_cancer_mlp()
  print(f"MLP test accuracy: {data['test_accuracy']:.3f}")
  forward = harness.jitted_forward(model)
  num_columns = data["X_train"].shape[1]
  max_block, rows = plan_blocks(NUM_SAMPLES, num_columns, None)
  block_size, _, _ = choose_call(args.n, max_block, 1, instances_per_call=None)
  chunk_size = min(rows, block_size * NUM_SAMPLES)

  results = dict(
      command=shlex.join(["python", *sys.argv]),
      machine=machine_info(),
      settings=dict(
          n=args.n,
          num_samples=NUM_SAMPLES,
          num_columns=num_columns,
          lime_instances=args.lime_instances,
          repeats=args.repeats,
          block_size=block_size,
          chunk_size=chunk_size,
          test_accuracy=data["test_accuracy"],
      ),
      lime={},
      jaxlime={},
  )
  for name, (options, num_features) in CONFIGS.items():
    print(f"lime {name} ...", flush=True)
    results["lime"][name] = bench_lime(forward, data, options, num_features, args.lime_instances)
    results["jaxlime"][name] = {}
    for mode in ("independent", "shared"):
      print(f"jaxlime {name}, {mode} samples ...", flush=True)
      results["jaxlime"][name][mode] = bench_jaxlime(
          model,
          data,
          options,
          num_features,
          args.n,
          args.repeats,
          shared=mode == "shared",
          compile_timer=compile_timer,
      )
  print("floors ...", flush=True)
  results["floors"] = bench_floors(
      forward, args.n, block_size, chunk_size, num_columns, args.repeats
  )
  results["derived"] = derive(results)
  results["memory"] = None
  if not args.skip_memory:
    print("memory subprocesses ...", flush=True)
    results["memory"] = bench_memory()

  print_report(results)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(results, indent=2) + "\n")
  print(f"\nWrote {output}")


if __name__ == "__main__":
  main()
