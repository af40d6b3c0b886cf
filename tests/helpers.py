"""Small helpers shared by the test modules."""

import contextlib
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"

# Emitted by JAX once per program it lowers, whether XLA then compiles it or finds it in the
# persistent compilation cache: a count of new programs.
_LOWERING_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"


def dense_weights(pairs, num_dims: int) -> np.ndarray:
  """lime's sparse [(feature, weight), ...] as a dense [num_dims] vector (0 elsewhere)."""
  out = np.zeros(num_dims)
  for j, weight in pairs:
    out[j] = weight
  return out


def forced_devices_env(num_devices: int, **variables: str) -> dict:
  """os.environ for a subprocess with `num_devices` forced host CPU devices (XLA_FLAGS, read when
  the child first uses jax), compiling at the suite's XLA level (conftest.py), plus `variables`."""
  flags = [
      f"--xla_force_host_platform_device_count={num_devices}",
      os.environ.get("JAXLIME_TEST_XLA_FLAGS", ""),
  ]
  return dict(os.environ, XLA_FLAGS=" ".join(filter(None, flags)), **variables)


@contextlib.contextmanager
def count_compiles():
  """Counts the programs JAX lowers inside the block (public `jax.monitoring` events).

  Yields a list of the lowered programs' names (`jit(explain_tabular)`, ...) whose length is
  the count so far.
  """
  lowered = []

  def listener(event, duration, **kwargs):
    del duration
    if event == _LOWERING_EVENT:
      lowered.append(kwargs.get("fun_name", "?"))

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield lowered
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


def run_example(script: str, *arguments: str, timeout: int = 540) -> str:
  """Runs examples/<script> with this interpreter and the repository first on the path."""
  env = dict(
      os.environ,
      PYTHONPATH=os.pathsep.join([str(EXAMPLES.parent), os.environ.get("PYTHONPATH", "")]),
  )
  env["MPLBACKEND"] = "Agg"
  result = subprocess.run(
      [sys.executable, script, *arguments],
      cwd=EXAMPLES,
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
  )
  assert (
      result.returncode == 0
  ), f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
  return result.stdout
