"""Headless-browser helpers for tests: render a local HTML file with Debian's chromium.

  import browser  # tests/ is on sys.path under pytest, as for helpers.py
  browser.screenshot(html_path, png_path); browser.dump_dom(html_path)

`require_chromium()` returns the browser's path or skips the test with the reason (`.ci/run`
installs chromium when it is missing). Every call uses a fresh profile directory and no network
features, so a page that needs anything from outside shows up as missing content.
"""

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TIMEOUT_SECONDS = 120


def find_chromium() -> str | None:
  """The path of a chromium/chrome executable (CHROMIUM env var first), or None."""
  explicit = os.environ.get("CHROMIUM")
  if explicit and shutil.which(explicit):
    return shutil.which(explicit)
  for name in CANDIDATES:
    path = shutil.which(name)
    if path:
      return path
  return None


def require_chromium() -> str:
  """The chromium path, or skips the calling test when none is installed."""
  path = find_chromium()
  if path is None:
    pytest.skip("no chromium found on PATH (apt-get install chromium; .ci/run installs it)")
  return path


def _run(arguments: list[str]) -> subprocess.CompletedProcess:
  """Runs chromium with the common flags, a fresh profile and --no-sandbox when root."""
  browser = require_chromium()
  with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
    command = [browser, *FLAGS, f"--user-data-dir={profile}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
      command.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox.
    result = subprocess.run(
        command + arguments, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
    )
  if result.returncode != 0:
    raise RuntimeError(f"chromium exited with {result.returncode}: {result.stderr[-2000:]}")
  return result


def dump_dom(html_path) -> str:
  """The DOM of the page after loading (chromium's --dump-dom), as HTML text."""
  url = pathlib.Path(html_path).resolve().as_uri()
  return _run(["--dump-dom", url]).stdout


def screenshot(html_path, png_path, *, width: int = 1200, height: int = 3000) -> pathlib.Path:
  """Renders the page to a PNG of width x height pixels; returns its path."""
  url = pathlib.Path(html_path).resolve().as_uri()
  png_path = pathlib.Path(png_path).resolve()
  _run([f"--screenshot={png_path}", f"--window-size={width},{height}", url])
  if not png_path.exists():
    raise RuntimeError(f"chromium did not write the screenshot {png_path}.")
  return png_path
