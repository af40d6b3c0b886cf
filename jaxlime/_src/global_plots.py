"""Matplotlib figures of the global view: importance, summary (beeswarm), PDP/ICE and ALE.

matplotlib is imported inside each function (the optional `plot` extra). Each function draws
on `ax` when given (and returns its figure), else on a new figure, and returns the figure.
"""

import numpy as np

from jaxlime._src.plots import _pyplot


def _axes(ax, figsize):
  if ax is not None:
    return ax.figure, ax
  plt = _pyplot()
  figure, ax = plt.subplots(figsize=figsize)
  return figure, ax


def _output(values: np.ndarray, output: int | None) -> int:
  """The index of `output` in the leading [C] axis of `values` (default the last)."""
  num_outputs = values.shape[0]
  if output is None:
    return num_outputs - 1
  if not -num_outputs <= output < num_outputs:
    raise ValueError(f"output {output} is out of range for a model with {num_outputs} outputs.")
  return output % num_outputs


def importance_figure(importance, *, max_display: int = 20, ax=None, figsize=(6, 5)):
  """Bars of mean |coef| per feature (largest at the top), with the interval as error bars.

  Args:
    importance: a `GlobalImportance`.
    max_display: the number of features shown.
  """
  figure, ax = _axes(ax, figsize)
  order = importance.order[:max_display][::-1]
  positions = np.arange(order.size)
  means = importance.mean_abs[order]
  errors = np.stack([means - importance.lower[order], importance.upper[order] - means])
  ax.barh(
      positions, means, xerr=np.maximum(errors, 0), color="#1f77b4", ecolor="#333333", capsize=2
  )
  ax.set_yticks(positions, [importance.feature_names[j] for j in order])
  ax.set_xlabel(
      f"mean |LIME coefficient| ({int(round(100 * importance.confidence))}% "
      f"{importance.interval} interval)"
  )
  ax.set_title(f"Global importance for label {importance.label}")
  figure.tight_layout()
  return figure


def _swarm_offsets(values: np.ndarray, *, num_bins: int = 100, width: float = 0.4) -> np.ndarray:
  """[n] vertical offsets in [-width, width] spreading points of similar x, as shap's beeswarm.

  The x range is cut into `num_bins` bins; the points of a bin are stacked at 0, +h, -h, +2h,
  -2h, ..., with h chosen so that the fullest bin spans the whole width.
  """
  span = values.max() - values.min()
  if span == 0:
    bins = np.zeros(values.shape[0], int)
  else:
    bins = np.round((values - values.min()) / span * num_bins).astype(int)
  order = np.argsort(bins, kind="stable")
  counts = np.bincount(bins)
  step = width / max(int(counts.max()) // 2, 1)
  ranks = np.arange(values.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
  offsets = np.empty(values.shape[0])
  offsets[order] = np.where(ranks % 2 == 0, -1, 1) * ((ranks + 1) // 2) * step
  return offsets


def summary_figure(
    importance, feature_values=None, *, max_display: int = 20, ax=None, figsize=(7, 5)
):
  """shap-style beeswarm: a row per feature, a point per instance at its coefficient.

  Instances whose surrogate did not select a feature (coefficient 0 by construction) are left
  out of that feature's row.

  Args:
    importance: a `GlobalImportance` (its `coef` [N, D] gives the x positions).
    feature_values: optional [N, D] values of the features (e.g. the explained rows): points
      are coloured from low (blue) to high (red) within each feature's 5th-95th percentiles;
      grey without.
    max_display: the number of features shown, most important at the top.
  """
  plt = _pyplot()
  figure, ax = _axes(ax, figsize)
  coef = importance.coef
  if feature_values is not None:
    feature_values = np.asarray(feature_values, np.float64)
    if feature_values.shape != coef.shape:
      raise ValueError(
          f"feature_values must have shape {coef.shape} (the explained rows); got "
          f"{feature_values.shape}."
      )
  order = importance.order[:max_display][::-1]
  colour_map = plt.get_cmap("coolwarm")
  scatter = None
  for position, j in enumerate(order):
    rows = np.flatnonzero(importance.selected[:, j])
    if rows.size == 0:
      continue
    x = coef[rows, j]
    y = position + _swarm_offsets(x)
    if feature_values is None:
      ax.scatter(x, y, s=8, color="#777777", alpha=0.8, linewidths=0)
      continue
    low, high = np.percentile(feature_values[:, j], [5, 95])
    value = feature_values[rows, j]
    scale = (value - low) / (high - low) if high > low else np.full(rows.shape, 0.5)
    scatter = ax.scatter(
        x, y, s=8, c=np.clip(scale, 0, 1), cmap=colour_map, vmin=0, vmax=1, alpha=0.8, linewidths=0
    )
  ax.axvline(0.0, color="#999999", linewidth=0.8)
  ax.set_yticks(np.arange(order.size), [importance.feature_names[j] for j in order])
  ax.set_xlabel(f"LIME coefficient for label {importance.label}")
  if scatter is not None:
    bar = figure.colorbar(scatter, ax=ax, ticks=[0, 1], aspect=40)
    bar.set_ticklabels(["Low", "High"])
    bar.set_label("Feature value")
  ax.set_title("Per-instance coefficients")
  figure.tight_layout()
  return figure


def partial_dependence_figure(
    result,
    *,
    output: int | None = None,
    kind: str | None = None,
    centered: bool = False,
    num_ice_lines: int = 50,
    seed: int = 0,
    feature_names=None,
    ax=None,
    figsize=(5, 4),
):
  """PDP line, ICE lines, or the two-way PDP as filled contours.

  Args:
    result: a `PartialDependence` (one-way or two-way).
    output: which model output to draw; default the last one (the positive class of a binary
      classifier, as scikit-learn shows).
    kind: "average", "individual" or "both" (one-way); default whatever `result` holds.
    centered: subtract each line's value at the first grid point (centred ICE / PDP), as
      scikit-learn's `PartialDependenceDisplay(centered=True)`.
    num_ice_lines: draw at most this many ICE lines, a random subset of rows from `seed`.
    feature_names: names indexed by column (default "feature j").
  """
  figure, ax = _axes(ax, figsize)
  names = [
      (feature_names[j] if feature_names is not None else f"feature {j}")
      for j in result["features"]
  ]
  if len(result["features"]) == 2:
    if "average" not in result:
      raise ValueError(
          "a two-way figure needs the average: compute it with kind='average' or " "'both'."
      )
    average = result["average"]
    surface = average[_output(average, output)]
    grid_x, grid_y = np.meshgrid(result["grid_values"][0], result["grid_values"][1], indexing="ij")
    contours = ax.contourf(grid_x, grid_y, surface, levels=12, cmap="viridis")
    figure.colorbar(contours, ax=ax, label="partial dependence")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    figure.tight_layout()
    return figure
  if kind is None:
    kind = (
        "both"
        if {"average", "individual"} <= set(result)
        else ("individual" if "individual" in result else "average")
    )
  grid = result["grid_values"][0]
  if kind in ("individual", "both"):
    if "individual" not in result:
      raise ValueError(
          f"kind={kind!r} needs ICE values: compute with kind='individual' or " "'both'."
      )
    ice = result["individual"]
    lines = ice[_output(ice, output)]  # [N, G]
    rows = np.random.default_rng(seed).permutation(lines.shape[0])[:num_ice_lines]
    lines = lines[np.sort(rows)]
    if centered:
      lines = lines - lines[:, :1]
    ax.plot(grid, lines.T, color="#1f77b4", alpha=0.25, linewidth=0.8)
  if kind in ("average", "both"):
    if "average" not in result:
      raise ValueError(
          f"kind={kind!r} needs the average: compute with kind='average' or " "'both'."
      )
    average = result["average"]
    line = average[_output(average, output)]
    if centered:
      line = line - line[0]
    ax.plot(grid, line, color="#ff7f0e", linewidth=2.5, label="average")
    ax.legend(loc="best")
  ax.set_xlabel(names[0])
  ax.set_ylabel("centred partial dependence" if centered else "partial dependence")
  figure.tight_layout()
  return figure


def ale_figure(
    result, *, output: int | None = None, feature_name: str | None = None, ax=None, figsize=(5, 4)
):
  """The ALE curve at the bin edges, with a rug of the edges.

  Args:
    result: an `AccumulatedLocalEffects`.
    output: the model output to draw; default the last one.
    feature_name: the x label (default "feature j").
  """
  figure, ax = _axes(ax, figsize)
  ale = result["ale"]
  edges = result["grid_values"]
  ax.plot(edges, ale[_output(ale, output)], marker="o", markersize=3, color="#2ca02c")
  ax.plot(edges, np.full(edges.shape, ax.get_ylim()[0]), "|", color="#555555", markersize=8)
  ax.axhline(0.0, color="#999999", linewidth=0.8)
  ax.set_xlabel(feature_name or f"feature {result['feature']}")
  ax.set_ylabel("accumulated local effect")
  figure.tight_layout()
  return figure
