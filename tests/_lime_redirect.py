"""A pytest plugin that runs lime's own test files against jaxlime.compat.

`lime.<module>` imports resolve to `jaxlime.compat.<module>`; `lime.tests.*` resolve to the test
files inside the installed lime wheel (read in place, not copied). Any other `lime.*` name raises
ImportError, so nothing of lime's implementation can be imported by mistake.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys
import types

MODULES = (
    "lime_tabular",
    "lime_text",
    "lime_image",
    "lime_base",
    "explanation",
    "discretize",
    "submodular_pick",
    "wrappers",
    "wrappers.scikit_image",
    "utils",
    "utils.generic_utils",
)


def lime_directory() -> str:
  spec = importlib.util.find_spec("lime")
  return os.path.dirname(spec.origin)


class _OnlyTests(importlib.abc.MetaPathFinder):
  """Refuses lime.* modules that are neither redirected nor lime's tests."""

  def find_spec(self, name, path=None, target=None):
    if name.startswith("lime.") and not name.startswith("lime.tests"):
      raise ImportError(f"{name} is not redirected to jaxlime.compat")
    return None


def install():
  package = types.ModuleType("lime")
  package.__path__ = [lime_directory()]
  package.__file__ = os.path.join(lime_directory(), "__init__.py")
  sys.modules["lime"] = package
  for name in MODULES:
    module = importlib.import_module(f"jaxlime.compat.{name}")
    sys.modules[f"lime.{name}"] = module
    parent, _, child = f"lime.{name}".rpartition(".")
    setattr(sys.modules[parent], child, module)
  sys.meta_path.insert(0, _OnlyTests())


install()
