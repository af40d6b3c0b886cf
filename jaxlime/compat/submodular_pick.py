"""lime's `lime.submodular_pick.SubmodularPick` with jaxlime's greedy pick."""

import warnings

import numpy as np

from jaxlime._src import submodular


class SubmodularPick:
  """lime's SP-LIME: explain a sample of rows, then pick a few that cover the important features.

  Args: as lime's `SubmodularPick(explainer, data, predict_fn, method="sample",
  sample_size=1000, num_exps_desired=5, num_features=10, **kwargs)`; kwargs go to the
  explainer (top_labels defaults to 1). The rows are explained in one `explain_instances` call.

  Attributes:
    explanations: the explanations of the sampled rows.
    V: indices (into `explanations`) of the picked ones.
    sp_explanations: the picked explanations.
  """

  def __init__(
      self,
      explainer,
      data,
      predict_fn,
      method="sample",
      sample_size=1000,
      num_exps_desired=5,
      num_features=10,
      **kwargs,
  ):
    top_labels = kwargs.pop("top_labels", 1)
    data = np.asarray(data) if not isinstance(data, list) else data
    if method == "sample":
      if sample_size > len(data):
        warnings.warn(
            "Requested sample size larger than size of input data. Using all data", stacklevel=2
        )
        sample_size = len(data)
      indices = np.arange(len(data))
      np.random.shuffle(indices)
      indices = indices[:sample_size]
    elif method == "full":
      indices = np.arange(len(data))
    else:
      raise ValueError(f"method must be 'sample' or 'full'; got {method!r}.")
    rows = [data[i] for i in indices] if isinstance(data, list) else data[indices]
    self.explanations = explainer.explain_instances(
        rows, predict_fn, num_features=num_features, top_labels=top_labels, **kwargs
    )
    try:
      num_exps_desired = int(num_exps_desired)
    except TypeError:
      return
    if num_exps_desired > len(self.explanations):
      warnings.warn(
          "Requested number of explanations should be less than the number of "
          "explanations. Setting to the number of explanations.",
          stacklevel=2,
      )
    num_exps_desired = min(num_exps_desired, len(self.explanations))
    # lime's matrix: one column per readable feature name (as_list), in order of appearance.
    columns = {}
    for exp in self.explanations:
      for label in self._labels(exp):
        for name, _ in exp.as_list(label):
          columns.setdefault(name, len(columns))
    weights = np.zeros((len(self.explanations), len(columns)))
    for i, exp in enumerate(self.explanations):
      for label in self._labels(exp):
        for name, value in exp.as_list(label):
          weights[i, columns[name]] += value
    self.V = [int(i) for i in np.asarray(submodular.submodular_pick(weights, num_exps_desired))]
    self.sp_explanations = [self.explanations[i] for i in self.V]

  @staticmethod
  def _labels(exp):
    return exp.available_labels() if exp.mode == "classification" else [1]
