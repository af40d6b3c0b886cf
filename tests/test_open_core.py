"""The open core: per-instance explain functions equal the batch explainers, pass through jit,
vmap and grad; explanations jit without retracing; new batch sizes compile nothing."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlime
from helpers import count_compiles

KEYS = {"int": 7, "typed": jax.random.key(11, impl="threefry2x32")}


def _same_surrogates(vmapped, batch, atol=1e-6):
  np.testing.assert_array_equal(np.asarray(vmapped.selected), np.asarray(batch.selected))
  np.testing.assert_array_equal(np.asarray(vmapped.labels), np.asarray(batch.labels))
  np.testing.assert_allclose(np.asarray(vmapped.coef), np.asarray(batch.coef), atol=atol)
  np.testing.assert_allclose(np.asarray(vmapped.score), np.asarray(batch.score), atol=10 * atol)
  np.testing.assert_allclose(np.asarray(vmapped.intercept), np.asarray(batch.intercept), atol=atol)


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.parametrize("feature_selection", ["auto", "lasso_path"])
@pytest.mark.slow
def test_tabular_explain_fn_equals_explain(breast_cancer, logistic, key, feature_selection):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, feature_selection=feature_selection)
  options = dict(num_samples=400, num_features=5, top_labels=2)
  batch = explainer.explain(X[:13], logistic.model, key=key, **options)
  fn = explainer.explain_fn(logistic.model, **options)
  keys = jaxlime.instance_keys(key, 13)
  vmapped = jax.jit(jax.vmap(fn))(jnp.asarray(X[:13], jnp.float32), keys)
  _same_surrogates(vmapped, batch)
  np.testing.assert_allclose(
      np.asarray(vmapped.prediction), np.asarray(batch.prediction), atol=1e-6
  )
  # One instance alone, unbatched, is the same explanation too.
  alone = fn(jnp.asarray(X[4], jnp.float32), keys[4])
  np.testing.assert_allclose(np.asarray(alone.coef), np.asarray(batch.coef[4]), atol=1e-6)


@pytest.mark.slow
def test_instance_keys_are_the_keys_explain_uses(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  keys = jaxlime.instance_keys(5, 6)
  given = explainer.explain(X[:6], logistic.model, key=keys, num_samples=300)
  seeded = explainer.explain(X[:6], logistic.model, key=5, num_samples=300)
  np.testing.assert_array_equal(np.asarray(given.coef), np.asarray(seeded.coef))
  later = jaxlime.instance_keys(5, 2, start=4)
  np.testing.assert_array_equal(jax.random.key_data(later), jax.random.key_data(keys[4:]))


@pytest.mark.slow
def test_image_explain_fn_equals_explain():
  rng = np.random.default_rng(0)
  images = rng.random((5, 16, 16, 3)).astype(np.float32)
  readout = jnp.asarray(rng.normal(size=(16 * 16 * 3, 3)), jnp.float32)

  def model(x):
    return jax.nn.softmax(0.1 * x.reshape(x.shape[0], -1) @ readout)

  explainer = jaxlime.ImageExplainer()
  for key in KEYS.values():
    batch = explainer.explain(
        images, model, key=key, segmentation_fn="grid", num_samples=200, top_labels=2
    )
    fn = explainer.explain_fn(
        model,
        num_segments=batch.coef.shape[-1],
        image_shape=images.shape[1:],
        num_samples=200,
        top_labels=2,
    )
    vmapped = jax.jit(jax.vmap(fn))(images, jaxlime.instance_keys(key, 5), batch.segments)
    _same_surrogates(vmapped, batch, atol=1e-5)


def _text_setup():
  words = ("good", "bad", "plot", "acting", "slow", "fun", "dull", "music")
  weights = jnp.asarray(np.random.default_rng(6).normal(size=len(words) + 1), jnp.float32)
  texts = ["good plot slow music", "bad acting dull", "fun fun good music acting plot"]

  def tokenize(text):
    return [words.index(word) + 1 for word in text.split()]

  def model(ids):
    p = jax.nn.sigmoid(jnp.sum(jnp.where(ids > 0, weights[ids], 0.0), axis=1))
    return jnp.stack([1 - p, p], axis=1)

  return texts, tokenize, model


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.slow
def test_text_token_explain_fn_equals_explain(key):
  texts, tokenize, model = _text_setup()
  explainer = jaxlime.TextExplainer()
  batch = explainer.explain(texts, model, key=key, tokenizer=tokenize, num_samples=500)
  tokens = explainer.tokenize(texts, tokenize)
  fn = explainer.explain_fn(
      model, num_tokens=tokens.token_ids.shape[1], num_dims=batch.coef.shape[-1], num_samples=500
  )
  vmapped = jax.jit(jax.vmap(fn))(tokens, jaxlime.instance_keys(key, len(texts)))
  _same_surrogates(vmapped, batch)


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.slow
def test_kernel_shap_explain_fn_equals_explain(breast_cancer, logistic, key):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.KernelShapExplainer(X[:20])
  batch = explainer.explain(X[30:36], logistic.model, key=key, nsamples=300)
  fn = explainer.explain_fn(logistic.model, nsamples=300)
  vmapped = jax.jit(jax.vmap(fn))(jnp.asarray(X[30:36], jnp.float32), jaxlime.instance_keys(key, 6))
  np.testing.assert_allclose(np.asarray(vmapped.values), np.asarray(batch.values), atol=1e-6)
  np.testing.assert_allclose(
      np.asarray(vmapped.expected_value[0]), np.asarray(batch.expected_value), atol=1e-6
  )


@pytest.mark.slow
def test_grad_passes_through_explain_fn_to_the_instance_and_the_parameters(breast_cancer):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, discretize_continuous=False, feature_selection="none")
  mean, std = X.mean(0), X.std(0)
  weights = jnp.asarray(np.random.default_rng(1).normal(size=30) / std, jnp.float32)
  x = jnp.asarray(X[3], jnp.float32)
  key = jaxlime.instance_keys(0, 1)[0]

  def first_coef(w, row):
    def model(batch):
      p = jax.nn.sigmoid((batch - mean) @ w)
      return jnp.stack([1 - p, p], axis=-1)

    fn = explainer.explain_fn(model, num_samples=300, num_features=30)
    return fn(row, key).coef[0, 0]

  grad_w, grad_x = jax.jit(jax.grad(first_coef, argnums=(0, 1)))(weights, x)
  assert np.isfinite(np.asarray(grad_w)).all() and np.abs(np.asarray(grad_w)).sum() > 0
  # Finite differences along one parameter direction agree with the gradient.
  direction = jnp.zeros(30).at[0].set(1.0 / std[0])
  eps = 1e-2
  numeric = first_coef(weights + eps * direction, x) - first_coef(weights - eps * direction, x)
  np.testing.assert_allclose(float(grad_w @ direction), float(numeric) / (2 * eps), rtol=5e-2)
  assert np.isfinite(np.asarray(grad_x)).all()


@pytest.mark.slow
def test_jit_over_explanations_traces_once(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  traces = []

  @jax.jit
  def top_weight(explanation):
    traces.append(1)
    return jnp.max(jnp.abs(explanation.coef))

  for start in (0, 5, 10):
    top_weight(explainer.explain(X[start : start + 5], logistic.model, key=start, num_samples=200))
  assert len(traces) == 1
  # Domains compare by value: an equal explainer's explanations share the trace too.
  twin = jaxlime.TabularExplainer(X)
  top_weight(twin.explain(X[20:25], logistic.model, key=1, num_samples=200))
  assert len(traces) == 1
  # A domain with other names is another treedef: a new trace, never another's names.
  renamed = jaxlime.TabularExplainer(X, feature_names=[f"f{j}" for j in range(30)])
  top_weight(renamed.explain(X[20:25], logistic.model, key=1, num_samples=200))
  assert len(traces) == 2


@pytest.mark.slow
def test_new_batch_sizes_compile_nothing(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  # A sample count no other test uses: the call sizes other tests compiled are not in play.
  explainer.explain(X[:45], logistic.model, key=0, num_samples=437)
  with count_compiles() as compiled:
    for count in (5, 6, 7):
      explainer.explain(X[:count], logistic.model, key=0, num_samples=437)
  assert not compiled, f"{len(compiled)} programs compiled: {compiled}"


def test_options_after_the_model_are_keyword_only(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  with pytest.raises(TypeError, match="positional"):
    explainer.explain(X[:2], logistic.model, (0, 1))
  with pytest.raises(TypeError, match="positional"):
    jaxlime.KernelShapExplainer(X[:5]).explain(X[:2], logistic.model, 0)


def test_run_options_are_one_frozen_dataclass():
  options = jaxlime.RunOptions(batch_size=100, progress=False)
  with pytest.raises(dataclasses.FrozenInstanceError):
    options.batch_size = 5
  assert hash(options) == hash(jaxlime.RunOptions(batch_size=100, progress=False))


def test_status_codes_are_readable(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  exp = explainer.explain(X[:3], logistic.model, key=0, num_samples=200)
  assert exp.status.dtype == jnp.int32
  assert (np.asarray(exp.status) == jaxlime.FitStatus.OK).all()
  assert "kernel weights" in jaxlime.FitStatus.DEGENERATE_WEIGHTS.message


@pytest.mark.slow
def test_ill_conditioned_float32_fit_is_flagged_not_silent():
  # Issue 15, item 7: weights of 1e6 and a collinear column; float32 cannot resolve the system
  # (its coefficients were [1.37, -0.49, 0.006] against scikit-learn's [0.127, -0.13, 0.384]).
  rng = np.random.default_rng(0)
  z = rng.random((200, 3))
  z[:, 2] = z[:, 0] + 1e-4 * rng.random(200)
  y = (z @ np.array([0.5, -0.2, 0.1]) + 0.01 * rng.normal(size=200))[:, None]
  weights = np.full(200, 1e6)
  fit32 = jaxlime.fit_surrogate(
      z.astype(np.float32),
      y.astype(np.float32),
      weights.astype(np.float32),
      num_features=3,
      feature_selection="none",
  )
  assert int(fit32.status[0]) == jaxlime.FitStatus.ILL_CONDITIONED
  with jax.enable_x64(True):
    fit64 = jaxlime.fit_surrogate(z, y, weights, num_features=3, feature_selection="none")
    assert int(fit64.status[0]) == jaxlime.FitStatus.OK


@pytest.mark.slow
def test_grad_with_respect_to_the_instance_is_finite_without_jit(breast_cancer):
  # The distance of sample 0 to itself is sqrt(0), whose gradient is inf: it made this NaN.
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, discretize_continuous=False, feature_selection="none")
  weights = jnp.asarray(np.random.default_rng(1).normal(size=30) / X.std(0), jnp.float32)

  def model(batch):
    p = jax.nn.sigmoid((batch - X.mean(0)) @ weights)
    return jnp.stack([1 - p, p], axis=-1)

  fn = explainer.explain_fn(model, num_samples=300, num_features=30)
  key = jaxlime.instance_keys(0, 1)[0]
  gradient = jax.grad(lambda x: fn(x, key).coef[0, 0])(jnp.asarray(X[3], jnp.float32))
  assert np.isfinite(np.asarray(gradient)).all()
