"""Matplotlib figures of explanations (the optional `plot` extra); imported only when asked for."""


def _pyplot():
  try:
    import matplotlib.pyplot as plt
  except ImportError as error:
    raise ImportError("plotting needs matplotlib: pip install 'jaxlime[plot]'") from error
  return plt


def weights_figure(explanation, index: int, label: int, figsize=(4, 4), level: float | None = 0.95):
  """lime's `as_pyplot_figure`: horizontal bars of the weights, largest at the top.

  Positive weights (towards `label`) are green, negative ones red, as in lime. With `level`,
  each bar carries the coefficient's central credible interval (`Explanation.interval`) as a
  black error bar.

  Returns:
    The matplotlib Figure.
  """
  plt = _pyplot()
  order = explanation._weights(index, label)[::-1]
  weights = explanation.as_list(index, label)[::-1]
  figure = plt.figure(figsize=figsize)
  names = [name for name, _ in weights]
  values = [value for _, value in weights]
  colours = ["green" if value > 0 else "red" for value in values]
  positions = range(len(values))
  error = None
  if level is not None:
    lower, upper = explanation.interval(index, label, level)
    error = [
        [value - lower[j] for (j, _), value in zip(order, values)],
        [upper[j] - value for (j, _), value in zip(order, values)],
    ]
  plt.barh(positions, values, align="center", color=colours, xerr=error, ecolor="black", capsize=3)
  plt.yticks(positions, names)
  plt.title(f"Local explanation of instance {index} for {explanation._label_name(index, label)}")
  plt.tight_layout()
  return figure
