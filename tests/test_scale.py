"""Scale: fixed-size calls that compile once, progress, streaming, precision, several devices."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import Ridge

import jaxlime
from jaxlime._src import segmentation
from jaxlime._src import streaming
from sklearn.linear_model import LogisticRegression
from helpers import count_compiles
from helpers import forced_devices_env

IMAGE_READOUT = np.random.default_rng(3).normal(size=(48, 3)).astype(np.float32)
WORDS = ("good", "bad", "plot", "acting", "slow", "fun", "dull", "music", "long", "great")
WORD_WEIGHTS = np.array(
    [0.0, 0.0, 1.2, -1.4, 0.1, 0.3, -0.7, 0.9, -1.0, 0.4, -0.3, 1.5], np.float32
)  # Ids 0 (padding) and 1 (unknown), then WORDS.


def image_model(x):
  """[B, 16, 16, 3] -> 3-class softmax of a read-out of 4 x 4 cell means."""
  cells = x.reshape(x.shape[0], 4, 4, 4, 4, 3).mean(axis=(2, 4)).reshape(x.shape[0], 48)
  return jax.nn.softmax(jnp.tanh(cells - 0.5) @ IMAGE_READOUT, axis=-1)


def random_images(count):
  return np.random.default_rng(4).uniform(size=(count, 16, 16, 3)).astype(np.float32)


def random_texts(count):
  rng = np.random.default_rng(5)
  return [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(count)]


def word_ids(text):
  return [WORDS.index(word) + 2 for word in text.split()]


def token_model(ids):
  p = jax.nn.sigmoid(jnp.sum(jnp.asarray(WORD_WEIGHTS)[ids], axis=1))
  return jnp.stack([1 - p, p], axis=1)


def string_model(strings):
  return np.asarray(
      token_model(
          jnp.asarray([word_ids(s) + [0] * (12 - len(word_ids(s))) for s in strings], jnp.int32)
      )
  )


@pytest.mark.slow
def test_calls_of_fixed_size_compile_once_and_equal_one_call(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  rows = X[:25]
  whole = explainer.explain(rows, logistic[0], key=0, num_samples=200, batch_size=2000)
  # Blocks of 10 instances, calls of 10: three calls, the last one padded.
  parts = explainer.explain(
      rows,
      logistic[0],
      key=0,
      num_samples=200,
      batch_size=2000,
      instances_per_call=10,
      progress=False,
  )
  np.testing.assert_array_equal(parts.selected, whole.selected)
  np.testing.assert_allclose(parts.coef, whole.coef, rtol=1e-5, atol=1e-6)
  with count_compiles() as compiled:
    starts = [
        start
        for start, _ in explainer.explain_iter(
            rows, logistic[0], key=0, num_samples=200, batch_size=2000, instances_per_call=10
        )
    ]
    explainer.explain(
        X[30:51], logistic[0], key=1, num_samples=200, batch_size=2000, instances_per_call=10
    )
  assert starts == [0, 10, 20]
  assert not compiled


@pytest.mark.slow
def test_explain_iter_parts_equal_explain(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, shared_samples=True)
  whole = explainer.explain(X[:30], logistic[0], key=5, num_samples=300)
  # Blocks of 4 instances (batch_size 1200 / 300 samples), calls of 12.
  for start, part in explainer.explain_iter(
      X[:30], logistic[0], key=5, num_samples=300, batch_size=1200, instances_per_call=12
  ):
    np.testing.assert_allclose(
        part.coef, whole.coef[start : start + len(part)], rtol=1e-5, atol=1e-6
    )
    assert part.as_list(0) and len(part) in (12, 6)


@pytest.mark.slow
def test_last_call_holds_its_remainder_not_a_full_call(breast_cancer):
  X, y, _, _ = breast_cancer
  classifier = LogisticRegression(max_iter=5000).fit(X, y)
  model_rows = []

  def model(batch):
    model_rows.append(len(batch))
    return classifier.predict_proba(np.asarray(batch, np.float64)).astype(np.float32)

  explainer = jaxlime.TabularExplainer(X)
  options = dict(key=5, num_samples=300, batch_size=1200, progress=False)
  in_calls = explainer.explain(X[:30], jaxlime.host_model(model), instances_per_call=12, **options)
  # Blocks of 4 instances, calls of 12: 12 + 12 + 8 instances (6 real ones in 2 blocks), not
  # three calls of 12; the first 3 rows are the model's probe.
  assert model_rows[0] == 3 and sum(model_rows[1:]) == (12 + 12 + 8) * 300
  whole = explainer.explain(X[:30], jaxlime.host_model(model), **options)
  np.testing.assert_array_equal(in_calls.selected, whole.selected)
  np.testing.assert_allclose(in_calls.coef, whole.coef, rtol=1e-5, atol=1e-6)


def test_call_sizes_pad_little():
  # One call: the block in [max_block / 2, max_block] that pads N least (200 Kernel SHAP rows in
  # blocks of at most 24: blocks of 20, no padding; 64 images in blocks of at most 42: 2 x 32).
  assert streaming.choose_call(200, 24, 1, instances_per_call=None) == (20, 200, 1)
  assert streaming.choose_call(64, 42, 1, instances_per_call=None) == (32, 64, 1)
  assert streaming.choose_call(5, 10, 1, instances_per_call=None) == (8, 8, 1)
  # Several calls: blocks of max_block; the last call rounds its remainder like a first call.
  block, per_call, num_calls = streaming.choose_call(5000, 10, 1, instances_per_call=None)
  assert (block, per_call, num_calls) == (10, 4100, 2)
  assert streaming.last_call_size(5000, block, per_call, 1) == 920  # 92 blocks: 90 rounded
  for num_instances in range(1, 700, 7):
    for max_block, shards in ((10, 1), (24, 2), (42, 4)):
      block, per_call, num_calls = streaming.choose_call(
          num_instances, max_block, shards, instances_per_call=None
      )
      last = streaming.last_call_size(num_instances, block, per_call, shards)
      padded = per_call * (num_calls - 1) + last
      assert block <= max_block and per_call % (block * shards) == 0
      assert num_instances <= padded < num_instances * 33 / 32 + block * shards


@pytest.mark.slow
def test_progress_only_when_asked(breast_cancer, logistic, capsys):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  explainer.explain(X[:20], logistic[0], key=0, num_samples=100, instances_per_call=10)
  assert "explaining" not in capsys.readouterr().err  # Not a terminal: no bar by default.
  explainer.explain(
      X[:20], logistic[0], key=0, num_samples=100, instances_per_call=10, progress=True
  )
  assert "explaining" in capsys.readouterr().err
  explainer.explain(
      X[:20], logistic[0], key=0, num_samples=100, instances_per_call=10, progress=False
  )
  assert "explaining" not in capsys.readouterr().err


@pytest.mark.slow
def test_image_calls_compile_once_and_parts_equal_one_call():
  images = random_images(11)
  explainer = jaxlime.ImageExplainer()
  options = dict(key=2, segmentation_fn="grid", num_samples=64, top_labels=2, batch_size=128)
  whole = explainer.explain(images, image_model, **options)
  # Blocks of 2 images, calls of 4: three calls, the last padded; superpixels computed per call.
  parts = list(explainer.explain_iter(images, image_model, instances_per_call=4, **options))
  assert [start for start, _ in parts] == [0, 4, 8]
  with count_compiles() as compiled:
    joined = explainer.explain(images, image_model, instances_per_call=4, **options)
  assert not compiled
  np.testing.assert_array_equal(joined.selected, whole.selected)
  np.testing.assert_allclose(joined.coef, whole.coef, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(joined.segments, whole.segments)
  for start, part in parts:
    np.testing.assert_allclose(
        part.coef, whole.coef[start : start + len(part)], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(part.instances, images[start : start + len(part)])
    assert part.get_image_and_mask(0, int(part.labels[0, 0]))[1].shape == (16, 16)


@pytest.mark.slow
def test_image_superpixel_counts_that_grow_between_calls_pad_features_exactly():
  images = random_images(6)
  counts = [4, 4, 9, 9, 16, 16]  # Grids of 2 x 2, 3 x 3 and 4 x 4 cells.
  grids = np.stack([segmentation.grid_segments(16, 16, int(np.sqrt(c))) for c in counts])
  lookup = {image.tobytes(): grid for image, grid in zip(images, grids)}
  explainer = jaxlime.ImageExplainer()
  options = dict(key=1, num_samples=64, top_labels=1, batch_size=128)
  given = explainer.explain(images, image_model, segments=grids, **options)
  computed = explainer.explain(
      images,
      image_model,
      instances_per_call=2,
      segmentation_fn=lambda image: lookup[image.tobytes()],
      **options,
  )
  assert computed.coef.shape == given.coef.shape == (6, 1, 16)
  np.testing.assert_array_equal(computed.selected, given.selected)
  np.testing.assert_allclose(computed.coef, given.coef, rtol=1e-5, atol=1e-6)
  assert not np.asarray(computed.selected)[:2, :, 4:].any()


@pytest.mark.slow
def test_text_calls_compile_once_and_parts_equal_one_call():
  texts = random_texts(13)
  explainer = jaxlime.TextExplainer()
  # Token blocks of 12 texts (400K tokens / (4000 samples x 8 tokens)): calls of one block.
  options = dict(key=3, num_samples=4000)
  whole = explainer.explain(texts, token_model, tokenizer=word_ids, **options)
  parts = list(
      explainer.explain_iter(
          texts, token_model, tokenizer=word_ids, instances_per_call=8, **options
      )
  )
  assert [start for start, _ in parts] == [0, 8]
  with count_compiles() as compiled:
    again = list(
        explainer.explain_iter(
            texts, token_model, tokenizer=word_ids, instances_per_call=8, **options
        )
    )
  assert not compiled and len(again) == 2
  for start, part in parts:
    np.testing.assert_allclose(
        part.coef, whole.coef[start : start + len(part)], rtol=1e-5, atol=1e-6
    )
    assert part.text(0) == texts[start]
  # The string path, in calls of 4 texts (the last padded), equals the token path.
  strings = explainer.explain(texts, string_model, instances_per_call=4, batch_size=4000, **options)
  np.testing.assert_array_equal(strings.selected, whole.selected)
  np.testing.assert_allclose(strings.coef, whole.coef, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_image_and_text_progress_only_when_asked(capsys):
  images, texts = random_images(4), random_texts(4)
  runs = (
      lambda progress: jaxlime.ImageExplainer().explain(
          images,
          image_model,
          segmentation_fn="grid",
          num_samples=32,
          instances_per_call=2,
          progress=progress,
      ),
      lambda progress: jaxlime.TextExplainer().explain(
          texts, string_model, num_samples=32, instances_per_call=2, progress=progress
      ),
  )
  for run in runs:
    for progress in (None, True, False):  # None: not a terminal here, so no bar.
      run(progress)
      assert ("explaining" in capsys.readouterr().err) == bool(progress), progress


@pytest.mark.slow
def test_bfloat16_model_inputs_keep_a_float32_solve(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  seen = []

  def model(x):
    seen.append(x.dtype)
    return logistic[0](x.astype(jnp.float32))

  exact = explainer.explain(X[:3], logistic[0], key=0, num_samples=2000)
  low = explainer.explain(X[:3], model, key=0, num_samples=2000, model_input_dtype=jnp.bfloat16)
  assert jnp.bfloat16 in seen
  assert low.coef.dtype == jnp.float32
  for i in range(3):
    assert np.corrcoef(np.asarray(low.coef[i, 0]), np.asarray(exact.coef[i, 0]))[0, 1] > 0.95


def test_float64_end_to_end_when_x64_is_on(breast_cancer):
  X, _, _, _ = breast_cancer
  w = np.random.default_rng(0).normal(size=30) / X.std(axis=0)
  with jax.enable_x64(True):
    explainer = jaxlime.TabularExplainer(
        X,
        mode="regression",
        discretize_continuous=False,
        feature_selection="none",
        kernel_width=100.0,
    )
    exp = explainer.explain(X[:2], lambda x: x @ jnp.asarray(w), key=0, num_features=30)
    assert exp.coef.dtype == jnp.float64
    # float64 all the way: the linear model is recovered up to the ridge shrinkage alone.
    np.testing.assert_allclose(np.asarray(exp.score), 1.0, atol=1e-12)


def test_constant_model_scores_one_like_sklearn(breast_cancer):
  X, _, _, _ = breast_cancer
  exp = jaxlime.TabularExplainer(X).explain(
      X[:2], lambda x: jnp.full((x.shape[0], 2), 0.5), key=0, num_samples=200
  )
  np.testing.assert_allclose(np.asarray(exp.coef), 0.0, atol=1e-6)
  np.testing.assert_allclose(np.asarray(exp.intercept), 0.5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(exp.local_pred), 0.5, atol=1e-6)
  # lime scores its surrogate with Ridge.score (scikit-learn's weighted R^2), which gives an exact
  # fit of a constant target 1.0 rather than 0 / 0: the same samples' reference, not just finite.
  rng = np.random.default_rng(0)
  z, weights, constant = rng.integers(0, 2, (200, 30)), rng.random(200), np.full(200, 0.5)
  ridge = Ridge(alpha=1.0).fit(z, constant, sample_weight=weights)
  reference = ridge.score(z, constant, sample_weight=weights)
  assert reference == 1.0
  np.testing.assert_allclose(np.asarray(exp.score), reference, atol=1e-6)
  assert (np.asarray(exp.status) == jaxlime.FitStatus.OK).all()


_MULTI_DEVICE = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from sklearn.datasets import load_breast_cancer
    import jaxlime
    assert jax.device_count() == 4, jax.devices()
    lowered = []
    def count(event, duration, **kwargs):
      if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
        lowered.append(event)
    jax.monitoring.register_event_duration_secs_listener(count)
    X = load_breast_cancer().data
    w = jnp.asarray(np.random.default_rng(0).normal(size=30) / X.std(axis=0), jnp.float32)
    def model(x):
      p = jax.nn.sigmoid((x - X.mean(0)) @ w)
      return jnp.stack([1 - p, p], axis=-1)
    rows = X[:40]
    key = jax.random.key(0, impl="threefry2x32")
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
      # One seed, one explanation: an int seed (a philox4x32 key, drawn in its limb form on
      # the mesh) gives the same coefficients on one device and on four.
      for seed in (0, jax.random.key(3, impl="philox4x32")):
        seeded = explainer.explain(rows, model, key=seed, num_samples=300, mesh=mesh)
        alone = explainer.explain(rows, model, key=seed, num_samples=300)
        np.testing.assert_array_equal(seeded.selected, alone.selected)
        np.testing.assert_allclose(seeded.coef, alone.coef, rtol=1e-5, atol=1e-6)
    # lasso_path feature selection runs inside shard_map (no LAPACK call to hang).
    explainer = jaxlime.TabularExplainer(X, feature_selection="lasso_path")
    single = explainer.explain(rows[:8], model, key=key, num_samples=300, num_features=4)
    out = explainer.explain(rows[:8], model, key=key, num_samples=300, num_features=4, mesh=mesh)
    np.testing.assert_array_equal(out.selected, single.selected)
    np.testing.assert_allclose(out.coef, single.coef, rtol=1e-5, atol=1e-6)
    # Control variates (their solves are sweeps, not LAPACK) on the mesh.
    explainer = jaxlime.TabularExplainer(X, control_variates=True)
    single = explainer.explain(rows[:8], model, key=key, num_samples=300, num_features=4)
    out = explainer.explain(rows[:8], model, key=key, num_samples=300, num_features=4, mesh=mesh)
    np.testing.assert_array_equal(out.selected, single.selected)
    np.testing.assert_allclose(out.coef, single.coef, rtol=1e-5, atol=1e-6)
    # Images: sharded calls of 8 (the last padded), superpixels computed call by call.
    images = np.random.default_rng(4).uniform(size=(12, 16, 16, 3)).astype(np.float32)
    readout = np.random.default_rng(3).normal(size=(48, 3)).astype(np.float32)
    def image_model(x):
      cells = x.reshape(x.shape[0], 4, 4, 4, 4, 3).mean(axis=(2, 4)).reshape(x.shape[0], 48)
      return jax.nn.softmax(jnp.tanh(cells - 0.5) @ readout, axis=-1)
    options = dict(key=key, segmentation_fn="grid", num_samples=64, top_labels=2)
    single = jaxlime.ImageExplainer().explain(images, image_model, **options)
    out = jaxlime.ImageExplainer().explain(images, image_model, mesh=mesh, instances_per_call=8,
                                           **options)
    assert len(out.coef.sharding.device_set) == 4, out.coef.sharding
    # Explaining again with equal options reuses the sharded program (no compile per explain).
    before = len(lowered)
    jaxlime.ImageExplainer().explain(images, image_model, mesh=mesh, instances_per_call=8,
                                     **options)
    assert len(lowered) == before, len(lowered) - before
    np.testing.assert_array_equal(out.selected, single.selected)
    np.testing.assert_allclose(out.coef, single.coef, rtol=1e-5, atol=1e-6)
    # Images that arrive sharded are explained on their devices, without mesh=.
    sharded_images = jax.device_put(jnp.asarray(images), NamedSharding(mesh, P("data")))
    out = jaxlime.ImageExplainer().explain(sharded_images, image_model, **options)
    assert len(out.coef.sharding.device_set) == 4, out.coef.sharding
    np.testing.assert_allclose(out.coef, single.coef, rtol=1e-5, atol=1e-6)
    # Text: the token path and the string path, sharded over the 2-D mesh's data axis.
    words = ("good", "bad", "plot", "acting", "slow", "fun", "dull", "music")
    weights = jnp.asarray(np.random.default_rng(6).normal(size=len(words) + 2), jnp.float32)
    rng = np.random.default_rng(5)
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 9))) for _ in range(10)]
    tokenize = lambda text: [words.index(w) + 2 for w in text.split()]
    def token_model(ids):
      p = jax.nn.sigmoid(jnp.sum(jnp.where(ids > 0, weights[ids], 0.0), axis=1))
      return jnp.stack([1 - p, p], axis=1)
    def string_model(strings):
      ids = np.zeros((len(strings), 12), np.int32)
      for row, string in enumerate(strings):
        ids[row, :len(string.split())] = tokenize(string)
      return np.asarray(token_model(jnp.asarray(ids)))
    explainer = jaxlime.TextExplainer()
    single = explainer.explain(texts, token_model, key=key, num_samples=200, tokenizer=tokenize)
    for model_, tokenizer in ((token_model, tokenize), (string_model, None)):
      out = explainer.explain(texts, model_, key=key, num_samples=200, tokenizer=tokenizer,
                              mesh=mesh2, axis="data", instances_per_call=4)
      before = len(lowered)
      explainer.explain(texts, model_, key=key, num_samples=200, tokenizer=tokenizer, mesh=mesh2,
                        axis="data", instances_per_call=4)
      assert len(lowered) == before, len(lowered) - before
      np.testing.assert_array_equal(out.selected, single.selected)
      np.testing.assert_allclose(out.coef, single.coef, rtol=1e-4, atol=1e-5)
    # Kernel SHAP: four devices equal one, and explain_iter's parts equal explain.
    shap_explainer = jaxlime.KernelShapExplainer(X[:20])
    single = shap_explainer.explain(rows[:10], model, key=0, nsamples=256)
    out = shap_explainer.explain(rows[:10], model, key=0, nsamples=256, mesh=mesh)
    np.testing.assert_allclose(out.values, single.values, rtol=1e-4, atol=1e-6)
    for start, part in shap_explainer.explain_iter(rows[:10], model, key=0, nsamples=256,
                                                   mesh=mesh, instances_per_call=4):
      np.testing.assert_allclose(part.values, single.values[start:start + len(part)],
                                 rtol=1e-4, atol=1e-6)
    print("multi-device ok")
""")


@pytest.mark.slow  # A 4-device subprocess: 60 s at load average 10 on 2 cores.
def test_sharded_over_four_devices_equals_single_device(tmp_path):
  script = tmp_path / "multi_device.py"
  script.write_text(_MULTI_DEVICE)
  env = forced_devices_env(4)
  done = subprocess.run(
      [sys.executable, str(script)], capture_output=True, text=True, timeout=540, env=env
  )
  assert done.returncode == 0, done.stdout + done.stderr
  assert "multi-device ok" in done.stdout
