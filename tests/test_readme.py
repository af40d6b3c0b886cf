"""The README's python blocks run as written: in order, in one namespace, on the README's data.

A block that cannot run here (a cluster, two cooperating processes) is preceded in README.md by
`<!-- skip: reason -->`; it is still compiled, and the number of such blocks is pinned below so
that skipping cannot grow unnoticed.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP_COMMENT = re.compile(r"^<!--\s*skip:\s*(?P<reason>.*?)\s*-->$")
# The multi-process recipe: tests/test_multiprocess.py runs it in two processes.
EXPECTED_SKIPPED = 1


class Block:
  """One fenced python block: its first code line in README.md, its code, its skip reason."""

  def __init__(self, line: int, code: str, skip: str | None):
    self.line, self.code, self.skip = line, code, skip


def python_blocks(text: str) -> list[Block]:
  """The ```python blocks of a markdown text, with the skip reason of the comment before each."""
  lines = text.splitlines()
  blocks, index = [], 0
  while index < len(lines):
    if lines[index].strip() == "```python":
      start = index + 1
      end = start
      while lines[end].strip() != "```":
        end += 1
      previous = next((lines[j].strip() for j in range(index - 1, -1, -1) if lines[j].strip()), "")
      match = SKIP_COMMENT.match(previous)
      blocks.append(Block(start + 1, "\n".join(lines[start:end]), match and match["reason"]))
      index = end
    index += 1
  return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_blocks_are_found_and_every_one_compiles():
  assert len(BLOCKS) >= 10, [block.line for block in BLOCKS]
  for block in BLOCKS:
    compile(block.code, f"README.md:{block.line}", "exec")


def test_skipped_blocks_are_the_pinned_ones_with_reasons():
  skipped = [block for block in BLOCKS if block.skip is not None]
  assert len(skipped) == EXPECTED_SKIPPED, [(block.line, block.skip) for block in skipped]
  assert all(len(block.skip) > 20 for block in skipped), [block.skip for block in skipped]
  # Every skip comment belongs to a python block (a stray one would skip nothing, silently).
  comments = [line for line in README.read_text().splitlines() if SKIP_COMMENT.match(line.strip())]
  assert len(comments) == len(skipped), comments


def test_python_block_parser_reads_skip_reasons():
  text = "x\n\n<!-- skip: needs a cluster -->\n```python\na = 1\n```\n```sh\nls\n```\n```python\nb = 2\n```\n"
  blocks = python_blocks(text)
  assert [(block.line, block.code, block.skip) for block in blocks] == [
      (5, "a = 1", "needs a cluster"),
      (11, "b = 2", None),
  ]


@pytest.mark.parametrize(
    "block", [block for block in BLOCKS if block.skip], ids=lambda block: f"line{block.line}"
)
def test_skipped_block_reports_its_reason(block):
  pytest.skip(f"README.md:{block.line}: {block.skip}")


# Runs the blocks in a fresh process, as a reader runs them (this process compiles at XLA's
# optimisation level 0, see conftest.py, where the blocks' explanations run slower).
_RUNNER = r"""
import json, sys, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
namespace = {"__name__": "__readme__"}
for line, code in json.load(open(sys.argv[1])):
  try:
    exec(compile(code, f"README.md:{line}", "exec"), namespace)
  except Exception:
    sys.exit(f"README.md block at line {line} failed:\n{traceback.format_exc()}")
  finally:
    plt.close("all")
  print(f"ran README.md:{line}", flush=True)
"""


@pytest.mark.slow  # 25 s at load average 2 on 2 cores: a dozen explainer configurations compile.
def test_every_python_block_runs_in_order(tmp_path):
  # Blocks may read examples/ relative to the clone and write report.html into the current
  # directory: run them in a scratch directory that sees the repository's examples.
  os.symlink(ROOT / "examples", tmp_path / "examples")
  runnable = [(block.line, block.code) for block in BLOCKS if block.skip is None]
  (tmp_path / "blocks.json").write_text(json.dumps(runnable))
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
  done = subprocess.run(
      [sys.executable, "-c", _RUNNER, "blocks.json"],
      cwd=tmp_path,
      env=env,
      capture_output=True,
      text=True,
      timeout=540,
  )
  assert done.returncode == 0, done.stderr[-5000:]
  assert done.stdout.count("ran README.md:") == len(BLOCKS) - EXPECTED_SKIPPED
  assert (tmp_path / "report.html").exists()
