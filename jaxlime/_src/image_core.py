"""Pure functional core of image LIME: superpixel masks, perturbed images and the batched explain.

lime's image sampling: every superpixel of an image is kept or hidden with probability 1/2
(sample 0 keeps them all); a hidden superpixel's pixels take a fill value, `hide_color` or the
superpixel's mean colour. The interpretable sample is the binary keep-mask over superpixels, its
distance to the image the cosine distance between masks.

Images of one batch may have different numbers of superpixels D_i; every array is padded to the
batch's largest D. Padding features never index a pixel, are constant 0 in the masks (so they
change no cosine distance), are never selected, and get coef and coef_std exactly 0.
"""

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxlime._src import adaptive
from jaxlime._src import kernels
from jaxlime._src import models
from jaxlime._src import surrogate

_BITS_PER_WORD = 32
# Mask words picked by a chain of selects when building images, above it by a gather (measured:
# the chain beat the gather up to 8 words, D = 256, and matched it at 16).
_MAX_SELECTED_WORDS = 8


@dataclasses.dataclass(frozen=True)
class ImageConfig:
  """Static options of one image explanation program (hashable: a jit cache key)."""

  num_samples: int  # S
  num_features: int  # K
  feature_selection: str
  labels: tuple[int, ...] | None  # explicit labels, or None with top_labels.
  top_labels: int | None  # already clipped to the model's C outputs.
  max_segments: int  # D, the largest number of superpixels of the batch.
  mean_fill: bool  # hidden superpixels take their mean colour (hide_color=None).
  block_size: int  # images per block; with more than one, the model sees a whole block at once.
  chunk_size: int  # the most model rows per call; below S, one image per block in chunks.
  kernel: Callable | None  # kernel(distances, kernel_width) -> weights; None for lime's.
  num_outputs: int | None = None  # C, the model's outputs.


def draw_masks(
    key: jax.Array, num_segments: jax.Array, *, max_segments: int, num_samples: int
) -> jax.Array:
  """lime's superpixel keep-masks for one image, column-major.

  Each superpixel is kept with probability 1/2 (one random bit per superpixel and sample, as
  lime's `randint(0, 2)`), sample 0 keeps all. Superpixel d draws its bits from
  `fold_in(key, d)`, so the masks of an image do not depend on the padding D of its batch.

  Args:
    key: the image's PRNG key.
    num_segments: [] int, D_i; rows d >= D_i are padding, constant 0.
    max_segments: D.
    num_samples: S.

  Returns:
    [D, S] bool masks, column 0 the image itself.
  """
  num_words = -(-num_samples // _BITS_PER_WORD)

  def row_bits(index):
    return jax.random.bits(jax.random.fold_in(key, index), (num_words,), jnp.uint32)

  words = jax.vmap(row_bits)(jnp.arange(max_segments))  # [D, W]
  shifts = jnp.arange(_BITS_PER_WORD, dtype=jnp.uint32)
  bits = (words[:, :, None] >> shifts) & 1  # [D, W, 32]
  bits = bits.reshape(max_segments, num_words * _BITS_PER_WORD)[:, :num_samples] == 1
  is_image = jax.lax.broadcasted_iota(jnp.int32, bits.shape, 1) == 0
  valid = jnp.arange(max_segments) < num_segments
  return (bits | is_image) & valid[:, None]


def fill_image(
    image: jax.Array,
    segments: jax.Array,
    hide_color: jax.Array,
    *,
    max_segments: int,
    mean_fill: bool,
) -> jax.Array:
  """The values hidden pixels take, as lime's `fudged_image`.

  Args:
    image: [H, W, C].
    segments: [H, W] int labels 0..D_i - 1.
    hide_color: broadcastable to [H, W, C], used unless mean_fill.
    max_segments: D.
    mean_fill: each pixel takes the mean colour of its superpixel, per channel (lime's
      hide_color=None), cast to the image's dtype as lime's assignment into a copy of the image
      does (an integer image gets truncated means).

  Returns:
    [H, W, C] in the image's dtype.
  """
  if not mean_fill:
    return jnp.broadcast_to(jnp.asarray(hide_color, image.dtype), image.shape)
  accumulate = jnp.promote_types(image.dtype, jnp.float32)
  flat_segments = segments.reshape(-1)
  pixels = image.reshape(flat_segments.shape[0], -1).astype(accumulate)
  sums = jax.ops.segment_sum(pixels, flat_segments, num_segments=max_segments)
  counts = jax.ops.segment_sum(
      jnp.ones_like(flat_segments, accumulate), flat_segments, num_segments=max_segments
  )
  means = sums / jnp.maximum(counts, 1)[:, None]  # [D, C]
  return means[segments].astype(image.dtype)


def pack_masks(masks: jax.Array) -> jax.Array:
  """Packs keep-masks [R, D] bool into [R, W] uint32 words, W = ceil(D / 32), bit d % 32 of
  word d // 32 for superpixel d."""
  num_rows, num_segments = masks.shape
  num_words = -(-num_segments // _BITS_PER_WORD)
  padded = jnp.pad(masks, ((0, 0), (0, num_words * _BITS_PER_WORD - num_segments)))
  bits = padded.reshape(num_rows, num_words, _BITS_PER_WORD).astype(jnp.uint32)
  shifts = jnp.arange(_BITS_PER_WORD, dtype=jnp.uint32)
  return jnp.sum(bits << shifts, axis=-1, dtype=jnp.uint32)


def perturb(words: jax.Array, image: jax.Array, segments: jax.Array, fill: jax.Array) -> jax.Array:
  """Perturbed images from packed keep-masks, through the segment map.

  Every output element (sample r, pixel p, channel c) reads bit segments[p] of sample r's mask
  words: with at most _MAX_SELECTED_WORDS words (D <= 256) the word is picked by a chain of
  selects, elementwise, else by a gather. Both run over [R, H * W * C] directly: on CPU, a
  per-pixel keep-mask broadcast over the channels (a minor dimension of 3) vectorised so poorly
  that building the images cost twice the model (a linear read-out); this costs half of it.

  Args:
    words: [R, W] uint32 masks from `pack_masks`, one row per sample.
    image, fill: [H, W, C].
    segments: [H, W] int labels 0..D - 1.

  Returns:
    [R, H, W, C]: the image where the pixel's superpixel is kept, fill elsewhere.
  """
  num_rows, num_words = words.shape
  labels = jnp.broadcast_to(segments[..., None], image.shape).reshape(1, -1).astype(jnp.int32)
  word_index = labels >> 5
  bit = (labels & (_BITS_PER_WORD - 1)).astype(jnp.uint32)
  if num_words <= _MAX_SELECTED_WORDS:
    word = jnp.broadcast_to(words[:, :1], (num_rows, labels.shape[1]))
    for index in range(1, num_words):
      word = jnp.where(word_index == index, words[:, index : index + 1], word)
  else:
    rows = jnp.arange(num_rows, dtype=jnp.int32)[:, None] * num_words
    word = words.reshape(-1).at[rows + word_index].get(mode="promise_in_bounds")
  keep = ((word >> bit) & 1) == 1
  perturbed = jnp.where(keep, image.reshape(1, -1), fill.reshape(1, -1))
  return perturbed.reshape((num_rows,) + image.shape)


def _fit_image(z, outputs, num_segments, kernel_width, config: ImageConfig):
  """Weights, labels and surrogate of one image: z [D, S] float, outputs [S, C]."""
  return surrogate.fit_local(
      z,
      outputs,
      kernels.cosine_distances_columns(z),
      kernel_width,
      kernel=config.kernel,
      labels=config.labels,
      top_labels=config.top_labels,
      num_features=config.num_features,
      feature_selection=config.feature_selection,
      feature_mask=jnp.arange(z.shape[0]) < num_segments,
  )


def chunk_starts(num_samples: int, max_rows: int) -> tuple[int, tuple[int, ...]]:
  """Equal chunks covering S samples with at most max_rows rows each.

  Returns:
    (chunk, starts): ceil(S / n) rows per chunk for n = ceil(S / max_rows) chunks; the last
    chunk starts at S - chunk, overlapping its predecessor by at most n - 1 rows, so that the
    model always sees the same batch shape (one compiled model) and no sample is padded.
  """
  num_chunks = -(-num_samples // max_rows)
  chunk = -(-num_samples // num_chunks)
  return chunk, tuple(min(i * chunk, num_samples - chunk) for i in range(num_chunks))


def _outputs_in_chunks(params, rows, image, segments, fill, config: ImageConfig, apply):
  """Model outputs [S, C] on one image's S perturbations, built and evaluated chunk by chunk.

  Only one chunk of at most config.chunk_size perturbed images exists at a time.

  Args:
    rows: [S, W] uint32 packed masks (`pack_masks`), one row per sample.
  """
  num_samples = rows.shape[0]
  chunk, starts = chunk_starts(num_samples, config.chunk_size)

  def evaluate(start):
    masks = jax.lax.dynamic_slice_in_dim(rows, start, chunk)
    return models.call_model(apply, params, perturb(masks, image, segments, fill))

  outputs = jax.lax.map(evaluate, jnp.asarray(starts, jnp.int32))  # [n, chunk, C]
  head = outputs[:-1].reshape((-1,) + outputs.shape[2:])
  return jnp.concatenate([head, outputs[-1, head.shape[0] - starts[-1] :]])


def _explain_block(
    params,
    images,
    segments,
    num_segments,
    keys,
    hide_color,
    kernel_width,
    config: ImageConfig,
    apply,
):
  """Explains a block of B images: images [B, H, W, C], segments [B, H, W], num_segments [B]."""
  masks, outputs = _sample_block(
      params, images, segments, num_segments, keys, hide_color, kernel_width, config, apply
  )
  return jax.vmap(_fit_image, in_axes=(0, 0, 0, None, None))(
      masks, outputs, num_segments, kernel_width, config
  )


def _sample_block(
    params, images, segments, num_segments, keys, hide_color, kernel_width, config, apply
):
  """Keep-masks z [B, D, S] (float) and model outputs [B, S, C] of a block of B images."""
  dtype = jnp.promote_types(jnp.float32, kernel_width.dtype)
  block = images.shape[0]

  def draw_one(carry, args):
    key, count, image, labels = args
    masks = draw_masks(key, count, max_segments=config.max_segments, num_samples=config.num_samples)
    fill = fill_image(
        image, labels, hide_color, max_segments=config.max_segments, mean_fill=config.mean_fill
    )
    return carry, (masks, pack_masks(masks.T), fill)

  # A scan, not a vmap: its outputs are materialised. XLA's CPU backend would otherwise fuse the
  # PRNG into every consumer of the masks and rerun it per use, down to once per pixel of every
  # perturbed image. A loop of one step is inlined, so a block of one image is drawn twice.
  inputs = (keys, num_segments, images, segments)
  if block == 1:
    inputs = jax.tree.map(lambda leaf: jnp.concatenate([leaf, leaf]), inputs)
  _, (masks, rows, fills) = jax.lax.scan(draw_one, None, inputs)
  masks, rows, fills = masks[:block], rows[:block], fills[:block]
  if config.chunk_size < config.num_samples:
    outputs = _outputs_in_chunks(params, rows[0], images[0], segments[0], fills[0], config, apply)[
        None
    ]
  else:
    perturbed = jax.vmap(perturb)(rows, images, segments, fills)
    flat = perturbed.reshape((-1,) + perturbed.shape[2:])
    outputs = models.call_model(apply, params, flat)
    outputs = outputs.reshape(rows.shape[:2] + outputs.shape[1:])
  return masks.astype(dtype), outputs.astype(dtype)


def explain_instance(
    params: Any,
    image: jax.Array,
    key: jax.Array,
    segments: jax.Array,
    *,
    hide_color,
    kernel_width,
    config: ImageConfig,
    apply: Callable,
) -> surrogate.Surrogate:
  """lime's explanation of ONE image: the function `ImageExplainer.explain_fn` returns.

  The same steps as a block of `explain_images`, for one image: keep-masks from `key`, the
  perturbed images (built and evaluated chunk by chunk), cosine-distance weights and the fit.

  Args:
    params: the model's parameters (a pytree of arrays, or None).
    image: [H, W, C].
    key: its PRNG key.
    segments: [H, W] int superpixel labels 0..D_i - 1, D_i <= config.max_segments.
    hide_color: broadcastable to [H, W, C] (ignored with config.mean_fill).
    kernel_width: scalar, may be traced.
    config: static options (block_size is not used).
    apply: apply(params, images [R, H, W, C]) -> [R, C] probabilities.

  Returns:
    A `Surrogate` with coef [L, D] over config.max_segments features, labels [L] and
    prediction [C].
  """
  segments = jnp.asarray(segments, jnp.int32)
  num_segments = jnp.max(segments) + 1
  config = dataclasses.replace(
      config, block_size=1, chunk_size=min(config.chunk_size, config.num_samples)
  )
  fit = _explain_block(
      params,
      image[None],
      segments[None],
      num_segments[None],
      key[None],
      jnp.asarray(hide_color),
      jnp.asarray(kernel_width),
      config,
      apply,
  )
  return jax.tree.map(lambda leaf: leaf[0], fit)


@functools.partial(jax.jit, static_argnames=("config", "apply"))
def explain_images(
    params: Any,
    images: jax.Array,
    segments: jax.Array,
    num_segments: jax.Array,
    keys: jax.Array,
    hide_color: jax.Array,
    kernel_width: jax.Array,
    *,
    config: ImageConfig,
    apply: Callable,
) -> surrogate.Surrogate:
  """Explains N images in blocks; the jitted program behind `ImageExplainer`.

  Image i draws its masks from keys[i] alone, so its explanation does not depend on the batch,
  the block or the chunk it is computed in.

  Args:
    params: the model's parameters (a pytree of arrays, or None).
    images: [N, H, W, C] with N a multiple of config.block_size.
    segments: [N, H, W] int32 superpixel labels 0..D_i - 1.
    num_segments: [N] int32, D_i.
    keys: [N] PRNG keys, one per image.
    hide_color: broadcastable to [H, W, C] (ignored with config.mean_fill).
    kernel_width: scalar float, traced.
    config: static options.
    apply: apply(params, images [R, H, W, C]) -> [R, C] probabilities.

  Returns:
    The stacked `Surrogate`s of the N images (coef [N, L, D]).
  """
  num_images = images.shape[0]
  block = config.block_size

  def blocked(leaf):
    return leaf.reshape((num_images // block, block) + leaf.shape[1:])

  def run_block(args):
    if block == 1:
      args = jax.tree.map(lambda leaf: leaf[None], args)
    return _explain_block(params, *args, hide_color, kernel_width, config, apply)

  # With one image per block the arrays are mapped over as they are: a [N, 1, ...] view of them
  # got a layout of its own, and XLA copied the images to make it.
  inputs = (images, segments, num_segments, keys)
  if block > 1:
    inputs = jax.tree.map(blocked, inputs)
  fit = jax.lax.map(run_block, inputs)
  return jax.tree.map(lambda leaf: leaf.reshape((num_images,) + leaf.shape[2:]), fit)


@functools.partial(jax.jit, static_argnames=("config", "apply", "first"))
def explain_round(
    params: Any,
    images: jax.Array,
    segments: jax.Array,
    num_segments: jax.Array,
    labels: jax.Array,
    keys: jax.Array,
    hide_color: jax.Array,
    kernel_width: jax.Array,
    *,
    config: ImageConfig,
    apply: Callable,
    first: bool,
) -> adaptive.InstanceRound:
  """One round of `jaxlime.UntilStable` for N images: their samples reduced to the ridge's sums.

  The samples of image i are those `explain_images` draws from keys[i] with config.num_samples
  samples; they are weighted and summed (`adaptive.instance_round`), not fitted.

  Args:
    images, segments, num_segments, keys, hide_color, kernel_width, config, apply: as in
      `explain_images`.
    labels: [N, L] int32 labels explained (chosen here when `first`).
    first: round 0 (chooses the labels; later rounds give their row 0 weight 0).

  Returns:
    The stacked `adaptive.InstanceRound`s [N, ...] over config.max_segments features.
  """
  num_images = images.shape[0]
  block = config.block_size
  round_one = functools.partial(
      adaptive.instance_round, labels=config.labels, top_labels=config.top_labels, first=first
  )

  def run_block(args):
    image_block, segment_block, count_block, key_block, label_block = args
    masks, outputs = _sample_block(
        params,
        image_block,
        segment_block,
        count_block,
        key_block,
        hide_color,
        kernel_width,
        config,
        apply,
    )

    def one(z, outputs, chosen):
      distances = kernels.cosine_distances_columns(z)
      weights = kernels.kernel_weights(distances, kernel_width, config.kernel)
      return round_one(z, outputs, weights, chosen)

    return jax.vmap(one)(masks, outputs, label_block)

  inputs = (images, segments, num_segments, keys, labels)
  inputs = jax.tree.map(
      lambda leaf: leaf.reshape((num_images // block, block) + leaf.shape[1:]), inputs
  )
  fit = jax.lax.map(run_block, inputs)
  return jax.tree.map(lambda leaf: leaf.reshape((num_images,) + leaf.shape[2:]), fit)
