"""lime's `lime.lime_image` on jaxlime's image engine.

`LimeImageExplainer.explain_instance` segments the image as lime (quickshift with lime's
parameters and a `random_seed` drawn from the `random_state` as lime draws it, unless
`segmentation_fn` is given); superpixel ids are relabelled to 0..D - 1 in increasing order (the
returned `segments` are the relabelled ones), and a 2-D image is made RGB as lime's `gray2rgb`.

With lime's defaults (`distance_metric="cosine"`, lime's exponential kernel, Ridge(alpha=1)) it
runs `jaxlime.ImageExplainer.explain` on those segments with the classifier wrapped in
`jaxlime.host_model` (called in batches of `batch_size` images, as lime): the cosine distance
between keep masks, the kernel sqrt(exp(-d^2 / width^2)) and the fit are inside one jitted
program. Host paths, doing what lime does with the same keep masks (drawn by the engine's
`image_core.draw_masks` from the same keys, so they equal the fused path's masks):

* `distance_metric` other than "cosine": scikit-learn's `pairwise_distances` on the masks of
  each image (its own D superpixels);
* `kernel` (a numpy function kernel(d, kernel_width)): called on each image's distances [S];
* `model_regressor` (a scikit-learn regressor): fit with `sample_weight` on the superpixels the
  engine's feature selection picked (see `jaxlime.compat._common.fit_instances`).

On a host path the perturbed images are built by the engine's `image_core.perturb`, batch by
batch, and `classifier_fn` is called on each batch of `batch_size` images, as lime calls it.
As in lime, `ImageExplanation.score` and `local_pred` are those of the last label fitted.
"""

import functools

import jax
import numpy as np

from jaxlime._src import cache
from jaxlime._src import checks
from jaxlime._src import html as html_lib
from jaxlime._src import image as image_lib
from jaxlime._src import image_core
from jaxlime._src import keys as keys_lib
from jaxlime._src import models
from jaxlime._src import segmentation as segmentation_lib
from jaxlime._src.image import ImageExplainer
from jaxlime.compat import _common
from jaxlime.compat import lime_base
from jaxlime.compat.wrappers.scikit_image import SegmentationAlgorithm


class ImageExplanation:
  """lime's image explanation: `local_exp`, `intercept` (per label), `score`, `local_pred`
  (of the last label fitted, as lime), `top_labels`, the `image` and its `segments`."""

  def __init__(self, image, segments):
    self.image = image
    self.segments = segments
    self.intercept = {}
    self.local_exp = {}
    self.local_pred = {}
    self.score = {}
    self.top_labels = None

  def __repr__(self):
    return (
        f"ImageExplanation(labels={list(self.local_exp)}, image={np.shape(self.image)}, "
        f"segments={int(np.max(self.segments)) + 1})"
    )

  def get_image_and_mask(
      self,
      label,
      positive_only=True,
      negative_only=False,
      hide_rest=False,
      num_features=5,
      min_weight=0.0,
  ):
    """lime's (image, mask): the superpixels explaining `label`, mask 1 (or -1 if negative)."""
    if label not in self.local_exp:
      raise KeyError(
          f"label {label} is not in the explanation; explained labels: {list(self.local_exp)}."
      )
    if positive_only and negative_only:
      raise ValueError("positive_only and negative_only cannot be True at the same time.")
    return image_lib.image_and_mask(
        self.image,
        self.segments,
        self.local_exp[label],
        positive_only=positive_only,
        negative_only=negative_only,
        hide_rest=hide_rest,
        num_features=num_features,
        min_weight=min_weight,
    )

  def as_html(self, label=None, num_features=5):
    """A self-contained page: the image, and its `num_features` top superpixels for `label`
    tinted by weight (blue positive, orange negative), both inline PNGs."""
    label = (
        self.top_labels[0]
        if label is None and self.top_labels
        else (next(iter(self.local_exp)) if label is None else label)
    )
    image = np.asarray(self.image, np.float64)
    image = image / 255.0 if image.max() > 1.0 else image
    weights = {f: w for f, w in self.local_exp[label][:num_features]}
    return html_lib.page(
        [
            html_lib.image_panel("Image", image),
            html_lib.image_panel(
                f"Superpixels for label {label}",
                html_lib.tinted_image(image, self.segments, weights),
            ),
        ]
    )

  def _repr_html_(self):
    return self.as_html()


@functools.lru_cache(maxsize=32)
def _cached_host(classifier_fn, batch_size):
  return models.host_model(classifier_fn, batch_size=batch_size)


def _host(classifier_fn, batch_size):
  """One `host_model` per (function, batch size), so that repeated calls reuse its program
  (an unhashable callable gets a new one each call)."""
  try:
    return _cached_host(classifier_fn, batch_size)
  except TypeError:
    return models.host_model(classifier_fn, batch_size=batch_size)


@functools.partial(jax.jit, static_argnames=("max_segments", "num_samples", "mean_fill"))
def _draw_samples(
    keys, images, segments, num_segments, hide_color, *, max_segments, num_samples, mean_fill
):
  """The engine's keep masks and fill images of N images, for the host path.

  Args:
    keys: [N] PRNG keys (the engine's `instance_keys`).
    images: [N, H, W, C].
    segments: [N, H, W] labels 0..D_i - 1.
    num_segments: [N] D_i.
    hide_color: broadcastable to [H, W, C] (unused with mean_fill).

  Returns:
    masks [N, S, D] bool (lime's data, sample 0 all ones), their packed words [N, S, W] and
    fills [N, H, W, C] (lime's fudged_image).
  """

  def one(key, count, image, labels):
    masks = image_core.draw_masks(key, count, max_segments=max_segments, num_samples=num_samples)
    fill = image_core.fill_image(
        image, labels, hide_color, max_segments=max_segments, mean_fill=mean_fill
    )
    return masks.T, image_core.pack_masks(masks.T), fill

  return jax.vmap(one)(keys, num_segments, images, segments)


_perturb = jax.jit(image_core.perturb)


class LimeImageExplainer:
  """lime's `LimeImageExplainer(kernel_width=.25, kernel=None, verbose=False,
  feature_selection='auto', random_state=None)` on jaxlime's engine."""

  def __init__(
      self,
      kernel_width=0.25,
      kernel=None,
      verbose=False,
      feature_selection="auto",
      random_state=None,
  ):
    self.kernel_width = float(kernel_width)
    self.kernel = kernel
    self.random_state = _common.check_random_state(random_state)
    kernel_fn = functools.partial(kernel or _common.lime_kernel, kernel_width=self.kernel_width)
    self.base = lime_base.LimeBase(kernel_fn, verbose, random_state=self.random_state)
    self.feature_selection = feature_selection
    self.verbose = verbose
    self.engine = ImageExplainer(self.kernel_width, feature_selection=feature_selection)

  def explain_instance(
      self,
      image,
      classifier_fn,
      labels=(1,),
      hide_color=None,
      top_labels=5,
      num_features=100000,
      num_samples=1000,
      batch_size=10,
      segmentation_fn=None,
      distance_metric="cosine",
      model_regressor=None,
      random_seed=None,
  ):
    """lime 0.2.0.1's `explain_instance` on one image [H, W, C] (a 2-D image is made RGB, as
    lime's gray2rgb): an `ImageExplanation`."""
    image = np.asarray(image)
    if image.ndim == 2:
      image = np.stack([image] * 3, axis=-1)
    return self.explain_instances(
        [image],
        classifier_fn,
        labels,
        hide_color,
        top_labels,
        num_features,
        num_samples,
        batch_size,
        segmentation_fn,
        distance_metric,
        model_regressor,
        random_seed,
    )[0]

  def explain_instances(
      self,
      images,
      classifier_fn,
      labels=(1,),
      hide_color=None,
      top_labels=5,
      num_features=100000,
      num_samples=1000,
      batch_size=10,
      segmentation_fn=None,
      distance_metric="cosine",
      model_regressor=None,
      random_seed=None,
      *,
      progress_bar=False,
  ):
    """`explain_instance` for N images [N, H, W, C] of one size: N `ImageExplanation`s.

    With lime's default distance, kernel and regressor the images are explained in one engine
    call (`progress_bar` shows its progress over the images); otherwise on the host path (see
    the module docstring).
    """
    cache.enable_default()
    images = np.asarray(images)
    if images.ndim != 4:
      raise ValueError(
          f"images must have shape [N, H, W, C]; got {images.shape}. For one image use "
          "explain_instance."
      )
    if random_seed is None:
      random_seed = self.random_state.randint(0, high=1000)
    if segmentation_fn is None:
      segmentation_fn = SegmentationAlgorithm(
          "quickshift", kernel_size=4, max_dist=200, ratio=0.2, random_seed=random_seed
      )
    segments, num_segments = segmentation_lib.relabel([segmentation_fn(image) for image in images])
    key = _common.draw_key(self.random_state)
    options = dict(
        labels=labels,
        top_labels=top_labels,
        num_features=num_features,
        num_samples=num_samples,
    )
    # The perturbed images are built in JAX, in its dtypes (float64 images become float32
    # unless jax_enable_x64 is on); the explanations keep the images as given.
    inputs = images.astype(jax.dtypes.canonicalize_dtype(images.dtype), copy=False)
    if distance_metric == "cosine" and self.kernel is None and model_regressor is None:
      result = self.engine.explain(
          inputs,
          _host(classifier_fn, batch_size),
          key=key,
          segments=segments,
          hide_color=hide_color,
          progress=progress_bar,
          **options,
      )
      explained = np.asarray(result.labels)  # [N, L], highest first with top_labels.
      # lime fits top labels from the lowest of them up, explicit labels in the order given.
      columns = range(explained.shape[1] - 1, -1, -1) if top_labels else range(explained.shape[1])
      fits = _common.surrogate_results(
          jax.tree.map(np.asarray, result),
          [[(int(row[column]), column) for column in columns] for row in explained],
          np.asarray(result.prediction),
          verbose=self.verbose,
          num_real=num_segments,
      )
      reported = [row.tolist() if top_labels else None for row in explained]
    else:
      fits, reported = self._explain_on_host(
          inputs,
          segments,
          num_segments,
          keys_lib.instance_keys(key, len(images)),
          classifier_fn,
          hide_color,
          batch_size,
          distance_metric,
          model_regressor,
          **options,
      )
    explanations = []
    for image, image_segments, fit, top in zip(images, segments, fits, reported):
      out = _common.fill_explanation(ImageExplanation(image, image_segments), fit)
      out.top_labels = top
      explanations.append(out)
    return explanations

  def _explain_on_host(
      self,
      images,
      segments,
      num_segments,
      keys,
      classifier_fn,
      hide_color,
      batch_size,
      distance_metric,
      model_regressor,
      *,
      labels,
      top_labels,
      num_features,
      num_samples,
  ):
    """lime's steps after the masks, on the host: `classifier_fn` on batches of `batch_size`
    perturbed images, `pairwise_distances(metric=distance_metric)`, the kernel, and the fit
    (lime's Ridge or `model_regressor`). Returns the per-label results and reported
    top_labels of each image."""
    num_samples = checks.positive_int("num_samples", num_samples, minimum=2)
    batch_size = checks.positive_int("batch_size", batch_size, minimum=1)
    mean_fill = hide_color is None
    hide = image_lib._as_hide_color(0 if mean_fill else hide_color, images)
    masks, words, fills = jax.tree.map(
        np.asarray,
        _draw_samples(
            keys,
            images,
            segments,
            num_segments,
            hide,
            max_segments=int(num_segments.max()),
            num_samples=num_samples,
            mean_fill=mean_fill,
        ),
    )
    outputs = []
    for image, image_segments, fill, rows in zip(images, segments, fills, words):
      per_image = []
      for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        batch = np.concatenate([rows[start : start + count], rows[: batch_size - count]])
        perturbed = np.asarray(_perturb(batch, image, image_segments, fill))[:count]
        per_image.append(_common.check_outputs(classifier_fn(perturbed), "classification", count))
      outputs.append(np.concatenate(per_image))
    outputs = np.stack(outputs)  # [N, S, C]
    z = masks.astype(np.float64)
    weights = _common.host_weights(z, distance_metric, self.base.kernel_fn, num_real=num_segments)
    chosen, reported = _common.explained_labels(outputs, "classification", labels, top_labels)
    fits = _common.fit_instances(
        z,
        outputs,
        weights,
        chosen,
        num_features=num_features,
        feature_selection=self.feature_selection,
        model_regressor=model_regressor,
        verbose=self.verbose,
        num_real=num_segments,
    )
    return fits, reported
