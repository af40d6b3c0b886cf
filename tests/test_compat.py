"""jaxlime.compat against lime 0.2.0.1: lime's signatures, random states, host paths, HTML."""

import contextlib
import io

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LinearRegression

from jaxlime.compat import lime_base
from jaxlime.compat import lime_tabular
from jaxlime.compat import lime_text
from jaxlime.compat.discretize import QuartileDiscretizer
import _chromium
import helpers

lime = pytest.importorskip("lime")
from lime import lime_base as lime_lime_base  # noqa: E402
from lime import lime_tabular as lime_lime_tabular  # noqa: E402
from lime import lime_text as lime_lime_text  # noqa: E402


@pytest.fixture(scope="module")
def cancer(breast_cancer, logistic):
  X, _, names, classes = breast_cancer
  return X, names, classes, logistic.numpy_model


def _tabular(cancer, **options):
  X, names, classes, _ = cancer
  return lime_tabular.LimeTabularExplainer(X, feature_names=names, class_names=classes, **options)


@pytest.mark.slow
def test_explain_instance_lime_positional_order(cancer):
  X, _, _, model = cancer
  exp = _tabular(cancer, random_state=0).explain_instance(X[0], model, (0,), None, 4, 500)
  assert list(exp.local_exp) == [0] and len(exp.as_list(0)) == 4
  assert exp.predict_proba.shape == (2,) and exp.top_labels is None
  assert isinstance(exp.domain_mapper, lime_tabular.TableDomainMapper)
  np.testing.assert_allclose(exp.predict_proba, model(X[:1])[0], rtol=1e-4)


def test_verbose_prints_what_lime_prints(cancer):
  X, _, _, model = cancer
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exp = _tabular(cancer, random_state=0, verbose=True).explain_instance(
        X[0], model, num_features=3, num_samples=500
    )
  lines = out.getvalue().splitlines()
  assert [line.split()[0] for line in lines] == ["Intercept", "Prediction_local", "Right:"]
  assert float(lines[0].split()[1]) == pytest.approx(exp.intercept[1])
  assert float(lines[2].split()[1]) == pytest.approx(model(X[:1])[0, 1])


@pytest.mark.slow
def test_random_state_int_and_randomstate(cancer):
  X, _, _, model = cancer
  maps = [
      _tabular(cancer, random_state=seed).explain_instance(X[3], model, num_samples=300).as_map()
      for seed in (10, 10, 20)
  ]
  assert maps[0] == maps[1] and maps[0] != maps[2]
  state = np.random.RandomState(10)
  explainer = _tabular(cancer, random_state=state)
  first = explainer.explain_instance(X[3], model, num_samples=300).as_map()
  second = explainer.explain_instance(X[3], model, num_samples=300).as_map()
  assert first == maps[0] and second != first  # One stream, advancing as lime's does.


def test_discretizer_instance_and_feature_statistics(cancer):
  X, names, _, model = cancer
  discretizer = QuartileDiscretizer(X, [], names, random_state=1)
  ours = _tabular(cancer, discretizer=discretizer, random_state=1)
  theirs = lime_lime_tabular.LimeTabularExplainer(X, feature_names=names, random_state=1)
  for column in range(X.shape[1]):
    assert list(ours.feature_values[column]) == list(theirs.feature_values[column])
    np.testing.assert_array_equal(
        ours.feature_frequencies[column], theirs.feature_frequencies[column]
    )
  exp = ours.explain_instance(X[5], model, num_samples=500)
  lime_exp = theirs.explain_instance(X[5], model, num_samples=500)
  lime_names = dict(lime_exp.as_list())
  # Bin names of the instance are lime's, for every feature either reports.
  names_for = dict(
      lime_exp.domain_mapper.discretized_feature_names
      and enumerate(lime_exp.domain_mapper.discretized_feature_names)
  )
  assert [names_for[j] for j, _ in exp.local_exp[1]] == [name for name, _ in exp.as_list()]
  assert set(lime_names) <= set(names_for.values())


@pytest.mark.slow
def test_explain_instances_is_one_call_per_block(cancer):
  X, _, _, model = cancer
  calls = []

  def counted(rows):
    calls.append(len(rows))
    return model(rows)

  exps = _tabular(cancer, random_state=0).explain_instances(X[:6], counted, num_samples=400)
  assert len(exps) == 6 and calls == [6 * 400]
  for row, exp in zip(X[:6], exps):
    np.testing.assert_allclose(exp.predict_proba, model(row[None])[0], rtol=1e-4)


@pytest.mark.parametrize("regressor", [None, LinearRegression()])
@pytest.mark.parametrize("selection", ["auto", "none", "highest_weights"])
def test_lime_base_equals_lime_on_same_samples(regressor, selection):
  """The deterministic part: lime's LimeBase and ours on the same samples and distances."""
  rng = np.random.RandomState(0)
  data = rng.randint(0, 2, (800, 8)).astype(float)
  data[0] = 1
  labels = np.stack([data @ rng.randn(8) * 0.1 + 0.5] * 2, axis=1)
  labels[:, 0] = 1 - labels[:, 1]
  distances = np.sqrt(((data - data[0]) ** 2).sum(1))
  kernel = lambda d: np.sqrt(np.exp(-(d**2) / 2.0**2))  # noqa: E731
  ours = lime_base.LimeBase(kernel).explain_instance_with_data(
      data, labels, distances, 1, 4, feature_selection=selection, model_regressor=regressor
  )
  theirs = lime_lime_base.LimeBase(kernel).explain_instance_with_data(
      data, labels, distances, 1, 4, feature_selection=selection, model_regressor=regressor
  )
  assert [j for j, _ in ours[1]] == [j for j, _ in theirs[1]]
  np.testing.assert_allclose([w for _, w in ours[1]], [w for _, w in theirs[1]], atol=2e-5)
  assert ours[0] == pytest.approx(float(theirs[0]), abs=2e-5)
  assert ours[2] == pytest.approx(theirs[2], abs=2e-5)
  np.testing.assert_allclose(ours[3], theirs[3], atol=2e-5)


def test_host_paths_distance_kernel_regressor(cancer):
  X, _, _, model = cancer
  seen = []

  def kernel(d, kernel_width):
    seen.append(d.copy())
    return np.sqrt(np.exp(-(d**2) / kernel_width**2))

  class RecordingRegression(LinearRegression):

    def fit(self, X, y, sample_weight=None):
      self.seen = (X, y, sample_weight)
      return super().fit(X, y, sample_weight=sample_weight)

  regressor = RecordingRegression()
  explainer = _tabular(cancer, kernel=kernel, random_state=0)
  exp = explainer.explain_instance(
      X[0],
      model,
      num_features=3,
      num_samples=300,
      distance_metric="manhattan",
      model_regressor=regressor,
  )
  z0 = exp.domain_mapper.scaled_row
  assert len(seen) == 1 and seen[0].shape == (300,) and seen[0][0] == 0.0  # lime's call: [S].
  assert len(exp.local_exp[1]) == 3 and 0.0 <= exp.score <= 1.0
  assert np.all(z0 == 1)  # Discretized: the instance is "same bin" on every feature.
  # distance_metric reached the distances: the same seed draws the same samples, and their
  # manhattan distances are at least their euclidean ones, somewhere strictly more.
  _tabular(cancer, kernel=kernel, random_state=0).explain_instance(
      X[0], model, num_features=3, num_samples=300
  )
  manhattan, euclidean = seen  # [S] each.
  assert euclidean.shape == (300,)
  assert (manhattan >= euclidean - 1e-9).all() and (manhattan > euclidean + 1e-6).any()
  # The regressor was fit on the 3 selected features with the kernel's weights, and the
  # explanation is its fit: its coefficients, intercept and weighted score.
  data, target, weights = regressor.seen
  assert data.shape == (300, 3)
  width = 0.75 * np.sqrt(X.shape[1])  # lime's default kernel width.
  np.testing.assert_allclose(weights, np.sqrt(np.exp(-(manhattan**2) / width**2)), rtol=1e-6)
  assert sorted(w for _, w in exp.local_exp[1]) == pytest.approx(sorted(regressor.coef_))
  assert exp.intercept[1] == pytest.approx(regressor.intercept_)
  assert exp.score == pytest.approx(regressor.score(data, target, sample_weight=weights))


@pytest.mark.slow
def test_regression_fields(cancer):
  X, names, _, model = cancer
  explainer = lime_tabular.LimeTabularExplainer(
      X, mode="regression", feature_names=names, random_state=0
  )
  exp = explainer.explain_instance(X[0], lambda rows: model(rows)[:, 1], num_samples=400)
  assert exp.predicted_value == pytest.approx(model(X[:1])[0, 1])
  assert exp.min_value <= exp.predicted_value <= exp.max_value
  assert exp.local_exp[0] == [(j, -w) for j, w in exp.local_exp[1]]


@pytest.mark.slow
def test_recurrent_reshapes_like_lime():
  rng = np.random.RandomState(0)
  sequences = rng.randn(60, 3, 2)  # [M, T, F]
  seen = []

  def model(batch):
    seen.append(batch.shape)
    p = 1 / (1 + np.exp(-batch[:, -1, 0]))
    return np.stack([1 - p, p], 1)

  explainer = lime_tabular.RecurrentTabularExplainer(
      sequences, feature_names=["a", "b"], random_state=0
  )
  exp = explainer.explain_instance(sequences[0], model, num_features=2, num_samples=300)
  assert seen == [(300, 3, 2)]
  assert explainer.feature_names[:3] == ["a_t-2", "a_t-1", "a_t-0"]
  assert "a_t-0" in exp.as_list()[0][0]


def _top_k(weights: dict, k: int) -> set:
  return {j for j, _ in sorted(weights.items(), key=lambda item: -abs(item[1]))[:k]}


def _agreement(first: dict, second: dict, k: int) -> tuple[float, float]:
  keys = sorted(set(first) | set(second))
  a = np.array([first.get(j, 0.0) for j in keys])
  b = np.array([second.get(j, 0.0) for j in keys])
  return len(_top_k(first, k) & _top_k(second, k)) / k, stats.pearsonr(a, b)[0]


@pytest.mark.slow
def test_tabular_agrees_with_lime_as_lime_with_itself(cancer):
  X, names, _, model = cancer
  rows = X[[0, 7, 21, 50, 120]]
  options = dict(num_features=30, num_samples=15000)
  ours = lime_tabular.LimeTabularExplainer(
      X, feature_names=names, feature_selection="none", random_state=0
  ).explain_instances(rows, model, **options)
  lime_runs = [
      [
          dict(
              lime_lime_tabular.LimeTabularExplainer(
                  X, feature_names=names, feature_selection="none", random_state=seed
              )
              .explain_instance(row, model, **options)
              .local_exp[1]
          )
          for row in rows
      ]
      for seed in (1, 2)
  ]
  for exp, lime_a, lime_b in zip(ours, *lime_runs):
    overlap, correlation = _agreement(dict(exp.local_exp[1]), lime_a, 5)
    lime_overlap, lime_correlation = _agreement(lime_b, lime_a, 5)
    assert overlap >= lime_overlap - 0.2
    assert correlation >= min(lime_correlation, 0.99) - 0.02


def _sentiment(strings):
  good = np.array([s.count("good") + s.count("great") - s.count("bad") for s in strings])
  p = 1 / (1 + np.exp(-good + 0.5))
  return np.stack([1 - p, p], 1)


@pytest.mark.slow
def test_text_agrees_with_lime_as_lime_with_itself():
  texts = [
      "a good movie with a great cast but a bad ending and a good score",
      "bad acting, bad plot, great music, good costumes, bad dialogue",
  ]
  options = dict(num_features=6, num_samples=10000)
  ours = lime_text.LimeTextExplainer(random_state=0).explain_instances(texts, _sentiment, **options)
  for text, exp in zip(texts, ours):
    lime_a, lime_b = [
        dict(
            lime_lime_text.LimeTextExplainer(random_state=seed)
            .explain_instance(text, _sentiment, **options)
            .as_list()
        )
        for seed in (1, 2)
    ]
    mine = dict(exp.as_list())
    overlap, correlation = _agreement(mine, lime_a, 3)
    lime_overlap, lime_correlation = _agreement(lime_b, lime_a, 3)
    assert overlap >= lime_overlap - 0.34
    assert correlation >= min(lime_correlation, 0.99) - 0.02


def test_text_indexed_string_matches_lime():
  text = "This is a good movie. This, it is a great movie."
  for bow in (True, False):
    ours, theirs = lime_text.IndexedString(text, bow=bow), lime_lime_text.IndexedString(
        text, bow=bow
    )
    assert ours.inverse_vocab == theirs.inverse_vocab
    assert list(ours.as_np) == list(theirs.as_np)
    assert ours.inverse_removing([0, 3]) == theirs.inverse_removing([0, 3])
    assert list(ours.string_position(1)) == list(theirs.string_position(1))


@pytest.mark.skipif(_chromium.executable() is None, reason="chromium is not installed")
@pytest.mark.slow
def test_html_renders_in_headless_chromium(cancer, tmp_path):
  X, _, _, model = cancer
  exp = _tabular(cancer, random_state=0).explain_instance(
      X[0], model, num_features=5, num_samples=500
  )
  tabular_page = tmp_path / "tabular.html"
  exp.save_to_file(str(tabular_page))
  text_exp = lime_text.LimeTextExplainer(random_state=0).explain_instance(
      "a good movie with a bad end", _sentiment, num_features=3, num_samples=300
  )
  text_page = tmp_path / "text.html"
  text_page.write_text(text_exp.as_html())
  for page in (tabular_page, text_page):
    assert "<script" not in page.read_text() and "http" not in page.read_text()
  dom = _chromium.dump_dom(str(tabular_page))
  for panel in ("probabilities", "weights", "values"):
    assert f'class="panel {panel}"' in dom
  assert "Prediction probabilities" in dom and exp.as_list()[0][0].split(" ")[0] in dom
  assert 'class="word"' in _chromium.dump_dom(str(text_page))
  for page in (tabular_page, text_page):
    picture = _chromium.screenshot(str(page))
    assert picture[..., :3].std() > 0.05  # Not a blank page.
    assert (np.abs(picture[..., :3] - picture[0, 0, :3]).sum(-1) > 0.1).mean() > 0.005


@pytest.mark.slow
@pytest.mark.skipif(_chromium.executable() is None, reason="chromium is not installed")
def test_engine_and_image_html_in_headless_chromium(breast_cancer, logistic, tmp_path):
  import jaxlime
  from jaxlime.compat import lime_image

  X, _, names, classes = breast_cancer
  exp = jaxlime.TabularExplainer(X, feature_names=names, class_names=classes).explain(
      X[:2], logistic.model, key=0, num_samples=500, num_features=5
  )
  tabular_page = tmp_path / "engine.html"
  exp.save_to_file(str(tabular_page), 1)
  dom = _chromium.dump_dom(str(tabular_page))
  for panel in ("probabilities", "weights", "values"):
    assert f'class="panel {panel}"' in dom
  assert names[int(exp.as_map(1)[1][0][0])] in dom

  image = np.zeros((96, 96, 3))
  image[:, 48:] = 1.0

  def brightness(images):
    p = np.asarray(images).mean(axis=(1, 2, 3))
    return np.stack([1 - p, p], 1)

  grid = lambda img: (np.arange(96)[:, None] // 24) * 4 + np.arange(96)[None, :] // 24  # noqa
  image_exp = lime_image.LimeImageExplainer(random_state=0).explain_instance(
      image, brightness, top_labels=1, hide_color=0, num_samples=200, segmentation_fn=grid
  )
  # Hiding a white superpixel darkens the image: the 8 white ones weigh for "bright" (label 1).
  assert sorted(j for j, w in image_exp.local_exp[1] if w > 0.01) == [2, 3, 6, 7, 10, 11, 14, 15]
  image_page = tmp_path / "image.html"
  image_page.write_text(image_exp.as_html())
  text = image_page.read_text()
  assert text.count("data:image/png;base64,") == 2 and "<script" not in text
  assert _chromium.dump_dom(str(image_page)).count("<img") == 2
  for page in (tabular_page, image_page):
    picture = _chromium.screenshot(str(page))
    assert (np.abs(picture[..., :3] - picture[0, 0, :3]).sum(-1) > 0.1).mean() > 0.005


@pytest.mark.slow
def test_image_agrees_with_lime_as_lime_with_itself():
  from lime import lime_image as lime_lime_image

  from jaxlime.compat import lime_image

  rng = np.random.RandomState(0)
  image = rng.rand(48, 48, 3) * 0.2
  image[8:24, 8:40] += 0.7  # A bright band: the superpixels over it drive the model.
  segments = (np.arange(48)[:, None] // 12) * 4 + np.arange(48)[None, :] // 12
  segmentation = lambda img: segments  # noqa: E731
  weights = rng.rand(3)

  def model(images):
    score = np.asarray(images).reshape(len(images), -1, 3).mean(1) @ weights
    p = 1 / (1 + np.exp(-8 * (score - 0.25)))
    return np.stack([1 - p, p], 1)

  options = dict(
      top_labels=None,
      labels=(1,),
      hide_color=0,
      num_features=16,
      num_samples=10000,
      segmentation_fn=segmentation,
  )
  ours = dict(
      lime_image.LimeImageExplainer(random_state=0)
      .explain_instance(image, model, **options)
      .local_exp[1]
  )
  lime_a, lime_b = [
      dict(
          lime_lime_image.LimeImageExplainer(random_state=seed)
          .explain_instance(image, model, **options)
          .local_exp[1]
      )
      for seed in (1, 2)
  ]
  overlap, correlation = _agreement(ours, lime_a, 5)
  lime_overlap, lime_correlation = _agreement(lime_b, lime_a, 5)
  assert overlap >= lime_overlap - 0.2
  assert correlation >= min(lime_correlation, 0.99) - 0.02


def test_signatures_are_limes():
  """Constructors and explain_instance: lime 0.2.0.1's parameters, order and defaults."""
  import inspect

  from lime import lime_image as lime_lime_image
  from lime import submodular_pick as lime_submodular_pick
  from lime.wrappers import scikit_image as lime_scikit_image

  from jaxlime.compat import lime_image
  from jaxlime.compat import submodular_pick
  from jaxlime.compat.wrappers import scikit_image

  pairs = [
      (lime_tabular.LimeTabularExplainer, lime_lime_tabular.LimeTabularExplainer),
      (lime_tabular.RecurrentTabularExplainer, lime_lime_tabular.RecurrentTabularExplainer),
      (lime_text.LimeTextExplainer, lime_lime_text.LimeTextExplainer),
      (lime_text.IndexedString, lime_lime_text.IndexedString),
      (lime_text.IndexedCharacters, lime_lime_text.IndexedCharacters),
      (lime_image.LimeImageExplainer, lime_lime_image.LimeImageExplainer),
      (lime_base.LimeBase, lime_lime_base.LimeBase),
      (submodular_pick.SubmodularPick, lime_submodular_pick.SubmodularPick),
      (scikit_image.SegmentationAlgorithm, lime_scikit_image.SegmentationAlgorithm),
  ]
  for ours, theirs in pairs:
    methods = ["__init__"] + [
        m for m in ("explain_instance", "explain_instance_with_data") if hasattr(theirs, m)
    ]
    for method in methods:
      mine = inspect.signature(getattr(ours, method)).parameters
      lime_parameters = inspect.signature(getattr(theirs, method)).parameters
      lime_view = [(p.name, p.default) for p in lime_parameters.values()]
      assert [(p.name, p.default) for p in mine.values()] == lime_view, (ours, method)


@pytest.mark.slow
def test_submodular_pick_is_limes_on_the_same_explanations(cancer):
  """lime's SubmodularPick and ours, fed the very same explanations, pick the same rows."""
  from lime import submodular_pick as lime_submodular_pick

  from jaxlime.compat import submodular_pick

  X, _, _, model = cancer
  rows = X[:40]
  fixed = _tabular(cancer, random_state=0).explain_instances(
      rows, model, num_features=4, num_samples=500, top_labels=1
  )
  by_row = {row.tobytes(): exp for row, exp in zip(rows, fixed)}

  class Replay:
    """An explainer that returns the precomputed explanation of each row."""

    def explain_instance(self, row, predict_fn, **options):
      return by_row[np.asarray(row).tobytes()]

    def explain_instances(self, rows, predict_fn, **options):
      return [by_row[np.asarray(row).tobytes()] for row in rows]

  picks = []
  for kind in (submodular_pick.SubmodularPick, lime_submodular_pick.SubmodularPick):
    np.random.seed(3)
    pick = kind(
        Replay(), rows, model, method="sample", sample_size=30, num_exps_desired=5, num_features=4
    )
    picks.append([id(exp) for exp in pick.sp_explanations])
  assert picks[0] == picks[1] and len(picks[0]) == 5


@pytest.mark.slow
def test_engine_readers_default_to_first_explained_label():
  import jax
  import jax.numpy as jnp

  import jaxlime

  rng = np.random.RandomState(0)
  X = rng.randn(100, 4)

  def model(x):
    logits = jnp.stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]], axis=1)
    return jax.nn.softmax(logits)

  exp = jaxlime.TabularExplainer(X).explain(
      X[:2], model, key=0, num_samples=300, num_features=2, top_labels=2
  )
  first = exp.available_labels(0)[0]
  assert exp.as_list(0) == exp.as_list(0, first)
  assert "Prediction probabilities" in exp.as_html(0)
  exp.as_pyplot_figure(0)
  missing = ({0, 1, 2} - set(exp.available_labels(0))).pop()
  with pytest.raises(ValueError, match=r"explained labels: \["):
    exp.as_list(0, missing)
  assert repr(exp) == (
      f"Explanation(N=2, L=2, labels[0]={exp.available_labels(0)}, " "mode='classification', D=4)"
  )


@pytest.mark.slow
def test_new_explainers_with_other_width_or_data_compile_nothing(cancer):
  """Kernel widths and training tables are traced arguments: a second compat explainer with
  another kernel_width and other training data of the same shape reuses every program."""
  from jaxlime.compat import lime_image

  X, names, _, model = cancer
  other = X * np.random.RandomState(0).uniform(0.5, 1.5, size=X.shape)
  text = "a good movie with a bad end and a great cast"
  image = np.random.RandomState(0).rand(32, 32, 3)
  grid = lambda img: (np.arange(32)[:, None] // 8) * 4 + np.arange(32)[None, :] // 8  # noqa
  image_options = dict(num_samples=100, segmentation_fn=grid, top_labels=1)

  def brightness(images):
    p = np.asarray(images).mean(axis=(1, 2, 3))
    return np.stack([1 - p, p], 1)

  def run(data, width):
    lime_tabular.LimeTabularExplainer(
        data, feature_names=names, kernel_width=width, random_state=0
    ).explain_instance(X[0], model, num_samples=300)
    lime_tabular.LimeTabularExplainer(
        data, discretize_continuous=False, kernel_width=width, random_state=0
    ).explain_instance(X[0], model, num_samples=300)
    lime_text.LimeTextExplainer(kernel_width=width, random_state=0).explain_instance(
        text, _sentiment, num_samples=300
    )
    lime_image.LimeImageExplainer(kernel_width=width / 10, random_state=0).explain_instance(
        image, brightness, **image_options
    )

  run(X, 3.0)
  with helpers.count_compiles() as compiled:
    run(other, 5.0)
  assert len(compiled) == 0
