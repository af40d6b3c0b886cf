"""JAX's persistent compilation cache for jaxlime's explainers: on by default.

A new explainer configuration compiles for seconds; with the cache a fresh process loads the
compiled programs from disk instead. `enable_default()` is called by the driver and the compat
explainers at the first explain (never at import) and points JAX's cache at
`$XDG_CACHE_HOME/jaxlime/jax-<jaxlib version>` (`~/.cache/jaxlime/jax-<jaxlib version>`);
programs that took at least `MIN_COMPILE_SECONDS` to compile are written there.

The environment variable `JAXLIME_CACHE_DIR` moves it (a directory) or turns it off (`off`, `0`,
`false`, `none`); `default` names the default directory. A cache the user configured in JAX
(`jax_compilation_cache_dir`, e.g. through `JAX_COMPILATION_CACHE_DIR`) is kept and jaxlime
changes nothing. A directory that cannot be created or written (a read-only home), or a disk
with less than `MIN_FREE_BYTES` free, turns the cache off for the process with one
`RuntimeWarning`; explanations work without it. The directory can be deleted at any time.

What JAX does with it (jax 0.10.2, `jax/_src/lru_cache.py` and `compiler.py`): an entry is
written in place, not atomically, and without a lock unless a size bound is set; reading or
writing an entry that fails (a truncated entry, a disk that fills up during the run) never fails
the compilation: JAX warns once per entry and compiles. jaxlime sets no size bound on purpose:
with one, JAX locks the directory and evicts by access-time files, and a single entry whose
access-time file is missing (a write interrupted between the two files) makes every later write
fail. Processes sharing the directory were measured to work (tests/test_cache.py): an entry
read while another process writes it is at worst a warning and a compilation.

JAX's cache is process-wide: the user's own jitted functions are cached there too. Programs
that call back into Python (`jaxlime.host_model`) are never cached by JAX.
"""

import os
import shutil
import tempfile
import threading
import warnings

import jax
import jaxlib.version

ENV_VAR = "JAXLIME_CACHE_DIR"
_OFF = ("off", "0", "false", "none")
# Programs compiling faster than this are not worth a disk entry (JAX's default is 1 s, which
# skips most of jaxlime's sampling and fitting programs: they compile in 0.1-1 s).
MIN_COMPILE_SECONDS = 0.05
# Free disk space below which the cache stays off: a disk that fills up while JAX writes leaves
# truncated entries (read back with a warning, then compiled again, in every later process).
MIN_FREE_BYTES = 256 * 2**20

_lock = threading.Lock()
_configured = False


def default_directory() -> str:
  """`$XDG_CACHE_HOME/jaxlime/jax-<jaxlib version>`, or `~/.cache/jaxlime/jax-<version>`: one
  directory per jaxlib, so that programs compiled by another version are never read."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "jaxlime", f"jax-{jaxlib.version.__version__}")


def _write_problem(directory: str) -> str | None:
  """None when `directory` exists (or can be made), a file can be written in it and its disk
  has `MIN_FREE_BYTES` free; else why not."""
  try:
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory) as probe:
      probe.write(b"0")
    free = shutil.disk_usage(directory).free
  except OSError as error:
    return f"{type(error).__name__}: {error}"
  if free < MIN_FREE_BYTES:
    return f"only {free / 2**20:.0f} MB free on its disk"
  return None


def enable_default() -> str | None:
  """Turns on JAX's persistent compilation cache once per process, unless JAXLIME_CACHE_DIR
  turns it off or the user configured JAX's cache.

  Returns:
    The cache directory in use (jaxlime's or the user's), or None when it is off.
  """
  global _configured
  with _lock:
    user_directory = jax.config.jax_compilation_cache_dir
    if _configured or user_directory:
      return user_directory
    _configured = True
    setting = (os.environ.get(ENV_VAR) or "").strip()
    if setting.lower() in _OFF:
      return None
    directory = default_directory() if setting.lower() in ("", "default") else setting
    problem = _write_problem(directory)
    if problem is not None:
      warnings.warn(
          f"jaxlime's compilation cache is off for this process: {directory} cannot be "
          f"written ({problem}). Explanations work, but compile again in every new process. "
          f"Set {ENV_VAR} to a writable directory, or to 'off' to silence this warning.",
          RuntimeWarning,
          stacklevel=3,
      )
      return None
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
