"""Stability over keys: the top-k Jaccard score, and explanations under R keys in one batch."""

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlime
from jaxlime._src import keys as keys_lib
from jaxlime._src import stability as stability_lib
from jaxlime._src.stability import top_k_jaccard


def reference_jaccard(coef, k, mask=None):
  """Plain numpy/itertools: top-k sets by (-|coef|, index) among eligible features."""
  coef = np.asarray(coef, np.float64)
  eligible = coef != 0 if mask is None else (coef != 0) | np.asarray(mask)
  tops = []
  for row, allowed in zip(coef, eligible):
    ranked = sorted(np.flatnonzero(allowed), key=lambda j: (-abs(row[j]), j))
    tops.append(set(ranked[:k]))
  overlaps = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in itertools.combinations(tops, 2)]
  return float(np.mean(overlaps))


# ---- the pure core on hand-made arrays ----


def test_identical_repeats_score_one():
  coef = np.tile([[0.5, -2.0, 0.1, 0.0, 1.0]], (4, 1))
  assert float(top_k_jaccard(coef, 3)) == 1.0


def test_disjoint_repeats_score_zero():
  coef = np.array([[3.0, 2.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -3.0, 2.0, 1.0]])
  assert float(top_k_jaccard(coef, 3)) == 0.0


def test_known_partial_overlap_is_the_exact_fraction():
  # Top-3 sets {0, 1, 2}, {0, 1, 3}, {4, 5, 6}: pairs 2/4, 0, 0 -> mean 1/6.
  coef = np.array(
      [
          [5.0, -4.0, 3.0, 0.1, 0.0, 0.0, 0.0],
          [5.0, 4.0, 0.2, -3.0, 0.0, 0.0, 0.0],
          [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0],
      ],
      np.float32,
  )
  assert float(top_k_jaccard(coef, 3)) == pytest.approx(1 / 6, abs=1e-7)
  assert float(top_k_jaccard(coef[:2], 3)) == pytest.approx(0.5, abs=1e-7)
  assert float(top_k_jaccard(coef[:2], 2)) == 1.0  # Top-2 {0, 1} in both.


def test_ties_break_by_lower_index():
  # Equal |coef|: the lower indices are the top, so {0, 1} against {2, 3} (after zeros drop out).
  coef = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, -1.0, 1.0]])
  assert float(top_k_jaccard(coef, 2)) == 0.0
  coef = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, 1.0]])
  assert float(top_k_jaccard(coef, 2)) == 1.0


def test_fewer_eligible_features_than_k():
  # Zero coefficients that are not selected are never "top": {0, 1} against {0}: 1/2.
  coef = np.array([[2.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
  assert float(top_k_jaccard(coef, 5)) == 0.5
  # Selected with a zero coefficient counts: {0, 1} against {0, 1}.
  mask = np.array([[True, True, False, False], [True, True, False, False]])
  assert float(top_k_jaccard(coef, 5, mask=mask)) == 1.0
  # Two repeats selecting nothing agree.
  assert float(top_k_jaccard(np.zeros((3, 4)), 2)) == 1.0


@pytest.mark.parametrize("num_repeats,num_dims", [(2, 5), (5, 11)])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_against_numpy_reference_on_random_arrays(num_repeats, num_dims, k):
  rng = np.random.default_rng(k * num_dims)
  shape = (30, num_repeats, num_dims)
  # Few distinct values, many zeros: ties and top sets shorter than k are common.
  coef = rng.integers(-3, 4, size=shape).astype(np.float32) * (rng.random(shape) < 0.7)
  mask = (coef != 0) | (rng.random(shape) < 0.2)
  with_mask = jax.vmap(lambda c, m: top_k_jaccard(c, k, mask=m))(coef, mask)
  without = jax.vmap(lambda c: top_k_jaccard(c, k))(coef)
  np.testing.assert_allclose(
      with_mask, [reference_jaccard(c, k, m) for c, m in zip(coef, mask)], atol=1e-6
  )
  np.testing.assert_allclose(without, [reference_jaccard(c, k) for c in coef], atol=1e-6)


def test_jit_and_vmap_over_instances_and_labels():
  rng = np.random.default_rng(1)
  coef = rng.normal(size=(3, 2, 4, 9)) * (rng.random((3, 2, 4, 9)) < 0.6)  # [N, L, R, D]
  scores = jax.jit(jax.vmap(jax.vmap(lambda c: top_k_jaccard(c, 3))))(coef)
  assert scores.shape == (3, 2)
  expected = [[reference_jaccard(coef[n, l], 3) for l in range(2)] for n in range(3)]
  np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_core_bad_input():
  with pytest.raises(ValueError, match=r"R >= 2 .*\(1, 4\)"):
    top_k_jaccard(np.ones((1, 4)), 2)
  with pytest.raises(ValueError, match=r"shape \[R, D\].*\(4,\)"):
    top_k_jaccard(np.ones(4), 2)
  with pytest.raises(ValueError, match="k must be >= 1; got 0"):
    top_k_jaccard(np.ones((2, 4)), 0)
  with pytest.raises(ValueError, match=r"mask must have the shape of coef \(2, 4\); got \(2, 3\)"):
    top_k_jaccard(np.ones((2, 4)), 2, mask=np.ones((2, 3), bool))


@pytest.mark.slow
def test_repeat_keys():
  keys = stability_lib.repeat_keys(7, 3, 4)
  base = keys_lib.instance_keys(7, 3)
  assert keys.shape == (4, 3)
  data = jax.random.key_data
  np.testing.assert_array_equal(data(keys[0]), data(base))
  np.testing.assert_array_equal(data(keys[2, 1]), data(jax.random.fold_in(base[1], 2)))
  assert len({tuple(np.asarray(row).ravel()) for row in data(keys).reshape(12, -1)}) == 12
  given = jax.random.split(jax.random.key(3), 3)
  np.testing.assert_array_equal(data(stability_lib.repeat_keys(given, 3, 2)[0]), data(given))


# ---- explanations under many keys ----


def _count_calls(monkeypatch, explainer):
  """Records the number of instances of each call of explainer.explain."""
  calls = []
  explain = explainer.explain

  def counted(instances, *args, **kwargs):
    calls.append(len(instances))
    return explain(instances, *args, **kwargs)

  monkeypatch.setattr(explainer, "explain", counted)
  return calls


@pytest.fixture(scope="module")
def tabular(breast_cancer):
  X, _, names, classes = breast_cancer
  return jaxlime.TabularExplainer(X, feature_names=names, class_names=classes)


@pytest.fixture(scope="module")
def tabular_stability(breast_cancer, logistic, tabular):
  """Stability of 6 breast-cancer explanations over 8 keys at 200 and 5000 samples."""
  X = breast_cancer[0][:6]
  with pytest.MonkeyPatch.context() as monkeypatch:
    calls = _count_calls(monkeypatch, tabular)
    results = {
        num_samples: stability_lib.stability(
            tabular,
            X,
            logistic.model,
            num_keys=8,
            key=3,
            top_k=5,
            num_samples=num_samples,
            num_features=10,
        )
        for num_samples in (200, 5000)
    }
  return results, calls


@pytest.mark.slow
def test_tabular_one_batch_repeat_zero_and_statistics(
    breast_cancer, logistic, tabular, tabular_stability
):
  X = breast_cancer[0][:6]
  results, calls = tabular_stability
  assert calls == [48, 48]  # One explain call per stability, on 6 instances tiled 8 times.
  result = results[5000]
  explanations = result.explanations
  assert explanations.coef.shape == (8, 6, 1, 30) and explanations.labels.shape == (8, 6, 1)
  assert result.score.shape == (6, 1) and result.coef_mean.shape == (6, 1, 30)

  single = tabular.explain(X, logistic.model, key=3, num_samples=5000, num_features=10)
  first = stability_lib.take_repeat(explanations, 0)
  # Same samples; the solve in a batch of another size may differ in the last float32 bits.
  np.testing.assert_array_equal(first.selected, single.selected)
  np.testing.assert_allclose(first.coef, single.coef, rtol=1e-5, atol=1e-7)
  assert [name for name, _ in first.as_list(2, 1)] == [name for name, _ in single.as_list(2, 1)]
  # Repeat r of instance i is the explanation of X[i] alone under keys[r, i].
  keys = stability_lib.repeat_keys(3, 6, 8)
  alone = tabular.explain(
      X[4:5], logistic.model, key=keys[5, 4:5], num_samples=5000, num_features=10
  )
  np.testing.assert_array_equal(explanations.selected[5, 4], alone.selected[0])
  np.testing.assert_allclose(explanations.coef[5, 4], alone.coef[0], rtol=1e-5, atol=1e-7)
  assert not np.array_equal(explanations.coef[1], explanations.coef[0])

  coef = np.asarray(explanations.coef, np.float64)
  np.testing.assert_allclose(result.coef_mean, coef.mean(0), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(result.coef_spread, coef.std(0, ddof=1), rtol=1e-4, atol=1e-6)
  expected = [
      reference_jaccard(coef[:, n, 0], 5, np.asarray(explanations.selected[:, n, 0]))
      for n in range(6)
  ]
  np.testing.assert_allclose(result.score[:, 0], expected, atol=1e-6)


def test_more_samples_are_more_stable(tabular_stability):
  results, _ = tabular_stability
  low, high = (np.asarray(results[num_samples].score) for num_samples in (200, 5000))
  # Measured (key 3): mean 0.33 at 200 samples against 0.79 at 5000, higher for every instance.
  assert high.mean() > low.mean() + 0.2
  assert (high >= low).mean() >= 5 / 6


@pytest.mark.slow
def test_text_with_a_host_model(monkeypatch):
  weights = {"good": 2.0, "great": 1.5, "bad": -2.0, "boring": -1.0}

  def classify(strings):
    logits = np.array([sum(weights.get(w, 0.0) for w in re.split(r"\W+", s)) for s in strings])
    p = 1 / (1 + np.exp(-logits))
    return np.stack([1 - p, p], axis=1)

  texts = ["a good and great film", "bad plot, boring cast but good music", "nothing much here"]
  explainer = jaxlime.TextExplainer()
  calls = _count_calls(monkeypatch, explainer)
  result = stability_lib.stability(
      explainer, texts, classify, num_keys=4, key=1, top_k=2, num_samples=500, num_features=3
  )
  assert calls == [12]
  explanations = result.explanations
  assert explanations.coef.shape[:3] == (4, 3, 1) and result.score.shape == (3, 1)
  single = explainer.explain(texts, classify, key=1, num_samples=500, num_features=3)
  first = stability_lib.take_repeat(explanations, 0)
  np.testing.assert_array_equal(first.selected, single.selected)
  np.testing.assert_allclose(first.coef, single.coef, rtol=1e-5, atol=1e-7)
  assert stability_lib.take_repeat(explanations, 3).text(1) == texts[1]
  # The words the model weighs are found under every key; the third text has none.
  assert result.score[0, 0] == 1.0 and result.score[1, 0] == 1.0
  assert 0.0 <= result.score[2, 0] <= 1.0


@pytest.mark.slow
def test_image_with_given_segments_tiled(monkeypatch):
  rng = np.random.default_rng(0)
  images = rng.random((2, 8, 8, 3)).astype(np.float32)
  segments = np.stack([np.arange(64).reshape(8, 8) // 16, np.arange(64).reshape(8, 8) % 4])

  def model(batch):
    score = batch[:, :4, :, 0].mean(axis=(1, 2)) - batch[:, 4:, :, 1].mean(axis=(1, 2))
    p = jax.nn.sigmoid(4 * score)
    return jnp.stack([1 - p, p], axis=-1)

  explainer = jaxlime.ImageExplainer()
  calls = _count_calls(monkeypatch, explainer)
  kwargs = dict(segments=segments, num_samples=200, top_labels=None, hide_color=0.0)
  explanations = stability_lib.explain_under_keys(
      explainer, images, model, num_keys=3, key=2, **kwargs
  )
  assert calls == [6]
  assert explanations.coef.shape == (3, 2, 1, 4) and explanations.segments.shape == (3, 2, 8, 8)
  single = explainer.explain(images, model, key=2, **kwargs)
  first = stability_lib.take_repeat(explanations, 0)
  np.testing.assert_array_equal(first.selected, single.selected)
  np.testing.assert_allclose(first.coef, single.coef, rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(explanations.segments[2], single.segments)


@pytest.mark.slow
def test_bad_arguments(breast_cancer, logistic, tabular):
  X = breast_cancer[0][:2]
  with pytest.raises(ValueError, match="num_keys must be >= 2; got 1"):
    stability_lib.stability(tabular, X, logistic.model, num_keys=1)
  with pytest.raises(TypeError, match="top_k must be an int"):
    stability_lib.stability(tabular, X, logistic.model, top_k=2.5)
  shared = jaxlime.TabularExplainer(breast_cancer[0], shared_samples=True)
  with pytest.raises(ValueError, match="shared_samples=True"):
    stability_lib.explain_under_keys(shared, X, logistic.model, num_keys=2)
  explanations = jax.tree.map(
      lambda leaf: jnp.stack([leaf, leaf]), tabular.explain(X, logistic.model, num_samples=200)
  )
  with pytest.raises(IndexError, match="repeat 2 is out of range for 2 repeats"):
    stability_lib.take_repeat(explanations, 2)


@pytest.mark.slow
def test_labels_that_change_between_keys_are_refused():
  rng = np.random.default_rng(0)

  def noisy(strings):  # A model whose top class at the instance changes from call to call.
    return rng.dirichlet(np.ones(3), size=len(strings))

  with pytest.raises(ValueError, match="explained labels of instances .* differ between keys"):
    stability_lib.stability(
        jaxlime.TextExplainer(),
        ["one two three", "four five"],
        noisy,
        num_keys=4,
        num_samples=20,
        top_labels=1,
    )
