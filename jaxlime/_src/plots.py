"""Matplotlib figures of explanations (the optional `plot` extra); imported only when asked for."""


def _pyplot():
  try:
    import matplotlib.pyplot as plt
  except ImportError as error:
    raise ImportError("plotting needs matplotlib: pip install 'jaxlime[plot]'") from error
  return plt


def weights_figure(explanation, index: int, label: int, figsize=(4, 4)):
  """lime's `as_pyplot_figure`: horizontal bars of the weights, largest at the top.

  Positive weights (towards `label`) are green, negative ones red, as in lime.

  Returns:
    The matplotlib Figure.
  """
  plt = _pyplot()
  weights = explanation.as_list(index, label)[::-1]
  figure = plt.figure(figsize=figsize)
  names = [name for name, _ in weights]
  values = [value for _, value in weights]
  colours = ["green" if value > 0 else "red" for value in values]
  positions = range(len(values))
  plt.barh(positions, values, align="center", color=colours)
  plt.yticks(positions, names)
  plt.title(f"Local explanation of instance {index} for {explanation._label_name(index, label)}")
  plt.tight_layout()
  return figure
