"""JAX's persistent compilation cache for jaxlime's explainers: opt-in, with JAXLIME_CACHE_DIR.

A new explainer configuration compiles for seconds; with the cache a fresh process loads the
compiled programs from disk instead. `enable_default()` is called by the driver at the first
explain (never at import) and turns the cache on when the environment variable
`JAXLIME_CACHE_DIR` names a directory (`default` picks `$XDG_CACHE_HOME/jaxlime/jax-<jaxlib
version>`, i.e. `~/.cache/jaxlime/jax-<jaxlib version>`); programs that took at least
`MIN_COMPILE_SECONDS` to compile are then written to it. It does nothing when the variable is
unset or `off` (`0`, `false`, `none`), or when the user configured JAX's cache already
(`jax_compilation_cache_dir`, e.g. through `JAX_COMPILATION_CACHE_DIR`): theirs is kept.

It is off by default for now. Two full runs of the test suite with it on died inside JAX's cache
code (a segmentation fault reading an entry, an abort serialising one); a third run with it off
died in XLA's compile at the same point. The cause was most likely the test process running out
of memory maps (Linux's vm.max_map_count) after thousands of compiled programs, not the cache;
whether the cache is safe to turn on by default was not measured again. JAX's cache is process-wide: the
user's own jitted functions are cached there too. Programs that call back into Python
(`jaxlime.host_model`) are never cached by JAX.
"""

import os
import threading

import jax
import jaxlib.version

ENV_VAR = "JAXLIME_CACHE_DIR"
_OFF = ("off", "0", "false", "none")
# Programs compiling faster than this are not worth a disk entry (JAX's default is 1 s, which
# skips most of jaxlime's sampling and fitting programs: they compile in 0.1-1 s).
MIN_COMPILE_SECONDS = 0.05

_lock = threading.Lock()
_configured = False


def default_directory() -> str:
  """`$XDG_CACHE_HOME/jaxlime/jax-<jaxlib version>`, or `~/.cache/jaxlime/jax-<version>`: one
  directory per jaxlib, so that programs compiled by another version are never read."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "jaxlime", f"jax-{jaxlib.version.__version__}")


def enable_default() -> str | None:
  """Turns on JAX's persistent compilation cache once per process when JAXLIME_CACHE_DIR asks.

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
    if not setting or setting.lower() in _OFF:
      return None
    directory = default_directory() if setting.lower() == "default" else setting
    try:
      os.makedirs(directory, exist_ok=True)
    except OSError:
      return None  # A read-only home: explain without the cache rather than fail.
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
