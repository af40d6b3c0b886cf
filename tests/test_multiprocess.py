"""Two processes on one machine (jax.distributed on 127.0.0.1, gloo CPU collectives, 2 forced
devices each): every explainer, in the global and the process_local mode, equals one process."""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import multiprocess_worker as worker
from helpers import forced_devices_env

# The module's fixture runs two processes (up to _TIMEOUT_SECONDS) and a single-process reference
# before its first test: above the 600 s per-test limit of pyproject.toml on a loaded runner.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
_TIMEOUT_SECONDS = 420


def _free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def _run_two_processes(out_dir) -> list[subprocess.CompletedProcess]:
  """Starts both processes, waits at most _TIMEOUT_SECONDS, kills both on any failure."""
  port = _free_port()
  env = forced_devices_env(2, JAX_PLATFORMS="cpu")
  script = worker.__file__
  logs = [open(os.path.join(out_dir, f"log{i}.txt"), "w+") for i in range(2)]
  processes = [
      subprocess.Popen(
          [sys.executable, script, str(i), str(port), str(out_dir)],
          stdout=logs[i],
          stderr=subprocess.STDOUT,
          env=env,
      )
      for i in range(2)
  ]
  deadline = time.monotonic() + _TIMEOUT_SECONDS
  try:
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
      if any(p.poll() not in (None, 0) for p in processes):
        break  # One failed: the other would wait for it until the timeout.
      time.sleep(0.5)
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
      process.wait()
  outputs = []
  for log in logs:
    log.seek(0)
    outputs.append(log.read())
    log.close()
  for i, process in enumerate(processes):
    assert process.returncode == 0, f"process {i} failed:\n{outputs[i][-4000:]}"
  return outputs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  out_dir = tmp_path_factory.mktemp("multiprocess")
  _run_two_processes(out_dir)
  return [dict(np.load(out_dir / f"process{i}.npz")) for i in range(2)]


@pytest.fixture(scope="module")
def single():
  return worker.explain_all()


NAMES = ("tabular", "tabular_iter", "image", "tokens", "strings", "kernel_shap")


@pytest.mark.parametrize("name", NAMES)
def test_global_mode_gives_every_process_the_single_process_result(runs, single, name):
  for process in range(2):
    np.testing.assert_allclose(runs[process][f"global_{name}"], single[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_process_local_rows_equal_their_global_positions(runs, single, name):
  split = worker.SPLIT
  np.testing.assert_allclose(runs[0][f"local_{name}"], single[name][:split], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(runs[1][f"local_{name}"], single[name][split:], rtol=1e-4, atol=1e-6)


def test_process_local_explain_iter_yields_each_process_its_own_parts(runs):
  # Calls of 4 rows per process: process 0 has 7 rows (parts at 0 and 4), process 1 has 5.
  np.testing.assert_array_equal(runs[0]["local_tabular_iter_starts"], [0, 4])
  np.testing.assert_array_equal(runs[1]["local_tabular_iter_starts"], [0, 4])
  np.testing.assert_array_equal(runs[0]["global_tabular_iter_starts"], [0, 4, 8])
