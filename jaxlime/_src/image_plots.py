"""Pictures of image explanations: chosen superpixels' boundaries and coefficient heat-maps.

matplotlib (the `plot` extra) is imported inside the functions; scikit-image's `mark_boundaries`
is used when installed, else a numpy drawing of the same boundaries.
"""

from typing import Sequence

import numpy as np


def display_image(image) -> np.ndarray:
  """image [H, W, C] rescaled to [0, 1] for display, as [H, W, 3] float (grey repeated to RGB)."""
  image = np.asarray(image, np.float64)
  low, high = image.min(), image.max()
  image = (image - low) / (high - low) if high > low else np.zeros_like(image)
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, axis=-1)
  return image[..., :3]


def boundaries(labels) -> np.ndarray:
  """[H, W] bool: pixels with a 4-neighbour in another region of labels [H, W]."""
  labels = np.asarray(labels)
  edge = np.zeros(labels.shape, bool)
  vertical = labels[1:, :] != labels[:-1, :]
  horizontal = labels[:, 1:] != labels[:, :-1]
  edge[1:, :] |= vertical
  edge[:-1, :] |= vertical
  edge[:, 1:] |= horizontal
  edge[:, :-1] |= horizontal
  return edge


def mark_boundaries(image, labels, color=(1.0, 1.0, 0.0)) -> np.ndarray:
  """image [H, W, C] as [H, W, 3] in [0, 1] with the boundaries of labels [H, W] in `color`.

  `skimage.segmentation.mark_boundaries` when scikit-image is installed, else `boundaries`.
  """
  image = display_image(image)
  try:
    from skimage import segmentation
  except ImportError:
    marked = image.copy()
    marked[boundaries(labels)] = color
    return marked
  return segmentation.mark_boundaries(image, np.asarray(labels), color=color)


def explanation_figure(
    explanation,
    indices: Sequence[int] | None = None,
    *,
    label: int | None = None,
    num_features: int = 5,
    positive_only: bool = True,
    negative_only: bool = False,
    min_weight: float = 0.0,
    figsize=None,
):
  """One column per image: the image with its chosen superpixels' boundaries, over a heat-map of
  its superpixel coefficients (blue positive, red negative, symmetric about 0).

  Args:
    explanation: an `ImageExplanation`.
    indices: the images to draw (default: up to the first 8).
    label: the class to draw; None for each image's first explained label (its top label with
      top_labels).
    num_features, positive_only, negative_only, min_weight: which superpixels are outlined, as
      in `ImageExplanation.get_image_and_mask`.
    figsize: matplotlib figure size; defaults to 2.4 inches per image and row.

  Returns:
    A matplotlib Figure.
  """
  import matplotlib.pyplot as plt

  if indices is None:
    indices = range(min(len(explanation), 8))
  indices = [int(i) for i in indices]
  if not indices:
    raise ValueError("indices is empty; pass at least one image index.")
  figsize = figsize or (2.4 * len(indices), 5.0)
  figure, axes = plt.subplots(2, len(indices), figsize=figsize, squeeze=False)
  names = getattr(explanation.domain, "class_names", None)
  for column, index in enumerate(indices):
    shown = int(np.asarray(explanation.labels[index])[0]) if label is None else label
    _, mask = explanation.get_image_and_mask(
        index,
        shown,
        positive_only=positive_only,
        negative_only=negative_only,
        num_features=num_features,
        min_weight=min_weight,
    )
    top, bottom = axes[0, column], axes[1, column]
    top.imshow(mark_boundaries(explanation.instances[index], mask))
    name = names[shown] if names is not None and 0 <= shown < len(names) else str(shown)
    probability = float(np.asarray(explanation.prediction[index])[shown])
    top.set_title(f"image {index}: {name} ({probability:.2f})", fontsize=9)
    heat = explanation.coefficient_map(index, shown)
    scale = float(np.abs(heat).max()) or 1.0
    bottom.imshow(
        display_image(explanation.instances[index]).mean(axis=-1), cmap="gray", alpha=0.35
    )
    shown_heat = bottom.imshow(heat, cmap="RdBu", vmin=-scale, vmax=scale, alpha=0.8)
    bottom.set_title("superpixel weights", fontsize=9)
    figure.colorbar(shown_heat, ax=bottom, fraction=0.046, pad=0.04)
    for axis in (top, bottom):
      axis.set_xticks([])
      axis.set_yticks([])
  figure.tight_layout()
  return figure
