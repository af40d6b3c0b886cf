"""The persistent compilation cache: off by default, on at the first explain when JAXLIME_CACHE_DIR
asks, and a cache the user configured is kept."""

import os
import subprocess
import sys

import jaxlib.version
import pytest

_SCRIPT = r"""
import sys
import jax
import numpy as np
import jaxlime
before = jax.config.jax_compilation_cache_dir
if sys.argv[1] == "user":
    jax.config.update("jax_compilation_cache_dir", sys.argv[2])
X = np.random.RandomState(0).randn(40, 3)
model = lambda x: jax.numpy.stack([1 - jax.nn.sigmoid(x[:, 0]), jax.nn.sigmoid(x[:, 0])], 1)
jaxlime.TabularExplainer(X).explain(X[:1], model, key=0, num_samples=50, num_features=2)
print(before, jax.config.jax_compilation_cache_dir)
"""


def _run(tmp_path, *arguments, env_value=None):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  environment = {
      k: v
      for k, v in os.environ.items()
      if k not in ("JAXLIME_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR")
  }
  environment.update(PYTHONPATH=root, XDG_CACHE_HOME=str(tmp_path / "xdg"))
  if env_value is not None:
    environment["JAXLIME_CACHE_DIR"] = env_value
  out = subprocess.run(
      [sys.executable, "-c", _SCRIPT, *arguments],
      env=environment,
      check=True,
      capture_output=True,
      text=True,
      timeout=300,
  ).stdout
  return out.split()


def test_off_by_default_and_default_directory_on_request(tmp_path):
  assert _run(tmp_path, "default") == ["None", "None"]
  assert not (tmp_path / "xdg").exists()
  before, after = _run(tmp_path, "default", env_value="default")
  assert before == "None"  # Nothing at import: the first explain turns it on.
  assert after == str(tmp_path / "xdg" / "jaxlime" / f"jax-{jaxlib.version.__version__}")
  assert os.listdir(after)  # Programs were written.


@pytest.mark.slow
def test_env_var_chooses_or_disables(tmp_path):
  moved = tmp_path / "moved"
  assert _run(tmp_path, "default", env_value=str(moved))[1] == str(moved)
  assert _run(tmp_path, "default", env_value="off") == ["None", "None"]
  assert not (tmp_path / "xdg").exists()


def test_user_configured_cache_is_kept(tmp_path):
  mine = tmp_path / "mine"
  assert _run(tmp_path, "user", str(mine))[1] == str(mine)
  assert not (tmp_path / "xdg").exists()
