"""lime's `lime.wrappers.scikit_image`: scikit-image segmentations with filtered parameters."""

import types

from jaxlime._src.segmentation import _skimage_segmentation
from jaxlime.compat.utils.generic_utils import has_arg


class BaseWrapper:
  """lime's wrapper of a target function and the parameters to call it with.

  Args:
    target_fn: a function or a callable object.
    **target_params: keyword arguments for target_fn.
  """

  def __init__(self, target_fn=None, **target_params):
    self.target_fn = target_fn
    self.target_params = target_params

  def _check_params(self, parameters):
    """Raises ValueError for a parameter target_fn does not take; TypeError for a string."""
    if self.target_fn is None:
      if not callable(self):
        raise TypeError(
            "invalid argument: tested object is not callable, please provide a " "valid target_fn"
        )
      functions = [self.__call__]
    elif isinstance(self.target_fn, (types.FunctionType, types.MethodType)):
      functions = [self.target_fn]
    else:
      functions = [self.target_fn.__call__]
    if isinstance(parameters, str):
      raise TypeError("invalid argument: list or dictionary expected; got a str.")
    for parameter in parameters:
      for function in functions:
        if not has_arg(function, parameter):
          raise ValueError(f"{parameter} is not a valid parameter")

  def set_params(self, **params):
    """Replaces target_params after checking that target_fn takes each of them."""
    self._check_params(params)
    self.target_params = params

  def filter_params(self, fn, override=None):
    """The target_params that `fn` takes, updated with `override`."""
    result = {name: value for name, value in self.target_params.items() if has_arg(fn, name)}
    result.update(override or {})
    return result


class SegmentationAlgorithm(BaseWrapper):
  """lime's segmentation: "quickshift", "slic" or "felzenszwalb" from scikit-image.

  Parameters the scikit-image function does not take are dropped, as lime drops them.
  """

  def __init__(self, algo_type, **target_params):
    self.algo_type = algo_type
    if algo_type in ("quickshift", "felzenszwalb", "slic"):
      function = getattr(_skimage_segmentation(), algo_type)
      BaseWrapper.__init__(self, function, **target_params)
      self.set_params(**self.filter_params(function))

  def __call__(self, *args):
    return self.target_fn(args[0], **self.target_params)
