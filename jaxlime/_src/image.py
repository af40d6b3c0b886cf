"""`ImageExplainer`: lime's `LimeImageExplainer` for N images in one jitted computation.

Where it differs from lime 0.2.0.1, on purpose:
* Segment ids are relabelled to 0..D_i - 1 in increasing order. lime takes feature j to be the
  pixels whose label is j, so a segmentation whose ids do not run 0..D - 1 (e.g. scikit-image's
  slic, which starts at 1) silently breaks its masks.
* The mean-colour fill works for any number of channels (lime's is written for exactly 3).
* top_labels larger than the number of classes gives all classes, as lime's slicing does; ties
  between equal outputs are ordered by class id as lime's argsort does on small arrays.
* An unexplained label in `get_image_and_mask` raises a ValueError naming the explained labels
  (lime: KeyError('Label not in explanation')).
* Randomness comes from `jax.random` (lime: numpy's RandomState), so samples, and hence the
  explanations, agree with lime's in distribution, not draw by draw.
"""

import dataclasses
import functools
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import adaptive
from jaxlime._src import checks
from jaxlime._src import image_core
from jaxlime._src import segmentation as segmentation_lib
from jaxlime._src import streaming
from jaxlime._src import surrogate
from jaxlime._src.explanation import Explanation
from jaxlime._src.explanation import ValueDomain

# Model-input elements per model call when batch_size is not given: 512K, 2 MB of float32 (42
# images of 64 x 64 x 3, 3 of 224 x 224 x 3). A chunk this small stays in the CPU's caches from
# its building to the model reading it: on 64 x 64 x 3 images this measured fastest (CPU time)
# for a small CNN and for a linear read-out; chunks of 500 images took 1.4x and 1.9x as long.
_DEFAULT_CHUNK_ELEMENTS = 2**19
# Image bytes per jitted call when instances_per_call is not given: 106 images of 224 x 224 x 3
# float32, enough for a progress bar to move about once a second with a small CNN.
_CALL_BYTES = 64 * 2**20
# When superpixels are computed call by call, the program's superpixel count D is rounded up to
# a multiple of this, so a call with a few more superpixels than the last rarely recompiles.
_SEGMENT_MULTIPLE = 16


@dataclasses.dataclass(frozen=True, eq=False)
class ImageDomain(ValueDomain):
  """Host-side names of superpixel features, to read image explanations as lime does."""

  mode: str
  class_names: tuple[str, ...] | None

  def feature_names(self, explanation: Explanation, index: int) -> list[str]:
    """ "superpixel j" for each of the D (padded) superpixel features of image `index`."""
    return [f"superpixel {j}" for j in range(np.shape(explanation.coef)[-1])]

  def instance_panel(self, explanation: Explanation, index: int, weights) -> str:
    """The image with its explained superpixels tinted by their weight, as an inline PNG."""
    from jaxlime._src import html as html_lib

    return html_lib.image_panel(
        "Superpixels",
        html_lib.tinted_image(explanation.instances[index], explanation.segments[index], weights),
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ImageExplanation(Explanation):
  """Explanations of N images over their superpixels: an `Explanation` with the segment maps.

  Feature j of image i is the superpixel `segments[i] == j`. Images with fewer superpixels D_i
  than the batch's largest D have padding features j >= D_i: coef 0, selected False.
  """

  segments: jax.Array = None  # [N, H, W] int32 superpixel labels 0..D_i - 1.

  def get_image_and_mask(
      self,
      index: int,
      label: int,
      positive_only: bool = True,
      negative_only: bool = False,
      hide_rest: bool = False,
      num_features: int = 5,
      min_weight: float = 0.0,
  ) -> tuple[np.ndarray, np.ndarray]:
    """lime's `ImageExplanation.get_image_and_mask` for image `index`.

    Args:
      index: the image.
      label: the class to explain.
      positive_only: only superpixels with weight > max(0, min_weight).
      negative_only: only superpixels with weight < 0 and |weight| > min_weight.
      hide_rest: the returned image is zero outside the chosen superpixels.
      num_features: the largest number of superpixels chosen, by decreasing |weight|.
      min_weight: the smallest |weight| chosen.

    Returns:
      (image [H, W, C], mask [H, W]): with positive_only or negative_only, the image (zero
      outside the chosen superpixels when hide_rest) and a mask that is 1 on them; otherwise
      the chosen superpixels get mask 1 (positive weight) or -1 (negative), and in the image
      their channel 1 (positive) or 0 (negative) set to the image's maximum, as lime draws them.
    """
    if positive_only and negative_only:
      raise ValueError("positive_only and negative_only cannot both be True.")
    index = self._check_index(index)
    return image_and_mask(
        np.asarray(self.instances[index]),
        np.asarray(self.segments[index]),
        self._weights(index, label),
        positive_only=positive_only,
        negative_only=negative_only,
        hide_rest=hide_rest,
        num_features=num_features,
        min_weight=min_weight,
    )

  def coefficient_map(self, index: int, label: int) -> np.ndarray:
    """[H, W] float: each pixel's superpixel coefficient for `label` (0 where not selected)."""
    index = self._check_index(index)
    column, _ = self._label_column(index, label)
    coef = np.asarray(self.coef[index, column])
    return coef[np.asarray(self.segments[index])]

  def image_figure(
      self,
      indices: Sequence[int] | None = None,
      label: int | None = None,
      num_features: int = 5,
      positive_only: bool = True,
      negative_only: bool = False,
      min_weight: float = 0.0,
      figsize=None,
  ):
    """Images with their chosen superpixels' boundaries above coefficient heat-maps, side by side.

    See `jaxlime._src.image_plots.explanation_figure` (needs matplotlib: the `plot` extra).
    """
    from jaxlime._src import image_plots

    return image_plots.explanation_figure(
        self,
        indices,
        label=label,
        num_features=num_features,
        positive_only=positive_only,
        negative_only=negative_only,
        min_weight=min_weight,
        figsize=figsize,
    )


def image_and_mask(
    image: np.ndarray,
    segments: np.ndarray,
    weights: Sequence[tuple[int, float]],
    *,
    positive_only: bool = True,
    negative_only: bool = False,
    hide_rest: bool = False,
    num_features: int = 5,
    min_weight: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
  """lime's `get_image_and_mask` for one image (see `ImageExplanation.get_image_and_mask`).

  Args:
    image: [H, W, C].
    segments: [H, W] superpixel labels; feature j is `segments == j`.
    weights: [(feature, weight)] sorted by decreasing |weight| (lime's local_exp[label]).
    positive_only, negative_only, hide_rest, num_features, min_weight: lime's options.

  Returns:
    (image [H, W, C], mask [H, W]) as lime draws them.
  """
  mask = np.zeros(segments.shape, segments.dtype)
  result = np.zeros(image.shape) if hide_rest else image.copy()
  if positive_only or negative_only:
    if positive_only:
      chosen = [f for f, w in weights if w > 0 and w > min_weight][:num_features]
    else:
      chosen = [f for f, w in weights if w < 0 and abs(w) > min_weight][:num_features]
    for feature in chosen:
      where = segments == feature
      result[where] = image[where]
      mask[where] = 1
    return result, mask
  for feature, weight in weights[:num_features]:
    if abs(weight) < min_weight:
      continue
    where = segments == feature
    mask[where] = -1 if weight < 0 else 1
    result[where] = image[where]
    result[where, 0 if weight < 0 else 1] = np.max(image)
  return result, mask


class ImageExplainer:
  """Explains image classifiers, as lime's `LimeImageExplainer`, for N images at once.

  The interpretable features of an image are its superpixels. Each perturbation keeps every
  superpixel with probability 1/2 and fills hidden ones with `hide_color` or their mean colour;
  each explanation fits a weighted ridge surrogate (kernel on the cosine distance between keep
  masks) to the model's outputs on the perturbed images. See `explain`.

  Args:
    kernel_width: kernel width (lime's default 0.25).
    kernel: kernel(distances, kernel_width) -> weights, written with jax.numpy; defaults to
      `jaxlime.exponential_kernel`.
    feature_selection: "auto", "none", "highest_weights", "forward_selection", "lasso_path".
    class_names: names of the C classes; defaults to "0", "1", ...
  """

  def __init__(
      self,
      kernel_width: float = 0.25,
      kernel: Callable | None = None,
      feature_selection: str = "auto",
      *,
      class_names: Sequence[str] | None = None,
  ):
    checks.check_option("feature_selection", feature_selection, surrogate.FEATURE_SELECTION_METHODS)
    if kernel is not None and not callable(kernel):
      raise TypeError(f"kernel must be a callable kernel(distances, kernel_width); got {kernel!r}.")
    self.kernel_width = float(kernel_width)
    if not self.kernel_width > 0:
      raise ValueError(f"kernel_width must be > 0; got {kernel_width}.")
    self.kernel = kernel
    self.feature_selection = feature_selection
    self.class_names = None if class_names is None else tuple(str(c) for c in class_names)

  def explain(
      self,
      images,
      model,
      *,
      key=0,
      segments=None,
      segmentation_fn: str | Callable = "quickshift",
      hide_color=None,
      num_samples: int = 1000,
      num_features: int = 100000,
      labels: Sequence[int] = (1,),
      top_labels: int | None = 5,
      batch_size: int | None = None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> ImageExplanation:
    """Explains the model's predictions on N images, in one jitted program per call.

    Image i draws its masks from `fold_in(key, i)` (or its own key), i its global index: its
    explanation does not depend on the batch, `batch_size`, `instances_per_call`, the mesh or
    the processes, and `jax.vmap(self.explain_fn(model, num_segments=D, ...))(images,
    jaxlime.instance_keys(key, N), relabelled_segments)` computes the same explanations.
    Segmentation runs on the host, call by call while the devices work on the previous call;
    with `segments` given, `explain` can be traced (e.g. differentiated with respect to the
    images or the model's parameters), and is then one call.

    Each call holds `instances_per_call` images (the last call padded, so the program compiles
    once) and processes them in blocks, so memory depends on the call, not on N. When
    superpixels are computed here, the program's superpixel count is the largest seen so far
    rounded up to a multiple of 16: a later call with more superpixels compiles once more.

    Args:
      images: [N, H, W, C] images, passed to the model in their own dtype.
      model: [B, H, W, C] -> [B, C] class probabilities: a jittable function, a Flax NNX module,
        `functools.partial(linen_module.apply, variables)`, or `jaxlime.host_model(fn)` for
        numpy classifiers (lime's classifier_fn).
      key: an int seed or a `jax.random.key` (image i then draws from `fold_in(key, i)`), or N
        keys, one per image.
      segments: [N, H, W] (or one [H, W] map for all images) integer superpixel labels; any
        ids, relabelled to 0..D_i - 1 per image in increasing order. None: computed with
        segmentation_fn.
      segmentation_fn: a callable image [H, W, C] -> labels [H, W], a
        `jaxlime.SegmentationAlgorithm`, or a name: "quickshift" (lime's default, kernel_size=4,
        max_dist=200, ratio=0.2), "slic", "felzenszwalb" (scikit-image's defaults; these three
        need the `segmentation` extra) or "grid" (8 x 8 cells).
      hide_color: the value of hidden pixels, a scalar or one per channel [C] (cast to the
        images' dtype); None: each superpixel's mean colour, per channel.
      num_samples: S, perturbations per image (sample 0 is the image itself).
      num_features: K, the largest number of superpixels in each explanation.
      labels: class ids to explain, used when top_labels is None or 0.
      top_labels: explain the K classes of highest predicted probability (at most C).
      batch_size: the largest number of perturbed images the model sees at once; bounds memory
        (default: about 512K input elements, 2 MB of float32).
      progress, mesh, axis, instances_per_call, process_local: how the work runs (see
        `jaxlime.RunOptions`; default instances per call: about 64 MB of images).

    Returns:
      An `ImageExplanation` with coef [N, L, D] over the batch's largest superpixel count D and
      segments [N, H, W]. Images with fewer superpixels D_i < D are padded with features
      j >= D_i that stand for no pixel, never vary and never enter the surrogate: their coef
      and coef_std are exactly 0 and selected is False; the rest equals the explanation of the
      image alone (with its own key).
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    options = dict(
        segments=segments,
        segmentation_fn=segmentation_fn,
        hide_color=hide_color,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
    )
    if adaptive.is_adaptive(num_samples):
      job, placement = self._adaptive_job(images, model, run, num_samples, **options)
      return adaptive.explain_all(job, num_samples, key, run, placement)
    job, placement = self._job(images, model, run, num_samples=num_samples, **options)
    return streaming.explain_all(job, key, run, placement)

  def explain_iter(
      self,
      images,
      model,
      *,
      key=0,
      segments=None,
      segmentation_fn: str | Callable = "quickshift",
      hide_color=None,
      num_samples: int = 1000,
      num_features: int = 100000,
      labels: Sequence[int] = (1,),
      top_labels: int | None = 5,
      batch_size: int | None = None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> Iterator[tuple[int, ImageExplanation]]:
    """`explain`, yielded call by call: (index of the first image, its ImageExplanation).

    For streaming many images to disk: each part is computed while the previous one is handed
    back (and the next call's images are segmented). A part's coef has D = its own largest
    superpixel count; otherwise the parts equal `explain`'s result. Arguments as in
    `explain`; images must hold concrete values.
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    options = dict(
        segments=segments,
        segmentation_fn=segmentation_fn,
        hide_color=hide_color,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
    )
    if adaptive.is_adaptive(num_samples):
      job, placement = self._adaptive_job(images, model, run, num_samples, **options)
      yield from adaptive.explain_parts(job, num_samples, key, run, placement)
      return
    job, placement = self._job(images, model, run, num_samples=num_samples, **options)
    yield from streaming.explain_parts(job, key, run, placement)

  def explain_fn(
      self,
      model,
      *,
      num_segments: int,
      image_shape: Sequence[int],
      image_dtype=jnp.float32,
      hide_color=None,
      num_samples: int = 1000,
      num_features: int = 100000,
      labels: Sequence[int] = (1,),
      top_labels: int | None = 5,
      batch_size: int | None = None,
  ) -> Callable[[jax.Array, jax.Array, jax.Array], surrogate.Surrogate]:
    """The per-image explanation under `explain`: a pure `fn(image, key, segments)`.

    `fn` explains ONE image [H, W, C] given its superpixels `segments` [H, W] (int labels
    0..D_i - 1 with D_i <= num_segments, e.g. `explanation.segments[i]`). It is jittable,
    vmappable and differentiable wherever the model is. With the same options,
    `jax.vmap(fn)(images, jaxlime.instance_keys(key, N), exp.segments)` gives the coefficients
    of `explain(images, model, key=key, segments=exp.segments)`.

    Args:
      model, hide_color, num_samples, num_features, labels, top_labels, batch_size: as in
        `explain`.
      num_segments: D, the number of superpixel features (at least every image's D_i).
      image_shape: (H, W, C) of the images.
      image_dtype: their dtype.

    Returns:
      fn(image, key, segments) -> `jaxlime.Surrogate` with coef [L, D], labels [L] and
      prediction [C].
    """
    if adaptive.is_adaptive(num_samples):
      raise adaptive.not_traced("explain_fn")
    image_shape = tuple(int(size) for size in image_shape)
    if len(image_shape) != 3:
      raise ValueError(f"image_shape must be (H, W, C); got {image_shape}.")
    num_segments = checks.positive_int("num_segments", num_segments, minimum=1)
    example = np.zeros(image_shape, image_dtype)
    adapter, config, _, hide = self._configure(
        model,
        example,
        None,
        hide_color=hide_color,
        num_samples=num_samples,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        batch_size=batch_size,
        num_segments=num_segments,
    )
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    return functools.partial(
        image_core.explain_instance,
        adapter.params,
        hide_color=hide,
        kernel_width=jnp.asarray(self.kernel_width, dtype),
        config=config,
        apply=adapter.apply,
    )

  def _adaptive_job(self, images, model, run, until, **options):
    return _adaptive_image_job(self, images, model, run, until, **options)

  def _configure(
      self,
      model,
      example,
      host_image,
      *,
      hide_color,
      num_samples,
      num_features,
      labels,
      top_labels,
      batch_size,
      num_segments,
  ):
    """The model adapter, the static options for blocks of one image (checked against the
    model), the largest block, and the hide colour as an array."""
    num_samples = checks.positive_int("num_samples", num_samples, minimum=2)
    num_features = checks.positive_int("num_features", num_features, minimum=1)
    adapter, num_outputs = checks.model_outputs(
        model, example.shape, example.dtype, "classification", example=host_image
    )
    if top_labels:
      top_labels = min(checks.positive_int("top_labels", top_labels, minimum=1), num_outputs)
      labels = None
    else:
      labels, top_labels = checks.labels_in_range(labels, num_outputs), None
    mean_fill = hide_color is None
    if mean_fill:
      hide = jnp.zeros((), example.dtype)
    else:
      hide = _as_hide_color(hide_color, example)
    max_block, chunk_size = plan_blocks(num_samples, int(np.prod(example.shape)), batch_size)
    config = image_core.ImageConfig(
        num_samples=num_samples,
        num_features=num_features,
        feature_selection=self.feature_selection,
        labels=labels,
        top_labels=top_labels,
        max_segments=num_segments,
        mean_fill=mean_fill,
        block_size=1,
        chunk_size=chunk_size,
        kernel=self.kernel,
        num_outputs=num_outputs,
    )
    return adapter, config, max_block, hide

  def _job(self, images, model, run: streaming.RunOptions, *, segments, segmentation_fn, **options):
    """Validates the arguments; returns the driver's job and the placement."""
    placement = streaming.placement_for(images, run)
    images = _as_images(images, placement)
    num_images, height, width, channels = images.shape
    concrete = checks.is_concrete(images)
    segments_computed = segments is None
    if segments_computed:
      if not concrete:
        raise ValueError(
            "segmentation runs on the host and needs concrete images; pass "
            "segments= to explain traced images."
        )
      segmentation_fn = segmentation_lib.as_segmentation_fn(segmentation_fn)
      largest = 0
    else:
      segments, num_segments = segmentation_lib.relabel(_check_segments(segments, images.shape))
      largest = int(num_segments.max())
    example = images[0] if concrete else jax.ShapeDtypeStruct(images.shape[1:], images.dtype)
    adapter, config, max_block, hide = self._configure(
        model,
        example,
        np.asarray(images[0]) if concrete else None,
        batch_size=run.batch_size,
        num_segments=largest,
        **options,
    )
    if segments_computed and not checks.is_concrete(adapter.params):
      raise ValueError(
          "segmentation runs on the host, call by call, which a traced model (e.g. "
          "under jax.grad) cannot join; pass segments= to explain it."
      )
    image_bytes = height * width * channels * np.dtype(images.dtype).itemsize
    default_per_call = max(1, min(streaming.DEFAULT_INSTANCES_PER_CALL, _CALL_BYTES // image_bytes))
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    kernel_width = jnp.asarray(self.kernel_width, dtype)
    stash = {}  # Computed segment maps of each call, by the index of its first image.
    # explain_images(params, images, segments, num_segments, keys, hide_color, kernel_width).
    split = (False, True, True, True, True, False, False)

    def call_for(block_size):
      block_config = dataclasses.replace(
          config, block_size=block_size, chunk_size=_chunk_for(config, block_size)
      )

      def call(images, segments, num_segments, keys):
        nonlocal block_config
        if segments_computed:  # The program's D grows in steps of _SEGMENT_MULTIPLE.
          widest = streaming.global_max(streaming.to_host(num_segments, placement), placement)
          if widest > block_config.max_segments:
            block_config = dataclasses.replace(
                block_config, max_segments=-(-widest // _SEGMENT_MULTIPLE) * _SEGMENT_MULTIPLE
            )
        program = streaming.split_over(
            image_core.explain_images, placement, split, config=block_config, apply=adapter.apply
        )
        return program(adapter.params, images, segments, num_segments, keys, hide, kernel_width)

      return call

    if segments_computed:

      def segment(start, images):
        part = segmentation_lib.relabel(
            segmentation_lib.segment_images(images, segmentation_fn, first_index=start)
        )
        stash[start] = part
        return part

      per_instance, prepare = (images,), segment
    else:
      per_instance, prepare = (images, segments, num_segments), None
    domain = ImageDomain(
        mode="classification",
        class_names=self.class_names or tuple(str(c) for c in range(config.num_outputs)),
    )

    def part_segments(start, count):
      if not segments_computed:
        return segments[start : start + count], num_segments[start : start + count]
      maps, counts, first = [], [], start
      while first < start + count:
        part_maps, part_counts = stash[first]
        maps.append(part_maps)
        counts.append(part_counts)
        first += len(part_counts)
      return np.concatenate(maps), np.concatenate(counts)

    def finish(fit, start):
      count = fit.coef.shape[0]
      maps, counts = part_segments(start, count)
      rows = images[start : start + count] if concrete else images
      if checks.is_concrete(fit):
        fit = _with_features(fit, int(counts.max()))
        fit, rows, maps = streaming.put((fit, rows, maps), placement)
      result = ImageExplanation.from_surrogate(fit, rows, domain=domain, segments=maps)
      checks.check_result(result, "classification")
      return result

    def join(parts):
      widest = max(part.coef.shape[-1] for part in parts)
      return streaming.concatenate([_with_features(part, widest) for part in parts])

    job = streaming.Job(
        per_instance=per_instance,
        call_for=call_for,
        finish=finish,
        max_block=max_block,
        prepare=prepare,
        default_per_call=default_per_call,
        join=join,
        traced=not checks.is_concrete(adapter.params),
        program=(
            "image",
            placement,
            config,
            adapter.apply,
            images.shape[1:],
            str(images.dtype),
            segments_computed,
        ),
    )
    return job, placement


def _adaptive_image_job(
    explainer, images, model, run, until, *, segments, segmentation_fn, **options
):
  """The adaptive driver's job for `num_samples=UntilStable(...)`, and the placement.

  Superpixels are computed once, for every image, before the rounds.
  """
  placement = streaming.placement_for(images, run)
  images = _as_images(images, placement)
  if not checks.is_concrete(images):
    raise adaptive.not_traced("explaining traced images")
  if segments is None:
    segmentation_fn = segmentation_lib.as_segmentation_fn(segmentation_fn)
    segments, num_segments = segmentation_lib.relabel(
        segmentation_lib.segment_images(images, segmentation_fn, first_index=0)
    )
  else:
    segments, num_segments = segmentation_lib.relabel(_check_segments(segments, images.shape))
  widest = int(num_segments.max())
  max_segments = -(-widest // _SEGMENT_MULTIPLE) * _SEGMENT_MULTIPLE
  adapter, config, _, hide = explainer._configure(
      model,
      images[0],
      np.asarray(images[0]),
      batch_size=run.batch_size,
      num_segments=max_segments,
      num_samples=until.initial,
      **options,
  )
  if not checks.is_concrete(adapter.params):
    raise adaptive.not_traced("explaining with traced model parameters")
  image_size = int(np.prod(images.shape[1:]))
  dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
  kernel_width = jnp.asarray(explainer.kernel_width, dtype)
  split = (False, True, True, True, True, True, False, False)

  def round_config(size, block_size=1):
    sized = dataclasses.replace(config, num_samples=size, block_size=block_size)
    _, chunk_size = plan_blocks(size, image_size, run.batch_size)
    sized = dataclasses.replace(sized, chunk_size=chunk_size)
    return dataclasses.replace(sized, chunk_size=_chunk_for(sized, block_size))

  def round_call_for(block_size, size, first):
    program = streaming.split_over(
        image_core.explain_round,
        placement,
        split,
        config=round_config(size, block_size),
        apply=adapter.apply,
        first=first,
    )
    return lambda rows, maps, counts, labels, keys: program(
        adapter.params, rows, maps, counts, labels, keys, hide, kernel_width
    )

  domain = ImageDomain(
      mode="classification",
      class_names=explainer.class_names or tuple(str(c) for c in range(config.num_outputs)),
  )

  def finish(fit, start):
    count = fit.coef.shape[0]
    maps = segments[start : start + count]
    fit = _with_features(fit, widest)
    fit, rows, maps = streaming.put((fit, images[start : start + count], maps), placement)
    result = ImageExplanation.from_surrogate(fit, rows, domain=domain, segments=maps)
    checks.check_result(result, "classification")
    return result

  num_labels = len(config.labels) if config.labels is not None else config.top_labels
  job = adaptive.AdaptiveJob(
      per_instance=(images, segments, num_segments),
      round_call_for=round_call_for,
      max_block_for=lambda size: plan_blocks(size, image_size, run.batch_size)[0],
      finish=finish,
      num_dims=max_segments,
      num_labels=num_labels,
      num_features=config.num_features,
      feature_selection=config.feature_selection,
      feature_mask=np.arange(max_segments)[None, :] < num_segments[:, None],
  )
  return job, placement


def _with_features(fit: surrogate.Surrogate, count: int) -> surrogate.Surrogate:
  """A host result with coef, selected and coef_std cut or zero-padded to `count` features.

  Padding features are zero and unselected, so this changes no explanation.
  """
  if fit.coef.shape[-1] == count:
    return fit

  def resize(leaf):
    leaf = np.asarray(leaf)[..., :count]
    return np.pad(leaf, [(0, 0)] * (leaf.ndim - 1) + [(0, count - leaf.shape[-1])])

  return fit._replace(
      coef=resize(fit.coef), selected=resize(fit.selected), coef_std=resize(fit.coef_std)
  )


def _as_images(images, placement: streaming.Placement):
  """[N, H, W, C] numeric images, dtype kept: a host numpy array (no copy of a numpy input,
  checked finite) when concrete, else the traced array."""
  if not isinstance(images, jax.Array):
    try:
      images = np.asarray(images)
    except (TypeError, ValueError) as error:
      raise TypeError(
          f"images must be a numeric [N, H, W, C] array; got " f"{type(images).__name__}."
      ) from error
  dtype = np.dtype(images.dtype)
  if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
    raise TypeError(f"images must be a numeric [N, H, W, C] array; got dtype {dtype}.")
  shape = tuple(images.shape)
  if len(shape) != 4:
    hint = ""
    if len(shape) == 3:
      hint = (
          " For a single image [H, W, C] pass images[None]; for grayscale images [N, H, W] "
          "pass images[..., None]."
      )
    elif len(shape) == 2:
      hint = " For a single grayscale image [H, W] pass images[None, :, :, None]."
    raise ValueError(f"images must have shape [N, H, W, C]; got {shape}.{hint}")
  if min(shape) < 1:
    raise ValueError(f"images must have shape [N, H, W, C] with every size >= 1; got {shape}.")
  if not checks.is_concrete(images):
    return images
  host = streaming.to_host(images, placement)
  if np.issubdtype(dtype, np.floating):
    bad = ~np.isfinite(host)
    if bad.any():
      where = tuple(np.argwhere(bad)[0].tolist())
      raise ValueError(
          f"images have {int(bad.sum())} NaN/inf pixels (first at index {where} "
          "of [N, H, W, C]); fix or drop those images before explaining."
      )
  return host


def _check_segments(segments, image_shape) -> np.ndarray:
  """Host [N, H, W] segment maps matching image_shape [N, H, W, C] (one [H, W] map is shared)."""
  if not checks.is_concrete(segments):
    raise ValueError(
        "segments must be concrete (host) arrays: they are relabelled on the host. "
        "Pass them as numpy arrays, outside jit."
    )
  segments = np.asarray(segments)
  num_images, height, width = image_shape[:3]
  if segments.shape == (height, width):
    segments = np.broadcast_to(segments, (num_images, height, width))
  if segments.shape != (num_images, height, width):
    raise ValueError(
        f"segments must have shape [N, H, W] = {(num_images, height, width)} (or "
        f"[H, W] = {(height, width)}) to match images {tuple(image_shape)}; got "
        f"{segments.shape}."
    )
  return segments


def _as_hide_color(hide_color, images) -> jax.Array:
  """hide_color as an array broadcastable to [H, W, C], in the images' dtype (`images`: one
  image or a batch, only its dtype and channels are read)."""
  if isinstance(hide_color, jax.Array):
    color = hide_color
  else:
    try:
      color = np.asarray(hide_color, np.float64)
    except (TypeError, ValueError) as error:
      raise TypeError(
          f"hide_color must be None, a number or one value per channel; got " f"{hide_color!r}."
      ) from error
  channels = images.shape[-1]
  if np.shape(color) not in ((), (1,), (channels,)):
    raise ValueError(
        f"hide_color must be a number or one value per channel, shape "
        f"({channels},); got shape {np.shape(color)}."
    )
  if checks.is_concrete(color) and not np.isfinite(np.asarray(color)).all():
    raise ValueError(f"hide_color must be finite; got {hide_color!r}.")
  if checks.is_concrete(color) and jnp.issubdtype(images.dtype, jnp.integer):
    bounds = np.iinfo(images.dtype)
    if np.any(np.asarray(color) < bounds.min) or np.any(np.asarray(color) > bounds.max):
      raise ValueError(
          f"hide_color must lie in {bounds.min}..{bounds.max}, the range of the images' dtype "
          f"{np.dtype(images.dtype).name}; got {hide_color!r} (lime raises on it too)."
      )
  return jnp.asarray(color).astype(images.dtype)


def plan_blocks(num_samples: int, image_size: int, batch_size: int | None) -> tuple[int, int]:
  """The largest block of images and the perturbed images per model call.

  Args:
    num_samples: S.
    image_size: H * W * C, model-input elements of one image.
    batch_size: the user's bound on images per model call, or None.

  Returns:
    (max_block, rows): when S perturbations fit in `rows`, blocks of up to rows // S images and
    one model call per block; otherwise one image per block, evaluated in calls of rows < S.
  """
  if batch_size is None:
    rows = max(1, _DEFAULT_CHUNK_ELEMENTS // image_size)
  else:
    rows = checks.positive_int("batch_size", batch_size, minimum=1)
  if rows < num_samples:
    return 1, rows
  return max(1, rows // num_samples), rows


def _chunk_for(config: image_core.ImageConfig, block_size: int) -> int:
  """Model rows per call for blocks of `block_size` images (config.chunk_size holds the bound)."""
  if config.chunk_size < config.num_samples:
    return config.chunk_size
  return block_size * config.num_samples
