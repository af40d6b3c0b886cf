"""Scaling of `TabularExplainer.explain` in N, S and D on 1, 2 and 4 CPU devices, with memory.

  jaxlime bench --only scaling                # everything (about 35 minutes, 2 cores)
  jaxlime bench --only scaling --devices 8    # device configurations 1, 2, 4 and 8
  jaxlime bench --only scaling --quick        # N = 100 on --devices devices
  jaxlime bench --only scaling --sweeps S     # the S sweep alone, no processes row

N = 1e5 (a 110-200 s call per device configuration, timed once and streamed once more with
explain_iter) dominates the full run.

Default configuration throughout: quartile discretization, feature_selection="auto",
num_features=10, independent samples, label 1. Three sweeps:

* N: 1e2 .. 1e5 instances (the breast cancer test rows tiled), S = 5000, D = 30, on the
  30-64-64-2 MLP of `jaxlime.bench.models`;
* S: 500 .. 64000 perturbations per instance, N = 200, same data and model;
* D: 10 .. 1000 features, N = 100, S = 5000, on gaussian training data with D columns and a
  randomly initialised D-64-2 MLP.

--quick runs N = 100 only, with S = 1000, on `--devices` devices only, and its processes
row at N = 200, S = 1000 with one repeat, without the "2 processes x 1 device" configuration (the
process_local one remains).

Every point runs in a fresh subprocess per device configuration, with
`XLA_FLAGS=--xla_force_host_platform_device_count=K` set before jax is imported:

* "1": one device, an int seed, hence a philox4x32 key (the library's default there);
* "1-threefry": one device with `jax.random.key(seed, impl="threefry2x32")`, the PRNG that
  several devices use, for an apples-to-apples device comparison;
* "2", "4", ... up to `--devices` (default 4): `mesh=jax.make_mesh((K,), ("data",))` and an int
  seed (a threefry2x32 key).

The processes row explains N = 1000 rows (S = 5000) with one process of 2 forced devices, two
JAX processes of 1 device each (`jax.distributed` on 127.0.0.1, gloo collectives) passing the
same rows, and two processes passing their own halves (`process_local=True`); it reports the
largest coefficient difference from the first.

Time is the median of steady calls after a warm-up call that compiles the program: 3 calls when
one is expected (from the warm-up) to take under 3 s, 2 under 10 s, else 1. For N larger than
one jitted call (4096 instances) the warm-up explains one call's worth of instances, which
compiles the same program. The floor is the same jitted model alone on the same number of rows,
in the explainer's chunks (each of the K devices taking a chunk per call). Memory is VmHWM from
/proc/self/status, reset through /proc/self/clear_refs: its peak over all explain calls minus
VmRSS just before the first one (compiling included), and its peak during the steady calls minus
VmRSS just before them (explain's calls and its result, which grows with N and is held a few
times over while the calls are joined); for the N sweep also the peak of `explain_iter` with
each part dropped when done (a stream to disk) minus VmRSS before it. A subprocess's ru_maxrss
would also count the parent's memory at the fork. The figure is scaling.png in --out.
"""

import functools
import json
import os
import pathlib
import socket
import statistics
import subprocess
import tempfile
import time

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

import jaxlime
from jaxlime._src import keys as keys_lib  # The key the explainer makes of a seed.
from jaxlime._src import streaming  # The explainer's calls, to warm up and to match the floor.
from jaxlime._src.tabular import plan_blocks  # The explainer's blocks, to match the floor.
from jaxlime.bench import harness
from jaxlime.bench.models import MLP
from jaxlime.bench.models import train_breast_cancer_mlp

NUM_FEATURES = 10
LABELS = (1,)
BASE_SAMPLES = 5000
# S of --quick's points: a fresh process's cost is mostly compiling, which S barely changes.
QUICK_SAMPLES = 1000
SWEEPS = {
    "N": dict(values=(100, 1_000, 10_000, 100_000), quick=(100,), fixed=dict(s=BASE_SAMPLES, d=30)),
    "S": dict(
        values=(500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 64_000),
        quick=(),
        fixed=dict(n=200, d=30),
    ),
    "D": dict(values=(10, 30, 100, 300, 1_000), quick=(), fixed=dict(n=100, s=BASE_SAMPLES)),
}
# Steady calls timed, by the seconds one call is expected to take (from the warm-up): fewer for
# the largest points.
REPEATS_BY_SECONDS = ((3.0, 3), (10.0, 2))
SYNTHETIC_TRAINING_ROWS = 1000
MB = 1024.0


# ---- child: one point in a fresh process ----


def memory_mb() -> dict:
  """VmRSS and VmHWM (peak RSS since start or the last reset) of this process, in MB."""
  fields = {}
  for line in pathlib.Path("/proc/self/status").read_text().splitlines():
    name, _, value = line.partition(":")
    if name in ("VmRSS", "VmHWM"):
      fields[name] = int(value.split()[0]) / MB
  return fields


def reset_peak_rss():
  """Resets VmHWM to the current RSS (Linux >= 4.0)."""
  pathlib.Path("/proc/self/clear_refs").write_text("5")


def device_configs(devices: int, quick: bool) -> dict:
  """Device configuration name -> (forced host devices, PRNG implementation of the key, or None
  for an int seed): "1", "1-threefry" and the powers of two up to `devices` and `devices`
  itself; --quick: `devices` only."""
  counts = [2**k for k in range(1, devices.bit_length()) if 2**k < devices] + [devices]
  if quick:
    return {str(devices): (devices, None)}
  configs = {"1": (1, None), "1-threefry": (1, "threefry2x32")}
  configs.update({str(count): (count, None) for count in counts if count > 1})
  return configs


def timed(fn) -> tuple[float, object]:
  """(seconds taken by fn() until its result is ready, the result)."""
  start = time.perf_counter()
  result = jax.block_until_ready(fn())
  return time.perf_counter() - start, result


def repeats_for(expected_seconds: float, repeats: int) -> int:
  """Steady calls to time (at most `repeats`) when one is expected to take expected_seconds."""
  for limit, count in REPEATS_BY_SECONDS:
    if expected_seconds <= limit:
      return min(repeats, count)
  return 1


def save_breast_cancer_mlp(path: pathlib.Path) -> float:
  """Trains the breast cancer MLP once and saves its state to `path` (.npz); its accuracy."""
  model, data = train_breast_cancer_mlp()
  np.savez(path, *jax.tree.leaves(nnx.state(model)))
  return data["test_accuracy"]


def problem(spec: dict):
  """(model, training rows [M, D], instances [N, D]) of a point.

  The N and S sweeps load the trained breast cancer MLP from `spec["weights"]`; the D sweep
  makes gaussian data and an untrained D-64-2 MLP.
  """
  n, d = spec["n"], spec["d"]
  if spec["sweep"] in ("N", "S"):
    model, data = train_breast_cancer_mlp(steps=0)  # The same split and shapes, untrained.
    treedef = jax.tree.structure(nnx.state(model))
    with np.load(spec["weights"]) as saved:
      leaves = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    nnx.update(model, jax.tree.unflatten(treedef, leaves))
    return model, data["X_train"], np.resize(data["X_test"], (n, data["X_test"].shape[1]))
  rng = np.random.default_rng(0)
  X_train = rng.normal(size=(SYNTHETIC_TRAINING_ROWS, d)).astype(np.float32)
  X = rng.normal(size=(n, d)).astype(np.float32)
  model = MLP(X_train.mean(axis=0), X_train.std(axis=0), (64,), num_classes=2, rngs=nnx.Rngs(0))
  return model, X_train, X


def model_floor(
    model, num_rows: int, chunk_rows: int, num_columns: int, mesh, repeats: int
) -> float:
  """Median seconds of the jitted model alone on num_rows rows, chunk_rows rows per call.

  Each call takes one chunk split over the devices of `mesh` (parameters replicated); outputs
  are waited for every few calls so they do not pile up in memory.
  """
  graphdef, state = nnx.split(model)
  state = jax.device_put(state, NamedSharding(mesh, PartitionSpec()))
  forward = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))
  rng = np.random.default_rng(0)
  chunk = jax.device_put(
      rng.normal(size=(chunk_rows, num_columns)).astype(np.float32),
      NamedSharding(mesh, PartitionSpec(mesh.axis_names[0])),
  )
  num_calls = -(-num_rows // chunk_rows)

  def run():
    outputs = []
    for _ in range(num_calls):
      outputs.append(forward(state, chunk))
      if len(outputs) == 32:
        jax.block_until_ready(outputs)
        outputs = []
    return outputs

  timed(lambda: forward(state, chunk))
  return statistics.median(timed(run)[0] for _ in range(repeats))


def run_point(spec: dict) -> dict:
  """Times explain and its model floor at one point, and its memory; runs in a fresh process."""
  devices, impl = spec["devices"], spec["impl"]
  assert jax.device_count() == devices, (jax.device_count(), devices)
  compile_timer = harness.CompileTimer(events=("/jax/core/compile/backend_compile_duration",))
  n, s, d = spec["n"], spec["s"], spec["d"]
  model, X_train, X = problem(spec)
  explainer = jaxlime.TabularExplainer(X_train)
  mesh = jax.make_mesh((devices,), ("data",)) if devices > 1 else None
  make_key = (lambda seed: seed) if impl is None else functools.partial(jax.random.key, impl=impl)

  def explain(rows, seed):
    return explainer.explain(
        rows,
        model,
        key=make_key(seed),
        num_samples=s,
        num_features=NUM_FEATURES,
        labels=LABELS,
        mesh=mesh,
        progress=False,
    )

  placement = streaming.placement_for(X, streaming.RunOptions(mesh=mesh))
  max_block, rows_per_call = plan_blocks(s, d, None)
  block_size, per_call, num_calls = streaming.choose_call(
      n, max_block, placement.num_shards, instances_per_call=None
  )
  chunk_size = min(rows_per_call, block_size * s)
  # One call's worth of instances compiles the explain program; unpadding the last call and
  # joining the calls compile small programs during the steady calls (steady_compile_seconds).
  warm_n = min(n, per_call)

  before = memory_mb()["VmRSS"]
  reset_peak_rss()
  compiled = compile_timer.seconds
  warm_seconds, _ = timed(lambda: explain(X[:warm_n], 0))
  warm_compile = compile_timer.seconds - compiled
  status = memory_mb()
  warm_peak, after_warm = status["VmHWM"], status["VmRSS"]
  repeats = repeats_for((warm_seconds - warm_compile) * n / warm_n, spec["repeats"])
  reset_peak_rss()
  compiled = compile_timer.seconds
  seconds = []
  for seed in range(1, repeats + 1):
    call_seconds, result = timed(functools.partial(explain, X, seed))
    seconds.append(call_seconds)
  steady_peak = memory_mb()["VmHWM"]
  steady_compile = compile_timer.seconds - compiled
  explained_on = len(result.coef.sharding.device_set)
  iter_peak = None
  if spec["sweep"] == "N":
    # explain_iter with each part dropped when done (a stream written to disk): the working
    # memory without explain's O(N) result, held a few times over while the calls are joined.
    del result
    before_iter = memory_mb()["VmRSS"]
    reset_peak_rss()
    for _, part in explainer.explain_iter(
        X,
        model,
        key=make_key(0),
        num_samples=s,
        num_features=NUM_FEATURES,
        labels=LABELS,
        mesh=mesh,
        progress=False,
    ):
      jax.block_until_ready(part)
    iter_peak = memory_mb()["VmHWM"] - before_iter

  floor = model_floor(
      model, n * s, chunk_size * devices, d, mesh or jax.make_mesh((1,), ("data",)), repeats
  )
  steady = statistics.median(seconds)
  key_impl = keys_lib.impl_for(jax.random.key_impl(keys_lib.as_key(make_key(0))), devices > 1)
  return dict(
      spec,
      key_impl=str(key_impl),
      block_size=block_size,
      chunk_size=chunk_size,
      per_call=per_call,
      num_calls=num_calls,
      warm_n=warm_n,
      warm_seconds=warm_seconds,
      warm_compile_seconds=warm_compile,
      repeats=repeats,
      seconds=steady,
      all_seconds=seconds,
      steady_compile_seconds=steady_compile,
      instances_per_second=n / steady,
      floor_seconds=floor,
      time_over_floor=steady / floor,
      result_devices=explained_on,
      rss_before_mb=before,
      rss_after_warm_up_mb=after_warm,
      peak_mb=max(warm_peak, steady_peak),
      peak_over_before_mb=max(warm_peak, steady_peak) - before,
      steady_peak_over_rss_mb=steady_peak - after_warm,
      iter_peak_over_rss_mb=iter_peak,
  )


# ---- processes: 2 processes x 1 device against 1 process x 2 devices ----

PROCESS_CONFIGS = (
    "1 process x 2 devices",
    "2 processes x 1 device",
    "2 processes x 1 device, process_local",
)


def run_process_point(spec: dict) -> dict:
  """One process of a processes point: explain N rows of the breast cancer MLP over a mesh of
  2 devices (one process with 2, or this process's 1 of 2 processes); times and coefficients."""
  if spec["num_processes"] > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{spec['port']}",
        num_processes=spec["num_processes"],
        process_id=spec["process_id"],
        initialization_timeout=120,
    )
  assert jax.device_count() == 2, jax.devices()
  model, X_train, X = problem(dict(spec, sweep="N", d=30))
  explainer = jaxlime.TabularExplainer(X_train)
  mesh = jax.make_mesh((2,), ("data",))
  rows = X
  if spec["process_local"]:
    half = len(X) // 2
    rows = X[:half] if spec["process_id"] == 0 else X[half:]

  def explain(seed):
    return explainer.explain(
        rows,
        model,
        key=seed,
        num_samples=spec["s"],
        mesh=mesh,
        process_local=spec["process_local"],
        num_features=NUM_FEATURES,
        labels=LABELS,
        progress=False,
    )

  warm_seconds, _ = timed(lambda: explain(0))
  seconds = [timed(lambda: explain(1))[0] for _ in range(spec["repeats"])]
  coef = np.asarray(explain(1).coef)
  np.save(spec["coef_path"], coef)
  if spec["num_processes"] > 1:
    jax.distributed.shutdown()
  return dict(warm_seconds=warm_seconds, seconds=statistics.median(seconds), rows=len(rows))


def run_process_config(
    config: str, n: int, s: int, repeats: int, weights: str, directory: pathlib.Path
) -> dict:
  """Runs one configuration of the processes row in fresh subprocesses; its times and coef."""
  num_processes = 1 if config.startswith("1 process") else 2
  devices = 2 // num_processes
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  children = []
  for process_id in range(num_processes):
    spec = dict(
        n=n,
        s=s,
        repeats=repeats,
        weights=weights,
        port=port,
        process_id=process_id,
        num_processes=num_processes,
        process_local=config.endswith("process_local"),
        coef_path=str(directory / f"coef{process_id}.npy"),
    )
    children.append(
        subprocess.Popen(
            harness.child_command("scaling", "run_process_point", spec),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
  outputs = []
  try:
    for child in children:
      stdout, stderr = child.communicate(timeout=1800)
      if child.returncode:
        raise RuntimeError(f"{config} failed:\n{stderr[-3000:]}")
      outputs.append(json.loads(stdout.strip().splitlines()[-1]))
  finally:
    for child in children:
      if child.poll() is None:
        child.kill()
  coefs = [np.load(directory / f"coef{i}.npy") for i in range(num_processes)]
  coef = np.concatenate(coefs) if config.endswith("process_local") else coefs[0]
  return dict(
      config=config,
      n=n,
      s=s,
      processes=num_processes,
      devices_per_process=devices,
      seconds=max(out["seconds"] for out in outputs),
      warm_seconds=max(out["warm_seconds"] for out in outputs),
      instances_per_second=n / max(out["seconds"] for out in outputs),
      coef=coef,
  )


def processes_row(n: int, s: int, repeats: int, weights: str, configs) -> list[dict]:
  """The process configurations `configs` (the first: one process, two devices) on the same rows
  and seed; coefficient agreement with the first."""
  rows = []
  with tempfile.TemporaryDirectory() as directory:
    for config in configs:
      print(f"{config}: N = {n}, S = {s} ...", flush=True)
      rows.append(run_process_config(config, n, s, repeats, weights, pathlib.Path(directory)))
  reference = rows[0]["coef"]
  for row in rows:
    row["max_abs_coef_difference"] = float(np.abs(row.pop("coef") - reference).max())
  return rows


# ---- parent: the sweeps ----


def run_point_child(spec: dict) -> dict:
  """Runs one point in a fresh subprocess with its forced host devices; returns its JSON."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = " ".join(
      filter(
          None, [env.get("XLA_FLAGS"), f"--xla_force_host_platform_device_count={spec['devices']}"]
      )
  )
  return harness.run_child("scaling", "run_point", spec, env=env)


def sweep_points(quick: bool, sweeps=tuple(SWEEPS)) -> list[dict]:
  """Every (sweep, value) point of `sweeps` with its N, S and D; --quick: S = QUICK_SAMPLES."""
  points = []
  for sweep, info in SWEEPS.items():
    if sweep not in sweeps:
      continue
    for value in info["quick" if quick else "values"]:
      point = dict(sweep=sweep, **info["fixed"], **{sweep.lower(): value})
      points.append(dict(point, s=QUICK_SAMPLES) if quick else point)
  return points


def print_table(runs: list[dict]):
  header = (
      f"{'sweep':5s} {'value':>7s} {'devices':11s} {'key':12s} {'explain s':>9s} "
      f"{'inst/s':>8s} {'floor s':>8s} {'/floor':>7s} {'peak MB':>7s} {'steady MB':>9s} "
      f"{'iter MB':>7s} {'reps':>4s}"
  )
  print(header)
  print("-" * len(header))
  previous = None
  for run in runs:
    point = (run["sweep"], run[run["sweep"].lower()])
    label = f"{point[0]:5s} {point[1]:7,d}" if point != previous else " " * 13
    previous = point
    iter_mb = (
        "" if run.get("iter_peak_over_rss_mb") is None else (f"{run['iter_peak_over_rss_mb']:.0f}")
    )
    print(
        f"{label} {run['config']:11s} {run['key_impl']:12s} {run['seconds']:9.3f} "
        f"{run['instances_per_second']:8.1f} {run['floor_seconds']:8.3f} "
        f"{run['time_over_floor']:7.2f} {run['peak_over_before_mb']:7.0f} "
        f"{run['steady_peak_over_rss_mb']:9.0f} {iter_mb:>7s} {run['repeats']:4d}"
    )
  print(
      "peak MB: peak RSS (VmHWM) over all explain calls minus the RSS before the first one "
      "(includes compiling);\nsteady MB: peak RSS during the steady calls minus the RSS "
      "before them (explain's calls and its joined O(N) result);\niter MB (N sweep): peak RSS "
      "of explain_iter with each part dropped when done, minus the RSS before it."
  )


def plot(runs: list[dict], configs: list[str], path: pathlib.Path):
  """Time vs N (with floor), vs S, vs D, and peak memory vs N; one line per device config."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(2, 2, figsize=(12, 9))
  colors = dict(zip(configs, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
  # The N sweep's S (QUICK_SAMPLES with --quick).
  n_sweep_samples = next((r["s"] for r in runs if r["sweep"] == "N"), BASE_SAMPLES)
  panels = (
      ("N", axes[0, 0], f"N instances (S={n_sweep_samples}, D=30)"),
      ("S", axes[0, 1], "S samples per instance (N=200, D=30)"),
      ("D", axes[1, 0], "D features (N=100, S=5000)"),
  )
  for sweep, ax, xlabel in panels:
    for config, color in colors.items():
      points = sorted(
          (r[sweep.lower()], r) for r in runs if r["sweep"] == sweep and r["config"] == config
      )
      if not points:
        continue
      x = [value for value, _ in points]
      ax.plot(x, [r["seconds"] for _, r in points], "o-", color=color, label=f"explain, {config}")
      ax.plot(
          x,
          [r["floor_seconds"] for _, r in points],
          "x--",
          color=color,
          alpha=0.6,
          label=f"model floor, {config}",
      )
    first = [r for r in runs if r["sweep"] == sweep and r["config"] == "1"]
    if sweep != "D" and first:
      first = sorted(first, key=lambda r: r[sweep.lower()])
      x0, t0 = first[0][sweep.lower()], first[0]["seconds"]
      x = np.array([x0, first[-1][sweep.lower()]], float)
      ax.plot(x, t0 * x / x0, ":", color="gray", label="linear from the first point")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=xlabel,
        ylabel="seconds per explain call",
        title=f"time vs {sweep}",
    )
    ax.grid(True, which="both", alpha=0.3)
  axes[0, 0].legend(fontsize=7)
  ax = axes[1, 1]
  for config, color in colors.items():
    points = sorted((r["n"], r) for r in runs if r["sweep"] == "N" and r["config"] == config)
    if not points:
      continue
    x = [value for value, _ in points]
    ax.plot(
        x,
        [r["peak_over_before_mb"] for _, r in points],
        "o-",
        color=color,
        label=f"peak - RSS before explaining, {config}",
    )
    ax.plot(
        x,
        [r["steady_peak_over_rss_mb"] for _, r in points],
        "x--",
        color=color,
        alpha=0.6,
        label=f"steady calls: peak - RSS before them, {config}",
    )
    ax.plot(
        x,
        [r["iter_peak_over_rss_mb"] for _, r in points],
        "s:",
        color=color,
        alpha=0.8,
        label=f"explain_iter, parts dropped: peak - RSS before, {config}",
    )
  ax.set(
      xscale="log",
      xlabel=f"N instances (S={n_sweep_samples}, D=30)",
      ylabel="MB (VmHWM - VmRSS)",
      title="peak memory vs N",
  )
  n_peaks = [r["peak_over_before_mb"] for r in runs if r["sweep"] == "N"]
  if n_peaks:
    ax.set_ylim(0, 1.6 * max(n_peaks))
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7, loc="upper left")
  fig.suptitle(
      "jaxlime TabularExplainer.explain scaling (default config; '1' uses philox4x32, "
      "'1-threefry' and several devices threefry2x32)",
      fontsize=10,
  )
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def run(options: harness.Options) -> dict:
  """The scaling rows (jaxlime and its floor per point and device configuration, memory in the
  row) and the processes row, every point in fresh subprocesses; writes scaling.png."""
  configs = device_configs(options.devices, options.quick)
  repeats = 1 if options.quick else 3
  processes_n = 200 if options.quick else 1000
  start = time.perf_counter()
  runs = []
  with tempfile.TemporaryDirectory() as directory:
    weights = pathlib.Path(directory) / "breast_cancer_mlp.npz"
    accuracy = save_breast_cancer_mlp(weights)
    process_configs = PROCESS_CONFIGS[::2] if options.quick else PROCESS_CONFIGS
    num_samples = QUICK_SAMPLES if options.quick else BASE_SAMPLES
    sweeps = options.sweeps or tuple(SWEEPS)
    processes = []
    if options.sweeps is None:
      processes = processes_row(processes_n, num_samples, repeats, str(weights), process_configs)
    # Device configs inside each point, so drifting machine load hits them alike.
    for point in sweep_points(options.quick, sweeps):
      for config, (devices, impl) in configs.items():
        print(f"{point} on {config} device(s) ...", flush=True)
        spec = dict(
            point, config=config, devices=devices, impl=impl, repeats=repeats, weights=str(weights)
        )
        runs.append(run_point_child(spec))
  print()
  print_table(runs)
  rows = []
  for point in runs:
    case = f"N={point['n']:,} S={point['s']:,} D={point['d']:,}, {point['config']} device(s)"
    iter_mb = point["iter_peak_over_rss_mb"]
    point.pop("weights")  # A temporary file, gone.
    rows.append(
        dict(
            point,
            case=case,
            method="jaxlime",
            role="jaxlime",
            note=f"{point['key_impl']}; peak {point['peak_over_before_mb']:.0f} MB over RSS, "
            f"steady {point['steady_peak_over_rss_mb']:.0f} MB"
            + ("" if iter_mb is None else f", explain_iter {iter_mb:.0f} MB"),
        )
    )
    rows.append(
        dict(
            case=case,
            method="model floor",
            role="floor",
            n=point["n"],
            seconds=point["floor_seconds"],
            devices=point["devices"],
        )
    )
  for row in processes:
    rows.append(
        dict(
            row,
            case=f"processes, N={row['n']:,} S={row['s']:,}",
            method=f"jaxlime, {row['config']}",
            role="jaxlime",
            note=f"max |coef - 1 process x 2 devices| {row['max_abs_coef_difference']:.1e}",
        )
    )
  figures = []
  if runs and harness.peer("matplotlib") is not None:
    figures.append(options.out / "scaling.png")
    plot(runs, list(configs), figures[0])
  settings = dict(
      num_features=NUM_FEATURES,
      labels=LABELS,
      feature_selection="auto",
      discretizer="quartile",
      samples="independent",
      sweeps={
          name: dict(values=info["quick" if options.quick else "values"], fixed=info["fixed"])
          for name, info in SWEEPS.items()
          if name in sweeps
      },
      device_configs=configs,
      repeats=repeats,
      breast_cancer_test_accuracy=accuracy,
      wall_seconds=time.perf_counter() - start,
  )
  notes = [
      "scaling: '1' uses an int seed, hence a philox4x32 key on one device; several devices pass "
      "mesh=jax.make_mesh((K,), ('data',)) and the same int seed, drawn there by "
      "philox4x32_limbs (the same bits from 16-bit limbs); '1-threefry' is one device with "
      "jax.random.key(seed, impl='threefry2x32'). Forced host devices share the machine's "
      f"{os.cpu_count()} cores."
  ]
  return dict(rows=rows, figures=figures, settings=settings, notes=notes)
