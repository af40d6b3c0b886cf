"""Credible intervals, samples to go, and adaptive sample counts (`jaxlime.UntilStable`)."""

import dataclasses
import statistics
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlime
from jaxlime._src import adaptive
from jaxlime._src import segmentation
from jaxlime._src import surrogate
from helpers import forced_devices_env

# ---- a linear model with known Gaussian noise ----

_TRUE = np.array([0.8, -0.5, 0.3, 0.0, -0.2, 0.6], np.float32)  # on the binary columns
_NOISE = 0.3


def _noisy_linear_problem(num_instances: int, seed: int = 0):
  """Binary categorical columns and one continuous column that seeds the noise.

  The model is 0.1 + x_bin . _TRUE + _NOISE * eps, with eps a standard normal drawn from the
  bits of the continuous column (distinct in every sample). lime's interpretable feature of a
  categorical column is "same category as the instance", so the model is exactly linear in
  it: its coefficient is _TRUE[j] where the instance has 1 and -_TRUE[j] where it has 0; the
  continuous column's coefficient is 0.
  """
  rng = np.random.default_rng(seed)
  num_binary = len(_TRUE)
  train = np.concatenate(
      [rng.integers(0, 2, (500, num_binary)), rng.normal(size=(500, 1))], axis=1
  ).astype(np.float32)
  explainer = jaxlime.TabularExplainer(
      train,
      mode="regression",
      categorical_features=list(range(num_binary)),
      feature_selection="none",
  )
  weights = jnp.asarray(_TRUE)

  def model(x):
    seeds = jax.lax.bitcast_convert_type(x[:, -1], jnp.uint32)
    eps = jax.vmap(lambda s: jax.random.normal(jax.random.key(s)))(seeds)
    return 0.1 + x[:, :num_binary] @ weights + _NOISE * eps

  X = np.concatenate(
      [rng.integers(0, 2, (num_instances, num_binary)), rng.normal(size=(num_instances, 1))],
      axis=1,
  ).astype(np.float32)
  truth = np.concatenate(
      [np.where(X[:, :num_binary] == 1, _TRUE, -_TRUE), np.zeros((num_instances, 1))], axis=1
  )
  return explainer, model, X, truth


@pytest.mark.slow
def test_95_percent_intervals_cover_the_true_coefficients_95_percent_of_the_time():
  explainer, model, X, truth = _noisy_linear_problem(300)
  exp = explainer.explain(X, model, key=1, num_samples=1000, num_features=7)
  lower, upper = exp.intervals(0.95)
  covered = (np.asarray(lower)[:, 0] <= truth) & (truth <= np.asarray(upper)[:, 0])
  assert 0.93 <= covered.mean() <= 0.97, covered.mean()
  # Every coefficient, not only on average: no column is systematically missed.
  assert (covered.mean(axis=0) >= 0.88).all(), covered.mean(axis=0)
  # 50% intervals cover half the time: the width, not only the tail, is right.
  lower, upper = exp.intervals(0.5)
  half = (np.asarray(lower)[:, 0] <= truth) & (truth <= np.asarray(upper)[:, 0])
  assert 0.46 <= half.mean() <= 0.54, half.mean()
  # The host reader gives the same bounds, and names the regression's label 0 as the negation.
  low1, up1 = exp.interval(3, label=1)
  np.testing.assert_allclose(low1, np.asarray(exp.intervals(0.95)[0])[3, 0], rtol=1e-6)
  low0, up0 = exp.interval(3, label=0)
  np.testing.assert_allclose(low0, -up1, rtol=1e-6)
  np.testing.assert_allclose(up0, -low1, rtol=1e-6)


@pytest.mark.slow
def test_samples_to_go_reaches_the_requested_width():
  explainer, model, X, _ = _noisy_linear_problem(40, seed=1)
  start = 300
  exp = explainer.explain(X, model, key=2, num_samples=start, num_features=7)
  width = 0.05
  to_go = exp.samples_to_go(width, num_samples=start)[:, 0]
  assert (to_go > 0).all()
  totals = start + to_go
  # Instances with suggested totals within 10% share one run (keys are per instance): the
  # width then moves by at most 5%.
  grid = np.exp(np.round(np.log(totals) / 0.1) * 0.1).astype(int)
  achieved = np.zeros(len(X))
  keys = jaxlime.instance_keys(3, len(X))
  z = statistics.NormalDist().inv_cdf(0.975)
  for count in np.unique(grid):
    rows = np.flatnonzero(grid == count)
    run = explainer.explain(X[rows], model, key=keys[rows], num_samples=int(count), num_features=7)
    achieved[rows] = z * np.asarray(run.coef_std)[:, 0].max(axis=-1)
  ratio = achieved / width
  assert 0.8 <= ratio.mean() <= 1.2, ratio.mean()
  # Already narrow enough: nothing to go.
  assert (exp.samples_to_go(10.0, num_samples=start) == 0).all()


@pytest.mark.slow
def test_interval_and_samples_to_go_check_their_arguments(breast_cancer, logistic):
  X = breast_cancer[0]
  exp = jaxlime.TabularExplainer(X).explain(X[:2], logistic.model, key=0, num_samples=200)
  with pytest.raises(ValueError, match="level must be in"):
    exp.interval(0, level=1.5)
  with pytest.raises(TypeError, match="level must be a float"):
    exp.intervals(level="0.9")
  with pytest.raises(ValueError, match="width must be a number > 0"):
    exp.samples_to_go(0.0, num_samples=200)
  with pytest.raises(ValueError, match="needs num_samples="):
    exp.samples_to_go(0.1)
  lower, upper = exp.interval(0, 1)
  selected = np.asarray(exp.selected[0, 0])
  assert (lower[selected] < upper[selected]).all()
  assert (lower[~selected] == 0).all() and (upper[~selected] == 0).all()


@pytest.mark.slow
def test_html_and_figure_show_the_intervals(breast_cancer, logistic):
  X = breast_cancer[0]
  exp = jaxlime.TabularExplainer(X).explain(X[:1], logistic.model, key=0, num_samples=300)
  lower, upper = exp.interval(0, 1)
  page = exp.as_html(0, 1)
  j = exp.as_map(0)[1][0][0]
  assert f"[{lower[j]:+.4f}, {upper[j]:+.4f}]" in page
  assert "class='whisker'" in page
  pytest.importorskip("matplotlib")
  import matplotlib

  matplotlib.use("Agg")
  figure = exp.as_pyplot_figure(0, 1)
  (bars,) = [c for c in figure.axes[0].containers if hasattr(c, "errorbar")]
  segments = bars.errorbar.lines[2][0].get_segments()
  ends = sorted((float(s[0][0]), float(s[1][0])) for s in segments)
  order = [j for j, _ in exp.as_map(0)[1]]
  expected = sorted((float(lower[j]), float(upper[j])) for j in order)
  np.testing.assert_allclose(ends, expected, rtol=1e-5, atol=1e-7)


# ---- UntilStable against a reference built from the rounds' samples ----


def _round_samples(explainer, model, x, key, size, round_index):
  """The samples, outputs and weights of one round, drawn with the sampler's public steps."""
  if round_index:
    key = jax.random.fold_in(jax.random.fold_in(key, adaptive.ROUND_TAG), round_index)
  z, inputs, _, weights = explainer._instance_samples(x, key, size)
  outputs = model(inputs.T)
  if round_index:
    weights = weights.at[0].set(0)
  return np.asarray(z), np.asarray(outputs), np.asarray(weights)


def _reference_tests(z, y, w, top_k, max_samples):
  """The gap statistic and the unsettled bound in float64 numpy, one pair at a time: ridge
  (alpha 1) on all features, weighted residuals."""
  z, y, w = np.float64(z.T), np.float64(y), np.float64(w)
  zc = z - w @ z / w.sum()
  yc = y - w @ y / w.sum()
  inverse = np.linalg.inv(zc.T @ (w[:, None] * zc) + np.eye(z.shape[1]))
  coef = inverse @ zc.T @ (w * yc)
  sigma2 = w @ (yc - zc @ coef) ** 2 / ((w > 0).sum() - z.shape[1] - 1)
  order = np.argsort(-np.abs(coef), kind="stable")

  def pair_z(a, b):
    sa, sb = np.sign(coef[a]), np.sign(coef[b])
    var = sigma2 * (inverse[a, a] + inverse[b, b] - 2 * sa * sb * inverse[a, b])
    return (abs(coef[a]) - abs(coef[b])) / np.sqrt(var)

  factor = np.sqrt(max_samples / (max_samples - len(w))) if len(w) < max_samples else np.inf
  unsettled = sum(
      statistics.NormalDist().cdf(-pair_z(a, b) * factor)
      for a in order[:top_k]
      for b in order[top_k:]
  )
  return pair_z(order[top_k - 1], order[top_k]), unsettled


@pytest.mark.parametrize(
    "method, settle",
    [
        ("none", True),
        ("highest_weights", False),
        ("forward_selection", True),
        ("lasso_path", True),
    ],
)
@pytest.mark.slow
def test_until_stable_equals_the_fit_of_all_its_rounds_samples(
    breast_cancer, logistic, method, settle
):
  X = breast_cancer[0]
  explainer = jaxlime.TabularExplainer(X, feature_selection=method)
  rows = X[:6]
  until = jaxlime.UntilStable(
      top_k=2,
      level=0.9,
      initial=200,
      step=100,
      max_samples=600,
      early_stop=not settle,
      settle=settle,
  )
  exp = explainer.explain(rows, logistic.model, key=5, num_samples=until, num_features=4)
  keys = jaxlime.instance_keys(5, len(rows))
  critical = statistics.NormalDist().inv_cdf(0.9)
  reasons = set()
  for i in range(len(rows)):
    zs, ys, ws = [], [], []
    expected_samples, expected_converged = None, False
    for r, size in enumerate(until.round_sizes()):
      z, y, w = _round_samples(explainer, logistic.model, rows[i], keys[i], size, r)
      zs.append(z), ys.append(y[:, 1:]), ws.append(w)
      total = sum(len(v) for v in ws)
      statistic, unsettled = _reference_tests(
          np.concatenate(zs, 1), np.concatenate(ys)[:, 0], np.concatenate(ws), 2, 600
      )
      hopeless = statistic * np.sqrt(until.max_samples / total) < critical
      hopeless &= (4 * total >= until.max_samples) & until.early_stop
      stops = unsettled <= 1 - until.level if settle else statistic >= critical
      if stops or hopeless or total >= until.max_samples:
        expected_samples, expected_converged = total, bool(statistic >= critical)
        if statistic < critical and total < until.max_samples:
          reasons.add("settled" if stops else "hopeless")
        break
    assert int(exp.num_samples[i]) == expected_samples, (i, statistic)
    assert bool(exp.converged[i]) == expected_converged, (i, statistic)
    fit = jaxlime.fit_surrogate(
        np.concatenate(zs, 1).T,
        np.concatenate(ys),
        np.concatenate(ws),
        num_features=4,
        feature_selection=method,
    )
    np.testing.assert_array_equal(exp.selected[i], fit.selected)
    np.testing.assert_allclose(exp.coef[i], fit.coef, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(exp.coef_std[i], fit.coef_std, rtol=2e-3, atol=1e-7)
    np.testing.assert_allclose(exp.intercept[i], fit.intercept, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(exp.local_pred[i], fit.local_pred, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(exp.score[i], fit.score, rtol=2e-3, atol=2e-4)
  assert (np.asarray(exp.status) == 0).all()
  # Settling (or the early stop) stopped an unseparated instance here: the reference's branch
  # is exercised.
  assert ("settled" if settle else "hopeless") in reasons, reasons


@pytest.mark.slow
def test_until_stable_with_one_round_equals_a_fixed_count(breast_cancer, logistic):
  X = breast_cancer[0]
  explainer = jaxlime.TabularExplainer(X)
  rows = X[:5]
  fixed = explainer.explain(rows, logistic.model, key=3, num_samples=400, top_labels=2)
  until = jaxlime.UntilStable(top_k=3, initial=400, max_samples=400)
  exp = explainer.explain(rows, logistic.model, key=3, num_samples=until, top_labels=2)
  np.testing.assert_array_equal(exp.labels, fixed.labels)
  np.testing.assert_array_equal(exp.selected, fixed.selected)
  np.testing.assert_allclose(exp.coef, fixed.coef, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(exp.coef_std, fixed.coef_std, rtol=2e-3, atol=1e-7)
  np.testing.assert_allclose(exp.prediction, fixed.prediction, rtol=1e-6)
  np.testing.assert_array_equal(exp.num_samples, 400)


@pytest.mark.slow
def test_until_stable_parts_and_batches_equal_one_run(breast_cancer, logistic):
  X = breast_cancer[0]
  explainer = jaxlime.TabularExplainer(X)
  until = jaxlime.UntilStable(top_k=2, initial=200, step=200, max_samples=1000, early_stop=True)
  rows = X[10:17]
  whole = explainer.explain(rows, logistic.model, key=4, num_samples=until, num_features=3)
  parts = list(
      explainer.explain_iter(
          rows, logistic.model, key=4, num_samples=until, num_features=3, instances_per_call=3
      )
  )
  assert [start for start, _ in parts] == [0, 3, 6]
  for start, part in parts:
    np.testing.assert_array_equal(part.num_samples, whole.num_samples[start : start + len(part)])
    np.testing.assert_array_equal(part.converged, whole.converged[start : start + len(part)])
    np.testing.assert_allclose(
        part.coef, whole.coef[start : start + len(part)], rtol=1e-4, atol=1e-6
    )
  # The last three rows alone, with their own keys: the same explanations.
  keys = jaxlime.instance_keys(4, len(rows))[4:]
  alone = explainer.explain(rows[4:], logistic.model, key=keys, num_samples=until, num_features=3)
  np.testing.assert_array_equal(alone.num_samples, whole.num_samples[4:])
  np.testing.assert_allclose(alone.coef, whole.coef[4:], rtol=1e-4, atol=1e-6)
  counts = np.asarray(whole.num_samples)
  assert ((counts - 200) % 200 == 0).all() and (counts <= 1000).all()
  # Without the early stop or settling an instance stops only when separated or at
  # max_samples.
  patient = explainer.explain(
      rows,
      logistic.model,
      key=4,
      num_samples=dataclasses.replace(until, early_stop=False, settle=False),
      num_features=3,
  )
  counts, converged = np.asarray(patient.num_samples), np.asarray(patient.converged)
  assert (converged | (counts == 1000)).all()
  assert (counts >= np.asarray(whole.num_samples)).all()
  np.testing.assert_array_equal(converged[counts < 1000], True)


@pytest.mark.slow
def test_settled_top_k_agrees_with_the_whole_budgets_at_the_level(breast_cancer, logistic):
  # "Settled" claims: with probability >= level, running the instance to max_samples would not
  # change its top-k set. Run every instance to max_samples on the same rounds' samples (a
  # level no instance separates at, no settling) and compare the top-k of those that settled.
  X = breast_cancer[0]
  explainer = jaxlime.TabularExplainer(X, feature_selection="none")
  rows = X[:200]
  level, top_k, budget = 0.9, 3, 4000
  until = jaxlime.UntilStable(top_k=top_k, level=level, initial=200, step=200, max_samples=budget)
  whole = dataclasses.replace(until, level=1 - 1e-12, settle=False)
  settled = explainer.explain(rows, logistic.model, key=2, num_samples=until, num_features=30)
  full = explainer.explain(rows, logistic.model, key=2, num_samples=whole, num_features=30)
  np.testing.assert_array_equal(full.num_samples, budget)
  stopped = np.asarray(settled.num_samples) < budget
  assert stopped.sum() >= 100, stopped.sum()

  def top(exp):
    return np.sort(np.argsort(-np.abs(np.asarray(exp.coef[:, 0])), axis=-1)[:, :top_k], axis=-1)

  agree = (top(settled) == top(full)).all(axis=-1)[stopped].mean()
  # Measured 0.91 over 142 stopped instances; two binomial standard errors below the level.
  assert agree >= level - 2 * np.sqrt(level * (1 - level) / stopped.sum()), agree


def test_early_stop_waits_for_a_quarter_of_the_budget(breast_cancer, logistic):
  X = breast_cancer[0]
  explainer = jaxlime.TabularExplainer(X)
  rows = X[:40]
  until = jaxlime.UntilStable(
      top_k=5, initial=100, step=100, max_samples=2000, early_stop=True, settle=False
  )
  exp = explainer.explain(rows, logistic.model, key=1, num_samples=until, num_features=6)
  counts, converged = np.asarray(exp.num_samples), np.asarray(exp.converged)
  given_up = ~converged & (counts < until.max_samples)
  # The early stop fires here, and never before max_samples / 4 = 500 samples.
  assert given_up.any(), counts
  assert (counts[given_up] >= 500).all(), counts[given_up]
  # Without it (and without settling) every unconverged instance runs to max_samples.
  patient = explainer.explain(
      rows,
      logistic.model,
      key=1,
      num_samples=dataclasses.replace(until, early_stop=False),
      num_features=6,
  )
  assert not jaxlime.UntilStable().early_stop and jaxlime.UntilStable().settle
  counts = np.asarray(patient.num_samples)
  assert (np.asarray(patient.converged) | (counts == until.max_samples)).all()


def test_until_stable_checks_its_arguments(breast_cancer, logistic):
  X = breast_cancer[0]
  with pytest.raises(ValueError, match="top_k must be >= 1"):
    jaxlime.UntilStable(top_k=0)
  with pytest.raises(TypeError, match="initial must be an int"):
    jaxlime.UntilStable(initial=100.0)
  with pytest.raises(ValueError, match=r"level must be in \(0.5, 1\)"):
    jaxlime.UntilStable(level=1.0)
  with pytest.raises(TypeError, match="early_stop must be a bool"):
    jaxlime.UntilStable(early_stop="no")
  with pytest.raises(TypeError, match="settle must be a bool"):
    jaxlime.UntilStable(settle=1)
  with pytest.raises(ValueError, match=r"max_samples \(100\) must be >= initial \(1000\)"):
    jaxlime.UntilStable(max_samples=100)
  until = jaxlime.UntilStable(initial=100, max_samples=200)
  explainer = jaxlime.TabularExplainer(X)
  with pytest.raises(ValueError, match="explain_fn needs a fixed int"):
    explainer.explain_fn(logistic.model, num_samples=until)
  with pytest.raises(ValueError, match="shared_samples=True"):
    jaxlime.TabularExplainer(X, shared_samples=True).explain(
        X[:2], logistic.model, num_samples=until
    )
  with pytest.raises(ValueError, match="needs a fixed int num_samples"):
    jax.jit(lambda x: explainer.explain(x, logistic.model, num_samples=until).coef)(X[:2])


_MULTI_DEVICE = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from sklearn.datasets import load_breast_cancer
    import jaxlime
    assert jax.device_count() == 4
    X = load_breast_cancer().data
    w = jnp.asarray(np.random.default_rng(0).normal(size=30) / X.std(axis=0), jnp.float32)
    def model(x):
      p = jax.nn.sigmoid((x - X.mean(0)) @ w)
      return jnp.stack([1 - p, p], axis=-1)
    explainer = jaxlime.TabularExplainer(X)
    until = jaxlime.UntilStable(top_k=1, initial=200, step=200, max_samples=1000)
    single = explainer.explain(X[:10], model, key=0, num_samples=until, num_features=4)
    mesh = jax.make_mesh((4,), ("data",))
    out = explainer.explain(X[:10], model, key=0, num_samples=until, num_features=4, mesh=mesh)
    np.testing.assert_array_equal(out.num_samples, single.num_samples)
    np.testing.assert_array_equal(out.converged, single.converged)
    np.testing.assert_array_equal(out.selected, single.selected)
    np.testing.assert_allclose(out.coef, single.coef, rtol=1e-4, atol=1e-6)
    assert len(set(np.asarray(single.num_samples).tolist())) > 1, single.num_samples
    print("multi-device ok")
""")


@pytest.mark.slow
def test_until_stable_on_four_devices_equals_one(tmp_path):
  script = tmp_path / "multi_device.py"
  script.write_text(_MULTI_DEVICE)
  env = forced_devices_env(4)
  done = subprocess.run(
      [sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=env
  )
  assert done.returncode == 0, done.stdout + done.stderr
  assert "multi-device ok" in done.stdout


@pytest.mark.slow
def test_round_sums_merge_like_the_concatenated_samples():
  rng = np.random.default_rng(0)
  z = rng.integers(0, 2, (5, 300)).astype(np.float32)
  y = rng.normal(size=(300, 2)).astype(np.float32)
  w = rng.uniform(0.2, 1, 300).astype(np.float32)
  parts = [adaptive.round_stats(z[:, s], y[s], w[s]) for s in (slice(0, 120), slice(120, 300))]
  merged = jax.tree.map(
      lambda leaf: leaf[0],
      adaptive.combine(*[jax.tree.map(lambda leaf: leaf[None], part) for part in parts]),
  )
  whole = adaptive.round_stats(z, y, w)
  for got, want in zip(merged, whole):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
  moments = surrogate._moments(z, y, w)
  np.testing.assert_allclose(merged.comoment[:5, :5], moments.gram, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(merged.comoment[:5, 5:], moments.cross, rtol=1e-5, atol=1e-4)


# ---- images and texts ----


@pytest.mark.slow
def test_image_until_stable_one_round_equals_a_fixed_count_and_rounds_pad_exactly():
  from test_scale import image_model, random_images

  images = random_images(5)
  explainer = jaxlime.ImageExplainer()
  options = dict(key=2, segmentation_fn="grid", top_labels=2, batch_size=256)
  fixed = explainer.explain(images, image_model, num_samples=128, **options)
  until = jaxlime.UntilStable(top_k=3, initial=128, max_samples=128)
  exp = explainer.explain(images, image_model, num_samples=until, **options)
  np.testing.assert_array_equal(exp.labels, fixed.labels)
  np.testing.assert_array_equal(exp.selected, fixed.selected)
  np.testing.assert_allclose(exp.coef, fixed.coef, rtol=1e-4, atol=1e-6)
  np.testing.assert_array_equal(exp.segments, fixed.segments)
  # Several rounds: superpixel counts that differ per image keep their padding out.
  counts = [4, 9, 16, 4, 9]
  grids = np.stack([segmentation.grid_segments(16, 16, int(np.sqrt(c))) for c in counts])
  until = jaxlime.UntilStable(top_k=2, initial=128, step=128, max_samples=512)
  exp = explainer.explain(
      images, image_model, key=1, segments=grids, num_samples=until, top_labels=1
  )
  for i, count in enumerate(counts):
    assert not np.asarray(exp.selected)[i, :, count:].any()
    assert (np.asarray(exp.coef_std)[i, :, count:] == 0).all()
  assert set(np.asarray(exp.num_samples).tolist()) <= {128, 256, 384, 512}


@pytest.mark.slow
def test_text_until_stable_string_path_equals_token_path():
  from test_scale import random_texts, string_model, token_model, word_ids

  texts = random_texts(7)
  explainer = jaxlime.TextExplainer()
  fixed = explainer.explain(texts, token_model, tokenizer=word_ids, key=3, num_samples=300)
  one = jaxlime.UntilStable(top_k=2, initial=300, max_samples=300)
  exp = explainer.explain(texts, token_model, tokenizer=word_ids, key=3, num_samples=one)
  np.testing.assert_array_equal(exp.selected, fixed.selected)
  np.testing.assert_allclose(exp.coef, fixed.coef, rtol=1e-4, atol=1e-6)
  until = jaxlime.UntilStable(top_k=1, level=0.999, initial=20, step=20, max_samples=200)
  tokens = explainer.explain(texts, token_model, tokenizer=word_ids, key=4, num_samples=until)
  strings = explainer.explain(texts, string_model, key=4, num_samples=until, instances_per_call=4)
  np.testing.assert_array_equal(strings.num_samples, tokens.num_samples)
  np.testing.assert_array_equal(strings.converged, tokens.converged)
  np.testing.assert_array_equal(strings.selected, tokens.selected)
  np.testing.assert_allclose(strings.coef, tokens.coef, rtol=1e-4, atol=1e-5)
  assert len(set(np.asarray(tokens.num_samples).tolist())) > 1, tokens.num_samples
  with pytest.raises(ValueError, match="explain_fn needs a fixed int"):
    explainer.explain_fn(token_model, num_tokens=8, num_dims=8, num_samples=until)
