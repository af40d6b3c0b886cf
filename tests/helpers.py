"""Small helpers shared by the test modules."""

import contextlib
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import kernels
from jaxlime._src import tabular_core

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


def lime_tabular_samples(explainer, x, key, num_samples: int):
  """One instance's lime samples, drawn with the sampler's public steps from `key`: z [F, S],
  the model's input columns [F, S], the drawn choices [F, S] and lime's kernel weights [S]."""
  tables = explainer.tables
  bits = tabular_core.draw_bits(key, num_samples, x.shape[0])
  choice, values = tabular_core.draw_tabular(bits, tables, jnp.float32)
  config = tabular_core.TabularConfig(
      num_samples=num_samples,
      num_features=1,
      feature_selection="none",
      mode="classification",
      labels=(1,),
      top_labels=None,
      discretize=True,
      sample_around_instance=False,
      block_size=1,
      chunk_size=num_samples,
      shared_samples=False,
      kernel=None,
  )
  inputs, z = tabular_core.perturb_instance(
      jnp.asarray(x, jnp.float32), choice, values, tables, config
  )
  weights = kernels.exponential_kernel(
      kernels.euclidean_distances_columns(z), explainer.kernel_width
  )
  return z, inputs, choice, weights
