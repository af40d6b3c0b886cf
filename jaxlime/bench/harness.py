"""What the benchmark modules share: their options, timers, the jitted model, peers, child
processes and the machine's description."""

import dataclasses
import importlib
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib import metadata

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# The explainers jaxlime is compared with, by import name; each is optional.
PEERS = ("lime", "shap", "captum")


@dataclasses.dataclass(frozen=True)
class Options:
  """What `jaxlime bench` passes to every benchmark module's `run(options)`.

  Attributes:
    quick: CI-sized runs (the whole quick suite in under 2 minutes on 2 cores) instead of the
      full sizes the README's numbers come from.
    out: the output directory; a module writes its figures there.
    devices: forced host devices for the scaling rows (run in subprocesses).
    sweeps: the scaling sweeps to run ("N", "S", "D"), without the processes row; None runs
      every sweep and the processes row.
  """

  quick: bool
  out: pathlib.Path
  devices: int = 4
  sweeps: tuple[str, ...] | None = None


def peer(name: str):
  """The peer package `name` imported, or None when it is not installed (or fails to import)."""
  try:
    return importlib.import_module(name)
  except ImportError:
    return None


def missing_peer_note(name: str, what: str) -> str:
  """The note a benchmark records when it skips a peer's rows."""
  return f'{name} is not installed: {what} skipped (pip install "jaxlime[bench]").'


def run_child(module: str, function: str, spec: dict, env: dict | None = None) -> dict:
  """Runs `jaxlime.bench.<module>.<function>(spec)` in a fresh Python process; its JSON result.

  The child is `python -m jaxlime.bench.child`, so it works from an installed package; `env`
  (default: this process's) is where a caller sets XLA_FLAGS before the child imports jax.
  """
  completed = subprocess.run(
      [sys.executable, "-m", "jaxlime.bench.child", module, function, json.dumps(spec)],
      env=env,
      capture_output=True,
      text=True,
  )
  if completed.returncode:
    raise RuntimeError(
        f"{module}.{function}({spec}) failed in a subprocess:\n{completed.stderr[-3000:]}"
    )
  return json.loads(completed.stdout.strip().splitlines()[-1])


def child_command(module: str, function: str, spec: dict) -> list[str]:
  """The command line of `run_child`, for callers that start several children at once."""
  return [sys.executable, "-m", "jaxlime.bench.child", module, function, json.dumps(spec)]


# jax.monitoring events whose durations add up to tracing, lowering and compiling a program.
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class CompileTimer:
  """Seconds JAX has spent on the `events` (tracing, lowering, compiling) since construction.

  Unlike first call minus steady call, this does not depend on the load of the machine.
  """

  def __init__(self, events: tuple[str, ...] = COMPILE_EVENTS):
    self.seconds = 0.0
    self.events = events
    jax.monitoring.register_event_duration_secs_listener(self._record)

  def _record(self, event: str, duration: float, **kwargs):
    del kwargs
    if event in self.events:
      self.seconds += duration


def cpu_seconds() -> float:
  """CPU seconds (user + system, all threads) of this process and of its finished children.

  On a shared machine this is the steadier measure of a benchmark's work than its wall time.
  """
  own = resource.getrusage(resource.RUSAGE_SELF)
  children = resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn) -> float:
  """Seconds taken by fn() until its result is ready."""
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


def steady_seconds(fn, repeats: int) -> float:
  """Median seconds of fn() over `repeats` calls, after one warm-up call."""
  timed(fn)
  return statistics.median(timed(fn) for _ in range(repeats))


def jitted_forward(model: nnx.Module):
  """The model as one jitted function: x [B, ...] -> [B, C], compiled once per input shape."""
  graphdef, state = nnx.split(model)
  forward = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))
  return lambda x: forward(state, x)


def model_floor(forward, num_rows: int, chunk_size: int, num_columns: int, repeats: int) -> float:
  """Median seconds of the jitted model on num_rows rows of num_columns, chunk_size per call."""
  num_full, remainder = divmod(num_rows, chunk_size)
  rng = np.random.default_rng(0)
  chunk = jnp.asarray(rng.normal(size=(min(chunk_size, num_rows), num_columns)), jnp.float32)
  rest = chunk[:remainder]

  def run():
    outputs = [forward(chunk) for _ in range(num_full)]
    if remainder:
      outputs.append(forward(rest))
    return outputs

  return steady_seconds(run, repeats)


def peak_rss_mb() -> tuple[float, float]:
  """This process's peak resident set size in MB: (VmHWM, ru_maxrss).

  A subprocess's ru_maxrss also counts the parent's memory at the fork that started it (Linux
  keeps the larger of the two across exec); /proc's VmHWM counts only the child's own address
  space. VmHWM is NaN where /proc is missing.
  """
  maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  maxrss_mb = maxrss / (1024**2 if sys.platform == "darwin" else 1024)  # Bytes on macOS.
  status = pathlib.Path("/proc/self/status")
  if status.exists():
    for line in status.read_text().splitlines():
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024, maxrss_mb
  return float("nan"), maxrss_mb


def cpu_model() -> str:
  """The CPU's model name (Linux), else whatever `platform` knows."""
  cpuinfo = pathlib.Path("/proc/cpuinfo")
  if cpuinfo.exists():
    for line in cpuinfo.read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  return platform.processor()


def version(name: str) -> str | None:
  """The installed version of distribution `name`, or None."""
  try:
    return metadata.version(name)
  except metadata.PackageNotFoundError:
    return None


def memory_total_mb() -> float | None:
  """The machine's memory in MB (Linux), else None."""
  meminfo = pathlib.Path("/proc/meminfo")
  if meminfo.exists():
    return int(meminfo.read_text().split()[1]) / 1024
  return None


def machine_info() -> dict:
  """The machine, Python, JAX's backend and devices, the versions of jaxlime's dependencies and
  of the peers (None when not installed), the load average and the environment settings that
  change timings."""
  packages = ("jaxlime", "jax", "jaxlib", "flax", "numpy", "scikit-learn", "optax")
  peers = ("lime", "shap", "captum", "torch")
  return dict(
      cpu_count=os.cpu_count(),
      cpu=cpu_model(),
      memory_total_mb=memory_total_mb(),
      platform=platform.platform(),
      python=platform.python_version(),
      backend=jax.default_backend(),
      devices=[str(device) for device in jax.devices()],
      versions={name: version(name) for name in packages + peers},
      load_average=list(os.getloadavg()),
      openblas_num_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
      xla_flags=os.environ.get("XLA_FLAGS"),
      # A persistent compilation cache (opt-in) would hide compile times: recorded.
      jaxlime_cache_dir=os.environ.get("JAXLIME_CACHE_DIR"),
  )
