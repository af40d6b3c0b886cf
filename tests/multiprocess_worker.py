"""One process of a 2-process jax.distributed run (started by tests/test_multiprocess.py).

Usage: python multiprocess_worker.py PROCESS_ID PORT OUT_DIR

The parent sets XLA_FLAGS=--xla_force_host_platform_device_count=2, so each process has 2 CPU
devices and the mesh spans the 4 global devices. Every explainer runs
in the global mode (every process passes the same rows and gets every explanation) and in the
process_local mode (process 0 passes rows 0..6, process 1 rows 7..11), and the results are saved
to OUT_DIR/process{ID}.npz for the parent to compare with a single-process run.
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

SPLIT = 7  # process 0 holds rows 0..6 in process_local mode, process 1 rows 7..11.
NUM_ROWS = 12
WORDS = ("good", "bad", "plot", "acting", "slow", "fun", "dull", "music")


def data():
  """The rows, images and texts every run explains, and their models."""
  from sklearn.datasets import load_breast_cancer

  X = load_breast_cancer().data
  weights = jnp.asarray(np.random.default_rng(0).normal(size=30) / X.std(axis=0), jnp.float32)
  mean = jnp.asarray(X.mean(axis=0), jnp.float32)

  def tabular_model(x):
    p = jax.nn.sigmoid((x - mean) @ weights)
    return jnp.stack([1 - p, p], axis=-1)

  images = np.random.default_rng(4).uniform(size=(NUM_ROWS, 16, 16, 3)).astype(np.float32)
  readout = jnp.asarray(np.random.default_rng(3).normal(size=(48, 3)), jnp.float32)

  def image_model(x):
    cells = x.reshape(x.shape[0], 4, 4, 4, 4, 3).mean(axis=(2, 4)).reshape(x.shape[0], 48)
    return jax.nn.softmax(jnp.tanh(cells - 0.5) @ readout, axis=-1)

  rng = np.random.default_rng(5)
  texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(NUM_ROWS)]
  word_weights = jnp.asarray(np.random.default_rng(6).normal(size=len(WORDS) + 2), jnp.float32)

  def tokenize(text):
    return [WORDS.index(word) + 2 for word in text.split()]

  def token_model(ids):
    p = jax.nn.sigmoid(jnp.sum(jnp.where(ids > 0, word_weights[ids], 0.0), axis=1))
    return jnp.stack([1 - p, p], axis=1)

  def string_model(strings):
    ids = np.zeros((len(strings), 12), np.int32)
    for row, string in enumerate(strings):
      ids[row, : len(string.split())] = tokenize(string)
    return np.asarray(token_model(jnp.asarray(ids)))

  return dict(
      X=X,
      tabular_model=tabular_model,
      images=images,
      image_model=image_model,
      texts=texts,
      tokenize=tokenize,
      token_model=token_model,
      string_model=string_model,
  )


def explain_all(mesh=None, rows=slice(None), process_local=False):
  """{name: coefficient array} of every explainer on `rows` of the data."""
  import jaxlime

  d = data()
  run = dict(mesh=mesh, process_local=process_local) if mesh is not None else {}
  X, images, texts = d["X"], d["images"], d["texts"]
  tabular = jaxlime.TabularExplainer(X)
  out = {}
  out["tabular"] = tabular.explain(
      X[:NUM_ROWS][rows], d["tabular_model"], key=0, num_samples=300, **run
  ).coef
  parts = list(
      tabular.explain_iter(
          X[:NUM_ROWS][rows],
          d["tabular_model"],
          key=0,
          num_samples=300,
          instances_per_call=4,
          **run,
      )
  )
  out["tabular_iter"] = np.concatenate([np.asarray(part.coef) for _, part in parts])
  out["tabular_iter_starts"] = np.array([start for start, _ in parts])
  out["image"] = (
      jaxlime.ImageExplainer()
      .explain(
          images[rows],
          d["image_model"],
          key=1,
          segmentation_fn="grid",
          num_samples=64,
          top_labels=2,
          **run,
      )
      .coef
  )
  text = jaxlime.TextExplainer()
  out["tokens"] = text.explain(
      texts[rows], d["token_model"], key=2, num_samples=200, tokenizer=d["tokenize"], **run
  ).coef
  out["strings"] = text.explain(texts[rows], d["string_model"], key=2, num_samples=200, **run).coef
  out["kernel_shap"] = (
      jaxlime.KernelShapExplainer(X[20:40])
      .explain(X[:NUM_ROWS][rows], d["tabular_model"], key=3, nsamples=128, **run)
      .values
  )
  return {name: np.asarray(value) for name, value in out.items()}


def main():
  process_id, port, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator_address=f"127.0.0.1:{port}",
      num_processes=2,
      process_id=process_id,
      initialization_timeout=120,
  )
  assert jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  results = {f"global_{k}": v for k, v in explain_all(mesh).items()}
  rows = slice(0, SPLIT) if process_id == 0 else slice(SPLIT, NUM_ROWS)
  local = explain_all(mesh, rows=rows, process_local=True)
  results.update({f"local_{k}": v for k, v in local.items()})
  np.savez(os.path.join(out_dir, f"process{process_id}.npz"), **results)
  jax.distributed.shutdown()
  print(f"process {process_id} ok")


if __name__ == "__main__":
  main()
