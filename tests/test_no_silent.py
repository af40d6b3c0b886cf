"""Issue 15: inputs that used to give a wrong answer without an error (lime is the oracle)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lime.lime_tabular import LimeTabularExplainer
from sklearn.datasets import load_iris

import jaxlime

_IRIS_WEIGHTS = np.random.RandomState(0).randn(4, 3)


def _iris_model(x):
  return jax.nn.softmax(x @ _IRIS_WEIGHTS, axis=-1)


def _iris_numpy_model(x):
  return np.asarray(_iris_model(jnp.asarray(x, jnp.float32)), np.float64)


@pytest.mark.parametrize("discretizer", ["quartile", "decile"])
@pytest.mark.slow
def test_iris_bin_names_equal_limes_on_every_row(discretizer):
  # Before: 28 (quartile) and 79 (decile) of 150 rows were named from the float32 instance
  # against float64 edges ("0.30 < petal width (cm) <= 1.30" for a petal width of 0.3).
  iris = load_iris()
  X, names = iris.data, iris.feature_names
  explainer = jaxlime.TabularExplainer(
      X, feature_names=names, discretizer=discretizer, feature_selection="none"
  )
  lime_explainer = LimeTabularExplainer(
      X, feature_names=names, discretizer=discretizer, feature_selection="none"
  )
  explanation = explainer.explain(X, _iris_model, key=0, num_samples=50, num_features=4)
  for row in range(len(X)):
    lime_names = lime_explainer.explain_instance(
        X[row], _iris_numpy_model, num_samples=10, num_features=4
    ).as_list()
    assert sorted(name for name, _ in explanation.as_list(row, label=1)) == sorted(
        name for name, _ in lime_names
    ), row


def _two_class(x):
  return jax.nn.softmax(x @ jnp.ones((x.shape[-1], 2)).at[:, 0].set(-1.0), axis=-1)


def test_value_within_float32_rounding_of_an_edge_is_refused():
  X = np.random.RandomState(0).randn(50, 3)
  explainer = jaxlime.TabularExplainer(X)
  edge = explainer.discretizer.edges[0, 1]
  row = np.array([[np.nextafter(edge, np.inf), 0.0, 0.0]])  # lime: the bin above the edge.
  if jax.config.jax_enable_x64:
    pytest.skip("float64 explainer: bins are lime's")
  with pytest.raises(
      ValueError, match=r"X\[0, 0\] = .* within float32 rounding of a bin edge" r".*jax_enable_x64"
  ):
    explainer.explain(row, _two_class, key=0, num_samples=20)


def test_subnormal_training_data_is_refused_in_float32():
  X = np.random.RandomState(0).randn(50, 3) * 1e-40
  with pytest.raises(
      ValueError, match=r"training_data column 0 .* smallest normal float32" r".*jax_enable_x64"
  ):
    jaxlime.TabularExplainer(X)


def test_instance_beyond_float32_is_refused():
  explainer = jaxlime.TabularExplainer(np.random.RandomState(0).randn(50, 3))
  with pytest.raises(
      ValueError,
      match=r"X\[0, 1\] = 1e\+39 is beyond the range of the "
      r"explainer's dtype float32.*jax_enable_x64",
  ):
    explainer.explain(np.array([[0.0, 1e39, 0.0]]), _two_class, key=0, num_samples=20)


def test_training_data_beyond_float32_is_refused_not_blamed_on_the_model():
  # Before: "the model returned NaN/inf" after the explainer's own overflow.
  X = np.random.RandomState(0).randn(50, 3) * 1e300
  with pytest.raises(ValueError, match=r"training_data\[0, 0\] = .* beyond the range .*float32"):
    jaxlime.TabularExplainer(X)
  with pytest.raises(ValueError, match=r"background\[0, 0\] = .* beyond the range .*float32"):
    jaxlime.KernelShapExplainer(X)


# ---- the model contract: rows returned == rows given, on every path ----

_ROW_ERRORS = {
    "transposed": (lambda good: lambda x: good(x).T, r"looks transposed: return \[B, C\]"),
    "drops a row": (lambda good: lambda x: good(x)[1:], r"expected \d+ rows first"),
    "ignores the batch": (lambda good: lambda x: good(x)[:1], r"ignores the batch"),
}


def _tabular_data():
  return np.random.RandomState(0).randn(40, 4)


@pytest.mark.parametrize("broken", sorted(_ROW_ERRORS))
def test_tabular_and_kernel_shap_refuse_a_model_with_wrong_rows(broken):
  make, message = _ROW_ERRORS[broken]
  model = make(_two_class)
  X = _tabular_data()
  with pytest.raises(
      ValueError, match=r"the model returned shape .* for a batch of \d+ rows.*" + message
  ):
    jaxlime.TabularExplainer(X).explain(X[:2], model, key=0, num_samples=20)
  with pytest.raises(ValueError, match=message):
    jaxlime.KernelShapExplainer(X[:5]).explain(X[:2], model, key=0, nsamples=10)


def test_three_class_transposed_model_is_caught_on_the_real_batch():
  # [C, B] with C = 3 passes a 3-row probe; the static check on every model call catches it.
  X = _tabular_data()

  def transposed(x):
    return jax.nn.softmax(x[:, :3], axis=-1).T

  with pytest.raises(ValueError, match=r"looks transposed"):
    jaxlime.TabularExplainer(X).explain(X[:2], transposed, key=0, num_samples=20)


@pytest.mark.parametrize("broken", sorted(_ROW_ERRORS))
def test_image_path_refuses_a_model_with_wrong_rows(broken):
  make, message = _ROW_ERRORS[broken]

  def good(images):
    p = jax.nn.sigmoid(images[:, :4, :4].mean(axis=(1, 2, 3)))
    return jnp.stack([1 - p, p], axis=-1)

  images = np.random.RandomState(0).rand(1, 8, 8, 3).astype(np.float32)
  segments = (np.arange(64).reshape(8, 8) // 16)[None]
  with pytest.raises(ValueError, match=message):
    jaxlime.ImageExplainer().explain(images, make(good), key=0, segments=segments, num_samples=20)


_WORDS = {"good": 2, "bad": 3, "ugly": 4}


def _tokens(text):
  return [_WORDS.get(word, 1) for word in text.split()]


def _token_model(ids, mask):
  weights = jnp.zeros(8).at[2].set(2.0).at[3].set(-1.0)
  p = jax.nn.sigmoid(jnp.sum(jnp.where(mask, weights[ids], 0.0), axis=1))
  return jnp.stack([1 - p, p], axis=1)


def _string_model(strings):
  p = np.array(
      [1 / (1 + np.exp(-2.0 * s.split().count("good") + s.split().count("bad"))) for s in strings]
  )
  return np.stack([1 - p, p], axis=1)


@pytest.mark.parametrize("broken", sorted(_ROW_ERRORS))
def test_text_paths_refuse_a_model_with_wrong_rows(broken):
  # Before: the token path reshaped a transposed [2, B] output into a wrong explanation.
  make, message = _ROW_ERRORS[broken]
  explainer = jaxlime.TextExplainer()
  with pytest.raises(ValueError, match=message):
    explainer.explain(
        ["good movie but bad end"],
        lambda ids, mask: make(lambda x: _token_model(x, mask))(ids),
        key=0,
        num_samples=20,
        tokenizer=_tokens,
    )
  with pytest.raises(ValueError, match=message):
    explainer.explain(["good movie but bad end"], make(_string_model), key=0, num_samples=20)


def test_one_column_classifier_is_explained_not_mislabelled():
  X = _tabular_data()
  with pytest.raises(
      ValueError,
      match=r"returned \(3, 1\), one column.*labels=\(1,\).*\[B, 2\]" r".*mode='regression'",
  ):
    jaxlime.TabularExplainer(X).explain(
        X[:2], lambda x: _two_class(x)[:, 1:], key=0, num_samples=20
    )


def test_non_numeric_output_is_refused():
  X = _tabular_data()
  with pytest.raises(TypeError, match=r"must return numbers .* dtype <U"):
    jaxlime.TabularExplainer(X).explain(
        X[:2], lambda x: np.array(["yes"] * len(x)), key=0, num_samples=20
    )
  with pytest.raises(TypeError, match=r"must return numbers .* dtype <U"):
    jaxlime.TextExplainer().explain(
        ["good"], lambda s: np.array([["a", "b"]] * len(s)), key=0, num_samples=20
    )


# ---- numpy models are wrapped, their errors kept ----


@pytest.mark.slow
def test_numpy_model_is_wrapped_with_one_warning_and_matches_host_model():
  from sklearn.linear_model import LogisticRegression

  X = _tabular_data()
  classifier = LogisticRegression().fit(X, X[:, 0] > 0)
  model = lambda x: classifier.predict_proba(x)  # noqa: E731
  explainer = jaxlime.TabularExplainer(X)
  with pytest.warns(UserWarning, match=r"cannot be traced by JAX.*host_model.*batch_size") as seen:
    wrapped = explainer.explain(X[:3], model, key=0, num_samples=50)
  assert sum("cannot be traced" in str(w.message) for w in seen) == 1
  import warnings

  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)  # Announced once per model, not per call.
    again = explainer.explain(X[:3], model, key=0, num_samples=50)
  explicit = explainer.explain(
      X[:3], jaxlime.host_model(classifier.predict_proba), key=0, num_samples=50
  )
  np.testing.assert_array_equal(np.asarray(wrapped.coef), np.asarray(explicit.coef))
  np.testing.assert_array_equal(np.asarray(again.coef), np.asarray(explicit.coef))
  with pytest.warns(UserWarning, match="cannot be traced"):
    shap_values = jaxlime.KernelShapExplainer(X[:5]).explain(
        X[:2], lambda x: classifier.predict_proba(x), key=0, nsamples=10
    )
  assert np.isfinite(np.asarray(shap_values.values)).all()


class _ModelError(Exception):
  pass


def test_a_failing_model_keeps_its_exception():
  # Before: AttributeError: 'str' object has no attribute '_error_repr' for numpy models.
  X = _tabular_data()
  explainer = jaxlime.TabularExplainer(X)

  def numpy_raises(x):
    np.asarray(x)
    raise _ModelError("the model's own message")

  def jax_raises(x):
    return x @ jnp.ones((3, 2))

  with pytest.warns(UserWarning, match="cannot be traced"):
    with pytest.raises(_ModelError, match="the model's own message") as caught:
      explainer.explain(X[:2], numpy_raises, key=0, num_samples=20)
  assert any("probe batch of shape (3, 4)" in note for note in caught.value.__notes__)
  with pytest.raises(TypeError, match="dot_general") as caught:
    explainer.explain(X[:2], jax_raises, key=0, num_samples=20)
  assert any("batch of shape (3, 4)" in note for note in caught.value.__notes__)


# ---- text, images and seeds ----


def test_capturing_split_expression_scores_the_raw_text_as_sample_0():
  # Before: sample 0 was the rebuilt 'good, ,bad, ,ugly', so exp.prediction was not the model's
  # output on the text. lime scores indexed_string.raw_string() as sample 0.
  seen = []

  def model(strings):
    seen.extend(strings)
    return np.array([[0.25, 0.75] if s == "good, bad, ugly" else [0.5, 0.5] for s in strings])

  explainer = jaxlime.TextExplainer(split_expression=r"(\W+)")
  explanation = explainer.explain(["good, bad, ugly"], model, key=0, num_samples=20)
  assert seen[0] == "good, bad, ugly"
  np.testing.assert_allclose(np.asarray(explanation.prediction[0]), [0.25, 0.75])


@pytest.mark.parametrize("hide_color", [300, 1000, -1, (0, 256, 0)])
def test_uint8_hide_color_out_of_range_is_refused(hide_color):
  images = np.zeros((1, 8, 8, 3), np.uint8)
  segments = (np.arange(64).reshape(8, 8) // 16)[None]

  def model(x):
    p = jax.nn.sigmoid(x.astype(jnp.float32).mean(axis=(1, 2, 3)) / 255)
    return jnp.stack([1 - p, p], axis=-1)

  with pytest.raises(
      ValueError, match=r"hide_color must lie in 0\.\.255, the range of the " r"images' dtype uint8"
  ):
    jaxlime.ImageExplainer().explain(
        images, model, key=0, segments=segments, hide_color=hide_color, num_samples=20
    )


def test_every_bit_of_an_int_seed_counts():
  # Before: key=2**40 gave exactly key=0's explanation (jax.random.key keeps 32 bits).
  X = _tabular_data()
  explainer = jaxlime.TabularExplainer(X)

  def coef(key):
    return np.asarray(explainer.explain(X[:2], _two_class, key=key, num_samples=30).coef)

  by_seed = {seed: coef(seed) for seed in (0, 2**40, 2**32, -1, 2**32 - 1)}
  seeds = list(by_seed)
  for i, first in enumerate(seeds):
    for second in seeds[i + 1 :]:
      assert not np.array_equal(by_seed[first], by_seed[second]), (first, second)
  # Seeds in [0, 2**32) keep their meaning: jax.random.key(seed).
  np.testing.assert_array_equal(
      by_seed[2**32 - 1], coef(jax.random.key(2**32 - 1, impl="philox4x32"))
  )


@pytest.mark.slow
def test_token_path_pads_to_max_length_and_refuses_longer_texts():
  # Before: T was the longest text rounded up to a multiple of 4, above a model's maximum of 5
  # although every text fits.
  lengths = []

  def model_of_five(ids, mask):
    lengths.append(ids.shape[1])
    if ids.shape[1] > 5:
      raise ValueError(f"this model takes at most 5 tokens; got {ids.shape[1]}")
    return _token_model(ids, mask)

  texts = ["good movie but bad end"]
  with pytest.raises(ValueError, match="at most 5 tokens; got 8"):
    jaxlime.TextExplainer().explain(texts, model_of_five, key=0, num_samples=20, tokenizer=_tokens)
  explanation = jaxlime.TextExplainer(max_length=5).explain(
      texts, model_of_five, key=0, num_samples=20, tokenizer=_tokens
  )
  assert set(lengths[1:]) == {5}
  assert explanation.as_list(0, label=1)[0][0] == "good"
  with pytest.raises(ValueError, match=r"texts\[1\] has 6 tokens, more than max_length=5"):
    jaxlime.TextExplainer(max_length=5).explain(
        texts + ["good good bad bad ugly end"],
        model_of_five,
        key=0,
        num_samples=20,
        tokenizer=_tokens,
    )
