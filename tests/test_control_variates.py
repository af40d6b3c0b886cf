"""Control variates (`TabularExplainer(control_variates=True)`): lime's coefficients, less noise.

Oracles: the sampler's own draws for the bins' means and frequencies; exact orthogonality of
the covariates to z in lime's weighted distribution (z-scores over 100,000 samples); the
analytic lime coefficients of a model additive in the bins and linear inside them; and the
plain estimator at 64,000 samples for a logistic model.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlime
from jaxlime._src import control_variates
from jaxlime._src import tabular_core


def test_bin_means_and_frequencies_are_the_samplers(breast_cancer):
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  bits = tabular_core.draw_bits(jax.random.key(3), 200_000, X.shape[1])
  choice, values = tabular_core.draw_tabular(bits, explainer.tables, jnp.float32)
  choice, values = np.asarray(choice), np.asarray(values, np.float64)
  means = np.asarray(control_variates.choice_means(explainer.tables), np.float64)
  frequencies = np.asarray(control_variates.choice_frequencies(explainer.tables), np.float64)
  np.testing.assert_allclose(frequencies.sum(axis=1), 1, atol=1e-6)
  for column in range(X.shape[1]):
    for c in range(frequencies.shape[1]):
      drawn = values[column][choice[column] == c]
      share = drawn.size / values.shape[1]
      share_error = np.sqrt(frequencies[column, c] * (1 - frequencies[column, c]) / 200_000)
      assert abs(share - frequencies[column, c]) < 5 * share_error + 1e-9, (column, c)
      if drawn.size > 1 and drawn.std() > 0:
        mean_error = drawn.std() / np.sqrt(drawn.size)
        assert abs(drawn.mean() - means[column, c]) < 5 * mean_error, (column, c)


def test_covariates_are_orthogonal_to_every_function_of_z(breast_cancer):
  """E_w[A_fk] = 0 and E_w[A_fk z_g] = 0 for every covariate and feature: z-scores."""
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X)
  z, inputs, choice, weights = explainer._instance_samples(X[7], jax.random.key(5), 100_000)
  own = tabular_core.instance_choice(inputs[:, 0], explainer.tables)
  stacked = np.asarray(
      control_variates.covariates(z, choice, inputs, own, explainer.tables), np.float64
  )  # [F, K, S]
  z, weights = np.asarray(z, np.float64), np.asarray(weights, np.float64)
  contrasts = stacked[:, :-1]  # [F, 2, S]: quartiles, the own and reference choices left out.
  assert contrasts.shape[1] == 2 and (np.abs(contrasts).sum(axis=-1) > 0).all()
  assert np.all(contrasts[np.broadcast_to(z[:, None] == 1, contrasts.shape)] == 0)  # Own drawn.
  features = np.concatenate([np.ones((1, z.shape[1])), z], axis=0)  # [1 + D, S]
  flat = stacked.reshape(-1, z.shape[1]) * weights  # [F K, S]
  num_samples = z.shape[1]
  mean = flat @ features.T / num_samples  # [F K, 1 + D]: E_w[A_fk g] for g = 1, z_1, ..
  second = np.square(flat) @ np.square(features).T / num_samples
  error = np.sqrt(np.maximum(second - np.square(mean), 0) / num_samples)
  informative = error > 0
  assert informative.sum() > 2500  # 2 contrasts and 1 deviation per column, 31 functions.
  assert np.abs(mean[informative] / error[informative]).max() < 5.5


def _bin_additive_model(explainer, table, slope):
  """f(x) = sum_f table[f, bin_f(x)] + slope_f x_f: additive in the bins, linear inside them."""
  edges = explainer.tables.edges

  def model(x):
    bins = jnp.sum(edges[None] < x[:, :, None], axis=-1)  # [B, F]
    return jnp.sum(jnp.take_along_axis(table[None], bins[..., None], axis=-1)[..., 0], -1) + (
        x @ slope
    )

  return model


def test_model_additive_in_bins_is_recovered_exactly(breast_cancer):
  """Its lime coefficients are known: (E[f_f | own bin] - E[f_f | another bin]) per feature.
  The covariates explain all of its noise, so the adjusted fit recovers them to the ridge's
  shrinkage, while lime's estimator carries the sampling noise."""
  X, _, _, _ = breast_cancer
  plain = jaxlime.TabularExplainer(X, mode="regression")
  adjusted = jaxlime.TabularExplainer(X, mode="regression", control_variates=True)
  rng = np.random.default_rng(0)
  table = jnp.asarray(rng.normal(size=(X.shape[1], 4)), jnp.float32)
  slope = jnp.asarray(rng.normal(size=X.shape[1]) / X.std(axis=0), jnp.float32)
  model = _bin_additive_model(plain, table, slope)
  rows = X[:6]
  tables = plain.tables
  frequencies = np.asarray(control_variates.choice_frequencies(tables), np.float64)
  per_bin = np.asarray(table, np.float64) + np.asarray(slope, np.float64)[:, None] * np.asarray(
      control_variates.choice_means(tables), np.float64
  )  # [F, 4]: E[f_f | bin]
  own_choice = jax.vmap(lambda row: tabular_core.instance_choice(row, tables))
  own = np.asarray(own_choice(jnp.asarray(rows, jnp.float32)))
  expected = np.zeros(rows.shape)
  for i, bins in enumerate(own):
    for f, b in enumerate(bins):
      others = np.delete(np.arange(4), b)
      weights = frequencies[f, others] / frequencies[f, others].sum()
      expected[i, f] = per_bin[f, b] - weights @ per_bin[f, others]
  options = dict(key=1, num_samples=4000, num_features=X.shape[1], progress=False)
  exp_plain = plain.explain(rows, model, **options)
  exp_adjusted = adjusted.explain(rows, model, **options)
  error_plain = np.abs(np.asarray(exp_plain.coef[:, 0]) - expected).max()
  error_adjusted = np.abs(np.asarray(exp_adjusted.coef[:, 0]) - expected).max()
  scale = np.abs(expected).max()
  assert error_adjusted < 0.01 * scale, (error_adjusted, scale)
  assert error_plain > 5 * error_adjusted, (error_plain, error_adjusted)
  # The score is lime's R^2 on the model's outputs, not on the adjusted ones (which are linear
  # in z here, R^2 1).
  np.testing.assert_allclose(exp_adjusted.score, exp_plain.score, atol=0.02)
  assert np.asarray(exp_adjusted.score).max() < 0.99


@pytest.mark.parametrize("num_categories", [4, 24])
def test_categorical_columns_without_discretization_are_recovered_exactly(num_categories):
  """Categorical columns among continuous ones (discretize_continuous=False): a model additive
  in the categories and linear in the continuous columns has known lime coefficients, the
  categories' contrasts and each continuous column's slope x its training std. 24 categories
  (22 contrasts) take the gathered sums instead of the one-hot products. The last row's
  first category was never seen in training: its z is 1 in row 0 only (that coefficient is
  row 0's leverage, left out here), and its covariates keep one contrast fewer
  (`control_variates._factored`); the other coefficients keep their values."""
  rng = np.random.default_rng(1)
  num_rows, num_categorical, num_continuous = 2000, 3, 3
  shares = [0.4, 0.3, 0.2, 0.1] if num_categories == 4 else rng.uniform(1, 4, num_categories)
  shares = np.asarray(shares) / np.sum(shares)
  categories = rng.choice(num_categories, size=(num_rows, num_categorical), p=shares)
  continuous = rng.normal(size=(num_rows, num_continuous)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
  X = np.concatenate([categories, continuous], axis=1).astype(np.float64)
  columns = list(range(num_categorical))
  plain = jaxlime.TabularExplainer(
      X, mode="regression", categorical_features=columns, discretize_continuous=False
  )
  adjusted = jaxlime.TabularExplainer(
      X,
      mode="regression",
      categorical_features=columns,
      discretize_continuous=False,
      control_variates=True,
  )
  table = jnp.asarray(rng.normal(size=(num_categorical, num_categories)), jnp.float32)
  slope = jnp.asarray(rng.normal(size=num_continuous), jnp.float32)

  def model(x):
    chosen = jnp.clip(x[:, :num_categorical].astype(jnp.int32), 0, num_categories - 1)
    per_column = jnp.take_along_axis(table.T[None], chosen[:, None, :], axis=1)[:, 0]
    return jnp.sum(per_column, axis=-1) + x[:, num_categorical:] @ slope

  rows = np.concatenate([X[:5], X[5:6]])
  rows[5, 0] = num_categories + 3  # Unseen: lime's (and jaxlime's) warning says so.
  tables = plain.tables
  frequencies = np.asarray(control_variates.choice_frequencies(tables), np.float64)
  keys = np.asarray(tables.choice_keys)
  own_choice = jax.vmap(lambda row: tabular_core.instance_choice(row, tables))
  own = np.asarray(own_choice(jnp.asarray(rows, jnp.float32)))
  expected = np.zeros(rows.shape)
  for i in range(len(rows)):
    for f in columns:
      if own[i, f] < 0:
        continue
      per_choice = np.asarray(table, np.float64)[f, keys[f, :num_categories].astype(int)]
      others = np.delete(np.arange(num_categories), own[i, f])
      weights = frequencies[f, others] / frequencies[f, others].sum()
      expected[i, f] = per_choice[own[i, f]] - weights @ per_choice[others]
  expected[:, num_categorical:] = np.asarray(slope) * np.asarray(tables.std)[num_categorical:]
  options = dict(key=2, num_samples=4000, num_features=X.shape[1], progress=False)
  with pytest.warns(UserWarning, match="never seen in the training data"):
    error_plain = np.abs(np.asarray(plain.explain(rows, model, **options).coef[:, 0]) - expected)
  with pytest.warns(UserWarning, match="never seen in the training data"):
    error_adjusted = np.abs(
        np.asarray(adjusted.explain(rows, model, **options).coef[:, 0]) - expected
    )
  assert own[5, 0] == -1 and (own[:5, columns] >= 0).all()
  error_plain[5, 0] = error_adjusted[5, 0] = 0  # Row 0's leverage, not known in closed form.
  scale = np.abs(expected).max()
  assert error_adjusted.max() < 0.01 * scale, (error_adjusted.max(), scale)
  seen = slice(0, 5)
  assert error_plain[seen, columns].max() > 5 * error_adjusted[seen, columns].max()


def test_gathered_sums_equal_the_one_hot_products(breast_cancer, logistic, monkeypatch):
  """Past `_ONE_HOT` contrasts per column the sums gather and scatter by slot: the same
  adjusted outputs as the one-hot products (forced here on quartiles, 2 contrasts)."""
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, control_variates=True)
  z, inputs, choice, weights = explainer._instance_samples(X[5], jax.random.key(9), 3001)
  outputs = logistic.model(inputs.T)
  own = tabular_core.instance_choice(inputs[:, 0], explainer.tables)
  arguments = (z, outputs, weights, choice, inputs, own, explainer.tables)
  one_hot = np.asarray(control_variates.adjusted_outputs(*arguments))
  monkeypatch.setattr(control_variates, "_ONE_HOT", 0)
  first = jnp.arange(z.shape[1]) == 0
  assert control_variates._factored(z, choice, inputs, own, explainer.tables, first).drawn is None
  gathered = np.asarray(control_variates.adjusted_outputs(*arguments))
  assert np.abs(one_hot - np.asarray(outputs)).max() > 1e-3
  np.testing.assert_allclose(gathered, one_hot, atol=1e-5)


@pytest.mark.parametrize("num_samples", [1000, 1001])
def test_no_sample_is_adjusted_with_its_own_output(breast_cancer, logistic, num_samples):
  """Cross-fitting: moving one sample's output moves its own adjusted output by as much and no
  other adjusted output of its half (their gamma comes from the other half). With odd S the
  middle sample, in both halves, belongs to the first."""
  X, _, _, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, control_variates=True)
  z, inputs, choice, weights = explainer._instance_samples(X[3], jax.random.key(8), num_samples)
  outputs = logistic.model(inputs.T)  # [S, 2]
  own = tabular_core.instance_choice(inputs[:, 0], explainer.tables)

  def adjusted(y):
    return np.asarray(
        control_variates.adjusted_outputs(z, y, weights, choice, inputs, own, explainer.tables),
        np.float64,
    )

  before = adjusted(outputs)
  first_half = np.arange(num_samples) < (num_samples + 1) // 2
  assert np.abs(before - np.asarray(outputs)).max() > 1e-3  # The outputs are adjusted.
  for moved in (7, num_samples // 2, num_samples - 3):
    after = adjusted(outputs.at[moved].add(0.5))
    same_half = first_half == first_half[moved]
    change = after - before
    np.testing.assert_allclose(change[moved], 0.5, atol=1e-5)
    others = same_half & (np.arange(num_samples) != moved)
    assert np.abs(change[others]).max() < 1e-5, moved
    assert np.abs(change[~same_half]).max() > 1e-5, moved  # The other half's gamma moved.


def test_logistic_same_coefficients_less_noise_calibrated_std(breast_cancer, logistic):
  X, _, _, _ = breast_cancer
  rows = X[:10]
  plain = jaxlime.TabularExplainer(X)
  adjusted = jaxlime.TabularExplainer(X, control_variates=True)
  options = dict(num_features=X.shape[1], progress=False)
  reference = np.asarray(
      plain.explain(rows, logistic.model, key=100, num_samples=64_000, **options).coef[:, 0]
  )
  runs = {}
  for name, explainer in (("plain", plain), ("adjusted", adjusted)):
    explanations = [
        explainer.explain(rows, logistic.model, key=seed, num_samples=2000, **options)
        for seed in range(8)
    ]
    runs[name] = (
        np.stack([np.asarray(e.coef[:, 0]) for e in explanations]),
        np.stack([np.asarray(e.coef_std[:, 0]) for e in explanations]),
    )
  spread = {name: coef.std(axis=0, ddof=1).mean() for name, (coef, _) in runs.items()}
  assert spread["plain"] > 1.3 * spread["adjusted"], spread
  # The posterior std of the adjusted fit reports its (smaller) spread across seeds.
  ratio = runs["adjusted"][1].mean() / spread["adjusted"]
  assert 0.85 < ratio < 1.25, ratio
  # Both estimate lime's coefficients: their seed means sit as close to the 64,000-sample
  # reference as their noise allows (8 seeds of 2,000 against 64,000: within 1.5x of it).
  for name, (coef, _) in runs.items():
    distance = np.sqrt(np.mean((coef.mean(axis=0) - reference) ** 2))
    expected = np.sqrt(spread[name] ** 2 / 8 + spread["plain"] ** 2 / 32)
    assert distance < 1.5 * expected, (name, distance, expected)


def test_every_path_gives_the_same_adjusted_explanation(breast_cancer, logistic):
  """Blocks of several instances, blocks of one, explain_fn and a shared pool all adjust."""
  X, _, _, _ = breast_cancer
  rows = X[:3]
  explainer = jaxlime.TabularExplainer(X, control_variates=True)
  options = dict(key=4, num_samples=600, num_features=5, progress=False)
  blocks = explainer.explain(rows, logistic.model, **options)
  singles = explainer.explain(rows, logistic.model, batch_size=600, **options)
  np.testing.assert_allclose(singles.coef, blocks.coef, rtol=1e-5, atol=1e-6)
  fn = explainer.explain_fn(logistic.model, num_samples=600, num_features=5)
  keys = jaxlime.instance_keys(4, len(rows))
  traced = jax.vmap(fn)(jnp.asarray(rows, jnp.float32), keys)
  np.testing.assert_allclose(traced.coef, blocks.coef, rtol=1e-5, atol=1e-6)
  # Only the explained labels are adjusted, each on its own: adding label 0 (or choosing by
  # top_labels) leaves label 1's fit as it was.
  both = explainer.explain(rows, logistic.model, labels=(0, 1), **options)
  np.testing.assert_allclose(both.coef[:, 1], blocks.coef[:, 0], rtol=1e-5, atol=1e-6)
  top = explainer.explain(rows, logistic.model, labels=None, top_labels=2, **options)
  picked = np.asarray(top.labels) == 1  # [N, 2]
  np.testing.assert_allclose(top.coef[picked], blocks.coef[:, 0], rtol=1e-5, atol=1e-6)
  plain = jaxlime.TabularExplainer(X).explain(rows, logistic.model, **options)
  assert np.abs(np.asarray(plain.coef) - np.asarray(blocks.coef)).max() > 1e-4  # Adjusted.
  shared = jaxlime.TabularExplainer(X, control_variates=True, shared_samples=True)
  shared_plain = jaxlime.TabularExplainer(X, shared_samples=True)
  pooled = shared.explain(rows, logistic.model, **options)
  pooled_plain = shared_plain.explain(rows, logistic.model, **options)
  assert np.abs(np.asarray(pooled.coef) - np.asarray(pooled_plain.coef)).max() > 1e-4
  until = jaxlime.UntilStable(top_k=3, level=0.9, initial=500, step=500, max_samples=2000)
  adaptive = explainer.explain(rows, logistic.model, key=4, num_samples=until, progress=False)
  assert np.all(np.asarray(adaptive.num_samples) >= 500)
  assert np.isfinite(np.asarray(adaptive.coef)).all()


def test_bad_options_name_the_argument(breast_cancer):
  X, _, _, _ = breast_cancer
  with pytest.raises(TypeError, match="control_variates must be a bool"):
    jaxlime.TabularExplainer(X, control_variates=1)
  with pytest.raises(ValueError, match="control_variates=True .* nothing to adjust by"):
    jaxlime.TabularExplainer(X, discretize_continuous=False, control_variates=True)
