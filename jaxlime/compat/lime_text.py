"""lime's `lime.lime_text` on jaxlime's text engine.

Texts are split by `jaxlime.TextExplainer.index` (lime's `IndexedString` / `IndexedCharacters`
splitting), the removal masks are drawn by `text_core.sample_masks` (jitted, vmapped over the
texts), the perturbed strings are rebuilt on the host exactly as lime's `inverse_removing`, the
classifier runs once per call on all of them, and the fit is `jaxlime.fit_surrogate` vmapped
over the texts. lime's default weights (the exponential kernel of the cosine distance between
the binary masks, times 100) are computed with the masks in the same jitted call. Host paths,
doing what lime does on the same masks:

* `distance_metric` other than "cosine": scikit-learn's `pairwise_distances` on each text's
  masks (its own D words), times 100 as lime;
* `kernel` (a numpy function kernel(d, kernel_width)): called on each text's distances [S];
* `model_regressor` (a scikit-learn regressor): fit with `sample_weight` on the words the
  engine's feature selection picked (see `jaxlime.compat._common.fit_instances`).

With any of them the weights are computed on the host in float64 (`_common.host_weights`).
Unlike lime, which computes distances on a sparse matrix, metrics that scikit-learn computes
only on dense arrays (e.g. "hamming") work too.
"""

import functools

import jax
import numpy as np

from jaxlime._src import cache
from jaxlime._src import checks
from jaxlime._src import keys as keys_lib
from jaxlime._src import html as html_lib
from jaxlime._src import kernels
from jaxlime._src import text_core
from jaxlime._src.text import TextExplainer
from jaxlime.compat import _common
from jaxlime.compat import explanation
from jaxlime.compat import lime_base

# Texts' features are padded to a multiple of this, so texts of similar length share one program.
_FEATURE_MULTIPLE = 8
# Perturbed strings built and scored per call of explain_instances.
_BLOCK_STRINGS = 50_000


class _Indexed:
  """lime's indexed-text interface over an engine `IndexedText`."""

  def __init__(self, indexed):
    self._indexed = indexed
    self.raw = indexed.raw
    self.as_list = list(indexed.tokens)
    self.as_np = np.array(self.as_list)
    self.string_start = np.asarray(indexed.starts)
    self.inverse_vocab = list(indexed.words)
    self.bow = indexed.bow
    self.mask_string = indexed.mask_string
    features = np.asarray(indexed.token_features)
    if self.bow:
      self.positions = [np.flatnonzero(features == j).tolist() for j in range(len(indexed.words))]
    else:
      self.positions = np.flatnonzero(features >= 0)

  def raw_string(self):
    """The original text."""
    return self.raw

  def num_words(self):
    """D, the number of features."""
    return len(self.inverse_vocab)

  def word(self, id_):
    """The word of feature `id_`."""
    return self.inverse_vocab[id_]

  def string_position(self, id_):
    """Character offsets of feature `id_`'s occurrences."""
    if self.bow:
      return self.string_start[self.positions[id_]]
    return self.string_start[[self.positions[id_]]]

  def inverse_removing(self, words_to_remove):
    """The text without the features `words_to_remove` (masked in positional mode)."""
    kept = np.ones((1, self.num_words()), bool)
    kept[0, list(words_to_remove)] = False
    return self._indexed.perturbed_strings(kept)[0]


class IndexedString(_Indexed):
  """lime's `IndexedString(raw_string, split_expression=r"\\W+", bow=True, mask_string=None)`."""

  def __init__(self, raw_string, split_expression=r"\W+", bow=True, mask_string=None):
    engine = TextExplainer(split_expression=split_expression, bow=bow, mask_string=mask_string)
    super().__init__(engine.index(raw_string))


class IndexedCharacters(_Indexed):
  """lime's `IndexedCharacters(raw_string, bow=True, mask_string=None)`: one feature per char."""

  def __init__(self, raw_string, bow=True, mask_string=None):
    engine = TextExplainer(bow=bow, mask_string=mask_string, char_level=True)
    super().__init__(engine.index(raw_string))


class TextDomainMapper(explanation.DomainMapper):
  """lime's text mapper: feature ids -> words, and the text with its words highlighted."""

  def __init__(self, indexed_string):
    self.indexed_string = indexed_string

  def map_exp_ids(self, exp, positions=False):
    """[(word, weight)], or [("word_offset1-offset2", weight)] with positions=True."""
    if positions:
      return [
          (
              "%s_%s"
              % (
                  self.indexed_string.word(x[0]),
                  "-".join(map(str, self.indexed_string.string_position(x[0]))),
              ),
              x[1],
          )
          for x in exp
      ]
    return [(self.indexed_string.word(x[0]), x[1]) for x in exp]

  def visualize_instance_html(self, exp, label, div_name, exp_object_name, text=True, opacity=True):
    """The text with each explained word highlighted by its weight for `label`."""
    if not text:
      return ""
    spans = []
    for feature, weight in exp:
      word = self.indexed_string.word(feature)
      for start in np.ravel(self.indexed_string.string_position(feature)).tolist():
        spans.append((start, start + len(word), weight))
    return html_lib.text_panel(self.indexed_string.raw_string(), spans)


@functools.partial(jax.jit, static_argnames=("num_dims", "num_samples"))
def _sample_masks(keys, num_words, kernel_width, *, num_dims: int, num_samples: int):
  """kept [B, S, D] float (lime's binary data) and lime's default weights [B, S]: the
  exponential kernel of the cosine distances x 100."""
  kept = text_core.sample_masks(keys, num_words, num_dims=num_dims, num_samples=num_samples)
  data = jax.numpy.swapaxes(kept, 1, 2).astype(jax.dtypes.canonicalize_dtype(np.float64))
  distances = jax.vmap(kernels.cosine_distances)(data) * 100
  return data, kernels.exponential_kernel(distances, kernel_width)


class LimeTextExplainer:
  """lime's `LimeTextExplainer` (same arguments, same meaning) on jaxlime's engine."""

  def __init__(
      self,
      kernel_width=25,
      kernel=None,
      verbose=False,
      class_names=None,
      feature_selection="auto",
      split_expression=r"\W+",
      bow=True,
      mask_string=None,
      random_state=None,
      char_level=False,
  ):
    self.engine = TextExplainer(
        kernel_width,
        bow=bow,
        class_names=class_names,
        feature_selection=feature_selection,
        split_expression=split_expression,
        mask_string=mask_string,
        char_level=char_level,
    )
    self.kernel = kernel
    self.kernel_width = float(kernel_width)
    kernel_fn = functools.partial(kernel or _common.lime_kernel, kernel_width=self.kernel_width)
    self.random_state = _common.check_random_state(random_state)
    self.base = lime_base.LimeBase(kernel_fn, verbose, random_state=self.random_state)
    self.class_names = class_names
    self.vocabulary = None
    self.feature_selection = feature_selection
    self.bow = bow
    self.mask_string = mask_string
    self.split_expression = split_expression
    self.char_level = char_level
    self.verbose = verbose

  def explain_instance(
      self,
      text_instance,
      classifier_fn,
      labels=(1,),
      top_labels=None,
      num_features=10,
      num_samples=5000,
      distance_metric="cosine",
      model_regressor=None,
  ):
    """lime's `explain_instance`: the explanation of one text (an `Explanation`)."""
    return self.explain_instances(
        [text_instance],
        classifier_fn,
        labels,
        top_labels,
        num_features,
        num_samples,
        distance_metric,
        model_regressor,
    )[0]

  def explain_instances(
      self,
      texts,
      classifier_fn,
      labels=(1,),
      top_labels=None,
      num_features=10,
      num_samples=5000,
      distance_metric="cosine",
      model_regressor=None,
  ):
    """`explain_instance` for N texts: a list of N lime `Explanation`s.

    The masks of a block of texts are one jitted call, `classifier_fn` runs once per block on
    all their perturbed strings, and the fits are one vmapped call.
    """
    cache.enable_default()
    if isinstance(texts, str):
      raise TypeError("texts must be a list of strings; for one text use explain_instance.")
    num_samples = checks.positive_int("num_samples", num_samples, minimum=2)
    indexed = [self.engine.index(text) for text in texts]
    for position, item in enumerate(indexed):
      if item.num_features == 0:
        raise ValueError(f"texts[{position}] has no words to explain: {item.raw!r:.80}.")
    keys = keys_lib.instance_keys(_common.draw_key(self.random_state), len(texts))
    block = max(1, _BLOCK_STRINGS // num_samples)
    explanations = []
    for start in range(0, len(texts), block):
      part = indexed[start : start + block]
      num_words = np.array([item.num_features for item in part], np.int32)
      num_dims = -(-int(num_words.max()) // _FEATURE_MULTIPLE) * _FEATURE_MULTIPLE
      data, weights = jax.tree.map(
          np.asarray,
          _sample_masks(
              keys[start : start + len(part)],
              num_words,
              self.kernel_width,
              num_dims=num_dims,
              num_samples=num_samples,
          ),
      )
      strings = []
      for item, rows in zip(part, data):
        strings.extend(item.perturbed_strings(rows[:, : item.num_features] > 0))
      outputs = _common.check_outputs(classifier_fn(strings), "classification", len(strings))
      outputs = outputs.reshape(len(part), num_samples, -1)
      if distance_metric != "cosine" or self.kernel is not None or model_regressor is not None:
        weights = _common.host_weights(
            data, distance_metric, self.base.kernel_fn, num_real=num_words, scale=100
        )
      if self.class_names is None:
        self.class_names = [str(c) for c in range(outputs.shape[-1])]
      chosen, reported = _common.explained_labels(outputs, "classification", labels, top_labels)
      fits = _common.fit_instances(
          data,
          outputs,
          weights,
          chosen,
          num_features=num_features,
          feature_selection=self.feature_selection,
          model_regressor=model_regressor,
          verbose=self.verbose,
          num_real=num_words,
      )
      for item, out, fit, top in zip(part, outputs, fits, reported):
        result = explanation.Explanation(
            TextDomainMapper(_Indexed(item)),
            class_names=self.class_names,
            random_state=self.random_state,
        )
        result.predict_proba = out[0]
        result.top_labels = top
        explanations.append(_common.fill_explanation(result, fit))
    return explanations
