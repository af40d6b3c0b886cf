"""Kernel SHAP against shap's KernelExplainer, and its properties."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import shap
from flax import nnx
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import jaxlime
from jaxlime._src import kernel_shap
from jaxlime._src.kernel_shap import KernelShapExplainer

ENUMERATED_FEATURES = 10  # 2^10 - 2 = 1022 coalitions: shap enumerates them all.


class MLP(nnx.Module):
  """A small standardising MLP: [B, F] -> [B, C] probabilities, or [B] when num_outputs is None."""

  def __init__(self, mean, std, num_outputs, *, seed=0):
    rngs = nnx.Rngs(seed)
    self.mean, self.std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)
    self.num_outputs = num_outputs
    self.hidden = nnx.Linear(len(mean), 16, rngs=rngs)
    self.head = nnx.Linear(16, num_outputs or 1, rngs=rngs)

  def __call__(self, x):
    h = jnp.tanh(self.hidden((x - self.mean) / self.std))
    out = self.head(h) * 2.0
    return out[:, 0] if self.num_outputs is None else jax.nn.softmax(out, axis=-1)


def numpy_fn(model):
  """The model as shap's numpy function."""
  return lambda x: np.asarray(model(jnp.asarray(x, jnp.float32)), np.float64)


def float32_outputs(fn):
  """fn with its outputs rounded to float32, as jaxlime holds them."""
  return lambda x: np.asarray(fn(x), np.float32).astype(np.float64)


@pytest.fixture(scope="module")
def cancer(breast_cancer):
  """Breast cancer rows (float32 values), a 20-row background and 3 rows to explain."""
  X = breast_cancer[0].astype(np.float32).astype(np.float64)
  rng = np.random.default_rng(0)
  return X, X[rng.choice(len(X), 20, replace=False)], X[[0, 1, 200]]


@pytest.fixture(scope="module")
def diabetes():
  X, y = load_diabetes(return_X_y=True)
  X = X.astype(np.float32).astype(np.float64)
  rng = np.random.default_rng(1)
  return X, y, X[rng.choice(len(X), 20, replace=False)], X[[0, 5, 100]]


def shap_values(model_fn, background, X, link="identity", **kwargs):
  explainer = shap.KernelExplainer(model_fn, background, link=link)
  values = explainer.shap_values(X, l1_reg=0, silent=True, **kwargs)
  return values, np.atleast_1d(explainer.expected_value)


def assert_matches_shap(result, reference, expected):
  scale = max(1.0, np.abs(reference).max())
  np.testing.assert_allclose(result.shap_values(), reference, rtol=0, atol=1e-5 * scale)
  np.testing.assert_allclose(result.expected_value, expected, rtol=0, atol=1e-5 * scale)


# ---- exact agreement when every coalition is enumerated ----


@pytest.mark.parametrize("link", ["identity", "logit"])
@pytest.mark.slow
def test_enumerated_flax_classifier_matches_shap(cancer, link):
  X, background, rows = (a[:, :ENUMERATED_FEATURES] for a in cancer)
  model = MLP(X.mean(0), X.std(0), 3)
  result = KernelShapExplainer(background, link=link).explain(rows, model, key=0)
  reference, expected = shap_values(numpy_fn(model), background, rows, link)
  assert result.values.shape == (3, 3, ENUMERATED_FEATURES)
  assert_matches_shap(result, reference, expected)


@pytest.mark.parametrize("link", ["identity", "logit"])
def test_enumerated_sklearn_classifier_matches_shap(cancer, breast_cancer, link):
  X, background, rows = (a[:, :ENUMERATED_FEATURES] for a in cancer)
  classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
  classifier.fit(X, breast_cancer[1])
  model = jaxlime.host_model(classifier.predict_proba)
  result = KernelShapExplainer(background, link=link).explain(rows, model, key=0)
  # jaxlime holds model outputs in float32: shap sees the same outputs (the logit of a float32
  # probability near 1 differs from the float64 one by far more than the solve's rounding).
  reference, expected = shap_values(
      float32_outputs(classifier.predict_proba), background, rows, link
  )
  assert_matches_shap(result, reference, expected)


@pytest.mark.slow
def test_enumerated_regression_matches_shap(diabetes):
  X, y, background, rows = diabetes
  forest = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
  result = KernelShapExplainer(background).explain(rows, jaxlime.host_model(forest.predict))
  reference, expected = shap_values(float32_outputs(forest.predict), background, rows)
  assert result.values.shape == (3, 1, 10) and reference.shape == (3, 10)
  assert_matches_shap(result, reference, expected)

  mlp = MLP(X.mean(0), X.std(0), None)
  result = KernelShapExplainer(background).explain(rows, mlp, key=0)
  reference, expected = shap_values(numpy_fn(mlp), background, rows)
  assert_matches_shap(result, reference, expected)


@pytest.mark.slow
def test_background_weights_and_kmeans_match_shap(cancer):
  X, _, rows = (a[:, :8] for a in cancer)
  model = MLP(X.mean(0), X.std(0), 2)
  summary = shap.kmeans(X, 6)
  result = KernelShapExplainer(summary).explain(rows, model, key=0)
  reference, expected = shap_values(numpy_fn(model), summary, rows)
  assert_matches_shap(result, reference, expected)
  weighted = KernelShapExplainer(summary.data, background_weights=summary.weights * 7)
  np.testing.assert_allclose(weighted.explain(rows, model, key=0).values, result.values, atol=1e-6)


@pytest.mark.slow
def test_features_equal_to_the_background_get_zero_like_shap(cancer):
  X, background, rows = (np.array(a[:, :6]) for a in cancer)
  background[:, 2] = rows[0, 2]  # Feature 2 of row 0 equals every background value.
  background[:, 4] = 1.0
  rows[:, 4] = 1.0  # Feature 4 never varies.
  model = MLP(X.mean(0), X.std(0), 2)
  result = KernelShapExplainer(background).explain(rows, model, key=0)
  reference, expected = shap_values(numpy_fn(model), background, rows)
  assert_matches_shap(result, reference, expected)
  values = np.asarray(result.values)
  assert np.all(values[0, :, 2] == 0) and np.all(values[:, :, 4] == 0)
  assert np.all(values[1:, :, 2] != 0)


@pytest.mark.slow
def test_one_varying_feature_gets_the_whole_difference(cancer):
  X, background, rows = (np.array(a[:, :5]) for a in cancer)
  background[:, 1:] = rows[0, 1:]
  model = MLP(X.mean(0), X.std(0), 2)
  result = KernelShapExplainer(background, link="logit").explain(rows[:1], model)
  reference, expected = shap_values(numpy_fn(model), background, rows[:1], "logit")
  assert_matches_shap(result, reference, expected)
  difference = np.asarray(result.prediction - result.expected_value)[0]
  np.testing.assert_allclose(np.asarray(result.values)[0, :, 0], difference, atol=1e-6)


# ---- the sampled regime ----


@pytest.mark.slow
def test_coalition_plan_matches_shap(cancer):
  """The enumerated coalitions equal shap's; the random ones follow shap's law of subset sizes."""
  X, background, rows = cancer
  num_features = X.shape[1]
  plan, sizes = kernel_shap.coalition_plan(num_features, "auto")
  np.random.seed(0)  # shap draws from numpy's global generator.
  explainer = shap.KernelExplainer(lambda x: x.sum(axis=1), background)
  shap_sizes = []
  for row in rows:
    explainer.shap_values(row, l1_reg=0, silent=True)
    num_fixed = sizes["num_fixed"]
    assert explainer.nsamples == num_fixed + sizes["num_random"] == 2 * num_features + 2048
    np.testing.assert_array_equal(explainer.maskMatrix[:num_fixed], plan.fixed_masks)
    np.testing.assert_allclose(explainer.kernelWeights[:num_fixed], plan.fixed_weights, rtol=1e-6)
    np.testing.assert_allclose(
        explainer.kernelWeights[num_fixed:].sum(),
        plan.random_weight * sizes["num_random"],
        rtol=1e-6,
    )
    # shap merges a repeated coalition into one row of larger weight: its draws are the weights
    # in units of the smallest one.
    draws = explainer.kernelWeights[num_fixed : explainer.nsamplesAdded]
    draws = np.round(draws / draws.min()).astype(int)
    row_sizes = explainer.maskMatrix[num_fixed : explainer.nsamplesAdded].sum(axis=1).astype(int)
    shap_sizes.append(np.repeat(row_sizes, draws))

  # The law of a random row's size: a draw of size k adds a row of size k, and one of size
  # F - k when paired.
  law = np.zeros(num_features + 1)
  for offset, probability in enumerate(np.asarray(plan.size_probabilities, np.float64)):
    size = sizes["first_random_size"] + offset
    law[size] += probability
    if size <= sizes["num_paired_sizes"]:
      law[num_features - size] += probability
  law /= law.sum()
  keys = jax.random.split(jax.random.key(0), 20)
  sample = functools.partial(
      kernel_shap.sample_coalitions,
      plan=plan,
      num_random=sizes["num_random"],
      first_random_size=sizes["first_random_size"],
      num_paired_sizes=sizes["num_paired_sizes"],
  )
  masks, weights = jax.vmap(sample)(keys)
  assert masks.shape == (20, sizes["num_fixed"] + sizes["num_random"], num_features)
  fixed = np.asarray(masks[:, : sizes["num_fixed"]])
  np.testing.assert_array_equal(fixed, np.broadcast_to(plan.fixed_masks, fixed.shape))
  ours = np.asarray(masks[:, sizes["num_fixed"] :].sum(axis=-1)).ravel()
  ours_law = np.bincount(ours, minlength=num_features + 1) / ours.size
  assert 0.5 * np.abs(ours_law - law).sum() < 0.01
  # shap's drawn sizes against the same law: a chi-square statistic with 26 degrees of freedom
  # (p = 0.001 at 54; 18 here); drawing paired sizes without halving their probability gives 87.
  counts = np.bincount(np.concatenate(shap_sizes), minlength=num_features + 1)
  support = law > 0
  assert counts[~support].sum() == 0
  expected_counts = law[support] * counts.sum()
  chi_square = np.sum((counts[support] - expected_counts) ** 2 / expected_counts)
  assert chi_square < 2 * support.sum()
  # A paired subset (size <= 14) is followed by its complement; every feature joins the subsets
  # equally often.
  random = np.asarray(masks[:, sizes["num_fixed"] :])
  subsets = random[:, :-1][random[:, :-1].sum(-1) <= sizes["num_paired_sizes"]]
  following = random[:, 1:][random[:, :-1].sum(-1) <= sizes["num_paired_sizes"]]
  np.testing.assert_array_equal(following, ~subsets)
  frequency = subsets.mean(axis=0)
  assert np.abs(frequency - frequency.mean()).max() < 0.02


@pytest.fixture(scope="module")
def cancer_mlp(cancer):
  X, _, _ = cancer
  return MLP(X.mean(0), X.std(0), 2, seed=3)


@pytest.fixture(scope="module")
def sampled(cancer, cancer_mlp):
  """Breast cancer (F = 30), 50 background rows, nsamples = 2048: jaxlime and shap."""
  X, _, _ = cancer
  rng = np.random.default_rng(2)
  background = X[rng.choice(len(X), 50, replace=False)]
  rows = X[[3, 50, 300, 400]]
  explainer = KernelShapExplainer(background)
  result = explainer.explain(rows, cancer_mlp, key=0, nsamples=2048)
  np.random.seed(0)
  reference, _ = shap_values(numpy_fn(cancer_mlp), background, rows, nsamples=2048)
  return explainer, rows, result, reference


@pytest.mark.slow
def test_sampled_regime_agrees_with_shap(sampled):
  _, _, result, reference = sampled
  ours = result.shap_values()[..., 1]
  theirs = reference[..., 1]
  for a, b in zip(ours, theirs):
    assert np.corrcoef(a, b)[0, 1] > 0.98
    top_a, top_b = np.argsort(-np.abs(a))[:5], np.argsort(-np.abs(b))[:5]
    assert top_a[0] == top_b[0]
    assert len(set(top_a) & set(top_b)) >= 4


def test_efficiency(sampled):
  _, _, result, _ = sampled
  total = np.asarray(result.prediction - result.expected_value)
  np.testing.assert_allclose(np.asarray(result.values).sum(-1), total, atol=2e-6)
  # Two classes with the identity link: the values of class 0 are minus those of class 1.
  np.testing.assert_allclose(result.values[:, 0], -result.values[:, 1], atol=1e-5)


def test_linear_model_values_are_exact(cancer):
  """For f(x) = x . w + b every coalition is linear: values are w_j (x_j - background mean)."""
  X, _, rows = cancer
  rng = np.random.default_rng(4)
  background = X[rng.choice(len(X), 30, replace=False)]
  weights = rng.uniform(0.5, 2, 30)
  w = jnp.asarray(rng.normal(size=30) / X.std(0), jnp.float32)
  model = lambda x: x @ w + 1.0  # noqa: E731
  result = KernelShapExplainer(background, background_weights=weights).explain(
      rows, model, key=1, nsamples=500
  )
  mean = weights @ background / weights.sum()
  exact = np.asarray(w, np.float64) * (rows - mean)
  np.testing.assert_allclose(
      np.asarray(result.values)[:, 0], exact, rtol=0, atol=1e-4 * np.abs(exact).max()
  )
  assert result.scalar_output and result.shap_values().shape == (3, 30)


# ---- randomness and batching ----


@pytest.mark.slow
def test_same_key_same_result_and_keys_matter(sampled, cancer_mlp):
  explainer, rows, result, _ = sampled
  again = explainer.explain(rows, cancer_mlp, key=0, nsamples=2048)
  np.testing.assert_array_equal(again.values, result.values)
  other = explainer.explain(rows, cancer_mlp, key=jax.random.key(5), nsamples=2048)
  assert not np.allclose(other.values, result.values, atol=1e-4)


@pytest.mark.slow
def test_batch_equals_one_by_one(sampled, cancer_mlp):
  explainer, rows, _, _ = sampled
  keys = jax.random.split(jax.random.key(7), len(rows))
  batch = explainer.explain(rows, cancer_mlp, key=keys, nsamples=300)
  small_calls = explainer.explain(rows, cancer_mlp, key=keys, nsamples=300, batch_size=777)
  np.testing.assert_allclose(small_calls.values, batch.values, atol=1e-6)
  for i, row in enumerate(rows):
    alone = explainer.explain(row, cancer_mlp, key=keys[i : i + 1], nsamples=300)
    np.testing.assert_allclose(alone.values[0], batch.values[i], atol=1e-6)
    names, weights = zip(*alone[0].as_list(0, 1))
    expected_names, expected_weights = zip(*alone.as_list(0, 1))
    assert names == expected_names
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-6)


@pytest.mark.slow
def test_explain_is_traceable_and_one_program(cancer, cancer_mlp):
  _, background, rows = cancer
  explainer = KernelShapExplainer(background)
  eager = explainer.explain(rows, cancer_mlp, key=0, nsamples=100, batch_size=2000)
  jitted = jax.jit(
      lambda x: explainer.explain(x, cancer_mlp, key=0, nsamples=100, batch_size=2000).values
  )
  np.testing.assert_allclose(jitted(jnp.asarray(rows, jnp.float32)), eager.values, atol=1e-6)

  # The instances are a mapped axis of one program, not unrolled: the jaxpr does not grow with N
  # (with model calls of 100 coalitions x 20 background rows, N * S splits into whole calls).
  def equations(n):
    return str(jax.make_jaxpr(jitted)(jnp.zeros((n, 30), jnp.float32))).count(" = ")

  assert equations(40) == equations(4)


def test_as_list_is_sorted_by_magnitude(sampled, breast_cancer):
  _, _, result, _ = sampled
  pairs = result.as_list(1, 1)
  magnitudes = [abs(value) for _, value in pairs]
  assert magnitudes == sorted(magnitudes, reverse=True) and len(pairs) == 30
  assert dict(pairs)["0"] == pytest.approx(float(result.values[1, 1, 0]))
  named = dataclasses.replace(result, feature_names=tuple(breast_cancer[2]))
  assert dict(named.as_list(1, 1))["mean radius"] == pytest.approx(float(result.values[1, 1, 0]))
  assert len(result[1:3]) == 2 and result[1:3].expected_value.shape == (2,)
  np.testing.assert_array_equal(result[2].values[0], result.values[2])


# ---- bad input ----


@pytest.mark.slow
def test_bad_input_is_refused(cancer, cancer_mlp):
  _, background, rows = cancer
  explainer = KernelShapExplainer(background)
  with pytest.raises(ValueError, match=r"X must have shape \(N, 30\).*got \(3, 29\)"):
    explainer.explain(rows[:, :29], cancer_mlp)
  with pytest.raises(ValueError, match=r"Did you pass X.T"):
    explainer.explain(np.zeros((30, 7)), cancer_mlp)
  bad = rows.copy()
  bad[1, 3] = np.nan
  with pytest.raises(ValueError, match=r"X has 1 NaN/inf entries \(first at index \(1, 3\)\)"):
    explainer.explain(bad, cancer_mlp)
  bad_background = background.copy()
  bad_background[0, 0] = np.inf
  with pytest.raises(ValueError, match="background has 1 NaN/inf"):
    KernelShapExplainer(bad_background)
  with pytest.raises(ValueError, match="nsamples must be >= 2; got 1"):
    explainer.explain(rows, cancer_mlp, nsamples=1)
  with pytest.raises(ValueError, match="nsamples must be \"auto\" or an int >= 2; got 'many'"):
    explainer.explain(rows, cancer_mlp, nsamples="many")
  with pytest.raises(ValueError, match=r"link must be one of \('identity', 'logit'\); got 'probit"):
    KernelShapExplainer(background, link="probit")
  with pytest.raises(ValueError, match=r"background_weights must have shape \(20,\).*got \(3,\)"):
    KernelShapExplainer(background, background_weights=[1, 2, 3])
  with pytest.raises(ValueError, match="feature_names has 2 names for 30"):
    KernelShapExplainer(background, feature_names=["a", "b"])
  with pytest.raises(ValueError, match=r"batch_size must be at least B = 20 .*; got 5"):
    explainer.explain(rows, cancer_mlp, batch_size=5)
  with pytest.raises(ValueError, match=r"must return \[R, C\].*returned shape \(3, 2, 1\)"):
    explainer.explain(rows, lambda x: cancer_mlp(x)[:, :, None])
  with pytest.raises(ValueError, match=r"model output is not finite at instances \[1\]"):
    explainer.explain(rows, lambda x: cancer_mlp(x) / (x[:, :1] != rows[1, 0]))
  with pytest.raises(ValueError, match=r"label must be in 0..1.*got 2"):
    explainer.explain(rows[:1], cancer_mlp, nsamples=10).as_list(0, 2)


def test_too_few_coalitions_are_flagged(cancer, cancer_mlp):
  _, background, rows = cancer
  with pytest.warns(UserWarning, match="singular weighted system"):
    result = KernelShapExplainer(background).explain(rows, cancer_mlp, nsamples=4)
  assert (np.asarray(result.status) == jaxlime.FitStatus.SINGULAR).all()


@pytest.mark.parametrize("num_features", [1, 2, 3])
@pytest.mark.slow
def test_few_features_match_shap(diabetes, num_features):
  _, _, background, rows = diabetes
  background, rows = background[:5, :num_features], rows[:, :num_features]
  model = lambda x: jnp.sin(10 * x).sum(axis=1) + 5 * x[:, 0]  # noqa: E731
  result = KernelShapExplainer(background).explain(rows, model)
  reference, expected = shap_values(numpy_fn(model), background, rows)
  assert_matches_shap(result, reference, expected)
