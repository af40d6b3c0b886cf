"""Small helpers shared by the test modules."""

import numpy as np


def dense_weights(pairs, num_dims: int) -> np.ndarray:
  """lime's sparse [(feature, weight), ...] as a dense [num_dims] vector (0 elsewhere)."""
  out = np.zeros(num_dims)
  for j, weight in pairs:
    out[j] = weight
  return out
