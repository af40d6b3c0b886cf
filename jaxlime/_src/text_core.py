"""Pure functional core of text LIME: masks of removed words, token rows, and the batched explain.

lime's text sampling (`LimeTextExplainer.__data_labels_distances`): for a text with D features
(distinct words, word positions, or characters), sample s > 0 removes k_s features, k_s uniform
in 1..D, the removed set being a uniformly random subset of that size; sample 0 is the text
itself. The interpretable sample is the binary vector of kept features, the distance the cosine
distance to the all-ones vector times 100.

Here the subset is drawn by selection sampling (Knuth's algorithm S): visiting the features in
order, feature j is removed with probability (k - removed so far) / (D - j). That gives every
subset of size k the same probability, with one uniform per feature and sample and no sort.
Feature j's uniforms come from `fold_in(key, j)`, so a text's masks do not depend on the number
of features D_pad it is padded to in a batch.

Texts of a batch share D_pad features (and T_pad tokens in the token path); features j >= D of
a text are padding: zero in every sample (the text itself included), so they change neither the
cosine distances nor the fit of the real features, and the surrogate never selects them.
"""

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxlime._src import adaptive
from jaxlime._src import kernels
from jaxlime._src import models
from jaxlime._src import surrogate

# Token features: a token that belongs to no word (always kept) and a padding position.
NO_WORD = -1
PADDING = -2
# lime's distances are cosine distances times 100.
DISTANCE_SCALE = 100.0


@dataclasses.dataclass(frozen=True)
class TextConfig:
  """Static options of one text explanation program (hashable: a jit cache key)."""

  num_samples: int
  num_features: int
  feature_selection: str
  labels: tuple[int, ...] | None  # explicit labels, or None with top_labels.
  top_labels: int | None
  kernel: Callable | None  # kernel(distances, kernel_width) -> weights; None for lime's.
  block_size: int = 1  # texts per block (token path).
  chunk_size: int = 1  # model rows per call (token path).
  removal: bool = True  # token path: remove words (lime's bow) or replace them by mask_token_id.
  pad_token_id: int = 0
  mask_token_id: int = 0
  num_outputs: int | None = None  # C, the model's outputs.


def sample_kept(
    key: jax.Array, num_words: jax.Array, *, num_dims: int, num_samples: int
) -> jax.Array:
  """lime's random word removal for one text: which features each sample keeps.

  Args:
    key: the text's PRNG key.
    num_words: [] int, D, the text's number of features (>= 1).
    num_dims: D_pad >= D, the padded number of features (static).
    num_samples: S (static).

  Returns:
    kept [D_pad, S] bool, column-major: column 0 (the text itself) keeps every feature, column
    s > 0 removes a uniformly random subset of k_s ~ U{1..D} features; rows j >= D are False.
  """
  count_key, feature_key = jax.random.split(key)
  counts = jax.random.randint(count_key, (num_samples,), 1, num_words + 1, dtype=jnp.int32)
  counts = jnp.where(jnp.arange(num_samples) == 0, 0, counts)

  def visit(to_remove, j):
    bits = jax.random.bits(jax.random.fold_in(feature_key, j), (num_samples,), jnp.uint32)
    uniform = (bits >> 8).astype(jnp.float32) * 2.0**-24
    real = j < num_words
    unvisited = (num_words - j).astype(jnp.float32)
    removed = real & (uniform * unvisited < to_remove.astype(jnp.float32))
    return to_remove - removed, real & ~removed

  # A scan's outputs are materialised: the PRNG runs once, not inside every consumer.
  _, kept = jax.lax.scan(visit, counts, jnp.arange(num_dims))
  return kept


def _inclusive_cumsum_rows(values: jax.Array) -> jax.Array:
  """Cumulative sum over the rows of values [T, S] (a scan: faster than XLA's CPU cumsum)."""

  def add(total, row):
    total = total + row
    return total, total

  return jax.lax.scan(add, jnp.zeros(values.shape[1], jnp.int32), values.astype(jnp.int32))[1]


def compact_rows(keep: jax.Array) -> jax.Array:
  """Order-preserving compaction of every column of keep [T, S] (T < 2^15).

  Returns:
    source [T, S] int32: row p of column s holds 1 + the index of the (p+1)-th kept row of
    column s, or 0 past the column's last kept row.

  The kept rows move up by the number of removed rows above them, one bit of that shift per
  step (log2 T steps of whole-array shifts; moving the low bits first never makes two rows
  collide). Each row's source index and remaining shift travel packed in one int32.
  """
  num_rows = keep.shape[0]
  shift_bits = max(1, (num_rows - 1).bit_length())
  rows = jnp.arange(num_rows, dtype=jnp.int32)
  removed_above = rows[:, None] + 1 - _inclusive_cumsum_rows(keep)
  state = jnp.where(keep, ((rows[:, None] + 1) << shift_bits) | removed_above, 0)

  def move(step, state):
    offset = jnp.left_shift(1, step)
    below = jnp.take(state, jnp.minimum(rows + offset, num_rows - 1), axis=0)
    arriving = (rows + offset < num_rows)[:, None] & ((below & offset) != 0)
    staying = (state & offset) == 0
    return jnp.where(arriving, below, 0) | jnp.where(staying, state, 0)

  state = jax.lax.fori_loop(0, shift_bits, move, state)
  return state >> shift_bits


def token_rows(
    kept: jax.Array, token_ids: jax.Array, token_features: jax.Array, config: TextConfig
) -> jax.Array:
  """The model inputs of one text's samples.

  Args:
    kept: [D_pad, S] bool from `sample_kept`.
    token_ids: [T] int32 token ids of the text, padded with config.pad_token_id.
    token_features: [T] int32 feature of each token, NO_WORD for tokens of no word (always
      kept) and PADDING past the text's end.
    config: with `removal`, removed tokens are dropped and the rest moved up in order (padding at
      the end), as lime's bag of words deletes the words; otherwise each removed token becomes
      config.mask_token_id, as lime's positional mode writes its mask string.

  Returns:
    [S, T] int32 token ids.
  """
  is_word = token_features >= 0
  word_kept = jnp.take(kept, jnp.maximum(token_features, 0), axis=0)
  keep = jnp.where(is_word[:, None], word_kept, (token_features == NO_WORD)[:, None])
  if config.removal:
    source = compact_rows(keep)
    ids = jnp.where(
        source > 0, jnp.take(token_ids, jnp.maximum(source - 1, 0)), config.pad_token_id
    )
  else:
    hidden = jnp.where(token_features == PADDING, config.pad_token_id, config.mask_token_id)
    ids = jnp.where(keep, token_ids[:, None], hidden[:, None])
  return ids.T.astype(jnp.int32)


def fit_text(
    kept: jax.Array, outputs: jax.Array, num_words: jax.Array, kernel_width, config: TextConfig
):
  """Kernel weights, label choice and surrogate fit of one text.

  Args:
    kept: [D_pad, S] bool samples (column 0 the text).
    outputs: [S, C] model outputs.
    num_words: [] int, the text's D.
    kernel_width: scalar (traced).
    config: static options.

  Returns:
    The `surrogate.Surrogate` over D_pad features (padding features never selected), with the
    [L] explained labels and the [C] prediction.
  """
  z = kept.astype(outputs.dtype)
  return surrogate.fit_local(
      z,
      outputs,
      kernels.cosine_distances_columns(z) * DISTANCE_SCALE,
      kernel_width,
      kernel=config.kernel,
      labels=config.labels,
      top_labels=config.top_labels,
      num_features=config.num_features,
      feature_selection=config.feature_selection,
      feature_mask=jnp.arange(z.shape[0]) < num_words,
  )


@functools.partial(jax.jit, static_argnames=("num_dims", "num_samples"))
def sample_masks(
    keys: jax.Array, num_words: jax.Array, *, num_dims: int, num_samples: int
) -> jax.Array:
  """`sample_kept` for B texts: keys [B], num_words [B] -> kept [B, D_pad, S] bool."""
  sample = functools.partial(sample_kept, num_dims=num_dims, num_samples=num_samples)
  return jax.vmap(sample)(keys, num_words)


@functools.partial(jax.jit, static_argnames=("config",))
def fit_masks(
    kept: jax.Array, outputs: jax.Array, num_words: jax.Array, kernel_width, *, config: TextConfig
):
  """`fit_text` for B texts whose model outputs were computed elsewhere (the string path).

  Args:
    kept: [B, D_pad, S] bool.
    outputs: [B, S, C] float model outputs.
    num_words: [B] int.
    kernel_width: scalar.
    config: static options.

  Returns:
    The stacked `Surrogate`s of the B texts.
  """
  return jax.vmap(fit_text, in_axes=(0, 0, 0, None, None))(
      kept, outputs, num_words, kernel_width, config
  )


@functools.partial(jax.jit, static_argnames=("num_dims", "config", "apply", "dtype"))
def explain_tokens(
    params: Any,
    token_ids: jax.Array,
    token_features: jax.Array,
    num_words: jax.Array,
    keys: jax.Array,
    kernel_width,
    *,
    num_dims: int,
    config: TextConfig,
    apply: Callable,
    dtype,
):
  """Explains N tokenised texts in blocks: sampling, model, weights and fit in one program.

  Args:
    params: the model's parameters (a pytree of arrays, or None).
    token_ids: [N, T] int32, N a multiple of config.block_size.
    token_features: [N, T] int32 feature of each token (see `token_rows`).
    num_words: [N] int32, each text's D.
    keys: [N] PRNG keys, one per text.
    kernel_width: scalar, traced.
    num_dims: D_pad >= every num_words (static).
    config: static options.
    apply: apply(params, ids [R, T] int32) -> [R, C].
    dtype: float dtype of the samples and the fit.

  Returns:
    The stacked `Surrogate`s of the N texts over D_pad features.
  """
  num_texts, num_tokens = token_ids.shape
  block = config.block_size
  blocks = jax.tree.map(
      lambda a: a.reshape((num_texts // block, block) + a.shape[1:]),
      (token_ids, token_features, num_words, keys),
  )

  def run_block(args):
    ids, features, words, block_keys = args
    kept = jax.vmap(
        functools.partial(sample_kept, num_dims=num_dims, num_samples=config.num_samples)
    )(block_keys, words)
    rows = jax.vmap(token_rows, in_axes=(0, 0, 0, None))(kept, ids, features, config)
    outputs = models.evaluate_model(
        apply, params, rows.reshape(-1, num_tokens), chunk_size=config.chunk_size
    ).astype(dtype)
    outputs = outputs.reshape(block, config.num_samples, -1)
    return jax.vmap(fit_text, in_axes=(0, 0, 0, None, None))(
        kept, outputs, words, kernel_width, config
    )

  results = jax.lax.map(run_block, blocks)
  return jax.tree.map(lambda leaf: leaf.reshape((num_texts,) + leaf.shape[2:]), results)


class TokenizedText(NamedTuple):
  """One tokenised text (leading [N] axes for a batch, as `TextExplainer.tokenize` returns)."""

  token_ids: jax.Array  # [T] int32 token ids, padded with the pad token id.
  token_features: jax.Array  # [T] int32 feature of each token, NO_WORD or PADDING (see token_rows).
  num_words: jax.Array  # [] int32, the text's number of features D.


def explain_instance(
    params: Any,
    text: TokenizedText,
    key: jax.Array,
    *,
    kernel_width,
    num_dims: int,
    config: TextConfig,
    apply: Callable,
    dtype,
) -> surrogate.Surrogate:
  """lime's explanation of ONE tokenised text: the function `TextExplainer.explain_fn` returns.

  The same steps as a block of `explain_tokens`, for one text: which words each sample keeps,
  the token rows, the model on them (in chunks), the kernel weights and the fit.

  Args:
    params: the model's parameters (a pytree of arrays, or None).
    text: the tokenised text.
    key: its PRNG key.
    kernel_width: scalar, may be traced.
    num_dims: D_pad >= the text's D (static).
    config: static options (block_size is not used).
    apply: apply(params, ids [R, T] int32) -> [R, C].
    dtype: float dtype of the samples and the fit.

  Returns:
    A `Surrogate` with coef [L, D_pad], labels [L] and prediction [C].
  """
  kept = sample_kept(key, text.num_words, num_dims=num_dims, num_samples=config.num_samples)
  rows = token_rows(kept, text.token_ids, text.token_features, config)
  outputs = models.evaluate_model(apply, params, rows, chunk_size=config.chunk_size)
  return fit_text(kept, outputs.astype(dtype), text.num_words, kernel_width, config)


def _round_text(kept, outputs, num_words, chosen, kernel_width, config: TextConfig, first: bool):
  """A round's sums for one text: kept [D_pad, S] bool, outputs [S, C] (see `fit_text`)."""
  del num_words  # Padding features are zero in every sample: the final fit masks them.
  z = kept.astype(outputs.dtype)
  distances = kernels.cosine_distances_columns(z) * DISTANCE_SCALE
  weights = kernels.kernel_weights(distances, kernel_width, config.kernel)
  return adaptive.instance_round(
      z,
      outputs,
      jnp.asarray(weights, z.dtype),
      chosen,
      labels=config.labels,
      top_labels=config.top_labels,
      first=first,
  )


@functools.partial(jax.jit, static_argnames=("config", "first"))
def round_masks(kept, outputs, num_words, labels, kernel_width, *, config: TextConfig, first: bool):
  """One `jaxlime.UntilStable` round of B texts whose outputs were computed elsewhere (the string
  path): kept [B, D_pad, S], outputs [B, S, C], num_words [B], labels [B, L] -> the stacked
  `adaptive.InstanceRound`s."""
  one = functools.partial(_round_text, config=config, first=first)
  return jax.vmap(one, in_axes=(0, 0, 0, 0, None))(kept, outputs, num_words, labels, kernel_width)


@functools.partial(jax.jit, static_argnames=("num_dims", "config", "apply", "dtype", "first"))
def explain_tokens_round(
    params: Any,
    token_ids: jax.Array,
    token_features: jax.Array,
    num_words: jax.Array,
    labels: jax.Array,
    keys: jax.Array,
    kernel_width,
    *,
    num_dims: int,
    config: TextConfig,
    apply: Callable,
    dtype,
    first: bool,
):
  """One `jaxlime.UntilStable` round of N tokenised texts: the samples `explain_tokens` draws
  from keys with config.num_samples samples, reduced to the ridge's sums.

  Args:
    labels: [N, L] int32 labels explained (chosen here when `first`).
    first: round 0 (chooses the labels; later rounds give their row 0 weight 0).
    The rest: as in `explain_tokens`.

  Returns:
    The stacked `adaptive.InstanceRound`s [N, ...] over D_pad features.
  """
  num_texts, num_tokens = token_ids.shape
  block = config.block_size
  blocks = jax.tree.map(
      lambda a: a.reshape((num_texts // block, block) + a.shape[1:]),
      (token_ids, token_features, num_words, keys, labels),
  )
  one = functools.partial(_round_text, config=config, first=first)

  def run_block(args):
    ids, features, words, block_keys, chosen = args
    kept = jax.vmap(
        functools.partial(sample_kept, num_dims=num_dims, num_samples=config.num_samples)
    )(block_keys, words)
    rows = jax.vmap(token_rows, in_axes=(0, 0, 0, None))(kept, ids, features, config)
    outputs = models.evaluate_model(
        apply, params, rows.reshape(-1, num_tokens), chunk_size=config.chunk_size
    ).astype(dtype)
    outputs = outputs.reshape(block, config.num_samples, -1)
    return jax.vmap(one, in_axes=(0, 0, 0, 0, None))(kept, outputs, words, chosen, kernel_width)

  results = jax.lax.map(run_block, blocks)
  return jax.tree.map(lambda leaf: leaf.reshape((num_texts,) + leaf.shape[2:]), results)
