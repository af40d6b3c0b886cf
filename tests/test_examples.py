"""Each example runs as a user runs it (a subprocess in examples/) with its --quick switch, and
writes its figure or HTML page.

examples/global.py is run by tests/test_global_report.py::test_example_writes_the_report, which
also checks its report's sections.
"""

import pathlib

import pytest
from helpers import run_example

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: pathlib.Path, min_bytes: int = 5_000):
  assert path.exists(), path
  content = path.read_bytes()
  assert content.startswith(PNG_SIGNATURE) and len(content) > min_bytes, len(content)


@pytest.mark.slow  # About 15 s of CPU: trains the MLP and explains the test rows at S = 500.
def test_quickstart_writes_its_figure(tmp_path):
  figure = tmp_path / "quickstart.png"
  stdout = run_example("quickstart.py", "--quick", "--output", str(tmp_path))
  assert "Explained 114 instances" in stdout  # The test split.
  assert stdout.count("surrogate R^2") == 3  # The three instances it describes.
  assert_png(figure)


@pytest.mark.slow  # About 20 s of CPU: trains the CNN for one epoch, explains 8 images.
def test_image_example_writes_its_figure(tmp_path):
  figure = tmp_path / "image.png"
  stdout = run_example("image.py", "--quick", "--output", str(figure))
  assert "Explained 8 images" in stdout and "get_image_and_mask" in stdout
  assert_png(figure, min_bytes=20_000)  # Eight images and their heat-maps.


@pytest.mark.slow  # About 15 s of CPU: trains the embedding bag, explains 8 sentences.
def test_text_example_writes_its_html(tmp_path):
  page = tmp_path / "text.html"
  stdout = run_example("text.py", "--quick", "--output", str(page))
  assert "explained 8 texts" in stdout
  html = page.read_text(encoding="utf-8")
  assert html.startswith("<html>") and html.count("<script") == 0
  # Each of the 8 sentences appears in the page (its words highlighted inside).
  for word in ("wonderful", "lifeless", "touching", "tedious", "gripping", "silly", "charming"):
    assert word in html, word


@pytest.mark.slow  # About a minute: two processes each train the MLP and join jax.distributed.
def test_distributed_example_agrees_across_two_processes():
  stdout = run_example("distributed.py", "--quick", timeout=540)
  assert stdout.count("equal to their global explanations: True") == 2, stdout
