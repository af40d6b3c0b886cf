"""lime's `lime.lime_base.LimeBase`: the weighted surrogate fit on given samples.

`explain_instance_with_data` is `jaxlime.fit_surrogate` (lime's feature selection and
Ridge(alpha=1)); with a scikit-learn `model_regressor` the regressor is fit on the host on the
features the engine selected, as lime does.
"""

import jax
import numpy as np

from jaxlime.compat import _common


class LimeBase:
  """lime's `LimeBase(kernel_fn, verbose=False, random_state=None)`.

  Args:
    kernel_fn: distances [S] -> weights [S] (numpy).
    verbose: print the intercept, the local prediction and the model's output, as lime.
    random_state: kept for lime's signature (the closed-form fit draws no random numbers).
  """

  def __init__(self, kernel_fn, verbose=False, random_state=None):
    self.kernel_fn = kernel_fn
    self.verbose = verbose
    self.random_state = _common.check_random_state(random_state)

  def feature_selection(self, data, labels, weights, num_features, method):
    """The feature ids lime's `method` selects: data [S, D], labels [S], weights [S]."""
    dtype = jax.dtypes.canonicalize_dtype(np.float64)
    fit = _common._fit_batch(
        np.asarray(data, dtype)[None],
        np.asarray(labels, dtype)[None, :, None],
        np.asarray(weights, dtype)[None],
        num_features=int(num_features),
        feature_selection=method,
    )
    return np.flatnonzero(np.asarray(fit.selected[0, 0]))

  def forward_selection(self, data, labels, weights, num_features):
    """lime's greedy forward selection of `num_features` features."""
    return self.feature_selection(data, labels, weights, num_features, "forward_selection")

  def explain_instance_with_data(
      self,
      neighborhood_data,
      neighborhood_labels,
      distances,
      label,
      num_features,
      feature_selection="auto",
      model_regressor=None,
  ):
    """lime's local fit for one label.

    Args:
      neighborhood_data: [S, D] samples, row 0 the instance.
      neighborhood_labels: [S, C] model outputs.
      distances: [S] distances to row 0 (weighted by `kernel_fn`).
      label: the output column to explain.
      num_features: K.
      feature_selection: "auto", "none", "highest_weights", "forward_selection", "lasso_path".
      model_regressor: None for Ridge(alpha=1), or a scikit-learn regressor.

    Returns:
      (intercept, [(feature id, weight)] sorted by |weight|, score, local_pred [1]).
    """
    weights = np.asarray(self.kernel_fn(np.asarray(distances)), np.float64)
    outputs = np.asarray(neighborhood_labels, np.float64)
    fit = _common.fit_instances(
        np.asarray(neighborhood_data, np.float64)[None],
        outputs[None],
        weights[None],
        [[label]],
        num_features=num_features,
        feature_selection=feature_selection,
        model_regressor=model_regressor,
        verbose=self.verbose,
    )
    return fit[0][label]
