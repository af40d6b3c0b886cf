"""Superpixel segmentation of images on the host: scikit-image's algorithms and a built-in grid.

A segmentation maps an image [H, W, C] to integer labels [H, W], one per pixel; each distinct
label is a superpixel, an interpretable feature of image LIME. `relabel` turns a batch of
segmentations into labels 0..D_i - 1 per image.
"""

import inspect
from typing import Any, Callable, Sequence

import numpy as np

ALGORITHMS = ("quickshift", "slic", "felzenszwalb", "grid")
# lime's default segmentation: `SegmentationAlgorithm('quickshift', kernel_size=4, max_dist=200,
# ratio=0.2, random_seed=...)`.
LIME_QUICKSHIFT = dict(kernel_size=4, max_dist=200, ratio=0.2)
DEFAULT_GRID_SIZE = 8
_INSTALL_HINT = "pip install 'jaxlime[segmentation]'"


def _skimage_segmentation():
  try:
    from skimage import segmentation
  except ImportError as error:
    raise ImportError(
        f"this segmentation needs scikit-image, which is not installed: {_INSTALL_HINT} (or "
        "pass segments=, segmentation_fn='grid', or your own segmentation_fn callable)."
    ) from error
  return segmentation


def grid_segments(
    height: int, width: int, grid_size: int | Sequence[int] = DEFAULT_GRID_SIZE
) -> np.ndarray:
  """A regular grid of superpixels: [H, W] int32 labels 0..rows * cols - 1, row-major.

  Args:
    height, width: H and W.
    grid_size: cells per side, an int (rows = cols) or (rows, cols); clipped to the image size.
      Cell borders fall at floor(k * H / rows) and floor(k * W / cols).
  """
  rows, cols = (grid_size, grid_size) if np.ndim(grid_size) == 0 else tuple(grid_size)
  rows, cols = int(rows), int(cols)
  if rows < 1 or cols < 1:
    raise ValueError(f"grid_size must be >= 1 cells per side; got {grid_size!r}.")
  rows, cols = min(rows, height), min(cols, width)
  row_ids = np.arange(height) * rows // height
  col_ids = np.arange(width) * cols // width
  return (row_ids[:, None] * cols + col_ids[None, :]).astype(np.int32)


class SegmentationAlgorithm:
  """A named segmentation with its parameters, callable on one image [H, W, C] -> labels [H, W].

  The counterpart of lime's `lime.wrappers.scikit_image.SegmentationAlgorithm`:
  "quickshift", "slic" and "felzenszwalb" call scikit-image with `params` (unknown names raise a
  `ValueError`, where lime drops them silently); "grid" is built in and takes `grid_size`.
  A one-channel image is converted to RGB for scikit-image, as lime does with `gray2rgb`.

  `random_seed` (lime's name) is passed to quickshift as scikit-image's `rng`. lime's own wrapper
  drops it on scikit-image >= 0.20, which renamed it, so lime's default segmentation uses
  scikit-image's default `rng=42`; jaxlime's "quickshift" does the same and gives the same
  segments.

  Args:
    algo_type: "quickshift", "slic", "felzenszwalb" or "grid".
    **params: keyword arguments of the scikit-image function, or `grid_size` for "grid".
  """

  def __init__(self, algo_type: str, **params: Any):
    if algo_type not in ALGORITHMS:
      raise ValueError(
          f"segmentation_fn must be a callable or one of {ALGORITHMS}; got " f"{algo_type!r}."
      )
    self.algo_type = algo_type
    if algo_type == "grid":
      unknown = set(params) - {"grid_size"}
      if unknown:
        raise ValueError(f"the 'grid' segmentation takes only grid_size; got {sorted(unknown)}.")
      self.params = dict(params)
      return
    function = getattr(_skimage_segmentation(), algo_type)
    accepted = set(inspect.signature(function).parameters)
    params = dict(params)
    if "random_seed" in params and "random_seed" not in accepted:
      params["rng"] = params.pop("random_seed")
    unknown = set(params) - accepted
    if unknown:
      raise ValueError(
          f"{sorted(unknown)} are not parameters of skimage.segmentation."
          f"{algo_type}; it takes {sorted(accepted - {'image'})}."
      )
    self._function = function
    self.params = params

  def __call__(self, image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3:
      raise ValueError(f"a segmentation takes one image [H, W, C]; got shape {image.shape}.")
    if self.algo_type == "grid":
      return grid_segments(image.shape[0], image.shape[1], **self.params)
    if image.shape[-1] == 1:
      image = np.repeat(image, 3, axis=-1)
    return np.asarray(self._function(image, **self.params))

  def __repr__(self) -> str:
    params = ", ".join(f"{name}={value!r}" for name, value in self.params.items())
    return f"SegmentationAlgorithm({self.algo_type!r}{', ' if params else ''}{params})"


def as_segmentation_fn(segmentation_fn: str | Callable) -> Callable:
  """A callable image [H, W, C] -> labels [H, W] from a name (with lime's defaults) or callable."""
  if callable(segmentation_fn):
    return segmentation_fn
  if segmentation_fn == "quickshift":
    return SegmentationAlgorithm("quickshift", **LIME_QUICKSHIFT)
  if isinstance(segmentation_fn, str):
    return SegmentationAlgorithm(segmentation_fn)
  raise TypeError(
      f"segmentation_fn must be a callable image -> labels or one of {ALGORITHMS}; "
      f"got {segmentation_fn!r}."
  )


def segment_images(
    images: np.ndarray, segmentation_fn: Callable, *, first_index: int = 0
) -> list[np.ndarray]:
  """Runs segmentation_fn on each host image of images [N, H, W, C]; returns N label maps.

  Errors name image `first_index + i` (the position in the user's batch).
  """
  segments = []
  for index, image in enumerate(images, start=first_index):
    try:
      labels = segmentation_fn(image)
    except Exception as error:  # Say which image and which function failed.
      raise type(error)(
          f"segmentation_fn {segmentation_fn!r} failed on image {index} of shape "
          f"{image.shape}: {error}"
      ) from error
    labels = np.asarray(labels)
    if labels.shape != image.shape[:2]:
      raise ValueError(
          f"segmentation_fn {segmentation_fn!r} returned labels of shape "
          f"{labels.shape} for image {index} of shape {image.shape}; expected "
          f"{image.shape[:2]}."
      )
    segments.append(labels)
  return segments


def relabel(
    segments: Sequence[np.ndarray], name: str = "segments"
) -> tuple[np.ndarray, np.ndarray]:
  """Relabels each image's superpixels to 0..D_i - 1 in the order of their original ids.

  Args:
    segments: N integer label maps [H, W] (a list, or an array [N, H, W]).
    name: the argument's name, for errors.

  Returns:
    ([N, H, W] int32 labels, [N] int32 superpixel counts D_i).
  """
  relabelled, counts = [], []
  for index, labels in enumerate(segments):
    labels = np.asarray(labels)
    if labels.dtype == bool or not (
        np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
    ):
      raise TypeError(
          f"{name} must hold integer superpixel labels; got dtype {labels.dtype} "
          f"(image {index})."
      )
    if np.issubdtype(labels.dtype, np.floating):
      bad = ~np.isfinite(labels) | (labels != np.round(labels))
      if bad.any():
        where = tuple(np.argwhere(bad)[0].tolist())
        raise ValueError(
            f"{name} must hold integer superpixel labels; image {index} has "
            f"{int(bad.sum())} non-integer values (first {labels[where]!r} at "
            f"pixel {where})."
        )
    unique, inverse = np.unique(labels, return_inverse=True)
    relabelled.append(inverse.reshape(labels.shape).astype(np.int32))
    counts.append(len(unique))
  return np.stack(relabelled), np.asarray(counts, np.int32)
