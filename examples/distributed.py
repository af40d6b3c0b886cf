"""Explaining over several processes with JAX's multi-controller runtime, on one machine.

  pip install -e ".[examples]" && python examples/distributed.py [--quick]

Run without arguments, it starts 2 processes of itself on 127.0.0.1 (gloo CPU collectives, 2
forced CPU devices each) and waits for them. Each process trains the same breast-cancer Flax MLP
(same seed), joins `jax.distributed`, builds one mesh over the 4 global devices and explains:

* global mode: every process passes the same rows and gets every explanation;
* process_local mode: each process passes only its own rows (here: its half of the test set)
  and gets their explanations, keyed by their global row index, so they equal the global ones.

On a cluster the same code runs with `jax.distributed.initialize()` without arguments (SLURM,
TPU pods and GPU clusters fill them in): see the README's "Several processes" recipe.
"""

import argparse
import os
import socket
import subprocess
import sys
import time


def worker(process_id: int, port: int, quick: bool):
  import jax
  import numpy as np

  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator_address=f"127.0.0.1:{port}",
      num_processes=2,
      process_id=process_id,
      initialization_timeout=120,
  )
  import jaxlime
  from _models import train_breast_cancer_mlp

  model, data = train_breast_cancer_mlp()
  rows = data["X_test"][:16] if quick else data["X_test"]
  explainer = jaxlime.TabularExplainer(
      data["X_train"], feature_names=data["feature_names"], class_names=data["class_names"]
  )
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  options = dict(key=0, num_samples=1000 if quick else 5000, num_features=5)

  start = time.perf_counter()
  everything = explainer.explain(rows, model, mesh=mesh, **options)
  global_seconds = time.perf_counter() - start

  half = (len(rows) + 1) // 2
  mine = slice(0, half) if process_id == 0 else slice(half, len(rows))
  start = time.perf_counter()
  local = explainer.explain(rows[mine], model, mesh=mesh, process_local=True, **options)
  local_seconds = time.perf_counter() - start

  same = np.allclose(np.asarray(local.coef), np.asarray(everything.coef)[mine], atol=1e-6)
  print(
      f"process {process_id}: {jax.local_device_count()} of {jax.device_count()} devices; "
      f"global mode: {len(everything)} explanations in {global_seconds:.1f} s; process_local: "
      f"rows {mine.start}..{mine.stop - 1} in {local_seconds:.1f} s, equal to their global "
      f"explanations: {same}"
  )
  if process_id == 0:
    print("first test row:", everything.as_list(0)[:3])
  jax.distributed.shutdown()
  if not same:
    sys.exit(1)


def launch(quick: bool):
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  command = [sys.executable, __file__, "--process-id", "{}", "--port", str(port)]
  command += ["--quick"] if quick else []
  processes = [subprocess.Popen([part.format(i) for part in command], env=env) for i in range(2)]
  try:
    codes = [process.wait(timeout=600) for process in processes]
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
  sys.exit(max(codes))


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="16 test rows, 1000 samples")
  parser.add_argument("--process-id", type=int, help=argparse.SUPPRESS)
  parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
  arguments = parser.parse_args()
  if arguments.process_id is None:
    launch(arguments.quick)
  else:
    worker(arguments.process_id, arguments.port, arguments.quick)
