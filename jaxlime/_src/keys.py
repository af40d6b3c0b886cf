"""PRNG keys: int seeds, per-instance keys, and one explanation per seed on any placement.

An int seed makes a philox4x32 key: on a 2-core CPU it drew raw 32-bit words about 2.3x faster
than JAX's default threefry2x32 (150M words: philox 0.279 s, threefry 0.633 s; benchmarks/
tabular.py prints both), which made the default tabular explanation about 1.4x faster.

XLA cannot lower philox's `mulhi` once the program is partitioned over devices (inside
`shard_map`, and under jit's automatic partitioning: "Unable to convert MHLO to StableHLO",
jax 0.10 on CPU). Sharded programs therefore re-wrap philox4x32 key data as
"philox4x32_limbs": the same Philox-4x32-10 function, with each 32 x 32 -> 64-bit product taken
from 16-bit limbs, so it lowers everywhere and gives the same bits, word for word (tested against
`jax.random` on seeds, fold_in, split and bits). An int seed, or a philox key, thus gives the same
explanation on one device, on many, and in many processes.

Instance i of a batch draws from `fold_in(key, i)`, i its global row index, so an explanation
depends neither on the batch it was computed in nor on where it ran.
"""

import numbers

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np

DEFAULT_PRNG_IMPL = "philox4x32"

# Random123's Philox-4x32 constants: round multipliers and Weyl key increments.
_MULTIPLIER_0 = np.uint32(0xD2511F53)
_MULTIPLIER_1 = np.uint32(0xCD9E8D57)
_WEYL_0 = np.uint32(0x9E3779B9)
_WEYL_1 = np.uint32(0xBB67AE85)
_ROUNDS = 10
_LOW_16 = np.uint32(0xFFFF)


def _mul_hi_lo(multiplier: np.uint32, value: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(high, low) 32-bit halves of multiplier * value, from 16-bit limbs (no mulhi)."""
  m_hi, m_lo = np.uint32(int(multiplier) >> 16), np.uint32(int(multiplier) & 0xFFFF)
  v_hi, v_lo = value >> 16, value & _LOW_16
  low_low = m_lo * v_lo
  cross_1 = m_hi * v_lo
  cross_2 = m_lo * v_hi
  middle = (low_low >> 16) + (cross_1 & _LOW_16) + (cross_2 & _LOW_16)
  high = m_hi * v_hi + (cross_1 >> 16) + (cross_2 >> 16) + (middle >> 16)
  return high, multiplier * value


def _philox(k0, k1, x0, x1, x2, x3):
  """Philox-4x32-10 of counters (x0, x1, x2, x3) under key (k0, k1), elementwise uint32."""
  for round_index in range(_ROUNDS):
    if round_index:
      k0, k1 = k0 + _WEYL_0, k1 + _WEYL_1
    hi0, lo0 = _mul_hi_lo(_MULTIPLIER_0, x0)
    hi1, lo1 = _mul_hi_lo(_MULTIPLIER_1, x2)
    x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
  return x0, x1, x2, x3


def _counters(shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
  """(high, low) words of the row-major flat index of every element of `shape`."""
  size = int(np.prod(shape, dtype=np.int64))
  if size >= 2**32:
    raise ValueError(f"cannot draw {size} random words from one key (at most 2**32 - 1).")
  low = jax.lax.iota(jnp.uint32, max(size, 1))[:size].reshape(shape)
  return jnp.zeros(shape, jnp.uint32), low


def _seed(seed: jax.Array) -> jax.Array:
  seed = jnp.asarray(seed)
  high = jax.lax.convert_element_type(
      jax.lax.shift_right_logical(seed, jnp.asarray(32, seed.dtype))
      if seed.dtype.itemsize > 4
      else jnp.zeros((), seed.dtype),
      jnp.uint32,
  )
  low = jax.lax.convert_element_type(seed, jnp.uint32)
  zero = jnp.uint32(0)
  out = _philox(zero, zero, high, low, zero, zero)
  return jnp.stack([out[0], out[1]])


def _split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  high, low = _counters(shape)
  zeros = jnp.zeros(shape, jnp.uint32)
  out = _philox(key[0], key[1], zeros, zeros, high, low)
  return jnp.stack([out[0], out[1]], axis=len(shape))


def _fold_in(key: jax.Array, data) -> jax.Array:
  zero = jnp.uint32(0)
  out = _philox(key[0], key[1], zero, zero, zero, jnp.asarray(data).astype(jnp.uint32))
  return jnp.stack([out[0], out[1]])


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
  high, low = _counters(shape)
  zeros = jnp.zeros(shape, jnp.uint32)
  out = _philox(key[0], key[1], high, low, zeros, zeros)
  if bit_width == 64:  # Only under jax_enable_x64.
    return (out[0].astype(jnp.uint64) << jnp.uint64(32)) | out[1].astype(jnp.uint64)
  words = out[0] ^ out[1] ^ out[2] ^ out[3]
  return words if bit_width == 32 else words.astype(f"uint{bit_width}")


PHILOX_LIMBS = jex_random.define_prng_impl(
    key_shape=(2,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="philox4x32_limbs",
    tag="phxl",
)


def is_key(value) -> bool:
  """True for a typed PRNG key array (any shape)."""
  return isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jax.dtypes.prng_key)


def as_key(key) -> jax.Array:
  """A single typed PRNG key from an int seed, a typed key, or raw uint32 key data [2].

  An int seed makes a philox4x32 key (`seed_key`).
  """
  if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, bool):
    return seed_key(int(key))
  if is_key(key):
    if key.shape != ():
      raise ValueError(f"key must be a single PRNG key; got a key array of shape {key.shape}.")
    return key
  if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,):
    return jax.random.wrap_key_data(key)
  raise TypeError(f"key must be an int seed or a jax.random.key; got {key!r}.")


def seed_key(seed: int) -> jax.Array:
  """The philox4x32 key of an int seed in [-2**63, 2**64), as `jax.random.key(seed)` makes it
  with a 64-bit seed (a negative seed is its two's complement): every bit of the seed counts
  (computed on the host, with or without jax_enable_x64)."""
  if not -(2**63) <= seed < 2**64:
    raise ValueError(f"key must be an int seed in [-2**63, 2**64); got {seed}.")
  seed %= 2**64
  words = [np.array([value], np.uint32) for value in (seed >> 32, seed & 0xFFFFFFFF)]
  zero = np.zeros(1, np.uint32)
  with np.errstate(over="ignore"):
    out = _philox(zero, zero, words[0], words[1], zero, zero)
  data = np.concatenate([out[0], out[1]])
  return jax.random.wrap_key_data(jnp.asarray(data), impl=DEFAULT_PRNG_IMPL)


def instance_keys(key, num_instances: int, *, start: int = 0) -> jax.Array:
  """The keys `explain` gives instances start .. start + n - 1: `fold_in(key, i)`.

  `jax.vmap(explainer.explain_fn(model))(X, jaxlime.instance_keys(key, len(X)))` equals
  `explainer.explain(X, model, key=key)`.

  Args:
    key: an int seed or a single `jax.random.key`; or n keys, returned as they are (explain
      uses given per-instance keys unchanged).
    num_instances: n.
    start: the global row index of the first instance.

  Returns:
    [n] typed keys.
  """
  if is_key(key) and key.ndim:
    if key.shape != (num_instances,):
      raise ValueError(
          f"key must be one key or {num_instances} keys (one per instance); got "
          f"a key array of shape {key.shape}."
      )
    return key
  key = as_key(key)
  return fold_in_range(key, start, num_instances)


def fold_in_range(key: jax.Array, start, count: int) -> jax.Array:
  """[count] keys fold_in(key, start + i); `start` may be traced."""
  indices = jnp.asarray(start, jnp.uint32) + jnp.arange(count, dtype=jnp.uint32)
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, indices)


def impl_for(impl, partitioned: bool):
  """The key implementation to use: philox4x32 becomes philox4x32_limbs (the same bits) in a
  program partitioned over devices, where philox's mulhi does not lower."""
  if partitioned and str(impl) == DEFAULT_PRNG_IMPL:
    return PHILOX_LIMBS
  return impl


def portable(key: jax.Array) -> jax.Array:
  """`key` (any shape) usable inside partitioned programs, drawing the same bits."""
  impl = jax.random.key_impl(key)
  return jax.random.wrap_key_data(jax.random.key_data(key), impl=impl_for(impl, True))
