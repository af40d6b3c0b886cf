"""The one driver under every explainer: fixed-size calls, keys, devices, processes, progress.

An explainer provides a jitted program that explains a call of instances (in blocks, so memory
depends on the block, not on N), written for one device; this driver runs it over any N:

* **Fixed call shapes.** Instances go in calls of `per_call` instances, padded by repeating a
  row. `per_call` is a bucket: a whole number of blocks, rounded up to 5 significant bits below
  `instances_per_call`, or a size this process already compiled for the same program when that
  wastes little, so a new N compiles nothing once a few sizes have run. The last of several
  calls holds its remainder in a bucket of its own.
* **Keys.** Instance i draws from `fold_in(key, i)`, i its global row index, computed per call
  inside one small program of the call's size (or sliced from the N keys the user gave).
* **Devices and processes.** With a mesh, each call's instances are split over one mesh axis
  with `shard_map`; the mesh may span several processes (`jax.distributed`). In the global mode
  every process passes the same instances and gets the whole result; with `process_local=True`
  each passes its own rows and gets theirs, keyed by their global row index.
* **Overlap and progress.** The next call is dispatched before the previous one is read back,
  so host work (slicing, segmentation, host models) overlaps device work; a progress bar counts
  instances.

Results come back to the host call by call (cut to the real instances there: slicing on a device
would compile a program per size) and are joined on the host.
"""

import dataclasses
import functools
import math
import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxlime._src import cache
from jaxlime._src import keys as keys_lib

# Instances per call when N is large: enough to amortise dispatch, small enough that a call's
# outputs and inputs stay a few MB, and a useful progress granularity.
DEFAULT_INSTANCES_PER_CALL = 4096
# A call size already compiled for a program is reused for a smaller N while it holds at most
# this many times the instances N would get a call of its own for: explaining 5 rows after 45
# reuses the 45-row program (80 instances, against 8); 1 row after 4096 compiles a small one.
_REUSE_WASTE = 16


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOptions:
  """How an explanation runs, shared by every explainer's `explain`, `explain_iter`, `explain_fn`.

  Attributes:
    batch_size: the largest number of model-input rows evaluated at once; bounds memory.
    instances_per_call: instances per jitted call (rounded to whole blocks and devices).
    progress: show a progress bar (tqdm when installed); None shows it in a terminal when
      there is more than one call.
    mesh: a `jax.sharding.Mesh` to split the instances over (model parameters replicated); it
      may span several processes started with `jax.distributed.initialize`.
    axis: the mesh axis to split over; defaults to the mesh's first axis, or the axis the
      instances are sharded over.
    process_local: with a mesh over several processes, each process passes only its own rows
      and gets their explanations back (keys from their global row index); otherwise every
      process passes the same instances and gets every explanation.
  """

  batch_size: int | None = None
  instances_per_call: int | None = None
  progress: bool | None = None
  mesh: Mesh | None = None
  axis: str | None = None
  process_local: bool = False


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where a call's instances live: one device (mesh None) or split along `axis` of `mesh`."""

  mesh: Mesh | None = None
  axis: str | None = None
  process_local: bool = False

  @property
  def num_shards(self) -> int:
    return 1 if self.mesh is None else int(self.mesh.shape[self.axis])

  @property
  def multiprocess(self) -> bool:
    return self.mesh is not None and len({d.process_index for d in self.mesh.devices.flat}) > 1

  @property
  def local_shards(self) -> int:
    """Shards of a call held by this process's devices (all of them outside process_local)."""
    if not self.process_local:
      return self.num_shards
    return self.num_shards // jax.process_count()

  def sharding(self):
    return NamedSharding(self.mesh, PartitionSpec(self.axis))


def placement_for(instances, options: RunOptions) -> Placement:
  """The placement asked for by `options.mesh`/`axis`, or read from instances sharded on their
  first axis (a jax.Array with a NamedSharding)."""
  mesh, axis = options.mesh, options.axis
  if mesh is None:
    sharding = getattr(instances, "sharding", None)
    if isinstance(sharding, NamedSharding) and len(sharding.spec) and sharding.spec[0]:
      mesh, spec_axis = sharding.mesh, sharding.spec[0]
      if isinstance(spec_axis, tuple):
        if len(spec_axis) != 1:
          raise ValueError(
              f"instances are sharded over several mesh axes {spec_axis}; pass "
              "mesh= and axis= to choose one."
          )
        spec_axis = spec_axis[0]
      axis = axis or spec_axis
    elif options.process_local:
      raise ValueError("process_local=True needs mesh= over the devices of every process.")
    else:
      return Placement()
  if not isinstance(mesh, Mesh):
    raise TypeError(f"mesh must be a jax.sharding.Mesh; got {type(mesh).__name__}.")
  axis = axis or mesh.axis_names[0]
  if axis not in mesh.axis_names:
    raise ValueError(f"axis {axis!r} is not an axis of the mesh {dict(mesh.shape)}.")
  placement = Placement(mesh=mesh, axis=axis, process_local=bool(options.process_local))
  if placement.process_local:
    _check_process_blocks(placement)
  return placement


def _check_process_blocks(placement: Placement):
  """process_local needs each process's devices to hold one equal, contiguous run of the axis."""
  mesh, axis = placement.mesh, placement.axis
  along = np.moveaxis(mesh.devices, mesh.axis_names.index(axis), 0)
  owners = np.array([[d.process_index for d in np.ravel(row)] for row in along])
  if (owners != owners[:, :1]).any():
    raise ValueError(
        f"process_local=True splits rows over mesh axis {axis!r}, but devices of "
        "several processes share a position along it; build the mesh so that the "
        "axis runs over the processes (e.g. jax.make_mesh((jax.device_count(),), "
        "('data',)))."
    )
  runs = owners[:, 0]
  size = len(runs) // jax.process_count()
  expected = np.repeat(np.arange(jax.process_count()), size)
  if (
      len(runs) % jax.process_count()
      or not np.array_equal(np.sort(runs), expected)
      or any(len(set(runs[p * size : (p + 1) * size])) != 1 for p in range(jax.process_count()))
  ):
    raise ValueError(
        f"process_local=True needs the devices along mesh axis {axis!r} grouped by "
        f"process in equal runs; got processes {runs.tolist()}."
    )


# ---- call sizes ----

_compiled_sizes: dict[Any, set[tuple[int, int]]] = {}
_compiled_lock = threading.Lock()


def _bucket(units: int) -> int:
  """`units` rounded up to 5 significant bits: exact up to 32, then at most 1/32 (3%) more.

  Powers of two padded N = 1000 instances (100 blocks of 10) to 1280, 28% more work; these
  buckets pad it to none, while sizes still repeat often enough for the reuse rule.
  """
  if units <= 32:
    return units
  shift = units.bit_length() - 5
  return -(-units >> shift) << shift


def _least_padded_block(num_instances: int, max_block: int, shards: int, cap_units) -> int:
  """The block size in [max_block / 2, max_block] whose one call pads N the least (ties: the
  larger). Blocks of max_block alone padded N = 200 Kernel SHAP instances (blocks of 24) to 216,
  and N = 64 images (blocks of 42) to 84; blocks of 20 and 32 pad them to none."""

  def padded(block):
    units = math.ceil(num_instances / (block * shards))
    return min(_bucket(units), cap_units(block)) * block * shards, -block

  return min(range(max(1, (max_block + 1) // 2), max_block + 1), key=padded)


def choose_call(
    num_instances: int,
    max_block: int,
    shards: int,
    *,
    instances_per_call: int | None,
    program: Any = None,
) -> tuple[int, int, int]:
  """(block size, instances per call, number of calls) for N instances over `shards` devices.

  A block holds at most `max_block` instances (the explainer's memory bound): a power of two of
  them when N is small, the size in [max_block / 2, max_block] that pads N the least when N
  fits in one call, else max_block (the last of several calls is sized by `last_call_size`).
  Below `instances_per_call` (default 4096) a call holds the blocks N needs rounded up to 5
  significant bits (`_bucket`), or reuses a (block, call) size already run for the same
  `program` (a hashable description of the compiled program, without its block size) that holds
  N with little waste: repeated explains of varying N stop compiling.
  """
  cap = DEFAULT_INSTANCES_PER_CALL if instances_per_call is None else instances_per_call
  per_shard = max(1, math.ceil(min(num_instances, cap) / shards))

  def cap_units(block):
    return max(1, math.ceil(cap / (block * shards)))

  block = 1 << (per_shard - 1).bit_length()
  if block > max_block:
    block = (
        max_block
        if num_instances > cap
        else _least_padded_block(num_instances, max_block, shards, cap_units)
    )
  unit = block * shards
  needed_units = math.ceil(num_instances / unit)
  if needed_units >= cap_units(block):
    per_call = cap_units(block) * unit
  else:
    per_call = min(_bucket(needed_units), cap_units(block)) * unit
    if program is not None and instances_per_call is None:
      with _compiled_lock:
        fitting = [
            (size, used_block)
            for used_block, size in _compiled_sizes.get(program, ())
            if num_instances <= size <= _REUSE_WASTE * per_call
        ]
      if fitting:
        per_call, block = min(fitting)
  if program is not None:
    with _compiled_lock:
      _compiled_sizes.setdefault(program, set()).add((block, per_call))
  return block, per_call, math.ceil(num_instances / per_call)


def last_call_size(num_instances: int, block: int, per_call: int, shards: int) -> int:
  """Instances in the last of several calls: its real ones in whole blocks per shard, rounded
  up like a first call (`_bucket`). Padding it to a full call computed 3,192 filler instances
  for N = 5,000 in calls of 4,096; the smaller shape costs one more compile instead."""
  num_calls = math.ceil(num_instances / per_call)
  if num_calls == 1:  # One call keeps its size: it may be a reused compiled size.
    return per_call
  remainder = num_instances - (num_calls - 1) * per_call
  unit = block * shards
  return min(per_call, _bucket(math.ceil(remainder / unit)) * unit)


# ---- keys ----


@dataclasses.dataclass(frozen=True)
class KeyPlan:
  """Where each instance's key comes from: fold_in(base, global index), or given per instance."""

  base: jax.Array | None  # a single typed key, or None.
  given: np.ndarray | None  # [N, *key shape] raw key data of the user's per-instance keys.
  impl: Any  # the key implementation.


def key_plan(key, num_instances: int) -> KeyPlan:
  """The keys of N (local) instances from an int seed, one key, or N keys."""
  if keys_lib.is_key(key) and key.ndim:
    if key.shape != (num_instances,):
      raise ValueError(
          f"key must be one key or {num_instances} keys (one per instance); got "
          f"a key array of shape {key.shape}."
      )
    if isinstance(key, jax.core.Tracer):
      return KeyPlan(base=None, given=key, impl=jax.random.key_impl(key))
    return KeyPlan(
        base=None, given=np.asarray(jax.random.key_data(key)), impl=jax.random.key_impl(key)
    )
  key = keys_lib.as_key(key)
  return KeyPlan(base=key, given=None, impl=jax.random.key_impl(key))


@functools.partial(jax.jit, static_argnames=("count",))
def _key_data_range(key, start, *, count: int):
  return jax.random.key_data(keys_lib.fold_in_range(key, start, count))


def _call_keys(plan: KeyPlan, global_start: int, local_start: int, count: int) -> np.ndarray:
  """Raw key data [count, ...] of instances from `global_start` (host numpy)."""
  if plan.given is not None:
    return _pad(plan.given[local_start : local_start + count], count)
  return np.asarray(_key_data_range(plan.base, np.uint32(global_start), count=count))


def _wrap_keys(data, impl, placement: Placement):
  """Typed keys from raw key data, in a form that lowers on the placement (see keys.py)."""
  return jax.random.wrap_key_data(data, impl=keys_lib.impl_for(impl, placement.mesh is not None))


# ---- running calls ----


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


def _pad(leaf, size: int):
  """Pads the leading axis to `size` by repeating the first row (numpy stays numpy)."""
  missing = size - leaf.shape[0]
  if missing == 0:
    return leaf
  library = np if isinstance(leaf, np.ndarray) else jnp
  filler = library.broadcast_to(leaf[:1], (missing,) + leaf.shape[1:])
  return library.concatenate([leaf, filler])


def _to_devices(host: np.ndarray, placement: Placement):
  """A call's host slice [per_call (local), ...] as an array on the placement's devices."""
  if placement.mesh is None:
    return jax.device_put(host)
  sharding = placement.sharding()
  if placement.process_local:
    return jax.make_array_from_process_local_data(sharding, host)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def host_rows(array, rows: slice, placement: Placement) -> np.ndarray:
  """Rows `rows` of a call's array as host numpy, read from this process's devices."""
  del placement
  if not isinstance(array, jax.Array) or array.is_fully_addressable:
    return np.asarray(array)[rows]
  pieces, covered = [], rows.start
  for shard in sorted(array.addressable_shards, key=lambda shard: shard.index[0].start or 0):
    held = shard.index[0]
    start = held.start or 0
    stop = held.stop if held.stop is not None else array.shape[0]
    if start <= covered < stop:
      end = min(stop, rows.stop)
      pieces.append(np.asarray(shard.data)[covered - start : end - start])
      covered = end
    if covered >= rows.stop:
      return np.concatenate(pieces)
  raise ValueError(f"rows {rows.start}..{rows.stop} are not held by this process's devices.")


def rows_to_devices(
    make_rows: Callable[[slice], np.ndarray], shape: tuple[int, ...], placement: Placement
):
  """An array of `shape` on the placement whose rows are computed on the host, each process
  computing only the rows its devices hold: make_rows(rows) -> host array of those rows."""
  if placement.mesh is None:
    return jax.device_put(make_rows(slice(0, shape[0])))
  if placement.process_local:  # This process's rows: its run along the axis (process order).
    local = shape[0] // jax.process_count()
    first = jax.process_index() * local
    return jax.make_array_from_process_local_data(
        placement.sharding(), make_rows(slice(first, first + local))
    )
  made = {}

  def rows_of(index):
    held = index[0]
    rows = slice(held.start or 0, held.stop if held.stop is not None else shape[0])
    if (rows.start, rows.stop) not in made:
      made[rows.start, rows.stop] = make_rows(rows)
    return made[rows.start, rows.stop][(slice(None),) + tuple(index[1:])]

  return jax.make_array_from_callback(shape, placement.sharding(), rows_of)


def to_host(tree, placement: Placement = Placement()):
  """Host numpy copies of a result's leaves: every row (global mode) or this process's rows."""

  def fetch(leaf):
    if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
      return np.asarray(leaf)
    if placement.process_local:
      shards = sorted(leaf.addressable_shards, key=lambda shard: shard.index[0].start or 0)
      rows, seen = [], set()
      for shard in shards:
        start = shard.index[0].start or 0
        if start not in seen:
          seen.add(start)
          rows.append(np.asarray(shard.data))
      return np.concatenate(rows)
    return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

  return jax.tree.map(fetch, tree)


@dataclasses.dataclass(frozen=True)
class CallPlan:
  """The calls of one run: sizes, offsets and placement."""

  num_instances: int  # N, this process's rows in process_local mode.
  block_size: int  # instances per block of the program.
  per_call: int  # instances per call (this process's share in process_local mode).
  num_calls: int
  last_call: int  # instances in the last call (per_call or fewer).
  global_offset: int  # global row index of this process's first row.
  placement: Placement


def plan_calls(
    num_instances: int,
    max_block: int,
    placement: Placement,
    options: RunOptions,
    *,
    program: Any = None,
    default_per_call: int | None = None,
) -> CallPlan:
  """Sizes every call of a run; in process_local mode, agrees with the other processes."""
  instances_per_call = options.instances_per_call or default_per_call
  global_offset, largest = 0, num_instances
  if placement.process_local:
    counts = np.asarray(multihost_utils.process_allgather(np.array([num_instances]))).ravel()
    if (counts < 1).any():
      raise ValueError(
          f"process_local=True needs at least one row in every process; got row "
          f"counts {counts.tolist()}."
      )
    global_offset = int(counts[: jax.process_index()].sum())
    largest = int(counts.max())
  block, per_call, _ = choose_call(
      largest,
      max_block,
      placement.local_shards,
      instances_per_call=instances_per_call,
      program=program,
  )
  num_calls = math.ceil(largest / per_call)
  last_call = last_call_size(largest, block, per_call, placement.local_shards)
  return CallPlan(num_instances, block, per_call, num_calls, last_call, global_offset, placement)


def run_calls(
    call: Callable[..., Any],
    per_instance: Sequence,
    keys: KeyPlan,
    calls: CallPlan,
    *,
    progress: bool | None,
    prepare: Callable[..., tuple] | None = None,
) -> Iterator[tuple[int, Any]]:
  """Runs `call` on consecutive fixed-size slices of the per-instance host arrays.

  Args:
    call: call(*slices, keys) -> a pytree whose leaves have a leading [per_call] axis (global
      over the mesh); keys are the call's typed keys.
    per_instance: host numpy arrays with a leading [N] axis (instances, ...).
    keys: where the instances' keys come from.
    calls: from `plan_calls`.
    progress: show a progress bar (None: only in a terminal and for several calls).
    prepare: host work on one call's real instances before padding, e.g. segmenting images:
      prepare(start, *host_slices) -> more per-instance host arrays, passed to `call` after the
      slices and before the keys.

  Yields:
    (start, result): the index of the call's first (local) instance and its result as host
    numpy arrays cut to the call's real instances.
  """
  placement, per_call = calls.placement, calls.per_call
  bar = _progress_bar(calls.num_instances, progress, calls.num_calls)
  pending = None
  try:
    for index in range(calls.num_calls):
      size = calls.last_call if index == calls.num_calls - 1 else per_call
      start = min(index * per_call, calls.num_instances)
      stop = min(start + size, calls.num_instances)
      slices = [leaf[start:stop] for leaf in per_instance]
      if stop == start:  # A process_local process with fewer rows than another: a filler call.
        slices = [leaf[:1] for leaf in per_instance]
      if prepare is not None:
        slices = slices + list(prepare(start, *slices))
      slices = [_to_devices(_pad(leaf, size), placement) for leaf in slices]
      key_data = _call_keys(keys, calls.global_offset + start, start, size)
      call_keys = _wrap_keys(_to_devices(key_data, placement), keys.impl, placement)
      result = call(*slices, call_keys)
      if pending is not None:
        yield _finish(pending, bar, placement)
      pending = (start, stop - start, result)
    if pending is not None:
      yield _finish(pending, bar, placement)
  finally:
    if bar is not None:
      bar.close()


def _finish(pending, bar, placement: Placement):
  start, count, result = pending
  host = jax.tree.map(lambda leaf: leaf[:count], to_host(result, placement))
  if bar is not None:
    bar.update(count)
  return start, host


def run_traced(
    call: Callable[..., Any],
    per_instance: Sequence,
    keys: KeyPlan,
    block_size: int,
    placement: Placement,
):
  """One call over traced instances (under jit or grad): padded to whole blocks, no host work.

  Args:
    call: call(*slices, keys) with the instances' keys.
    block_size: instances per block; the call holds whole blocks per device.
  """
  if placement.multiprocess:
    raise ValueError(
        "explaining traced instances over several processes is not supported: "
        "pass concrete arrays."
    )
  num_instances = per_instance[0].shape[0]
  unit = block_size * placement.num_shards
  per_call = unit * math.ceil(num_instances / unit)
  if keys.base is not None:
    key_data = jax.random.key_data(keys_lib.fold_in_range(keys.base, 0, per_call))
  else:
    given = keys.given
    key_data = jax.random.key_data(given) if keys_lib.is_key(given) else jnp.asarray(given)
    key_data = _pad(key_data, per_call)
  call_keys = _wrap_keys(key_data, keys.impl, placement)
  result = call(*[_pad(jnp.asarray(leaf), per_call) for leaf in per_instance], call_keys)
  return jax.tree.map(lambda leaf: leaf[:num_instances], result)


def global_max(values: np.ndarray, placement: Placement) -> int:
  """The largest of `values` over every process (each holds its own rows in process_local)."""
  largest = int(np.max(values))
  if placement.process_local:
    largest = int(np.max(multihost_utils.process_allgather(np.array([largest]))))
  return largest


def concatenate(parts: list) -> Any:
  """Joins host results along their leading axis."""
  if len(parts) == 1:
    return parts[0]
  return jax.tree.map(lambda *leaves: np.concatenate(leaves), *parts)


def put(host_tree, placement: Placement):
  """A joined host result on the placement's devices: split like a call when the devices divide
  its rows, else replicated; with several processes, kept on this process (numpy leaves become
  arrays on the default device)."""
  if placement.mesh is None or placement.multiprocess:
    return jax.tree.map(jax.device_put, host_tree)
  count = jax.tree.leaves(host_tree)[0].shape[0]
  if count % placement.num_shards == 0:
    target = placement.sharding()
  else:
    target = NamedSharding(placement.mesh, PartitionSpec())
  return jax.tree.map(lambda leaf: jax.device_put(leaf, target), host_tree)


def split_over(
    function: Callable, placement: Placement, split: tuple[bool, ...], **static
) -> Callable:
  """`function(*args, **static)` run per device with the flagged arguments split over the mesh.

  Arguments not flagged (parameters, tables, a shared key) are replicated; every output leaf is
  split along its leading axis. Without a mesh, `function` with `static` bound. With one, the
  `shard_map` is jitted with `function`, the (hashable) static keyword values and the mesh and
  axis as static arguments, so later calls and later `explain`s with equal options reuse the
  program.
  """
  if placement.mesh is None:
    return functools.partial(function, **static)
  return functools.partial(
      _split_call, function, tuple(static.items()), placement.mesh, placement.axis, tuple(split)
  )


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _split_call(
    function: Callable, static: tuple, mesh: Mesh, axis: str, split: tuple[bool, ...], *args
):
  in_specs = tuple(PartitionSpec(axis) if flag else PartitionSpec() for flag in split)
  return jax.shard_map(
      functools.partial(function, **dict(static)),
      mesh=mesh,
      in_specs=in_specs,
      out_specs=PartitionSpec(axis),
      check_vma=False,
  )(*args)


# ---- one explanation run, for every explainer ----


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
  """What an explainer hands the driver: its per-call program and how to read its results.

  Attributes:
    per_instance: arrays with a leading [N] axis (host numpy, or traced under jit).
    call_for: call_for(block_size) -> call(*slices, keys) -> a pytree of [per_call, ...]
      results (e.g. a stacked `Surrogate`); slices are the per-instance arrays (and
      `prepare`'s) of one call.
    finish: finish(part, start) -> the explanation of instances start .. start + len(part),
      from a host result cut to those instances (or the traced result, start 0).
    max_block: the most instances per block of the program (its memory bound); calls hold
      whole blocks per device.
    program: a hashable description of the compiled program (its static options and shapes
      but the block size), to reuse call sizes it already compiled for.
    prepare: host work per call before padding (see `run_calls`).
    default_per_call: the explainer's default instances per call, when the user gave none.
    join: join(parts) -> one host result from the calls' host results, in order (default:
      concatenated along the leading axis).
    traced: the work runs under a JAX transformation (traced instances, or a model whose
      parameters are traced, e.g. under `jax.grad`): one call, no host steps.
  """

  per_instance: tuple
  call_for: Callable[[int], Callable[..., Any]]
  finish: Callable[[Any, int], Any]
  max_block: int
  program: Any = None
  prepare: Callable[..., tuple] | None = None
  default_per_call: int | None = None
  join: Callable[[list], Any] = concatenate
  traced: bool = False


def explain_all(job: Job, key, options: RunOptions, placement: Placement):
  """Runs a job over all its instances and returns `finish` of the joined result."""
  cache.enable_default()
  num_instances = job.per_instance[0].shape[0]
  keys = key_plan(key, num_instances)
  if job.traced or not all(isinstance(leaf, np.ndarray) for leaf in job.per_instance):
    block = max(1, min(job.max_block, math.ceil(num_instances / placement.num_shards)))
    result = run_traced(job.call_for(block), job.per_instance, keys, block, placement)
    return job.finish(result, 0)
  calls = plan_calls(
      num_instances,
      job.max_block,
      placement,
      options,
      program=job.program,
      default_per_call=job.default_per_call,
  )
  parts = [
      part
      for _, part in run_calls(
          job.call_for(calls.block_size),
          job.per_instance,
          keys,
          calls,
          progress=options.progress,
          prepare=job.prepare,
      )
  ]
  return job.finish(job.join(parts), 0)


def explain_parts(job: Job, key, options: RunOptions, placement: Placement) -> Iterator:
  """Runs a job call by call, yielding (index of the first instance, `finish` of the part)."""
  cache.enable_default()
  if job.traced or not all(isinstance(leaf, np.ndarray) for leaf in job.per_instance):
    raise TypeError(
        "explain_iter needs concrete inputs and parameters; under a JAX "
        "transformation (jit, grad, vmap) use explain."
    )
  num_instances = job.per_instance[0].shape[0]
  keys = key_plan(key, num_instances)
  calls = plan_calls(
      num_instances,
      job.max_block,
      placement,
      options,
      program=job.program,
      default_per_call=job.default_per_call,
  )
  for start, part in run_calls(
      job.call_for(calls.block_size),
      job.per_instance,
      keys,
      calls,
      progress=options.progress,
      prepare=job.prepare,
  ):
    yield start, job.finish(part, start)
