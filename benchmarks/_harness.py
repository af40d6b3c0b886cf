"""What the benchmark scripts share: timers, the jitted model, and the machine's description."""

import os
import pathlib
import platform
import resource
import statistics
import sys
import time
from importlib import metadata

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

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


def machine_info(*packages: str) -> dict:
  """The machine, Python, JAX's backend and the versions of `packages`."""
  return dict(
      cpu_count=os.cpu_count(),
      cpu=cpu_model(),
      platform=platform.platform(),
      python=platform.python_version(),
      jax=jax.__version__,
      backend=jax.default_backend(),
      **{name: metadata.version(name) for name in packages},
  )
