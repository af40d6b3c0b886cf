"""Pure functional core of tabular LIME: sampling tables, the sampler and the batched explain.

lime's tabular sampling treats every column in one of two ways:
  * a "choice" column (a categorical column, or a continuous column once discretized into bins):
    each sample draws one of the training values (or bins) with its training frequency, and the
    interpretable feature is 1 when the draw equals the instance's value (or bin). A drawn bin is
    mapped back to data units by a normal truncated to the bin, with the bin's training mean and
    standard deviation.
  * a "gaussian" column (continuous, without discretization): mean + std * n with n ~ N(0, 1)
    (or instance + std * n with `sample_around_instance`); the interpretable feature is the
    standardised value.

Every variate of a cell derives from one 32-bit random word: the word picks the choice through
the cumulative frequencies, and its position inside the chosen interval is itself uniform and
feeds the truncated normal's inverse CDF. Gaussian cells use the inverse normal CDF of the word.
"""

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxlime._src import adaptive
from jaxlime._src import control_variates
from jaxlime._src import kernels
from jaxlime._src import models
from jaxlime._src import surrogate


class TabularTables(NamedTuple):
  """Training statistics of F columns as padded arrays; V is the largest number of choices.

  A draw u in (0, 1) of column f picks choice c = #{v : u > cdf[f, v]} and becomes the value
  loc[f, c] + scale[f, c] * erfinv(u * slope[f, c] + offset[f, c]): the affine map sends u's
  position inside the choice's cdf interval to the erf-domain interval of the bin's truncated
  normal. Categorical choices have slope = offset = scale = 0 and loc = the category; gaussian
  columns have one choice with slope 2, offset -1, loc 0, scale sqrt(2): a standard normal.
  """

  is_choice: jax.Array  # [F] bool: categorical, or discretized continuous.
  is_binned: jax.Array  # [F] bool: a discretized continuous column (values come from bins).
  edges: jax.Array  # [F, E] bin edges of binned columns, padded with +inf.
  choice_keys: jax.Array  # [F, V] the bin ids or category values a column can take, NaN padded.
  cdf: jax.Array  # [F, V - 1] cumulative training frequency at the end of each choice (2 padded).
  slope: jax.Array  # [F, V]
  offset: jax.Array  # [F, V]
  loc: jax.Array  # [F, V]
  scale: jax.Array  # [F, V]
  mean: jax.Array  # [F] training mean of gaussian columns (0 for choice columns).
  std: jax.Array  # [F] training std of gaussian columns (1 for choice columns and std 0).


@dataclasses.dataclass(frozen=True)
class TabularConfig:
  """Static options of one tabular explanation program (hashable: a jit cache key)."""

  num_samples: int
  num_features: int
  feature_selection: str
  mode: str  # "classification" or "regression".
  labels: tuple[int, ...] | None  # explicit labels, or None with top_labels.
  top_labels: int | None
  discretize: bool
  sample_around_instance: bool
  block_size: int  # instances per block.
  chunk_size: int  # model rows per call.
  shared_samples: bool
  kernel: Callable | None  # kernel(distances, kernel_width) -> weights; None for lime's.
  input_dtype: str | None = None  # dtype the model's inputs are cast to (e.g. "bfloat16").
  num_outputs: int | None = None  # C, the model's outputs (1 in regression).
  control_variates: bool = False  # adjust the outputs by `control_variates` before the fit.


# Choice columns with at most this many choices select their table entries with a chain of
# `where`s (vectorises well on CPU); wider tables use a gather.
_MAX_CHOICES_FOR_SELECT = 16


def _uniform_from_bits(bits: jax.Array, dtype) -> jax.Array:
  """Maps uint32 words to floats strictly inside (0, 1): the midpoints of a 2^-23 grid.

  23 bits plus the half keep every value exactly representable in float32.
  """
  return ((bits >> 9).astype(dtype) + 0.5) * (2.0**-23)


def _select_choice(uniform: jax.Array, tables: TabularTables) -> tuple[jax.Array, ...]:
  """The choice index [F, R] of each draw uniform [F, R] and its (slope, offset, loc, scale)."""
  num_choices = tables.slope.shape[1]
  per_choice = (tables.slope, tables.offset, tables.loc, tables.scale)
  if num_choices <= _MAX_CHOICES_FOR_SELECT:
    choice = jnp.zeros(uniform.shape, jnp.int32)
    entries = [jnp.broadcast_to(table[:, :1], uniform.shape) for table in per_choice]
    for c in range(1, num_choices):
      above = uniform > tables.cdf[:, c - 1 : c]
      choice = choice + above
      entries = [
          jnp.where(above, table[:, c : c + 1], entry) for table, entry in zip(per_choice, entries)
      ]
    return choice, *entries
  choice = jnp.sum(uniform[..., None] > tables.cdf[:, None, :], axis=-1, dtype=jnp.int32)
  flat = choice + jnp.arange(uniform.shape[0], dtype=jnp.int32)[:, None] * num_choices
  packed = jnp.stack(per_choice, axis=-1).reshape(-1, len(per_choice))
  return choice, *jnp.moveaxis(jnp.take(packed, flat, axis=0), -1, 0)


def draw_bits(key: jax.Array, num_rows: int, num_columns: int) -> jax.Array:
  """The random words of one instance's perturbations: [F, R] uint32, one per cell."""
  return jax.random.bits(key, (num_columns, num_rows), jnp.uint32)


def draw_tabular(bits: jax.Array, tables: TabularTables, dtype) -> tuple[jax.Array, jax.Array]:
  """lime's perturbations of F columns from one random word per cell, independent of any instance.

  Arrays are column-major, [F, R]: every column's statistics then broadcast along contiguous
  rows, which vectorises far better on CPU than [R, F] with F of a few dozen.

  Args:
    bits: [F, R] uint32 random words (`draw_bits`).
    tables: the training statistics.
    dtype: float dtype of the samples.

  Returns:
    choice [F, R] int32 index of the drawn choice in choice columns (0 elsewhere), and
    values [F, R]: data-unit values of choice columns, standard normals of gaussian columns.
  """
  uniform = _uniform_from_bits(bits, dtype)
  choice, slope, offset, loc, scale = _select_choice(uniform, tables)
  bound = 1 - 2.0**-24  # erfinv is finite strictly inside (-1, 1).
  erf_domain = jnp.clip(uniform * slope + offset, -bound, bound)
  return choice, loc + scale * jax.lax.erf_inv(erf_domain)


def instance_choice(x: jax.Array, tables: TabularTables) -> jax.Array:
  """Index of the instance's own bin or category in each choice column, -1 if unseen in training.

  Args:
    x: [F] the instance.

  Returns:
    [F] int32.
  """
  bin_id = jnp.sum(tables.edges < x[:, None], axis=-1).astype(x.dtype)
  key_value = jnp.where(tables.is_binned, bin_id, x)
  match = tables.choice_keys == key_value[:, None]
  return jnp.where(jnp.any(match, axis=-1), jnp.argmax(match, axis=-1), -1).astype(jnp.int32)


def perturb_instance(
    x: jax.Array, choice: jax.Array, values: jax.Array, tables: TabularTables, config: TabularConfig
) -> tuple[jax.Array, jax.Array]:
  """Turns drawn perturbations into one instance's model inputs and interpretable samples.

  Args:
    x: [F] the instance.
    choice, values: [F, R] from `draw_tabular`; sample 0 is replaced by the instance itself.

  Returns:
    Column-major inputs [F, R] in data units and interpretable samples z [F, R] (binary for
    choice columns, standardised for gaussian columns); column 0 is the instance.
  """
  x = x.astype(values.dtype)
  scaled_x = (x - tables.mean) / tables.std
  is_choice = tables.is_choice[:, None]
  gaussian_z = values + scaled_x[:, None] if config.sample_around_instance else values
  gaussian_inputs = gaussian_z * tables.std[:, None] + tables.mean[:, None]
  same = (choice == instance_choice(x, tables)[:, None]).astype(values.dtype)
  z0 = jnp.where(tables.is_choice, 1.0, scaled_x).astype(values.dtype)
  # Sample 0 becomes the instance inside the same elementwise pass (no copy of the arrays).
  is_instance = jax.lax.broadcasted_iota(jnp.int32, values.shape, 1) == 0
  inputs = jnp.where(is_instance, x[:, None], jnp.where(is_choice, values, gaussian_inputs))
  z = jnp.where(is_instance, z0[:, None], jnp.where(is_choice, same, gaussian_z))
  return inputs, z


def _as_outputs(outputs: jax.Array, mode: str) -> jax.Array:
  """Model outputs as [..., C] float: regression's [...] becomes [..., 1]."""
  if mode == "regression" and (outputs.ndim == 1 or outputs.shape[-1] != 1):
    outputs = outputs[..., None]
  return outputs


def _control_variates(z, choice, input_columns, tables):
  """adjust(y [S, L], weights [S]) for `surrogate.fit_local` and `adaptive.instance_round`: the
  outputs y of samples z [D, S] less their control variates (`control_variates.adjusted_outputs`,
  from the drawn choices [F, S] and the input columns [F, S], column 0 the instance)."""
  own_choice = instance_choice(input_columns[:, 0], tables)

  def adjust(y, weights):
    return control_variates.adjusted_outputs(
        z, y, weights, choice, input_columns, own_choice, tables
    )

  return adjust


def _fit_instance(
    z, outputs, kernel_width, config: TabularConfig, tables=None, choice=None, input_columns=None
) -> surrogate.Surrogate:
  """Weights, label choice and surrogate fit of one instance: z [D, S], outputs [S, C].

  With `config.control_variates`, the fit is of the outputs less their control variates (from
  the drawn choices [F, S] and the input columns [F, S]), and its score is lime's R^2 on the
  model's outputs.
  """
  adjust = None
  if config.control_variates:
    adjust = _control_variates(z, choice, input_columns, tables)
  return surrogate.fit_local(
      z,
      outputs,
      kernels.euclidean_distances_columns(z),
      kernel_width,
      kernel=config.kernel,
      labels=config.labels,
      top_labels=config.top_labels,
      num_features=config.num_features,
      feature_selection=config.feature_selection,
      adjust=adjust,
  )


def _evaluate(apply, params, inputs, config: TabularConfig, dtype) -> jax.Array:
  flat = inputs.reshape(-1, inputs.shape[-1])
  if config.input_dtype is not None:
    flat = flat.astype(config.input_dtype)
  outputs = models.evaluate_model(apply, params, flat, chunk_size=config.chunk_size)
  outputs = _as_outputs(outputs, config.mode).astype(dtype)
  return outputs.reshape(inputs.shape[:-1] + outputs.shape[-1:])


def _explain_block_independent(params, x_block, keys, tables, kernel_width, config, apply):
  """Explains a block of B instances, each with its own samples. x_block [B, F], keys [B]."""
  z, outputs, choice, input_columns = _sample_block(params, x_block, keys, tables, config, apply)
  fit = functools.partial(_fit_instance, kernel_width=kernel_width, config=config, tables=tables)
  return jax.vmap(fit)(z, outputs, choice=choice, input_columns=input_columns)


def _sample_block(params, x_block, keys, tables, config, apply):
  """Interpretable samples z [B, F, S], model outputs [B, S, C], and with control variates the
  drawn choices and the input columns [B, F, S] (else None) of a block of B instances."""
  dtype = tables.mean.dtype

  num_columns = x_block.shape[1]

  def draw_one(carry, key):
    return carry, draw_bits(key, config.num_samples, num_columns)

  def sample(bits, sample_tables, x):
    choice, values = draw_tabular(bits, sample_tables, dtype)
    inputs, z = perturb_instance(x, choice, values, sample_tables, config)
    return inputs, z, (choice if config.control_variates else None)

  def sample_one(carry, bits_and_x):
    bits, x = bits_and_x
    return carry, sample(bits, tables, x)

  # Scans, not vmaps, over the block: a scan's outputs are materialised. XLA's CPU backend drops
  # optimization barriers and would otherwise fuse the PRNG and the sampler into every consumer
  # of the samples, rerunning them per use (and in strided order under the transpose).
  if x_block.shape[0] > 1:
    _, bits = jax.lax.scan(draw_one, None, keys)
    _, (input_columns, z, choice) = jax.lax.scan(sample_one, None, (bits, x_block))
  else:
    # XLA removes a loop of one iteration, and with it the materialisation: a block of one
    # instance (S above the block's memory bound, or batch_size below 2 S) then ran 3.5-6.6x
    # slower per sample (benchmarks/README.md, "S past 20,000 samples"). The scan runs over its
    # F columns instead (the same draws, column by column).
    bits = draw_bits(keys[0], config.num_samples, num_columns)
    sampled = _scan_columns(sample, bits, tables, x_block[0])
    input_columns, z, choice = jax.tree.map(lambda leaf: leaf[None], sampled)
  outputs = _evaluate(apply, params, jnp.swapaxes(input_columns, 1, 2), config, dtype)
  return z, outputs, choice, (input_columns if config.control_variates else None)


def _scan_columns(fn, *columns):
  """`fn` applied to one column at a time, in a scan over the F columns: its outputs [F, ...] are
  materialised (a loop over instances of one step is not: XLA removes it).

  Every leaf of `columns` has F leading; `fn` sees each column as a one-row slice ([1, ...]), as
  `draw_tabular` and `perturb_instance` take their [F, ...] arrays, and returns [1, ...] leaves.
  """

  def step(carry, column):
    one_row = jax.tree.map(lambda leaf: leaf[None], column)
    return carry, jax.tree.map(lambda leaf: leaf[0], fn(*one_row))

  return jax.lax.scan(step, None, columns)[1]


def _explain_block_shared(params, x_block, pool, tables, kernel_width, config, apply):
  """Explains a block of B instances on a shared pool of perturbations (see `explain_tabular`)."""
  dtype = tables.mean.dtype
  pool_choice, pool_values, pool_outputs = pool
  instance_outputs = _evaluate(apply, params, x_block[:, None, :], config, dtype)[:, 0]

  def fit_one(x, prediction):
    input_columns, z = perturb_instance(x, pool_choice, pool_values, tables, config)
    outputs = pool_outputs.at[0].set(prediction)
    return _fit_instance(z, outputs, kernel_width, config, tables, pool_choice, input_columns)

  return jax.vmap(fit_one)(x_block, instance_outputs)


def explain_instance(
    params: Any,
    x: jax.Array,
    key: jax.Array,
    *,
    tables: TabularTables,
    kernel_width,
    config: TabularConfig,
    apply: Callable,
) -> surrogate.Surrogate:
  """lime's tabular explanation of ONE instance: the function `explain_fn` returns.

  The same steps as a block of `explain_tabular`, written for one instance so that research
  code can `jit`, `vmap` and differentiate it: draw the random words from `key`, map them to
  perturbations of x, evaluate the model on the S rows, weight them and fit the surrogate.

  Args:
    params: the model's parameters (a pytree of arrays, or None).
    x: [F] the instance.
    key: its PRNG key.
    tables: training statistics.
    kernel_width: scalar, may be traced.
    config: static options (block_size and shared_samples are not used).
    apply: apply(params, inputs [R, F]) -> [R, C] or [R].

  Returns:
    A `Surrogate` with coef [L, F], labels [L] and prediction [C].
  """
  input_columns, z, choice = draw_instance(x, key, tables, config)
  outputs = _evaluate(apply, params, input_columns.T, config, tables.mean.dtype)
  return _fit_instance(z, outputs, kernel_width, config, tables, choice, input_columns)


def draw_instance(x: jax.Array, key: jax.Array, tables: TabularTables, config: TabularConfig):
  """One instance's config.num_samples samples, as `explain_instance` draws them from its key:
  the model's input columns [F, S], z [F, S] and the drawn choices [F, S] (x [F])."""
  bits = draw_bits(key, config.num_samples, x.shape[-1])
  choice, values = draw_tabular(bits, tables, tables.mean.dtype)
  input_columns, z = perturb_instance(x, choice, values, tables, config)
  return input_columns, z, choice


@functools.partial(jax.jit, static_argnames=("config", "apply"))
def explain_tabular(
    params: Any,
    instances: jax.Array,
    keys: jax.Array,
    tables: TabularTables,
    kernel_width,
    *,
    config: TabularConfig,
    apply: Callable,
) -> surrogate.Surrogate:
  """Explains N tabular instances in blocks; the jitted program behind `TabularExplainer`.

  Instance i draws its perturbations from keys[i] alone, so its explanation does not depend on
  the batch or the block it is computed in. With `config.shared_samples`, every instance is
  explained on one pool of perturbations drawn from a single key: lime's sampling distribution
  does not depend on the instance (without sample_around_instance), so each explanation keeps
  lime's distribution while the model runs on S + N rows instead of N * S.

  Args:
    params: the model's parameters (a pytree of arrays, or None).
    instances: [N, F] with N a multiple of config.block_size.
    keys: [N] PRNG keys, one per instance; a single key with shared samples.
    tables: training statistics.
    kernel_width: scalar, traced.
    config: static options.
    apply: apply(params, inputs [R, F]) -> [R, C] or [R].

  Returns:
    The stacked `Surrogate`s of the N instances (coef [N, L, F]).
  """
  num_instances, num_columns = instances.shape
  block = config.block_size
  x_blocks = instances.reshape(num_instances // block, block, num_columns)
  dtype = tables.mean.dtype

  if config.shared_samples:
    pool_bits = draw_bits(keys, config.num_samples, num_columns)
    # The pool is read by every block; with a single block XLA removes the loop over blocks and
    # fused the sampler into each instance's use of the pool (10 instances at S = 5000 took
    # longer than 20), unless a scan materialises it.
    pool_choice, pool_values = _scan_columns(
        lambda bits, column_tables: draw_tabular(bits, column_tables, dtype), pool_bits, tables
    )
    pool_inputs = jnp.where(
        tables.is_choice[:, None],
        pool_values,
        pool_values * tables.std[:, None] + tables.mean[:, None],
    ).T
    pool_outputs = _evaluate(apply, params, pool_inputs, config, dtype)
    pool = (pool_choice, pool_values, pool_outputs)

    def run_block(x_block):
      return _explain_block_shared(params, x_block, pool, tables, kernel_width, config, apply)

    fit = jax.lax.map(run_block, x_blocks)
  else:
    key_blocks = keys.reshape(num_instances // block, block)

    def run_block(args):
      x_block, key_block = args
      return _explain_block_independent(
          params, x_block, key_block, tables, kernel_width, config, apply
      )

    fit = jax.lax.map(run_block, (x_blocks, key_blocks))

  def unblock(leaf):
    return leaf.reshape((num_instances,) + leaf.shape[2:])

  return jax.tree.map(unblock, fit)


@functools.partial(jax.jit, static_argnames=("config", "apply", "first"))
def explain_round(
    params: Any,
    instances: jax.Array,
    labels: jax.Array,
    keys: jax.Array,
    tables: TabularTables,
    kernel_width,
    *,
    config: TabularConfig,
    apply: Callable,
    first: bool,
) -> adaptive.InstanceRound:
  """One round of `jaxlime.UntilStable` for N instances: their samples reduced to the ridge's sums.

  The samples of instance i are those `explain_tabular` draws from keys[i] with
  config.num_samples samples; they are weighted and summed (`adaptive.instance_round`), not fitted.

  Args:
    params: the model's parameters.
    instances: [N, F] with N a multiple of config.block_size.
    labels: [N, L] int32 labels explained (chosen here when `first`).
    keys: [N] the round's keys.
    tables, kernel_width, config, apply: as in `explain_tabular` (no shared samples).
    first: round 0 (chooses the labels; later rounds give their row 0, the instance, weight 0).

  Returns:
    The stacked `adaptive.InstanceRound`s [N, ...].
  """
  num_instances, num_columns = instances.shape
  block = config.block_size
  blocks = (
      instances.reshape(num_instances // block, block, num_columns),
      keys.reshape(num_instances // block, block),
      labels.reshape((num_instances // block, block) + labels.shape[1:]),
  )
  round_one = functools.partial(
      adaptive.instance_round, labels=config.labels, top_labels=config.top_labels, first=first
  )

  def run_block(args):
    x_block, key_block, label_block = args
    z, outputs, choice, input_columns = _sample_block(
        params, x_block, key_block, tables, config, apply
    )

    def one(z, outputs, chosen, choice, input_columns):
      distances = kernels.euclidean_distances_columns(z)
      weights = kernels.kernel_weights(distances, kernel_width, config.kernel)
      adjust = None
      if config.control_variates:
        adjust = _control_variates(z, choice, input_columns, tables)
      return round_one(z, outputs, weights, chosen, adjust=adjust)

    return jax.vmap(one)(z, outputs, label_block, choice, input_columns)

  fit = jax.lax.map(run_block, blocks)
  return jax.tree.map(lambda leaf: leaf.reshape((num_instances,) + leaf.shape[2:]), fit)
