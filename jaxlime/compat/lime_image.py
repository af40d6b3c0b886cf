"""lime's `lime.lime_image` on jaxlime's image engine.

`LimeImageExplainer.explain_instance` segments the image as lime (quickshift with lime's
parameters unless `segmentation_fn` is given), then runs `jaxlime.ImageExplainer.explain` on
those segments with the classifier wrapped in `jaxlime.host_model` (called in batches of
`batch_size` images, as lime), and returns lime's `ImageExplanation`.

Not available on images (a ValueError says so): `distance_metric` other than "cosine", a numpy
`kernel`, and a `model_regressor`; the engine keeps the image samples inside one jitted program.
"""

import functools

import numpy as np

from jaxlime._src import cache
from jaxlime._src import html as html_lib
from jaxlime._src import models
from jaxlime._src.image import ImageExplainer
from jaxlime.compat import _common
from jaxlime.compat import lime_base
from jaxlime.compat.wrappers.scikit_image import SegmentationAlgorithm


class ImageExplanation:
  """lime's image explanation: `local_exp`, `intercept`, `score`, `local_pred`, `top_labels`,
  the `image` and its `segments`."""

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
          f"label {label} is not in the explanation; explained labels: " f"{list(self.local_exp)}."
      )
    if positive_only and negative_only:
      raise ValueError("positive_only and negative_only cannot be True at the same time.")
    segments, image, exp = self.segments, self.image, self.local_exp[label]
    mask = np.zeros(segments.shape, segments.dtype)
    temp = np.zeros(image.shape) if hide_rest else image.copy()
    if positive_only or negative_only:
      if positive_only:
        chosen = [f for f, w in exp if w > 0 and w > min_weight][:num_features]
      else:
        chosen = [f for f, w in exp if w < 0 and abs(w) > min_weight][:num_features]
      for f in chosen:
        temp[segments == f] = image[segments == f].copy()
        mask[segments == f] = 1
      return temp, mask
    for f, w in exp[:num_features]:
      if np.abs(w) < min_weight:
        continue
      mask[segments == f] = -1 if w < 0 else 1
      temp[segments == f] = image[segments == f].copy()
      temp[segments == f, 0 if w < 0 else 1] = np.max(image)
    return temp, mask

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
    """lime 0.2.0.1's `explain_instance` on one image [H, W, C]: an `ImageExplanation`."""
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
    """`explain_instance` for N images [N, H, W, C] of one size, in one engine call
    (`progress_bar` shows the engine's progress over the images)."""
    for name, value, default in (
        ("distance_metric", distance_metric, "cosine"),
        ("kernel", self.kernel, None),
        ("model_regressor", model_regressor, None),
    ):
      if value != default:
        raise ValueError(
            f"{name}={value!r} is not available for images in jaxlime.compat "
            f"(only {name}={default!r}); use lime for it."
        )
    cache.enable_default()
    images = np.asarray(images)
    if segmentation_fn is None:
      segmentation_fn = SegmentationAlgorithm(
          "quickshift", kernel_size=4, max_dist=200, ratio=0.2, random_seed=random_seed
      )
    segments = np.stack([segmentation_fn(image) for image in images])
    result = self.engine.explain(
        images,
        _host(classifier_fn, batch_size),
        key=_common.draw_key(self.random_state),
        segments=segments,
        hide_color=hide_color,
        num_samples=num_samples,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        progress=progress_bar,
    )
    explanations = []
    for index, image in enumerate(images):
      out = ImageExplanation(image, segments[index])
      explained = [int(label) for label in np.asarray(result.labels[index])]
      if top_labels:
        out.top_labels = explained
      for column, label in reversed(list(enumerate(explained))):
        out.intercept[label] = float(result.intercept[index, column])
        out.local_exp[label] = result.as_map(index)[label]
        out.score[label] = float(result.score[index, column])
        out.local_pred[label] = np.array([float(result.local_pred[index, column])])
        if self.verbose:
          print("Intercept", out.intercept[label])
          print("Prediction_local", out.local_pred[label])
          print("Right:", float(result.prediction[index, label]))
      explanations.append(out)
    return explanations
