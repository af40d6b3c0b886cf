"""Running an explanation program over many instances: fixed-size calls, devices, progress.

An explainer's jitted program explains a batch of instances in blocks (memory bounded by the
block). For very large N the host feeds it calls of a fixed number of instances, the last one
padded, so the program compiles once; with a mesh each call's instances are split over the
devices along one mesh axis with `shard_map`; a progress bar shows instances per second.
"""

import dataclasses
import functools
import math
import sys
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

# Instances per call when N is large: enough to amortise dispatch, small enough that a call's
# outputs and inputs stay a few MB, and a useful progress granularity.
DEFAULT_INSTANCES_PER_CALL = 4096


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where a call's instances live: one device (mesh None) or split along `axis` of `mesh`."""

  mesh: Mesh | None = None
  axis: str | None = None

  @property
  def num_shards(self) -> int:
    return 1 if self.mesh is None else int(self.mesh.shape[self.axis])

  def sharding(self):
    return NamedSharding(self.mesh, PartitionSpec(self.axis))


def placement_for(instances, mesh: Mesh | None, axis: str | None) -> Placement:
  """The placement asked for by `mesh`/`axis`, or read from instances sharded on their first axis.

  Args:
    instances: the [N, ...] instances (a jax.Array may carry a NamedSharding).
    mesh: a device mesh, or None.
    axis: the mesh axis to split instances over; defaults to the first axis of the mesh, or the
      axis instances are already sharded over.
  """
  if mesh is None:
    sharding = getattr(instances, "sharding", None)
    if isinstance(sharding, NamedSharding) and len(sharding.spec) and sharding.spec[0]:
      mesh, spec_axis = sharding.mesh, sharding.spec[0]
      if isinstance(spec_axis, tuple):
        if len(spec_axis) != 1:
          raise ValueError(f"instances are sharded over several mesh axes {spec_axis}; pass "
                           "mesh= and axis= to choose one.")
        spec_axis = spec_axis[0]
      axis = axis or spec_axis
    else:
      return Placement()
  if not isinstance(mesh, Mesh):
    raise TypeError(f"mesh must be a jax.sharding.Mesh; got {type(mesh).__name__}.")
  axis = axis or mesh.axis_names[0]
  if axis not in mesh.axis_names:
    raise ValueError(f"axis {axis!r} is not an axis of the mesh {dict(mesh.shape)}.")
  return Placement(mesh=mesh, axis=axis)


def call_size(num_instances: int, block_size: int, placement: Placement,
              instances_per_call: int | None) -> tuple[int, int]:
  """(instances per call, number of calls): a multiple of block_size * shards, padded up."""
  unit = block_size * placement.num_shards
  if instances_per_call is None:
    instances_per_call = DEFAULT_INSTANCES_PER_CALL
  per_call = max(unit, unit * math.ceil(min(instances_per_call, num_instances) / unit))
  return per_call, math.ceil(num_instances / per_call)


def _pad(leaf, size: int):
  """Pads the leading axis to `size` by repeating the first row (numpy stays numpy)."""
  missing = size - leaf.shape[0]
  if missing == 0:
    return leaf
  library = np if isinstance(leaf, np.ndarray) else jnp
  filler = library.broadcast_to(leaf[:1], (missing,) + leaf.shape[1:])
  return library.concatenate([leaf, filler])


def _is_key(leaf) -> bool:
  return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _on_host(leaf):
  """(host array, key implementation or None): a concrete leaf as numpy, keys as their data.

  Calls slice and pad host arrays: slicing a device array to each new size would compile a
  program per size, and so would padding one.
  """
  if isinstance(leaf, jax.core.Tracer):
    return leaf, None
  if _is_key(leaf):
    return np.asarray(jax.random.key_data(leaf)), jax.random.key_impl(leaf)
  return np.asarray(leaf), None


def _progress_bar(total: int, enabled: bool | None, num_calls: int):
  """A tqdm bar when asked (progress=True), or by default in a terminal for several calls."""
  if enabled is None:
    enabled = num_calls > 1 and sys.stderr.isatty()
  if not enabled:
    return None
  try:
    from tqdm.auto import tqdm
  except ImportError:
    return _PlainProgress(total)
  return tqdm(total=total, unit="inst", desc="explaining", dynamic_ncols=True)


class _PlainProgress:
  """A minimal stand-in for tqdm: one line per update on stderr."""

  def __init__(self, total: int):
    self.total, self.done, self.start = total, 0, time.perf_counter()

  def update(self, count: int):
    self.done += count
    rate = self.done / max(time.perf_counter() - self.start, 1e-9)
    print(f"explaining: {self.done}/{self.total} instances, {rate:.0f} inst/s", file=sys.stderr)

  def close(self):
    """Nothing to release: every update was printed as it came."""


def run_calls(call: Callable[..., Any], per_instance: tuple, *, num_instances: int,
              per_call: int, num_calls: int, placement: Placement, progress: bool | None,
              prepare: Callable[..., tuple] | None = None) -> Iterator[tuple[int, Any]]:
  """Runs `call` on consecutive fixed-size slices of the per-instance arrays.

  Each slice holds `per_call` instances (the last one padded by repeating its first row) and is
  placed on the mesh when there is one. The next call is dispatched before the previous one is
  waited for, so host work (slicing, `prepare`) overlaps device work.

  Args:
    call: call(*slices) -> a pytree whose leaves have a leading [per_call] axis.
    per_instance: arrays with a leading [N] axis (instances, keys, ...); concrete ones are
      sliced on the host.
    num_instances: N.
    per_call, num_calls: from `call_size`.
    placement: where to put each slice.
    progress: show a progress bar (None: only in a terminal and for several calls).
    prepare: host work on one call's real instances before padding, e.g. segmenting images:
      prepare(start, *host_slices) -> more per-instance host arrays, passed to `call` after
      the slices (keys arrive as their raw key data).

  Yields:
    (start, result) with the result cut to the real instances start..start + len.
  """
  host = [_on_host(leaf) for leaf in per_instance]
  bar = _progress_bar(num_instances, progress, num_calls)
  pending = None
  try:
    for index in range(num_calls):
      start = index * per_call
      stop = min(start + per_call, num_instances)
      slices = [leaf[start:stop] for leaf, _ in host]
      impls = [impl for _, impl in host]
      if prepare is not None:
        extra = prepare(start, *slices)
        slices, impls = slices + list(extra), impls + [None] * len(extra)
      slices = [_place(_pad(leaf, per_call), impl, placement) for leaf, impl in zip(slices, impls)]
      result = call(*slices)
      if stop - start < per_call:
        result = _unpad(result, stop - start, placement)
      if pending is not None:
        yield _finish(pending, bar)
      pending = (start, stop - start, result)
    if pending is not None:
      yield _finish(pending, bar)
  finally:
    if bar is not None:
      bar.close()


def _restore(leaf, impl):
  """A host slice back as typed keys when it holds key data."""
  return leaf if impl is None else jax.random.wrap_key_data(leaf, impl=impl)


def _place(leaf, impl, placement: Placement):
  """A padded slice on the placement's devices (typed keys re-wrapped there)."""
  if isinstance(leaf, jax.core.Tracer):
    return leaf
  leaf = jax.device_put(leaf, placement.sharding() if placement.mesh is not None else None)
  return _restore(leaf, impl)


def _unpad(result, count: int, placement: Placement):
  """The first `count` instances of a padded result.

  Cut on the host, then put back: slicing on the device would compile a program per leaf for
  every new size (and a result split over explicit mesh axes cannot be sliced to a size the
  mesh does not divide). The cut is split like the call when the devices divide it, else
  replicated.
  """
  if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(result)):
    return jax.tree.map(lambda leaf: leaf[:count], result)
  return put(jax.tree.map(lambda leaf: np.asarray(leaf)[:count], result), count, placement)


def put(host_result, count: int, placement: Placement):
  """host_result's leaves (leading axis `count`) on the placement's devices: split like a call
  when the devices divide `count`, else replicated."""
  if placement.mesh is None:
    target = None
  elif count % placement.num_shards == 0:
    target = placement.sharding()
  else:
    target = NamedSharding(placement.mesh, PartitionSpec())
  return jax.tree.map(lambda leaf: jax.device_put(leaf, target), host_result)


def _finish(pending, bar):
  start, count, result = pending
  if bar is not None:
    jax.block_until_ready(result)
    bar.update(count)
  return start, result


def concatenate(results: list, placement: Placement = Placement()) -> Any:
  """Joins the per-call results along their leading axis (on the host: no compile per size)."""
  if len(results) == 1:
    return results[0]
  joined = jax.tree.map(lambda *leaves: np.concatenate([np.asarray(leaf) for leaf in leaves]),
                        *results)
  return put(joined, jax.tree.leaves(joined)[0].shape[0], placement)


def split_over(function: Callable, placement: Placement, split: tuple[bool, ...],
               **static) -> Callable:
  """`function(*args, **static)` run per device with the flagged arguments split over the mesh.

  Arguments not flagged (parameters, tables, a shared key) are replicated; every output leaf is
  split along its leading axis. Without a mesh, `function` with `static` bound. With one, the
  `shard_map` is jitted with `function`, the (hashable) static keyword values and the placement
  as static arguments, so later calls and later `explain`s with equal options reuse the program.
  """
  if placement.mesh is None:
    return functools.partial(function, **static)
  return functools.partial(_split_call, function, tuple(static.items()), placement, tuple(split))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _split_call(function: Callable, static: tuple, placement: Placement, split: tuple[bool, ...],
                *args):
  in_specs = tuple(PartitionSpec(placement.axis) if flag else PartitionSpec() for flag in split)
  return jax.shard_map(functools.partial(function, **dict(static)), mesh=placement.mesh,
                       in_specs=in_specs, out_specs=PartitionSpec(placement.axis),
                       check_vma=False)(*args)
