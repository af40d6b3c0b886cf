"""lime's `lime.explanation`: the per-instance `Explanation` and the `DomainMapper` base class.

The HTML is jaxlime's self-contained page (`jaxlime._src.html`), not lime's JavaScript bundle:
prediction probabilities (or the predicted value), the weights as bars, and the instance panel
of the domain mapper.
"""

import string

import numpy as np

from jaxlime._src import html as html_lib
from jaxlime.compat._common import check_random_state


def id_generator(size=15, random_state=None):
  """lime's random div id: `size` upper-case letters and digits."""
  chars = list(string.ascii_uppercase + string.digits)
  return "".join(check_random_state(random_state).choice(chars, size, replace=True))


class DomainMapper:
  """Maps feature ids to names and draws the instance panel; one subclass per modality."""

  def __init__(self):
    pass

  def map_exp_ids(self, exp, **kwargs):
    """[(feature id, weight)] -> [(name, weight)]; the identity here."""
    return exp

  def visualize_instance_html(self, exp, label, div_name, exp_object_name, **kwargs):
    """HTML of the instance panel (lime returns JavaScript); empty here."""
    return ""


class Explanation:
  """What lime's explainers return for one instance.

  Attributes (lime's): `local_exp` {label: [(feature id, weight)] sorted by |weight|},
  `intercept` {label: float}, `score` and `local_pred` (of the last label fitted, as lime),
  `domain_mapper`, `mode`, `class_names`; in classification `predict_proba` [C] and
  `top_labels`; in regression `predicted_value`, `min_value`, `max_value`.
  """

  def __init__(self, domain_mapper, mode="classification", class_names=None, random_state=None):
    self.random_state = random_state
    self.mode = mode
    self.domain_mapper = domain_mapper
    self.local_exp = {}
    self.intercept = {}
    self.score = None
    self.local_pred = None
    if mode == "classification":
      self.class_names = class_names
      self.top_labels = None
      self.predict_proba = None
    elif mode == "regression":
      self.class_names = ["negative", "positive"]
      self.predicted_value = None
      self.min_value = 0.0
      self.max_value = 1.0
      self.dummy_label = 1
    else:
      raise ValueError(
          f"Invalid explanation mode {mode!r}. Should be either 'classification' or 'regression'."
      )

  def __repr__(self):
    labels = list(self.local_exp)
    return (
        f"Explanation(mode={self.mode!r}, labels={labels}, "
        f"num_features={max((len(v) for v in self.local_exp.values()), default=0)})"
    )

  def available_labels(self):
    """The labels explained (top_labels order when given)."""
    if self.mode != "classification":
      raise NotImplementedError("Not supported for regression explanations.")
    return list(self.top_labels if self.top_labels else self.local_exp.keys())

  def as_list(self, label=1, **kwargs):
    """[(readable feature, weight)] of `label`, sorted by |weight| (label ignored in regression)."""
    label = label if self.mode == "classification" else self.dummy_label
    self._check_label(label)
    pairs = self.domain_mapper.map_exp_ids(self.local_exp[label], **kwargs)
    return [(pair[0], float(pair[1])) for pair in pairs]

  def as_map(self):
    """{label: [(feature id, weight)]}."""
    return self.local_exp

  def _check_label(self, label):
    if label not in self.local_exp:
      raise KeyError(
          f"label {label} was not explained; explained labels: {list(self.local_exp)}. Pass "
          f"labels=({label},) or top_labels to explain_instance."
      )

  def as_pyplot_figure(self, label=1, **kwargs):
    """lime's bar chart of `as_list(label)`: green positive, red negative (needs matplotlib)."""
    import matplotlib.pyplot as plt

    exp = self.as_list(label=label, **kwargs)
    fig = plt.figure()
    values = [x[1] for x in exp][::-1]
    names = [x[0] for x in exp][::-1]
    colors = ["green" if x > 0 else "red" for x in values]
    positions = np.arange(len(exp)) + 0.5
    plt.barh(positions, values, align="center", color=colors)
    plt.yticks(positions, names)
    if self.mode == "classification":
      plt.title(f"Local explanation for class {self.class_names[label]}")
    else:
      plt.title("Local explanation")
    return fig

  def _panels(self, labels=None, predict_proba=True, show_predicted_value=True, **kwargs):
    panels = []
    if self.mode == "classification" and predict_proba and self.predict_proba is not None:
      panels.append(html_lib.probabilities_panel(self.class_names, self.predict_proba))
    if self.mode == "regression" and show_predicted_value:
      panels.append(
          html_lib.predicted_value_panel(
              float(self.predicted_value), float(self.min_value), float(self.max_value)
          )
      )
    if self.mode == "classification":
      labels = self.available_labels() if labels is None else labels
    else:
      labels = [self.dummy_label]
    for label in labels:
      weights = self.as_list(label)
      if self.mode == "classification":
        name = self.class_names[label]
        panels.append(
            html_lib.weights_panel(
                f"Weights for {name}", weights, positive_name=str(name), negative_name=f"NOT {name}"
            )
        )
      else:
        panels.append(
            html_lib.weights_panel(
                "Weights", weights, positive_name="positive", negative_name="negative"
            )
        )
    first = labels[0] if labels else 1
    panels.append(
        self.domain_mapper.visualize_instance_html(
            self.local_exp.get(first, []), first, "instance", "exp", **kwargs
        )
    )
    return panels

  def as_html(self, labels=None, predict_proba=True, show_predicted_value=True, **kwargs):
    """A self-contained HTML page: probabilities, weights per label, the instance."""
    return html_lib.page(self._panels(labels, predict_proba, show_predicted_value, **kwargs))

  def save_to_file(
      self, file_path, labels=None, predict_proba=True, show_predicted_value=True, **kwargs
  ):
    """Writes `as_html(...)` to `file_path` (UTF-8)."""
    with open(file_path, "w", encoding="utf8") as handle:
      handle.write(self.as_html(labels, predict_proba, show_predicted_value, **kwargs))

  def show_in_notebook(self, labels=None, predict_proba=True, show_predicted_value=True, **kwargs):
    """Displays the page in IPython (needs IPython)."""
    from IPython.display import HTML, display

    display(
        HTML(html_lib.fragment(self._panels(labels, predict_proba, show_predicted_value, **kwargs)))
    )

  def _repr_html_(self):
    return html_lib.fragment(self._panels())
