"""SP-LIME: the jittable greedy core and the host side against lime's own SubmodularPick."""

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lime.explanation import Explanation as LimeExplanation
from lime.lime_tabular import TableDomainMapper
from lime.submodular_pick import SubmodularPick as LimeSubmodularPick

import jaxlime
from jaxlime._src import keys as keys_lib
from jaxlime._src import submodular
from jaxlime._src.submodular import submodular_pick


def lime_greedy(W, num_picks):
  """lime 0.2.0.1's greedy loop (SubmodularPick.__init__), verbatim on a given W."""
  importance = np.sum(abs(W), axis=0) ** 0.5
  remaining_indices = set(range(len(W)))
  V = []
  for _ in range(num_picks):
    best = 0
    best_ind = None
    current = 0
    for i in remaining_indices:
      current = np.dot((np.sum(abs(W)[V + [i]], axis=0) > 0), importance)
      if current >= best:
        best = current
        best_ind = i
    V.append(best_ind)
    remaining_indices -= {best_ind}
  return V


class FakeLimeExplanation:
  """What lime's SubmodularPick reads of an explanation: mode, available_labels, as_list."""

  def __init__(self, lists, mode="classification"):
    self.lists = lists  # {label: [(name, weight), ...]}
    self.mode = mode

  def available_labels(self):
    return list(self.lists)

  def as_list(self, label=1):
    return self.lists[label]


class StubExplainer:
  """lime-style explainer whose explain_instance returns prepared explanations in order."""

  def __init__(self, explanations):
    self.explanations = list(explanations)
    self.calls = []

  def explain_instance(self, data_row, predict_fn, num_features=10, top_labels=None, **kwargs):
    self.calls.append(dict(num_features=num_features, top_labels=top_labels, **kwargs))
    return self.explanations[len(self.calls) - 1]


def lime_pick(explanations, num_exps_desired):
  """lime's SubmodularPick itself (method="full") on the given explanation objects."""
  stub = StubExplainer(explanations)
  data = np.zeros((len(explanations), 1))
  return LimeSubmodularPick(stub, data, None, method="full", num_exps_desired=num_exps_desired).V


def fake_explanations(W):
  """One fake lime explanation per row of W, feature j named "f{j}", split over two labels."""
  result = []
  for row in W:
    lists = {0: [], 1: []}
    for j in np.flatnonzero(row):
      lists[j % 2].append((f"f{j}", float(row[j])))
    result.append(FakeLimeExplanation(lists))
  return result


# ---- the core ----


def integer_importance_matrix(rng, num_instances, num_dims):
  """Small integer weights, many zeros, and column sums of |W| that are perfect squares.

  Every importance and coverage is then an exact small integer: lime's numpy loop and the core
  see the same, exact, ties (many of them), whatever order they add in.
  """
  shape = (num_instances, num_dims)
  magnitude = rng.integers(1, 3, size=shape) * (rng.random(shape) < 0.35)
  sums = magnitude.sum(axis=0)
  rows = rng.integers(0, num_instances, size=num_dims)
  magnitude[rows, np.arange(num_dims)] += np.ceil(np.sqrt(sums + 1)).astype(int) ** 2 - sums
  assert np.all(np.sqrt(magnitude.sum(axis=0)) % 1 == 0)
  return (magnitude * rng.choice([-1, 1], size=shape)).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_core_equals_lime_greedy_on_random_matrices(seed):
  W = integer_importance_matrix(np.random.default_rng(seed), 15, 8)
  picks = jax.jit(submodular_pick, static_argnames="num_picks")(W, num_picks=10)
  assert picks.dtype == jnp.int32 and picks.shape == (10,)
  assert picks.tolist() == lime_greedy(W, 10)
  assert sorted(submodular_pick(W, 15).tolist()) == list(range(15))


def test_core_equals_lime_submodular_pick_itself():
  rng = np.random.default_rng(7)
  W = rng.normal(size=(12, 9)) * (rng.random((12, 9)) < 0.3)
  W[4] = W[9]  # A duplicate row: a tie.
  W[6] = 0.0  # An empty explanation.
  expected = lime_pick(fake_explanations(W), 6)
  assert submodular_pick(W, 6).tolist() == expected


def test_ties_go_to_the_last_index_as_in_lime():
  # Rows 0 and 2 cover the same features, row 1 covers less: lime's >= picks row 2, then row 1
  # and row 0 add nothing, so the later one (1) comes next.
  W = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.5], [2.0, -1.0, 0.0]])
  assert submodular_pick(W, 3).tolist() == lime_greedy(W, 3) == [2, 1, 0]
  W = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
  assert submodular_pick(W, 3).tolist() == lime_greedy(W, 3) == [2, 1, 0]
  assert submodular_pick(np.zeros((4, 3)), 4).tolist() == [3, 2, 1, 0]
  assert lime_pick(fake_explanations(np.zeros((4, 3))), 4) == [3, 2, 1, 0]


def test_core_bad_input():
  with pytest.raises(ValueError, match="num_picks=4 exceeds the 3 explanations"):
    submodular_pick(np.ones((3, 2)), 4)
  with pytest.raises(ValueError, match=r"\[N, D\] explanation matrix; got shape \(3,\)"):
    submodular_pick(np.ones(3), 1)
  with pytest.raises(TypeError, match="num_picks must be an int"):
    submodular_pick(np.ones((3, 2)), 1.0)
  assert submodular_pick(np.ones((3, 2)), 0).shape == (0,)


# ---- from explanations, against lime's SubmodularPick ----


def as_lime_tabular(exp, index, base_names):
  """A real lime tabular explanation holding jaxlime's weights and readable names."""
  row = np.asarray(exp.instances[index])
  mapper = TableDomainMapper(
      base_names,
      [f"{v:.2f}" for v in row],
      row,
      [],
      discretized_feature_names=exp.domain.feature_names(exp, index),
  )
  result = LimeExplanation(mapper, mode="classification", class_names=["malignant", "benign"])
  result.local_exp = exp.as_map(index)
  result.top_labels = exp.available_labels(index)
  return result


@pytest.fixture(scope="module")
def tabular_pick(breast_cancer, logistic):
  X, _, names, classes = breast_cancer
  explainer = jaxlime.TabularExplainer(X, feature_names=names, class_names=classes)
  return submodular.SubmodularPick(
      explainer,
      X[:40],
      logistic.model,
      method="full",
      num_exps_desired=6,
      num_features=5,
      key=1,
      num_samples=1000,
  )


@pytest.mark.slow
def test_tabular_same_V_as_lime(breast_cancer, tabular_pick):
  names = breast_cancer[2]
  exps = tabular_pick.explanations
  lime_exps = [as_lime_tabular(exps, i, names) for i in range(len(exps))]
  stub = StubExplainer(lime_exps)
  lime_sp = LimeSubmodularPick(
      stub, breast_cancer[0][:40], None, method="full", num_exps_desired=6, num_features=5
  )
  assert stub.calls[0] == dict(num_features=5, top_labels=1)  # lime's default: top label only.
  assert np.asarray(exps.labels).shape == (40, 1)
  assert tabular_pick.V == lime_sp.V
  assert [e.as_list(0, e.available_labels()[0]) for e in tabular_pick.sp_explanations] == [
      e.as_list(e.available_labels()[0]) for e in lime_sp.sp_explanations
  ]
  assert submodular.pick_explanations(exps, 6) == lime_sp.V
  # Keyed by readable name, one column has one bin of a feature: more columns than features.
  used = np.flatnonzero(np.asarray(exps.selected).any(axis=(0, 1)))
  assert len(tabular_pick.features) > used.size
  assert all(isinstance(name, str) for name in tabular_pick.features)
  np.testing.assert_allclose(tabular_pick.importance, np.sqrt(np.abs(tabular_pick.W).sum(axis=0)))


def test_by_index_sums_the_labels_of_each_feature(tabular_pick):
  exps = tabular_pick.explanations
  W, columns = submodular.explanation_matrix(exps, by="index")
  np.testing.assert_allclose(W, np.asarray(exps.coef, np.float64).sum(axis=1))
  assert columns == list(range(30))
  assert submodular.pick_explanations(exps, 6, by="index") == lime_greedy(W, 6)


@pytest.mark.slow
def test_text_same_V_as_lime():
  weights = {"good": 2.0, "great": 1.5, "bad": -2.0, "boring": -1.0, "slow": -0.5, "fun": 1.0}

  def classify(strings):
    logits = np.array([sum(weights.get(w, 0.0) for w in re.split(r"\W+", s)) for s in strings])
    p = 1 / (1 + np.exp(-logits))
    return np.stack([1 - p, p], axis=1)

  texts = [
      "good fun",
      "a great and good film",
      "bad and boring",
      "slow but fun",
      "boring, slow, bad",
      "great fun",
      "nothing here",
  ]
  sp = submodular.SubmodularPick(
      jaxlime.TextExplainer(),
      texts,
      classify,
      method="full",
      num_exps_desired=3,
      num_features=3,
      key=0,
      num_samples=500,
  )
  exps = sp.explanations
  lime_exps = [
      FakeLimeExplanation({label: exps.as_list(i, label) for label in exps.available_labels(i)})
      for i in range(len(texts))
  ]
  assert sp.V == lime_pick(lime_exps, 3)
  assert {"good", "fun", "bad", "boring"} <= set(sp.features)  # Words shared across texts.
  assert [e.text() for e in sp.sp_explanations] == [texts[v] for v in sp.V]


def _regression_explanation(coef):
  """A hand-made regression Explanation [N, 1, D] with features named by index."""

  @dataclasses.dataclass(frozen=True)
  class Domain:
    mode: str = "regression"
    class_names: tuple | None = None

    def feature_names(self, explanation, index):
      return [f"x{j}" for j in range(np.shape(explanation.coef)[-1])]

  coef = jnp.asarray(coef, jnp.float32)
  num, _, dims = coef.shape
  zeros = jnp.zeros((num, 1))
  return jaxlime.Explanation(
      coef=coef,
      selected=coef != 0,
      intercept=zeros,
      score=zeros,
      local_pred=zeros,
      labels=jnp.zeros((num, 1), jnp.int32),
      prediction=zeros,
      coef_std=jnp.zeros_like(coef),
      status=jnp.zeros((num, 1), jnp.int32),
      instances=jnp.zeros((num, dims)),
      domain=Domain(),
  )


def test_regression_uses_label_one_as_lime():
  rng = np.random.default_rng(3)
  coef = rng.normal(size=(9, 1, 6)) * (rng.random((9, 1, 6)) < 0.4)
  exps = _regression_explanation(coef)
  W, columns = submodular.explanation_matrix(exps)
  lime_exps = [FakeLimeExplanation({1: exps.as_list(i, 1)}, mode="regression") for i in range(9)]
  assert submodular.pick_explanations(exps, 4) == lime_pick(lime_exps, 4)
  dense = np.zeros((9, 6))
  for column, name in enumerate(columns):
    dense[:, int(name[1:])] = W[:, column]
  np.testing.assert_allclose(dense, coef[:, 0], rtol=1e-6)


def test_more_picks_than_explanations_warn_and_return_all_as_lime():
  W = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
  with pytest.warns(UserWarning, match="larger than"):
    expected = lime_pick(fake_explanations(W), 5)
  exps = _regression_explanation(W[:, None, :])
  with pytest.warns(UserWarning, match="num_exps_desired=5 is larger than the 3 explanations"):
    assert submodular.pick_explanations(exps, 5) == expected
  assert sorted(expected) == [0, 1, 2]


def test_sample_method(breast_cancer, logistic):
  X, _, names, _ = breast_cancer
  explainer = jaxlime.TabularExplainer(X, feature_names=names)
  data = X[:12]
  sp = submodular.SubmodularPick(
      explainer,
      data,
      logistic.model,
      sample_size=5,
      num_exps_desired=2,
      num_features=5,
      key=4,
      num_samples=1000,
  )
  assert len(sp.explanations) == 5 and len(set(sp.indices.tolist())) == 5
  np.testing.assert_allclose(sp.explanations.instances, data[sp.indices], rtol=1e-6)
  again = submodular.SubmodularPick(
      explainer,
      data,
      logistic.model,
      sample_size=5,
      num_exps_desired=2,
      num_features=5,
      key=4,
      num_samples=1000,
  )
  assert again.indices.tolist() == sp.indices.tolist() and again.V == sp.V
  explain_key = jax.random.split(keys_lib.as_key(4))[1]
  direct = explainer.explain(
      data[sp.indices],
      logistic.model,
      key=explain_key,
      num_features=5,
      top_labels=1,
      num_samples=1000,
  )
  np.testing.assert_array_equal(direct.selected, sp.explanations.selected)
  np.testing.assert_allclose(direct.coef, sp.explanations.coef, rtol=1e-5, atol=1e-7)
  with pytest.warns(UserWarning, match="sample_size=50 is larger than the 12 rows"):
    everything = submodular.SubmodularPick(
        explainer,
        data,
        logistic.model,
        sample_size=50,
        num_exps_desired=2,
        num_features=5,
        num_samples=1000,
    )
  assert sorted(everything.indices.tolist()) == list(range(12))


def test_bad_arguments(breast_cancer, logistic):
  explainer = jaxlime.TabularExplainer(breast_cancer[0])
  data = breast_cancer[0][:3]
  with pytest.raises(ValueError, match="method must be one of .*'some'"):
    submodular.SubmodularPick(explainer, data, logistic.model, method="some")
  with pytest.raises(ValueError, match="by must be one of .*'word'"):
    submodular.SubmodularPick(explainer, data, logistic.model, by="word")
  with pytest.raises(TypeError, match="num_exps_desired must be an int"):
    submodular.pick_explanations(_regression_explanation(np.ones((2, 1, 2))), "3")


def test_mathematically_equal_coverages_tie_despite_rounding():
  # Importances 0.1, 0.2, 0.3: row 0 covers 0.1 + 0.2, which float64 rounds to
  # 0.30000000000000004 > 0.3, so lime's numpy picks row 0; in exact arithmetic the rows tie
  # and lime's rule (the last of equal coverages) gives row 1, as the core does.
  W = np.array([[0.01, 0.04, 0.0], [0.0, 0.0, 0.09]])
  assert lime_greedy(W, 2) == [0, 1]
  with jax.enable_x64(True):
    assert submodular_pick(jnp.asarray(W, jnp.float64), 2).tolist() == [1, 0]
    # A coverage larger by more than rounding is not a tie.
    W[1, 2] = 0.0899
    assert submodular_pick(jnp.asarray(W, jnp.float64), 2).tolist() == lime_greedy(W, 2) == [0, 1]
  assert submodular_pick(W.astype(np.float32), 2).tolist() == [0, 1]
