"""TextExplainer against lime 0.2.0.1: splitting, perturbed strings, sampling, explanations.

Most tests share S = 1000 samples and texts of at most 16 features, so that they share compiled
programs.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from lime.lime_text import IndexedCharacters
from lime.lime_text import IndexedString
from lime.lime_text import LimeTextExplainer

import jaxlime
from jaxlime._src import kernels
from jaxlime._src import text_core
from helpers import dense_weights

TEXTS = [
    "the acting was wonderful but the plot felt slow and predictable",
    "a dull and boring film, although the music was lovely",
    "I loved it: brilliant, funny and moving from start to end",
    "not good, not terrible, just forgettable and a bit too long",
]
WEIGHTS = {
    "wonderful": 1.5,
    "slow": -0.8,
    "predictable": -0.7,
    "dull": -1.2,
    "boring": -1.4,
    "lovely": 0.9,
    "loved": 1.3,
    "brilliant": 1.4,
    "funny": 0.8,
    "moving": 0.5,
    "good": 0.9,
    "terrible": -1.5,
    "forgettable": -0.9,
    "long": -0.4,
    "not": -0.3,
    "bit": -0.1,
    "excellent": 3.0,
    "awful": -3.0,
}
VOCABULARY = sorted(
    {word for text in TEXTS for word in re.split(r"\W+", text) if word}
    | set(WEIGHTS)
    | {"UNKWORDZ", "movie", "it", "is", "an", "this", "film"}
)
WORD_IDS = {word: index + 2 for index, word in enumerate(VOCABULARY)}  # 0 padding, 1 unknown.
WORD_WEIGHTS = np.zeros(len(VOCABULARY) + 2, np.float32)
for word, weight in WEIGHTS.items():
  WORD_WEIGHTS[WORD_IDS[word]] = weight
NUM_SAMPLES = 1000


def _logistic(logit):
  p = 1 / (1 + np.exp(-np.asarray(logit, np.float64)))
  return np.stack([1 - p, p], axis=1)


def bag_classifier(strings):
  """A host classifier: saturating logistic of word weights, with a "not good" interaction."""
  logits = []
  for string in strings:
    words = [word for word in re.split(r"\W+", string) if word]
    logit = 2.0 * sum(WEIGHTS.get(word, 0.0) for word in words)
    logits.append(logit - 1.5 * ("not" in words and "good" in words))
  return _logistic(logits)


def word_tokenizer(text):
  return [WORD_IDS.get(word, 1) for word in re.split(r"\W+", text) if word]


def position_model(ids, mask):
  """A JAX model on token ids whose output depends on the positions of the words."""
  positions = jnp.arange(ids.shape[1])
  decay = 1.0 + 0.5 * jnp.cos(positions / 3.0)
  logit = jnp.sum(jnp.where(mask, jnp.asarray(WORD_WEIGHTS)[ids] * decay, 0.0), axis=1)
  p = jax.nn.sigmoid(2.0 * logit)
  return jnp.stack([1 - p, p], axis=1)


def strings_through(model, tokenizer, num_tokens=24):
  """The string-path twin of a token model: tokenise each string, pad, run the model."""

  def classify(strings):
    ids = np.zeros((len(strings), num_tokens), np.int32)
    for row, string in enumerate(strings):
      tokens = tokenizer(string)
      if isinstance(tokens, tuple):
        tokens = tokens[0]
      ids[row, : len(tokens)] = tokens
    ids = jnp.asarray(ids)
    return np.asarray(model(ids, ids != 0), np.float64)

  return classify


def _agreement(a, b, top=3):
  """Relative L2 distance of a to the reference b, correlation, overlap of the top features."""
  distance = np.linalg.norm(a - b) / np.linalg.norm(b)
  correlation = np.corrcoef(a, b)[0, 1]
  overlap = len(set(np.argsort(-np.abs(a))[:top]) & set(np.argsort(-np.abs(b))[:top]))
  return distance, correlation, overlap


# ---- splitting and perturbed strings, against lime's IndexedString ----

ODD_TEXTS = [
    "Hello, world! Hello again... world?",
    "  leading and trailing spaces  ",
    "naïve café — déjà vu, naïve",
    "line one\nline two\n\nend",
    "a_b c-d e.f a_b",
    "x",
]


@pytest.mark.parametrize("bow", [True, False])
@pytest.mark.parametrize("split", [r"\W+", r"\s+", "callable"])
def test_split_and_perturbed_strings_equal_lime(bow, split):
  """Words, positions and every perturbed string equal lime's for the same removed features."""
  split_expression = (lambda text: text.split()) if split == "callable" else split
  explainer = jaxlime.TextExplainer(bow=bow, split_expression=split_expression)
  rng = np.random.default_rng(0)
  for text in ODD_TEXTS + TEXTS:
    ours = explainer.index(text)
    theirs = IndexedString(text, split_expression=split_expression, bow=bow)
    assert list(ours.words) == theirs.inverse_vocab
    assert list(ours.tokens) == theirs.as_list
    for feature in range(ours.num_features):
      np.testing.assert_array_equal(
          ours.string_positions(feature), np.ravel(theirs.string_position(feature))
      )
    kept = rng.random((20, ours.num_features)) < 0.5
    strings = ours.perturbed_strings(kept)
    for row, string in enumerate(strings):
      assert string == theirs.inverse_removing(np.flatnonzero(~kept[row]))


@pytest.mark.parametrize("bow", [True, False])
def test_characters_equal_lime(bow):
  explainer = jaxlime.TextExplainer(bow=bow, char_level=True)
  rng = np.random.default_rng(1)
  for text in ODD_TEXTS[:3]:
    ours = explainer.index(text)
    theirs = IndexedCharacters(text, bow=bow)
    assert list(ours.words) == theirs.inverse_vocab
    kept = rng.random((20, ours.num_features)) < 0.5
    for row, string in enumerate(ours.perturbed_strings(kept)):
      assert string == theirs.inverse_removing(np.flatnonzero(~kept[row]))


def test_sampling_follows_lime_distribution():
  """k ~ U{1..D} removed features, each subset of size k equally likely; padding never varies."""
  keys = jax.random.split(jax.random.key(0), 2)
  kept = np.asarray(
      text_core.sample_masks(keys, jnp.asarray([4, 7]), num_dims=8, num_samples=24_000)
  )
  assert kept.shape == (2, 8, 24_000)
  assert kept[:, :, 0][0, :4].all() and kept[:, :, 0][1, :7].all()
  assert not kept[0, 4:].any() and not kept[1, 7:].any()
  removed = 4 - kept[0, :4, 1:].sum(axis=0)
  counts = np.bincount(removed, minlength=5)
  assert counts[0] == 0
  expected = removed.size / 4
  assert np.all(np.abs(counts[1:] - expected) < 4 * np.sqrt(expected))
  pairs = kept[0, :4, 1:][:, removed == 2]
  codes = np.packbits(pairs, axis=0, bitorder="little")[0]
  frequencies = np.unique(codes, return_counts=True)[1]
  assert frequencies.size == 6
  expected = pairs.shape[1] / 6
  assert np.all(np.abs(frequencies - expected) < 4 * np.sqrt(expected))
  # Text 1's masks do not depend on the padding.
  alone = np.asarray(
      text_core.sample_masks(keys[1:], jnp.asarray([7]), num_dims=16, num_samples=24_000)
  )
  np.testing.assert_array_equal(alone[0, :8], kept[1])


def test_cosine_distances_columns_match_scikit_learn():
  """lime's text distance: scikit-learn's cosine distance to row 0 (1 for an empty sample)."""
  from sklearn.metrics.pairwise import pairwise_distances

  z = (np.random.default_rng(0).random((50, 9)) < 0.5).astype(np.float32)
  z[0], z[3] = 1, 0
  expected = pairwise_distances(z, z[:1], metric="cosine").ravel()
  ours = np.asarray(kernels.cosine_distances_columns(jnp.asarray(z.T)))
  np.testing.assert_allclose(ours, expected, atol=1e-6)
  np.testing.assert_allclose(ours, np.asarray(jaxlime.cosine_distances(jnp.asarray(z))), atol=1e-6)


# ---- explanations ----


@pytest.mark.slow
def test_keyword_is_the_top_feature_on_both_paths():
  # Four texts of 9 to 16 features and at most 12 tokens, as TEXTS: the compiled programs of
  # the other tests are reused.
  texts = [
      "this movie is excellent and the cast was fine too",
      "an awful film with a plot that felt slow to me",
      "the story felt slow at first but then it was excellent",
      "it is awful and boring and slow and far too long",
  ]
  explainer = jaxlime.TextExplainer()
  by_strings = explainer.explain(texts, bag_classifier, key=0, num_samples=NUM_SAMPLES)
  by_tokens = explainer.explain(
      texts, position_model, key=0, num_samples=NUM_SAMPLES, tokenizer=word_tokenizer
  )
  for exp in (by_strings, by_tokens):
    for i, text in enumerate(texts):
      word, weight = exp.as_list(i, label=1)[0]
      expected = "excellent" if "excellent" in text else "awful"
      assert word == expected
      assert np.sign(weight) == np.sign(WEIGHTS[expected])
      assert exp.as_list(i, label=1)[0] == (word, exp.as_map(i)[1][0][1])


LIME_MODES = {
    "bow": (dict(), bag_classifier, TEXTS),
    "positional": (dict(bow=False), bag_classifier, TEXTS),
    "char_level": (dict(bow=False, char_level=True), None, [text[:24] for text in TEXTS[:3]]),
}


def char_classifier(strings):
  letters = {"a": 0.5, "e": -0.4, "o": 0.6, "i": -0.3, "u": 0.2, " ": 0.1, "n": -0.2}
  return _logistic([np.tanh(sum(letters.get(c, 0.0) for c in s) / 3) * 3 for s in strings])


@pytest.mark.parametrize("mode", list(LIME_MODES))
@pytest.mark.slow
def test_agrees_with_lime_as_lime_agrees_with_itself(mode):
  """Coefficients on every feature at S = 10000: jaxlime vs lime as close as lime vs lime.

  Measured here, mean over the texts of the relative L2 distance to lime (seed 1), of the
  correlation and of the top-3 overlap, for lime (seed 2) and for jaxlime (key 0):
    bow         lime 0.0319 / 0.99933 / 3.0    jaxlime 0.0252 / 0.99954 / 3.0
    positional  lime 0.0333 / 0.99922 / 2.75   jaxlime 0.0271 / 0.99941 / 2.75
    char_level  lime 0.0077 / 0.99996 / 3.0    jaxlime 0.0072 / 0.99997 / 3.0
  Over keys 0..3 jaxlime's distance was 0.71 to 1.16 times lime's.
  """
  options, classifier, texts = LIME_MODES[mode]
  classifier = classifier or char_classifier
  num_samples = 10_000
  ours = jaxlime.TextExplainer(feature_selection="none", **options).explain(
      texts, classifier, key=0, num_samples=num_samples, num_features=64
  )
  ours_vs_lime, lime_vs_lime = [], []
  for i, text in enumerate(texts):
    runs = [
        LimeTextExplainer(feature_selection="none", random_state=seed, **options).explain_instance(
            text, classifier, num_features=64, num_samples=num_samples
        )
        for seed in (1, 2)
    ]
    num_dims = len(ours.words(i))
    first, second = (dense_weights(run.as_map()[1], num_dims) for run in runs)
    ours_vs_lime.append(_agreement(np.asarray(ours.coef[i, 0, :num_dims]), first))
    lime_vs_lime.append(_agreement(second, first))
    assert ours.as_list(i)[0][0] == runs[0].as_list()[0][0]
  ours_vs_lime, lime_vs_lime = np.array(ours_vs_lime), np.array(lime_vs_lime)
  print(
      mode, "lime vs lime", lime_vs_lime.mean(axis=0), "jaxlime vs lime", ours_vs_lime.mean(axis=0)
  )
  assert ours_vs_lime[:, 0].mean() <= 1.5 * lime_vs_lime[:, 0].mean()
  assert ours_vs_lime[:, 1].mean() >= lime_vs_lime[:, 1].mean() - 0.002
  assert ours_vs_lime[:, 2].mean() >= lime_vs_lime[:, 2].mean() - 0.5


@pytest.mark.slow
def test_default_selection_names_and_readers_match_lime():
  """Default options (auto = highest_weights at K = 10): the same words, lime's names."""
  text = TEXTS[0]
  ours = jaxlime.TextExplainer(class_names=["neg", "pos"]).explain(
      text, bag_classifier, key=0, num_samples=5000
  )
  theirs = LimeTextExplainer(class_names=["neg", "pos"], random_state=0).explain_instance(
      text, bag_classifier, num_samples=5000
  )
  assert len(ours.as_list()) == len(theirs.as_list()) == 10
  # The three words the model weighs; the other seven are noise around 0.
  assert [w for w, _ in ours.as_list()[:3]] == [w for w, _ in theirs.as_list()[:3]]
  assert [w for w, _ in ours.as_list(positions=True)][:3] == [
      w for w, _ in theirs.as_list(positions=True)
  ][:3]
  assert "wonderful_15" in dict(ours.as_list(positions=True))
  np.testing.assert_allclose(ours.prediction[0], theirs.predict_proba, rtol=1e-6)
  page = ours.as_html(0)
  assert "wonderful" in page and "<span" in page and "<script" not in page
  assert "pos" in page and "wonderful" in ours._repr_html_()
  assert ours.text(0) == text
  figure = ours.as_pyplot_figure(0)
  assert len(figure.axes[0].patches) == 10


@pytest.mark.slow
def test_token_and_string_paths_agree():
  """Same key, same masks: a model run on token ids and on strings gives the same explanation.

  The model weighs words by position, so deleting words (bow) must move the rest up exactly as
  re-tokenising the perturbed string does.
  """
  texts = TEXTS
  for options in (dict(), dict(bow=False)):
    explainer = jaxlime.TextExplainer(**options)
    tokens = explainer.explain(
        texts, position_model, key=3, num_samples=NUM_SAMPLES, tokenizer=word_tokenizer
    )
    strings = explainer.explain(
        texts, strings_through(position_model, word_tokenizer), key=3, num_samples=NUM_SAMPLES
    )
    np.testing.assert_array_equal(tokens.selected, strings.selected)
    np.testing.assert_allclose(tokens.coef, strings.coef, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(tokens.prediction, strings.prediction, rtol=1e-5)
    assert [w for w, _ in tokens.as_list(1)] == [w for w, _ in strings.as_list(1)]


def subword_tokenizer(text):
  """A sub-word tokenizer: [CLS], then each word cut into pieces of 3 characters."""
  ids, word_index = [1], [-1]
  for position, word in enumerate(w for w in re.split(r"\W+", text) if w):
    for start in range(0, len(word), 3):
      ids.append(2 + sum(map(ord, word[start : start + 3])) % 97)
      word_index.append(position)
  return ids, word_index


def subword_model(ids, mask):
  table = jnp.sin(jnp.arange(128.0))
  logit = jnp.sum(jnp.where(mask, table[ids] * (1 + jnp.arange(ids.shape[1]) % 3), 0), axis=1)
  p = jax.nn.sigmoid(logit)
  return jnp.stack([1 - p, p], axis=1)


@pytest.mark.slow
def test_subword_tokenizer_with_word_index_matches_the_string_path():
  explainer = jaxlime.TextExplainer()
  texts = TEXTS
  tokens = explainer.explain(
      texts, subword_model, key=5, num_samples=NUM_SAMPLES, tokenizer=subword_tokenizer
  )
  strings = explainer.explain(
      texts, strings_through(subword_model, subword_tokenizer, 40), key=5, num_samples=NUM_SAMPLES
  )
  np.testing.assert_allclose(tokens.coef, strings.coef, rtol=1e-4, atol=1e-6)


class _BagModel(nnx.Module):
  """An NNX embedding bag that takes the padding mask by keyword."""

  def __init__(self):
    self.embed = nnx.Embed(len(WORD_WEIGHTS), 1, rngs=nnx.Rngs(0))
    self.embed.embedding[...] = jnp.asarray(WORD_WEIGHTS)[:, None]

  def __call__(self, ids, mask):
    logit = jnp.sum(self.embed(ids)[..., 0] * mask, axis=1)
    p = jax.nn.sigmoid(2.0 * logit)
    return jnp.stack([1 - p, p], axis=1)


@pytest.mark.slow
def test_padding_mask_keyword_for_functions_and_nnx_modules():
  """Models with a `mask` parameter get ids != pad_token_id; others compute it themselves."""
  texts = TEXTS
  explainer = jaxlime.TextExplainer()
  module = _BagModel()

  def no_mask(ids):
    logit = jnp.sum(jnp.asarray(WORD_WEIGHTS)[ids], axis=1)  # Padding id 0 has weight 0.
    p = jax.nn.sigmoid(2.0 * logit)
    return jnp.stack([1 - p, p], axis=1)

  reference = explainer.explain(
      texts, no_mask, key=1, num_samples=NUM_SAMPLES, tokenizer=word_tokenizer
  )
  with_module = explainer.explain(
      texts, module, key=1, num_samples=NUM_SAMPLES, tokenizer=word_tokenizer
  )
  np.testing.assert_allclose(with_module.coef, reference.coef, rtol=1e-4, atol=1e-6)
  on_strings = explainer.explain(texts, bag_classifier, key=1, num_samples=NUM_SAMPLES)
  # bag_classifier is the same bag of words, up to its "not good" term (text 3).
  np.testing.assert_allclose(with_module.coef[:3], on_strings.coef[:3], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("path", ["strings", "tokens"])
@pytest.mark.slow
def test_batch_equals_texts_one_by_one(path):
  """Padding to the longest text changes nothing: coefficients past a text's words are 0.

  Text i draws from fold_in(key, i) alone: the batch in another order with the same keys, and
  the short text explained alone (padded to 8 features instead of 24), give the same result.
  """
  texts = ["excellent", TEXTS[0] + " and " + TEXTS[1]]
  explainer = jaxlime.TextExplainer(feature_selection="forward_selection")
  kwargs = (
      dict(model=bag_classifier)
      if path == "strings"
      else dict(model=position_model, tokenizer=word_tokenizer)
  )
  options = dict(num_samples=NUM_SAMPLES, num_features=4, **kwargs)
  batch = explainer.explain(texts, key=7, **options)
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
      jax.random.key(7, impl="philox4x32"), jnp.arange(2)
  )
  reversed_batch = explainer.explain(texts[::-1], key=keys[::-1], **options)
  alone = explainer.explain(texts[:1], key=keys[:1], **options)
  assert batch.coef.shape[2] == 24 and alone.coef.shape[2] == 8
  # (text in batch, other explanation, its row): the short text alone, each text reordered.
  for i, other, j in [(0, alone, 0), (0, reversed_batch, 1), (1, reversed_batch, 0)]:
    num_dims = len(batch.words(i))
    np.testing.assert_array_equal(other.selected[j, :, :num_dims], batch.selected[i, :, :num_dims])
    np.testing.assert_allclose(
        other.coef[j, :, :num_dims], batch.coef[i, :, :num_dims], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        other.coef_std[j, :, :num_dims], batch.coef_std[i, :, :num_dims], rtol=1e-4, atol=1e-7
    )
    assert not np.asarray(batch.selected[i, :, num_dims:]).any()
    assert not np.asarray(batch.coef[i, :, num_dims:]).any()
    assert not np.asarray(batch.coef_std[i, :, num_dims:]).any()
  assert batch.as_list(0) == [("excellent", batch.as_list(0)[0][1])]


@pytest.mark.parametrize("method", ["none", "highest_weights", "forward_selection", "lasso_path"])
@pytest.mark.slow
def test_padding_features_are_never_selected(method):
  """K larger than a short text's D: only its own words are selected, by every method."""
  texts = ["excellent film", TEXTS[0]]
  exp = jaxlime.TextExplainer(feature_selection=method).explain(
      texts, bag_classifier, key=0, num_samples=NUM_SAMPLES, num_features=12
  )
  # lasso_path, like lime's, may stop before "film", which the model ignores.
  assert np.asarray(exp.selected[0, 0]).sum() == (1 if method == "lasso_path" else 2)
  assert not np.asarray(exp.selected[0, 0, 2:]).any()
  assert np.asarray(exp.selected[1, 0]).sum() == min(12, len(exp.words(1)))


@pytest.mark.slow
def test_chunking_and_determinism():
  explainer = jaxlime.TextExplainer()
  whole = explainer.explain(TEXTS, bag_classifier, key=2, num_samples=NUM_SAMPLES)
  chunked = explainer.explain(TEXTS, bag_classifier, key=2, num_samples=NUM_SAMPLES, batch_size=77)
  np.testing.assert_array_equal(whole.coef, chunked.coef)
  again = explainer.explain(
      TEXTS, bag_classifier, key=jax.random.key(2, impl="philox4x32"), num_samples=NUM_SAMPLES
  )
  np.testing.assert_array_equal(whole.coef, again.coef)
  other = explainer.explain(TEXTS, bag_classifier, key=3, num_samples=NUM_SAMPLES)
  assert not np.array_equal(np.asarray(whole.coef), np.asarray(other.coef))
  tokens = [
      explainer.explain(
          TEXTS,
          position_model,
          key=2,
          num_samples=NUM_SAMPLES,
          tokenizer=word_tokenizer,
          batch_size=batch_size,
      )
      for batch_size in (None, 2 * NUM_SAMPLES + 300)
  ]
  for chunked in tokens[1:]:
    np.testing.assert_array_equal(chunked.selected, tokens[0].selected)
    np.testing.assert_allclose(chunked.coef, tokens[0].coef, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_top_labels_pick_the_most_probable_classes():
  def three_classes(strings):
    first = _logistic([2.0 * ("excellent" in s) - 1 for s in strings])
    return np.concatenate([first * 0.6, np.full((len(strings), 1), 0.4)], axis=1)

  exp = jaxlime.TextExplainer().explain(
      ["excellent film", "an awful film"],
      three_classes,
      key=0,
      num_samples=NUM_SAMPLES,
      top_labels=2,
  )
  np.testing.assert_array_equal(exp.labels, [[1, 2], [0, 2]])
  assert set(exp.as_map(1)) == {0, 2}


@pytest.mark.slow
def test_explain_is_differentiable_on_the_token_path():
  """jax.grad of a coefficient with respect to a model weight, against finite differences."""
  explainer = jaxlime.TextExplainer(feature_selection="none")
  word = WORD_IDS["wonderful"]

  def top_coef(scale):
    module = _BagModel()
    module.embed.embedding[...] = module.embed.embedding[...].at[word].multiply(scale)
    exp = explainer.explain(TEXTS, module, key=0, num_samples=NUM_SAMPLES, tokenizer=word_tokenizer)
    return exp.coef[0, 0, exp.words(0).index("wonderful")]

  gradient = jax.grad(top_coef)(1.0)
  numeric = (top_coef(1.01) - top_coef(0.99)) / 0.02
  assert abs(gradient) > 0.01
  np.testing.assert_allclose(gradient, numeric, rtol=2e-2)


# ---- bad input ----


def test_bad_texts_and_tokenizers():
  explainer = jaxlime.TextExplainer()
  with pytest.raises(
      ValueError, match=r"texts\[1\] has no words \(split_expression='\\\\W\+'\) to"
  ):
    explainer.explain(["fine text", ""], bag_classifier)
  with pytest.raises(ValueError, match=r"texts\[0\] has no words"):
    explainer.explain(["?!, ..."], bag_classifier)
  with pytest.raises(TypeError, match=r"texts\[1\] must be a str; got int"):
    explainer.explain(["fine", 3], bag_classifier)
  with pytest.raises(ValueError, match="texts is empty"):
    explainer.explain([], bag_classifier)
  with pytest.raises(ValueError, match=r"tokenizer returned no tokens for texts\[0\]"):
    explainer.explain(["some words"], position_model, tokenizer=lambda text: [])
  with pytest.raises(
      ValueError,
      match=r"tokenizer returned 1 token ids for texts\[0\], which "
      r"has 2 words \['some', 'words'\]",
  ):
    explainer.explain(["some words"], position_model, tokenizer=lambda text: [3])
  with pytest.raises(TypeError, match="integer token ids"):
    explainer.explain(["some words"], position_model, tokenizer=lambda text: [0.5, 1.5])
  with pytest.raises(ValueError, match=r"word_index for texts\[0\] must lie in -1...1"):
    explainer.explain(["some words"], position_model, tokenizer=lambda text: ([3, 4, 5], [0, 1, 2]))
  with pytest.raises(ValueError, match="pass mask_token_id="):
    jaxlime.TextExplainer(bow=False).explain(
        ["some words"], position_model, tokenizer=subword_tokenizer
    )
  with pytest.raises(ValueError, match="feature_selection must be one of"):
    jaxlime.TextExplainer(feature_selection="best")
  with pytest.raises(ValueError, match="not a valid regular expression"):
    jaxlime.TextExplainer(split_expression="(")


@pytest.mark.slow
def test_bad_models_and_labels():
  explainer = jaxlime.TextExplainer()
  with pytest.raises(
      ValueError,
      match=r"model must return \[B, C\] class probabilities for a "
      r"list of B strings; for \d+ strings it returned shape \(\d+,\)",
  ):
    explainer.explain(
        ["some words"], lambda strings: np.ones(len(strings)), num_samples=NUM_SAMPLES
    )
  with pytest.raises(ValueError, match=r"returned shape \(3, 2\) for a batch of \d+ rows"):
    explainer.explain(["some words"], lambda strings: np.ones((3, 2)), num_samples=NUM_SAMPLES)
  with pytest.raises(ValueError, match="must return \\[B, C\\] class probabilities"):
    explainer.explain(["some words"], lambda ids: jnp.sum(ids, axis=1), tokenizer=word_tokenizer)
  with pytest.raises(ValueError, match=r"labels \[2\] are out of range for a model with 2"):
    explainer.explain(["some words"], bag_classifier, labels=(2,), num_samples=NUM_SAMPLES)
  with pytest.raises(ValueError, match="top_labels=3 exceeds the model's 2 outputs"):
    explainer.explain(["some words"], position_model, tokenizer=word_tokenizer, top_labels=3)
  with pytest.raises(ValueError, match="num_samples must be >= 2"):
    explainer.explain(["some words"], bag_classifier, num_samples=1)
  with pytest.raises(TypeError, match="model must be a callable"):
    explainer.explain(["some words"], "model")
  with pytest.raises(ValueError, match="NaN/inf"):
    explainer.explain(
        ["some words"], lambda s: np.full((len(s), 2), np.nan), num_samples=NUM_SAMPLES
    )
