"""One status code per fit: whether an explanation can be trusted, and why not.

Every surrogate fit (per instance and label) and every Kernel SHAP solve reports one integer code.
The value problems it describes can only be seen inside the jitted program; the explainers turn
them into a warning or an error on the host, and `Explanation.status` keeps them.
"""

import enum


class FitStatus(enum.IntEnum):
  """Status codes of a fit, most serious last in `MESSAGES`' order of precedence."""

  OK = 0
  DEGENERATE_WEIGHTS = 1
  SINGULAR = 2
  NONFINITE_OUTPUT = 3
  ILL_CONDITIONED = 4

  @property
  def message(self) -> str:
    return MESSAGES[self]


MESSAGES = {
    FitStatus.OK: "ok",
    FitStatus.DEGENERATE_WEIGHTS: (
        "the kernel weights sum to ~0 (kernel_width too small for the distances?): the "
        "coefficients are not meaningful"
    ),
    FitStatus.SINGULAR: (
        "the weighted system is singular (too few distinct samples for the features): the "
        "coefficients are not meaningful"
    ),
    FitStatus.NONFINITE_OUTPUT: "the model returned NaN/inf on some perturbed samples",
    FitStatus.ILL_CONDITIONED: (
        "the weighted system is too ill-conditioned for the float precision (condition number "
        "times machine epsilon above 0.1): the coefficients may be wrong by more than 10%; "
        "enable float64 with jax.config.update('jax_enable_x64', True), or rescale the kernel "
        "weights"
    ),
}


def describe(code: int) -> str:
  """The message of a status code."""
  return FitStatus(int(code)).message
