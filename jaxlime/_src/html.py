"""Self-contained HTML pages for explanations: lime's panels without lime's JavaScript bundle.

Every page is one HTML string with inline CSS: no script, font or stylesheet is fetched. Panels:
prediction probabilities (or the predicted value in regression), the weights as bars, the
instance itself (a table of feature values, highlighted text, or an image as an inline PNG).
"""

import base64
import html
import io
from typing import Sequence

import numpy as np

POSITIVE = "#1f77b4"  # weights for the label (lime's orange/blue pair, colour-blind safe).
NEGATIVE = "#ff7f0e"
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

_STYLE = """
.jaxlime{font-family:sans-serif;font-size:13px;display:flex;flex-wrap:wrap;gap:24px;
  align-items:flex-start}
.jaxlime .panel{min-width:220px}
.jaxlime h3{font-size:14px;margin:0 0 6px 0}
.jaxlime table{border-collapse:collapse}
.jaxlime td{padding:2px 6px;vertical-align:middle}
.jaxlime .bar{height:14px}
.jaxlime .name{text-align:right;white-space:nowrap}
.jaxlime .text{max-width:640px;line-height:1.7;white-space:pre-wrap}
"""


def escape(value) -> str:
  return html.escape(str(value))


def page(panels: Sequence[str], *, title: str = "jaxlime explanation") -> str:
  """A complete, self-contained HTML document holding the given panels side by side."""
  return (
      f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
      f"<style>{_STYLE}</style></head><body>{fragment(panels)}</body></html>"
  )


def fragment(panels: Sequence[str]) -> str:
  """The panels in one block with its style, for a notebook cell."""
  return f"<div class='jaxlime'><style>{_STYLE}</style>{''.join(panels)}</div>"


def probabilities_panel(
    class_names: Sequence[str], probabilities: Sequence[float], *, top: int = 5
) -> str:
  """lime's "Prediction probabilities": the `top` classes as horizontal bars, highest first."""
  probabilities = np.asarray(probabilities, np.float64)
  order = np.argsort(-probabilities, kind="stable")[:top]
  rows = "".join(
      f"<tr><td class='name'>{escape(class_names[c])}</td><td><div class='bar' "
      f"style='width:{int(round(150 * max(probabilities[c], 0.0)))}px;"
      f"background:{_PALETTE[rank % len(_PALETTE)]}'></div></td>"
      f"<td>{probabilities[c]:.2f}</td></tr>"
      for rank, c in enumerate(order)
  )
  return (
      f"<div class='panel probabilities'><h3>Prediction probabilities</h3>"
      f"<table>{rows}</table></div>"
  )


def predicted_value_panel(value: float, minimum: float, maximum: float) -> str:
  """lime's regression panel: the predicted value on the range of the sampled predictions."""
  span = (maximum - minimum) or 1.0
  width = int(round(150 * min(max((value - minimum) / span, 0.0), 1.0)))
  return (
      f"<div class='panel predicted-value'><h3>Predicted value</h3><table><tr>"
      f"<td>{minimum:.2f}</td><td><div class='bar' style='width:{width}px;"
      f"background:{POSITIVE}'></div></td><td>{maximum:.2f}</td></tr></table>"
      f"<div>{value:.2f}</div></div>"
  )


def weights_panel(
    title: str,
    weights: Sequence[tuple[str, float]],
    *,
    positive_name: str = "",
    negative_name: str = "NOT",
    intervals: Sequence[tuple[float, float]] | None = None,
) -> str:
  """The weights as bars, positive to the right in blue, negative to the left in orange.

  `intervals` [(lower, upper), ...], one per weight, are drawn as error bars (a dark line over
  the bars, clipped to the panel) and written after each weight.
  """
  scale = max((abs(w) for _, w in weights), default=1.0) or 1.0
  rows = []
  for row, (name, weight) in enumerate(weights):
    width = int(round(120 * abs(weight) / scale))
    bounds = None if intervals is None else intervals[row]
    left = (
        (
            f"<div class='bar' style='width:{width}px;background:{NEGATIVE};margin-left:auto'>"
            "</div>"
        )
        if weight < 0
        else ""
    )
    right = (
        f"<div class='bar' style='width:{width}px;background:{POSITIVE}'></div>"
        if weight >= 0
        else ""
    )
    text = f"{weight:+.4f}"
    if bounds is not None:
      left = _with_whisker(left, bounds, scale, negative=True)
      right = _with_whisker(right, bounds, scale, negative=False)
      text += f" <span class='interval'>[{bounds[0]:+.4f}, {bounds[1]:+.4f}]</span>"
    rows.append(
        f"<tr><td style='width:120px'>{left}</td><td class='name'>{escape(name)}</td>"
        f"<td style='width:120px'>{right}</td><td>{text}</td></tr>"
    )
  legend = (
      f"<div><span style='color:{NEGATIVE}'>{escape(negative_name)}</span> &#8596; "
      f"<span style='color:{POSITIVE}'>{escape(positive_name)}</span></div>"
  )
  return (
      f"<div class='panel weights'><h3>{escape(title)}</h3>{legend}"
      f"<table>{''.join(rows)}</table></div>"
  )


def _with_whisker(bar: str, bounds: tuple[float, float], scale: float, *, negative: bool) -> str:
  """A bar cell (120 px) with the part of the interval `bounds` on its side as a dark line.

  The negative cell runs from -scale (left edge) to 0 (right edge), the positive one from 0 to
  scale; the interval's part beyond the panel is clipped.
  """
  lower, upper = bounds
  if negative:
    lower, upper = min(lower, 0.0), min(upper, 0.0)
    start, stop = 120 + 120 * lower / scale, 120 + 120 * upper / scale
  else:
    lower, upper = max(lower, 0.0), max(upper, 0.0)
    start, stop = 120 * lower / scale, 120 * upper / scale
  start, stop = max(0, min(120, int(round(start)))), max(0, min(120, int(round(stop))))
  whisker = ""
  if stop > start:
    whisker = (
        f"<div class='whisker' style='position:absolute;top:6px;height:2px;left:{start}px;"
        f"width:{stop - start}px;background:#222'></div>"
    )
  return f"<div style='position:relative;min-height:14px'>{bar}{whisker}</div>"


def _tint(weight: float, scale: float) -> str:
  alpha = min(abs(weight) / scale, 1.0) * 0.8 + 0.1 if weight else 0.0
  rgb = (31, 119, 180) if weight > 0 else (255, 127, 14)
  return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})"


def values_panel(rows: Sequence[tuple[str, str, float]]) -> str:
  """lime's "Feature / Value" table: each feature of the instance, tinted by its weight."""
  scale = max((abs(w) for _, _, w in rows), default=1.0) or 1.0
  body = "".join(
      f"<tr style='background:{_tint(weight, scale)}'><td>{escape(name)}</td>"
      f"<td>{escape(value)}</td></tr>"
      for name, value, weight in rows
  )
  return (
      f"<div class='panel values'><h3>Feature values</h3><table>"
      f"<tr><th>Feature</th><th>Value</th></tr>{body}</table></div>"
  )


def text_panel(text: str, spans: Sequence[tuple[int, int, float]]) -> str:
  """The text with each explained word (start, end, weight) highlighted by its weight."""
  scale = max((abs(w) for _, _, w in spans), default=1.0) or 1.0
  pieces, position = [], 0
  for start, end, weight in sorted(spans):
    if start < position:
      continue
    pieces.append(escape(text[position:start]))
    pieces.append(
        f"<span class='word' style='background:{_tint(weight, scale)}'>"
        f"{escape(text[start:end])}</span>"
    )
    position = end
  pieces.append(escape(text[position:]))
  return (
      f"<div class='panel text'><h3>Text with highlighted words</h3>"
      f"<div class='text'>{''.join(pieces)}</div></div>"
  )


def png_base64(image: np.ndarray) -> str:
  """An [H, W] or [H, W, 3|4] image (floats in [0, 1] or uint8) as base64 PNG bytes."""
  from matplotlib import image as mpl_image

  array = np.asarray(image)
  if array.dtype != np.uint8:
    array = np.clip(np.asarray(array, np.float64), 0.0, 1.0)
  buffer = io.BytesIO()
  mpl_image.imsave(buffer, array, format="png")
  return base64.b64encode(buffer.getvalue()).decode("ascii")


def tinted_image(image: np.ndarray, segments: np.ndarray, weights) -> np.ndarray:
  """[H, W, 3] floats in [0, 1]: the image with each superpixel of `weights` {segment: weight}
  blended with blue (positive) or orange (negative), the more the larger |weight|."""
  picture = np.asarray(image, np.float64)
  if picture.ndim == 2 or picture.shape[-1] == 1:
    picture = np.repeat(picture.reshape(picture.shape[:2] + (1,)), 3, axis=-1)
  picture = picture / 255.0 if picture.max() > 1.0 else picture.copy()
  scale = max((abs(w) for w in weights.values()), default=1.0) or 1.0
  segments = np.asarray(segments)
  for segment, weight in weights.items():
    colour = np.array([0.12, 0.47, 0.71]) if weight > 0 else np.array([1.0, 0.5, 0.05])
    amount = 0.6 * abs(weight) / scale
    inside = segments == segment
    picture[inside] = (1 - amount) * picture[inside] + amount * colour
  return picture


def image_panel(title: str, image: np.ndarray) -> str:
  """An image inline as a PNG data URI."""
  return (
      f"<div class='panel image'><h3>{escape(title)}</h3>"
      f"<img alt='{escape(title)}' src='data:image/png;base64,{png_base64(image)}'></div>"
  )
