"""lime's `lime.utils.generic_utils`."""

import inspect


def has_arg(fn, arg_name):
  """Whether the callable `fn` accepts `arg_name` as a keyword argument."""
  try:
    signature = inspect.signature(fn)
  except ValueError:
    signature = inspect.signature(fn.__call__)
  parameter = signature.parameters.get(arg_name)
  if parameter is None:
    return False
  return parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
