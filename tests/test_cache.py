"""The persistent compilation cache: on by default at the first explain (in the user's cache
directory), moved or turned off by JAXLIME_CACHE_DIR, a cache the user configured is kept, and
an unwritable directory only warns. Each case runs in a fresh process with a fake HOME and
XDG_CACHE_HOME, so nothing is written to the real user's cache. A disk with too little free space
turns it off with one warning too."""

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
if sys.argv[1] == "full":  # A disk with less free space than jaxlime asks for.
    from jaxlime._src import cache
    cache.MIN_FREE_BYTES = 2**62
X = np.random.RandomState(0).randn(40, 3)
model = lambda x: jax.numpy.stack([1 - jax.nn.sigmoid(x[:, 0]), jax.nn.sigmoid(x[:, 0])], 1)
exp = jaxlime.TabularExplainer(X).explain(X[:1], model, key=0, num_samples=50, num_features=2)
assert np.isfinite(np.asarray(exp.coef)).all()
print(before, jax.config.jax_compilation_cache_dir)
"""

_VERSION_DIR = f"jax-{jaxlib.version.__version__}"


def _environment(tmp_path, env_value=None, xdg=True):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  environment = {
      k: v
      for k, v in os.environ.items()
      if k not in ("JAXLIME_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME")
  }
  environment.update(PYTHONPATH=root, HOME=str(tmp_path / "home"))
  if xdg:
    environment["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
  if env_value is not None:
    environment["JAXLIME_CACHE_DIR"] = env_value
  return environment


def _run(tmp_path, *arguments, env_value=None, xdg=True, stderr=False):
  done = subprocess.run(
      [sys.executable, "-c", _SCRIPT, *arguments],
      env=_environment(tmp_path, env_value, xdg),
      check=True,
      capture_output=True,
      text=True,
      timeout=300,
  )
  return (done.stdout.split(), done.stderr) if stderr else done.stdout.split()


@pytest.mark.slow
def test_on_by_default_in_the_user_cache_directory(tmp_path):
  before, after = _run(tmp_path, "default")
  assert before == "None"  # Nothing at import: the first explain turns it on.
  assert after == str(tmp_path / "xdg" / "jaxlime" / _VERSION_DIR)
  assert os.listdir(after)  # Programs were written.
  assert not (tmp_path / "home").exists()


@pytest.mark.slow
def test_default_without_xdg_is_under_home(tmp_path):
  after = _run(tmp_path, "default", xdg=False)[1]
  assert after == str(tmp_path / "home" / ".cache" / "jaxlime" / _VERSION_DIR)
  assert os.listdir(after)


@pytest.mark.slow
def test_env_var_moves_or_disables(tmp_path):
  moved = tmp_path / "moved"
  assert _run(tmp_path, "default", env_value=str(moved))[1] == str(moved)
  assert os.listdir(moved)
  assert _run(tmp_path, "default", env_value="off") == ["None", "None"]
  assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


@pytest.mark.slow
def test_every_off_spelling_turns_it_off(tmp_path):
  script = (
      "import os, sys, jax\n"
      "from jaxlime._src import cache\n"
      "for off in sys.argv[1:]:\n"
      "  os.environ['JAXLIME_CACHE_DIR'] = off\n"
      "  cache._configured = False\n"
      "  assert cache.enable_default() is None, off\n"
      "print(jax.config.jax_compilation_cache_dir)\n"
  )
  spellings = ("off", "0", "false", "none", "OFF", " None ")
  done = subprocess.run(
      [sys.executable, "-c", script, *spellings],
      env=_environment(tmp_path),
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert done.returncode == 0, done.stderr
  assert done.stdout.split() == ["None"]


@pytest.mark.slow
def test_user_configured_cache_is_kept(tmp_path):
  mine = tmp_path / "mine"
  assert _run(tmp_path, "user", str(mine))[1] == str(mine)
  assert not (tmp_path / "xdg").exists()


@pytest.mark.slow
def test_unwritable_directory_warns_once_and_explains(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  (before, after), errors = _run(tmp_path, "default", env_value=str(blocker / "cache"), stderr=True)
  assert (before, after) == ("None", "None")  # The explanation ran (the script asserts it).
  assert errors.count("RuntimeWarning") == 1
  assert "cannot be written" in errors and "JAXLIME_CACHE_DIR" in errors


@pytest.mark.slow
def test_processes_sharing_one_cache_at_once(tmp_path):
  """Three processes fill one empty cache at the same time, then three read it at once: every
  explanation runs, and JAX reports no entry it could not read or write."""
  shared = tmp_path / "shared"
  for _ in range(2):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, "default"],
            env=_environment(tmp_path, str(shared)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for process in processes:
      out, errors = process.communicate(timeout=300)
      assert process.returncode == 0, errors
      assert out.split()[1] == str(shared)
      assert "persistent compilation cache" not in errors, errors
  assert len([name for name in os.listdir(shared) if name.endswith("-cache")]) >= 2


@pytest.mark.slow
def test_full_disk_warns_once_and_explains(tmp_path):
  (before, after), errors = _run(tmp_path, "full", env_value=str(tmp_path / "cache"), stderr=True)
  assert (before, after) == ("None", "None")
  assert errors.count("RuntimeWarning") == 1 and "MB free on its disk" in errors
  assert not os.listdir(tmp_path / "cache")  # Nothing but the probe, which is gone.
