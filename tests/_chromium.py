"""Headless chromium helpers: a page's DOM after rendering, and a screenshot as an array."""

import os
import shutil
import subprocess
import tempfile

import numpy as np

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def executable() -> str | None:
  return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(arguments: list[str]) -> subprocess.CompletedProcess:
  with tempfile.TemporaryDirectory() as profile:
    return subprocess.run(
        [executable(), *_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def dump_dom(path: str) -> str:
  """The DOM of the file at `path` after chromium rendered it."""
  return _run(["--dump-dom", f"file://{os.path.abspath(path)}"]).stdout


def screenshot(path: str, size=(1200, 800)) -> np.ndarray:
  """The page at `path` rendered to PNG: [H, W, C] floats in [0, 1]."""
  from matplotlib import image as mpl_image

  with tempfile.TemporaryDirectory() as directory:
    png = os.path.join(directory, "page.png")
    _run(
        [
            f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}",
            f"file://{os.path.abspath(path)}",
        ]
    )
    return mpl_image.imread(png)
