"""Small helpers shared by the test modules."""

import contextlib

import jax
import numpy as np

# Emitted by JAX once per program it lowers, whether XLA then compiles it or finds it in the
# persistent compilation cache: a count of new programs.
_LOWERING_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"


def dense_weights(pairs, num_dims: int) -> np.ndarray:
  """lime's sparse [(feature, weight), ...] as a dense [num_dims] vector (0 elsewhere)."""
  out = np.zeros(num_dims)
  for j, weight in pairs:
    out[j] = weight
  return out


@contextlib.contextmanager
def count_compiles():
  """Counts the programs JAX lowers inside the block (public `jax.monitoring` events).

  Yields a list whose length is the count so far.
  """
  lowered = []

  def listener(event, duration, **kwargs):
    del duration, kwargs
    if event == _LOWERING_EVENT:
      lowered.append(event)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield lowered
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
