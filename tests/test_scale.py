"""Scale: fixed-size calls that compile once, progress, streaming, precision, several devices."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlime
from jaxlime._src import tabular_core


def test_calls_of_fixed_size_compile_once_and_equal_one_call(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  rows = X[:25]
  whole = explainer.explain(rows, logistic[0], key=0, num_samples=200, batch_size=2000)
  before = tabular_core.explain_tabular_placed._cache_size()
  # Blocks of 10 instances, calls of 10: three calls, the last one padded; one new program.
  parts = explainer.explain(rows, logistic[0], key=0, num_samples=200, batch_size=2000,
                            instances_per_call=10, progress=False)
  assert tabular_core.explain_tabular_placed._cache_size() == before + 1
  np.testing.assert_array_equal(parts.selected, whole.selected)
  np.testing.assert_allclose(parts.coef, whole.coef, rtol=1e-5, atol=1e-6)
  starts = [start for start, _ in explainer.explain_iter(
      rows, logistic[0], key=0, num_samples=200, batch_size=2000, instances_per_call=10)]
  assert starts == [0, 10, 20]
  assert tabular_core.explain_tabular_placed._cache_size() == before + 1


def test_explain_iter_parts_equal_explain(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, shared_samples=True)
  whole = explainer.explain(X[:30], logistic[0], key=5, num_samples=300)
  # Blocks of 4 instances (batch_size 1200 / 300 samples), calls of 12.
  for start, part in explainer.explain_iter(X[:30], logistic[0], key=5, num_samples=300,
                                            batch_size=1200, instances_per_call=12):
    np.testing.assert_allclose(part.coef, whole.coef[start:start + len(part)], rtol=1e-5,
                               atol=1e-6)
    assert part.as_list(0) and len(part) in (12, 6)


def test_progress_only_when_asked(breast_cancer, logistic, capsys):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  explainer.explain(X[:20], logistic[0], key=0, num_samples=100, instances_per_call=10)
  assert "explaining" not in capsys.readouterr().err  # Not a terminal: no bar by default.
  explainer.explain(X[:20], logistic[0], key=0, num_samples=100, instances_per_call=10,
                    progress=True)
  assert "explaining" in capsys.readouterr().err
  explainer.explain(X[:20], logistic[0], key=0, num_samples=100, instances_per_call=10,
                    progress=False)
  assert "explaining" not in capsys.readouterr().err


def test_bfloat16_model_inputs_keep_a_float32_solve(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  seen = []

  def model(x):
    seen.append(x.dtype)
    return logistic[0](x.astype(jnp.float32))

  exact = explainer.explain(X[:3], logistic[0], key=0, num_samples=2000)
  low = explainer.explain(X[:3], model, key=0, num_samples=2000,
                          model_input_dtype=jnp.bfloat16)
  assert jnp.bfloat16 in seen
  assert low.coef.dtype == jnp.float32
  for i in range(3):
    assert np.corrcoef(np.asarray(low.coef[i, 0]), np.asarray(exact.coef[i, 0]))[0, 1] > 0.95


def test_float64_end_to_end_when_x64_is_on(breast_cancer):
  X, _, _, _ = breast_cancer
  w = np.random.default_rng(0).normal(size=30) / X.std(axis=0)
  with jax.enable_x64(True):
    explainer = jaxlime.TabularExplainer(X, mode="regression", discretize_continuous=False,
                                         feature_selection="none", kernel_width=100.0)
    exp = explainer.explain(X[:2], lambda x: x @ jnp.asarray(w), key=0, num_features=30)
    assert exp.coef.dtype == jnp.float64
    # float64 all the way: the linear model is recovered up to the ridge shrinkage alone.
    np.testing.assert_allclose(np.asarray(exp.score), 1.0, atol=1e-12)


def test_constant_model_is_finite_with_score_one(breast_cancer):
  X, _, _, _ = breast_cancer
  exp = jaxlime.TabularExplainer(X).explain(
      X[:2], lambda x: jnp.full((x.shape[0], 2), 0.5), key=0, num_samples=200)
  np.testing.assert_allclose(np.asarray(exp.coef), 0.0, atol=1e-6)
  assert np.isfinite(np.asarray(exp.score)).all()


_MULTI_DEVICE = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from sklearn.datasets import load_breast_cancer
    import jaxlime
    assert jax.device_count() == 4, jax.devices()
    X = load_breast_cancer().data
    w = jnp.asarray(np.random.default_rng(0).normal(size=30) / X.std(axis=0), jnp.float32)
    def model(x):
      p = jax.nn.sigmoid((x - X.mean(0)) @ w)
      return jnp.stack([1 - p, p], axis=-1)
    rows = X[:40]
    key = jax.random.key(0, impl="threefry2x32")  # philox4x32 does not compile in shard_map.
    for shared in (False, True):
      explainer = jaxlime.TabularExplainer(X, shared_samples=shared)
      single = explainer.explain(rows, model, key=key, num_samples=300, num_features=5)
      # Explicit axes (jax.make_mesh's default), instances sharded by the caller.
      mesh = jax.make_mesh((4,), ("data",))
      sharded_rows = jax.device_put(jnp.asarray(rows, jnp.float32), NamedSharding(mesh, P("data")))
      out = explainer.explain(sharded_rows, model, key=key, num_samples=300, num_features=5)
      assert len(out.coef.sharding.device_set) == 4, out.coef.sharding
      np.testing.assert_array_equal(out.selected, single.selected)
      np.testing.assert_allclose(out.coef, single.coef, rtol=1e-5, atol=1e-6)
      # A 2-D mesh with Auto axes where only the data axis splits instances.
      mesh2 = jax.make_mesh((2, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
      out2 = explainer.explain(rows, model, key=key, num_samples=300, num_features=5, mesh=mesh2,
                               axis="data", instances_per_call=20)
      np.testing.assert_allclose(out2.coef, single.coef, rtol=1e-5, atol=1e-6)
      # An int seed works on several devices (as a threefry key); a philox key is refused.
      seeded = explainer.explain(rows, model, key=0, num_samples=300, mesh=mesh)
      assert np.isfinite(np.asarray(seeded.coef)).all()
      try:
        explainer.explain(rows, model, key=jax.random.key(0, impl="philox4x32"), mesh=mesh)
        raise AssertionError("a philox key on several devices must be refused")
      except ValueError as error:
        assert "threefry2x32" in str(error)
    print("multi-device ok")
""")


def test_sharded_over_four_devices_equals_single_device(tmp_path):
  script = tmp_path / "multi_device.py"
  script.write_text(_MULTI_DEVICE)
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                        timeout=600, env=env)
  assert done.returncode == 0, done.stdout + done.stderr
  assert "multi-device ok" in done.stdout
