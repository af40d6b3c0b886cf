"""`TextExplainer`: lime's `LimeTextExplainer` for N texts, with a fused path for JAX text models.

Two paths share the sampling (`text_core.sample_kept`) and the fit (`text_core.fit_text`):

* the string path (lime-compatible, any classifier): the masks are drawn in JAX, the perturbed
  strings are rebuilt on the host exactly as lime's `IndexedString.inverse_removing` does, the
  model (list[str] -> [B, C]) runs on them in chunks, and the fit runs in JAX again;
* the token path (with a `tokenizer`): the texts are tokenised once on the host, and masking,
  the JAX model on token ids, the kernel weights and the fit run as one jitted program.
"""

import dataclasses
import functools
import numbers
import re
import warnings
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlime._src import adaptive
from jaxlime._src import checks
from jaxlime._src import streaming
from jaxlime._src import surrogate
from jaxlime._src import text_core
from jaxlime._src import text_models
from jaxlime._src.text_explanation import TextDomain
from jaxlime._src.text_explanation import TextExplanation
from jaxlime._src.text_indexing import IndexedText
from jaxlime._src.text_indexing import index_text

# Default number of strings per model call on the string path.
DEFAULT_STRING_BATCH = 1000
# Perturbed strings held at once on the string path (masks, strings and outputs of a block).
_STRING_BLOCK_ROWS = 20_000
# Token ids held by the masks and token rows of one block of texts on the token path.
_DEFAULT_BLOCK_TOKENS = 400_000
# Token ids per model call on the token path when batch_size is not given.
_DEFAULT_CHUNK_TOKENS = 16_384
# Padded numbers of features and of tokens are rounded up to multiples of these, so that batches
# of similar texts share one compiled program. Tokens are rounded more finely: the model's cost
# grows with them.
_FEATURE_MULTIPLE = 8
_TOKEN_MULTIPLE = 4
# compact_rows packs a token index and a shift into one int32.
_MAX_TOKENS = 2**15 - 1


def _as_texts(texts) -> list[str]:
  if isinstance(texts, str):
    return [texts]
  if isinstance(texts, np.ndarray):
    texts = texts.tolist()
  if not isinstance(texts, Sequence):
    raise TypeError(f"texts must be a list of strings; got {type(texts).__name__}.")
  for index, text in enumerate(texts):
    if not isinstance(text, str):
      raise TypeError(f"texts[{index}] must be a str; got {type(text).__name__}: {text!r:.80}.")
  if not texts:
    raise ValueError("texts is empty; pass at least one text.")
  return list(texts)


def _round_up(value: int, multiple: int) -> int:
  return -(-value // multiple) * multiple


def _score_strings(model, indexed, positions, kept, size, num_outputs, batch_size, dtype):
  """Model outputs [B, size, C] on the perturbed strings of B texts, `indexed[positions[b]]`
  with the words kept by kept [B, D, size] (column-major masks). Padding rows repeat the call's
  first text: its strings are built and scored once. lime scores the raw text as sample 0."""
  real = np.ones(len(positions), bool)
  real[1:] = positions[1:] != positions[0]
  strings = []
  for row in np.flatnonzero(real):
    item = indexed[positions[row]]
    item_strings = item.perturbed_strings(kept[row, : item.num_features].T)
    item_strings[0] = item.raw
    strings.extend(item_strings)
  scored = text_models.call_string_model(model, strings, batch_size)
  if scored.shape[1] != num_outputs:
    raise ValueError(
        f"model returned {scored.shape[1]} columns for some strings and "
        f"{num_outputs} for others."
    )
  outputs = np.empty((len(positions), size, num_outputs), np.float64)
  outputs[real] = scored.reshape(-1, size, num_outputs)
  outputs[~real] = outputs[0]
  return outputs.astype(dtype)


class TextExplainer:
  """Explains text classifiers as lime's `LimeTextExplainer`, for N texts at once.

  Features are the distinct words of a text (bow=True: removing a word removes every occurrence),
  or its word positions (bow=False: a removed word is replaced by `mask_string`), or its
  characters (char_level=True). Each sample removes k features, k uniform in 1..D, and is
  weighted by an exponential kernel on the cosine distance (times 100) to the text. See
  `explain`.

  Args:
    kernel_width: kernel width (lime's 25).
    kernel: kernel(distances, kernel_width) -> weights, written with jax.numpy; defaults to
      `jaxlime.exponential_kernel`.
    bow: bag of words (True) or positions (False).
    class_names: names of the C classes; defaults to "0", "1", ...
    feature_selection: "auto", "none", "highest_weights", "forward_selection", "lasso_path".
    split_expression: a regular expression splitting words (as `re.split`), or a callable
      text -> list of word strings (substrings of the text, in order).
    mask_string: the string written in place of a removed word when bow=False; defaults to
      "UNKWORDZ" (chr(0) with char_level), as lime.
    char_level: features are characters.
    random_state: an int, the default key of `explain` (lime's name for the seed).
    max_length: token path: the model's largest number of tokens T. Every text is padded to
      exactly T tokens and a text with more tokens is refused; None pads to the batch's longest
      text rounded up to a multiple of 4, which can exceed a model's maximum length.
  """

  def __init__(
      self,
      kernel_width: float = 25.0,
      kernel: Callable | None = None,
      *,
      bow: bool = True,
      class_names: Sequence[str] | None = None,
      feature_selection: str = "auto",
      split_expression: str | Callable = r"\W+",
      mask_string: str | None = None,
      char_level: bool = False,
      random_state: int | None = None,
      max_length: int | None = None,
  ):
    checks.check_option("feature_selection", feature_selection, surrogate.FEATURE_SELECTION_METHODS)
    if kernel is not None and not callable(kernel):
      raise TypeError(f"kernel must be a callable kernel(distances, kernel_width); got {kernel!r}.")
    if not (isinstance(kernel_width, numbers.Real) and kernel_width > 0):
      raise ValueError(f"kernel_width must be a number > 0; got {kernel_width!r}.")
    if not (callable(split_expression) or isinstance(split_expression, str)):
      raise TypeError(
          "split_expression must be a regular expression string or a callable "
          f"text -> list of words; got {type(split_expression).__name__}."
      )
    if isinstance(split_expression, str):
      try:
        re.compile(split_expression)
      except re.error as error:
        raise ValueError(
            f"split_expression {split_expression!r} is not a valid regular " f"expression: {error}."
        ) from error
    if mask_string is not None and not isinstance(mask_string, str):
      raise TypeError(f"mask_string must be a str or None; got {type(mask_string).__name__}.")
    self.kernel_width = float(kernel_width)
    self.kernel = kernel
    self.bow = bool(bow)
    self.class_names = None if class_names is None else tuple(str(c) for c in class_names)
    self.feature_selection = feature_selection
    self.split_expression = split_expression
    self.mask_string = mask_string
    self.char_level = bool(char_level)
    self.random_state = random_state
    self.max_length = (
        None if max_length is None else checks.positive_int("max_length", max_length, minimum=1)
    )

  def index(self, text: str) -> IndexedText:
    """The text split into this explainer's features."""
    return index_text(
        text,
        split_expression=self.split_expression,
        bow=self.bow,
        mask_string=self.mask_string,
        char_level=self.char_level,
    )

  def split(self, text: str) -> list[str]:
    """The word occurrences of `text` in order (characters with char_level).

    A token-path tokenizer returns one token id per element of this list.
    """
    return self.index(text).occurrences()

  def explain(
      self,
      texts: Sequence[str] | str,
      model: Callable,
      *,
      key=None,
      num_samples: int = 5000,
      num_features: int = 10,
      labels: Sequence[int] = (1,),
      top_labels: int | None = None,
      tokenizer: Callable | None = None,
      batch_size: int | None = None,
      pad_token_id: int = 0,
      mask_token_id: int | None = None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> TextExplanation:
    """Explains the model's predictions on N texts, call by call.

    Text i draws its randomness from `fold_in(key, i)` (or its own key), i its global index:
    its explanation does not depend on the batch, on `batch_size`, on the padding to the
    batch's longest text, on the mesh or on the processes. On the token path,
    `jax.vmap(self.explain_fn(model, ...))(self.tokenize(texts, tokenizer),
    jaxlime.instance_keys(key, N))` computes the same explanations.

    Without `tokenizer` (the string path, lime's): `model` takes a list of B strings and returns
    [B, C] class probabilities (numpy or JAX), like lime's `classifier_fn`. It is called on the
    perturbed strings, rebuilt as lime rebuilds them, `batch_size` strings at a time (default
    1000).

    With `tokenizer` (the token path): `tokenizer(text)` returns the text's token ids, one per
    word occurrence as `split(text)` lists them, or a pair (ids, word_index) giving each token's
    word (-1 for tokens of no word, e.g. [CLS], never removed) for sub-word tokenizers. `model` is
    a JAX model on int32 ids [B, T] -> [B, C] probabilities (a function, a Flax NNX module or a
    Linen partial); T is the batch's longest text rounded up to a multiple of 4, padded with
    `pad_token_id`. If the model has a parameter named `mask`, it receives the padding mask
    `ids != pad_token_id` [B, T] bool. A removed word's tokens are deleted and the rest moved up
    (bow, as lime deletes words), or replaced by `mask_token_id` (bow=False; when not given it is
    the single id `tokenizer(mask_string)` returns). Passing `mask_token_id` with bow=True
    replaces removed words instead of deleting them. Masking, the model, the kernel and the fit
    run as one jitted computation over all texts.

    Args:
      texts: N strings (a single str is N = 1).
      model: see above.
      key: an int seed or a `jax.random.key` (text i then draws from `fold_in(key, i)`), or N
        keys, one per text; defaults to `random_state` or 0.
      num_samples: S, perturbations per text (sample 0 is the text itself).
      num_features: K, the largest number of words in each explanation.
      labels: class ids to explain.
      top_labels: explain the K classes of highest predicted probability instead of `labels`.
      tokenizer: selects the token path (see above).
      batch_size: strings per model call (string path), or the largest number of token rows
        evaluated at once (token path); bounds memory.
      pad_token_id: token path: the id of padding positions.
      mask_token_id: token path: the id replacing removed words (see above).
      progress, mesh, axis, instances_per_call, process_local: how the work runs (see
        `jaxlime.RunOptions`). The string path's model runs on the host; with a mesh the
        sampling and the fits are split over the devices. Default instances per call: 4096 on
        the token path, one block of about 20,000 perturbed strings on the string path.

    Returns:
      A `TextExplanation` with coef [N, L, D], D the batch's largest number of features
      (rounded up to a multiple of 8).
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    options = dict(
        tokenizer=tokenizer,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        pad_token_id=pad_token_id,
        mask_token_id=mask_token_id,
    )
    if adaptive.is_adaptive(num_samples):
      job, placement = self._adaptive_job(texts, model, run, num_samples, **options)
      return adaptive.explain_all(job, num_samples, self._key(key), run, placement)
    job, placement = self._job(texts, model, run, num_samples=num_samples, **options)
    return streaming.explain_all(job, self._key(key), run, placement)

  def explain_iter(
      self,
      texts: Sequence[str] | str,
      model: Callable,
      *,
      key=None,
      num_samples: int = 5000,
      num_features: int = 10,
      labels: Sequence[int] = (1,),
      top_labels: int | None = None,
      tokenizer: Callable | None = None,
      batch_size: int | None = None,
      pad_token_id: int = 0,
      mask_token_id: int | None = None,
      progress: bool | None = None,
      mesh=None,
      axis: str | None = None,
      instances_per_call: int | None = None,
      process_local: bool = False,
  ) -> Iterator[tuple[int, TextExplanation]]:
    """`explain`, yielded call by call: (index of the first text, its TextExplanation).

    For streaming many texts to disk: each part is computed while the previous one is handed
    back, and the parts equal `explain`'s result. Arguments as in `explain`.
    """
    run = streaming.RunOptions(
        batch_size=batch_size,
        instances_per_call=instances_per_call,
        progress=progress,
        mesh=mesh,
        axis=axis,
        process_local=process_local,
    )
    options = dict(
        tokenizer=tokenizer,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        pad_token_id=pad_token_id,
        mask_token_id=mask_token_id,
    )
    if adaptive.is_adaptive(num_samples):
      job, placement = self._adaptive_job(texts, model, run, num_samples, **options)
      yield from adaptive.explain_parts(job, num_samples, self._key(key), run, placement)
      return
    job, placement = self._job(texts, model, run, num_samples=num_samples, **options)
    yield from streaming.explain_parts(job, self._key(key), run, placement)

  def tokenize(
      self, texts: Sequence[str] | str, tokenizer: Callable, *, pad_token_id: int = 0
  ) -> text_core.TokenizedText:
    """The texts tokenised as the token path tokenises them, for `explain_fn`.

    Returns:
      A `TokenizedText` with token_ids [N, T] and token_features [N, T] (T the longest text
      rounded up to a multiple of 4) and num_words [N].
    """
    indexed = self._indexed(_as_texts(texts))
    ids, features, num_words = self._tokenized(
        indexed, tokenizer, text_models.token_id("pad_token_id", pad_token_id)
    )
    return text_core.TokenizedText(jnp.asarray(ids), jnp.asarray(features), jnp.asarray(num_words))

  def explain_fn(
      self,
      model: Callable,
      *,
      num_tokens: int,
      num_dims: int,
      tokenizer: Callable | None = None,
      num_samples: int = 5000,
      num_features: int = 10,
      labels: Sequence[int] = (1,),
      top_labels: int | None = None,
      batch_size: int | None = None,
      pad_token_id: int = 0,
      mask_token_id: int | None = None,
  ) -> Callable[[text_core.TokenizedText, jax.Array], surrogate.Surrogate]:
    """The per-text explanation of the token path: a pure `fn(text, key) -> Surrogate`.

    `fn` explains ONE `TokenizedText` (a row of `tokenize(texts, tokenizer)`); it is jittable,
    vmappable and differentiable wherever the model is (with respect to its parameters).

    Args:
      model, num_samples, num_features, labels, top_labels, batch_size, pad_token_id,
        mask_token_id: as in `explain`.
      num_tokens: T, the texts' padded token length (`tokenize(...).token_ids.shape[-1]`).
      num_dims: D_pad, at least every text's number of features.
      tokenizer: needed only to find the mask token of bow=False when mask_token_id is None.

    Returns:
      fn(text, key) -> `jaxlime.Surrogate` with coef [L, D_pad], labels [L], prediction [C].
    """
    if adaptive.is_adaptive(num_samples):
      raise adaptive.not_traced("explain_fn")
    num_tokens = checks.positive_int("num_tokens", num_tokens, minimum=1)
    num_dims = checks.positive_int("num_dims", num_dims, minimum=1)
    adapter, config, _ = self._token_config(
        model,
        tokenizer,
        num_tokens=num_tokens,
        num_samples=num_samples,
        num_features=num_features,
        labels=labels,
        top_labels=top_labels,
        batch_size=batch_size,
        pad_token_id=pad_token_id,
        mask_token_id=mask_token_id,
    )
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    return functools.partial(
        text_core.explain_instance,
        adapter.params,
        kernel_width=jnp.asarray(self.kernel_width, dtype),
        num_dims=num_dims,
        config=config,
        apply=adapter.apply,
        dtype=dtype,
    )

  def _key(self, key):
    return key if key is not None else (self.random_state or 0)

  def _indexed(self, texts: list[str]) -> tuple[IndexedText, ...]:
    indexed = tuple(self.index(text) for text in texts)
    for position, item in enumerate(indexed):
      if item.num_features == 0:
        how = (
            "characters"
            if self.char_level
            else f"words (split_expression={self.split_expression!r})"
        )
        raise ValueError(f"texts[{position}] has no {how} to explain: {item.raw!r:.80}.")
    return indexed

  def _job(self, texts, model, run: streaming.RunOptions, *, tokenizer, **options):
    """Validates the arguments; returns the driver's job and the placement."""
    indexed = self._indexed(_as_texts(texts))
    placement = streaming.placement_for(None, run)
    num_words = np.array([item.num_features for item in indexed], np.int32)
    num_dims = _round_up(int(streaming.global_max(num_words, placement)), _FEATURE_MULTIPLE)
    if tokenizer is None:
      for name in ("pad_token_id", "mask_token_id"):
        if options.pop(name) not in (None, 0):
          raise ValueError(f"{name} applies to the token path only: pass a tokenizer.")
      job = self._string_job(indexed, model, num_words, num_dims, run, placement, **options)
    else:
      if not callable(tokenizer):
        raise TypeError(f"tokenizer must be a callable text -> token ids; got {tokenizer!r}.")
      job = self._token_job(indexed, model, tokenizer, num_dims, run, placement, **options)
    return job, placement

  def _adaptive_job(self, texts, model, run, until, *, tokenizer, **options):
    """The adaptive driver's job for `num_samples=UntilStable(...)`, and the placement."""
    indexed = self._indexed(_as_texts(texts))
    placement = streaming.placement_for(None, run)
    num_words = np.array([item.num_features for item in indexed], np.int32)
    num_dims = _round_up(int(num_words.max()), _FEATURE_MULTIPLE)
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    kernel_width = jnp.asarray(self.kernel_width, dtype)
    feature_mask = np.arange(num_dims)[None, :] < num_words[:, None]
    if tokenizer is None:
      for name in ("pad_token_id", "mask_token_id"):
        if options.pop(name) not in (None, 0):
          raise ValueError(f"{name} applies to the token path only: pass a tokenizer.")
      return (
          self._adaptive_string_job(
              indexed, model, num_words, num_dims, run, placement, until, feature_mask, **options
          ),
          placement,
      )
    if not callable(tokenizer):
      raise TypeError(f"tokenizer must be a callable text -> token ids; got {tokenizer!r}.")
    pad_token_id = options.pop("pad_token_id")
    token_ids, token_features, num_words = self._tokenized(
        indexed, tokenizer, text_models.token_id("pad_token_id", pad_token_id)
    )
    num_tokens = token_ids.shape[1]
    adapter, config, _ = self._token_config(
        model,
        tokenizer,
        num_tokens=num_tokens,
        batch_size=run.batch_size,
        pad_token_id=pad_token_id,
        num_samples=until.initial,
        **options,
    )
    if not checks.is_concrete(adapter.params):
      raise adaptive.not_traced("explaining with traced model parameters")

    def round_config(size, block_size=1):
      _, rows = plan_token_blocks(size, num_tokens, run.batch_size)
      return dataclasses.replace(
          config, num_samples=size, block_size=block_size, chunk_size=min(rows, block_size * size)
      )

    def round_call_for(block_size, size, first):
      program = streaming.split_over(
          text_core.explain_tokens_round,
          placement,
          (False, True, True, True, True, True, False),
          num_dims=num_dims,
          config=round_config(size, block_size),
          apply=adapter.apply,
          dtype=dtype,
          first=first,
      )
      return lambda ids, features, words, labels, keys: program(
          adapter.params, ids, features, words, labels, keys, kernel_width
      )

    num_labels = len(config.labels) if config.labels is not None else config.top_labels
    job = adaptive.AdaptiveJob(
        per_instance=(token_ids, token_features, num_words),
        round_call_for=round_call_for,
        max_block_for=lambda size: plan_token_blocks(size, num_tokens, run.batch_size)[0],
        finish=self._finish(indexed, placement, lambda: config.num_outputs),
        num_dims=num_dims,
        num_labels=num_labels,
        num_features=config.num_features,
        feature_selection=config.feature_selection,
        feature_mask=feature_mask,
    )
    return job, placement

  def _string_model_options(self, indexed, model, run, num_features, labels, top_labels):
    """(num_features, batch_size, C, labels, top_labels) of the string path, checked; C from
    the model's output on the first text."""
    if not callable(model):
      raise TypeError(
          f"model must be a callable list[str] -> [B, C] probabilities (or pass a "
          f"tokenizer for the token path); got {type(model).__name__}."
      )
    num_features = checks.positive_int("num_features", num_features, minimum=1)
    batch_size = DEFAULT_STRING_BATCH
    if run.batch_size is not None:
      batch_size = checks.positive_int("batch_size", run.batch_size, minimum=1)
    num_outputs = text_models.call_string_model(model, [indexed[0].raw], 1).shape[1]
    labels, top_labels = self._resolve_labels(labels, top_labels, num_outputs)
    return num_features, batch_size, num_outputs, labels, top_labels

  def _adaptive_string_job(
      self,
      indexed,
      model,
      num_words,
      num_dims,
      run,
      placement,
      until,
      feature_mask,
      *,
      num_features,
      labels,
      top_labels,
  ):
    """The string path of `_adaptive_job`: masks (JAX), strings and model (host), sums (JAX)."""
    num_features, batch_size, num_outputs, labels, top_labels = self._string_model_options(
        indexed, model, run, num_features, labels, top_labels
    )
    config = text_core.TextConfig(
        num_samples=until.initial,
        num_features=num_features,
        feature_selection=self.feature_selection,
        kernel=self.kernel,
        labels=labels,
        top_labels=top_labels,
    )
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    kernel_width = jnp.asarray(self.kernel_width, dtype)

    def score_rows(positions, kept, size):
      return _score_strings(model, indexed, positions, kept, size, num_outputs, batch_size, dtype)

    def round_call_for(block_size, size, first):
      del block_size  # The string path's programs map over texts; blocks only size calls.
      sample = streaming.split_over(
          text_core.sample_masks, placement, (True, True), num_dims=num_dims, num_samples=size
      )
      reduce = streaming.split_over(
          text_core.round_masks,
          placement,
          (True, True, True, True, False),
          config=dataclasses.replace(config, num_samples=size),
          first=first,
      )

      def call(positions, words, labels, keys):
        kept = sample(keys, words)
        outputs = streaming.rows_to_devices(
            lambda rows: score_rows(
                streaming.host_rows(positions, rows, placement),
                streaming.host_rows(kept, rows, placement),
                size,
            ),
            (positions.shape[0], size, num_outputs),
            placement,
        )
        return reduce(kept, outputs, words, labels, kernel_width)

      return call

    def max_block_for(size):
      return max(1, max(batch_size, _STRING_BLOCK_ROWS) // size)

    num_labels = len(labels) if labels is not None else top_labels
    return adaptive.AdaptiveJob(
        per_instance=(np.arange(len(indexed), dtype=np.int32), num_words),
        round_call_for=round_call_for,
        max_block_for=max_block_for,
        finish=self._finish(indexed, placement, lambda: num_outputs),
        num_dims=num_dims,
        num_labels=num_labels,
        num_features=num_features,
        feature_selection=self.feature_selection,
        feature_mask=feature_mask,
    )

  def _finish(self, indexed, placement, num_outputs_of):
    """finish(fit, start) -> TextExplanation of texts start .. start + len(fit)."""
    domains = {}

    def finish(fit, start):
      count = fit.coef.shape[0]
      num_outputs = num_outputs_of()
      if num_outputs not in domains:
        class_names = self.class_names or tuple(str(c) for c in range(num_outputs))
        domains[num_outputs] = TextDomain(
            mode="classification", class_names=class_names, texts=indexed
        )
      positions = np.arange(start, start + count, dtype=np.int32)
      if checks.is_concrete(fit):
        fit, positions = streaming.put((fit, positions), placement)
      result = TextExplanation.from_surrogate(fit, positions, domain=domains[num_outputs])
      checks.check_result(result, "classification")
      return result

    return finish

  def _resolve_labels(self, labels, top_labels, num_outputs):
    if top_labels is not None:
      top_labels = checks.positive_int("top_labels", top_labels, minimum=1)
      if top_labels > num_outputs:
        raise ValueError(f"top_labels={top_labels} exceeds the model's {num_outputs} outputs.")
      return None, top_labels
    return checks.labels_in_range(labels, num_outputs), None

  def _string_job(
      self,
      indexed,
      model,
      num_words,
      num_dims,
      run,
      placement,
      *,
      num_samples,
      num_features,
      labels,
      top_labels,
  ):
    """The string path: masks (JAX), strings and model (host), fit (JAX), call by call."""
    num_features, batch_size, num_outputs, labels, top_labels = self._string_model_options(
        indexed, model, run, num_features, labels, top_labels
    )
    num_samples = checks.positive_int("num_samples", num_samples, minimum=2)
    config = text_core.TextConfig(
        num_samples=num_samples,
        num_features=num_features,
        feature_selection=self.feature_selection,
        kernel=self.kernel,
        labels=labels,
        top_labels=top_labels,
    )
    max_block = max(1, max(batch_size, _STRING_BLOCK_ROWS) // num_samples)
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    kernel_width = jnp.asarray(self.kernel_width, dtype)
    sample = streaming.split_over(
        text_core.sample_masks, placement, (True, True), num_dims=num_dims, num_samples=num_samples
    )
    fit = streaming.split_over(
        text_core.fit_masks, placement, (True, True, True, False), config=config
    )

    def score_rows(positions: np.ndarray, kept: np.ndarray) -> np.ndarray:
      return _score_strings(
          model, indexed, positions, kept, num_samples, num_outputs, batch_size, dtype
      )

    def call_for(block_size):
      del block_size  # The string path's programs map over texts; blocks only size calls.

      def call(positions, words, keys):
        kept = sample(keys, words)
        outputs = streaming.rows_to_devices(
            lambda rows: score_rows(
                streaming.host_rows(positions, rows, placement),
                streaming.host_rows(kept, rows, placement),
            ),
            (positions.shape[0], num_samples, num_outputs),
            placement,
        )
        return fit(kept, outputs, words, kernel_width)

      return call

    positions = np.arange(len(indexed), dtype=np.int32)
    return streaming.Job(
        per_instance=(positions, num_words),
        call_for=call_for,
        finish=self._finish(indexed, placement, lambda: num_outputs),
        max_block=max_block,
        default_per_call=max_block * placement.local_shards,
    )

  def _tokenized(self, indexed, tokenizer, pad_token_id: int):
    """Host token_ids [N, T], token_features [N, T] and num_words [N] of the texts."""
    tokenised = [
        text_models.tokenize_text(tokenizer, item, position)
        for position, item in enumerate(indexed)
    ]
    longest = max(ids.size for ids, _ in tokenised)
    if longest > _MAX_TOKENS:
      raise ValueError(
          f"texts of at most {_MAX_TOKENS} tokens are supported on the token path; "
          f"the longest has {longest}."
      )
    num_tokens = (
        _round_up(longest, _TOKEN_MULTIPLE)
        if self.max_length is None
        else (text_models.fit_length(tokenised, self.max_length))
    )
    num_texts = len(indexed)
    token_ids = np.full((num_texts, num_tokens), pad_token_id, np.int32)
    token_features = np.full((num_texts, num_tokens), text_core.PADDING, np.int32)
    for row, (ids, features) in enumerate(tokenised):
      token_ids[row, : ids.size] = ids
      token_features[row, : ids.size] = features
    clashes = [row for row, (ids, _) in enumerate(tokenised) if np.any(ids == pad_token_id)]
    if clashes:
      warnings.warn(
          f"the tokens of texts {clashes[:10]} include the id {pad_token_id}, which is also "
          "pad_token_id: the model cannot tell those tokens from padding. Pass the padding id "
          "your model ignores as pad_token_id.",
          stacklevel=4,
      )
    num_words = np.array([item.num_features for item in indexed], np.int32)
    return token_ids, token_features, num_words

  def _token_config(
      self,
      model,
      tokenizer,
      *,
      num_tokens,
      num_samples,
      num_features,
      labels,
      top_labels,
      batch_size,
      pad_token_id,
      mask_token_id,
  ):
    """The model adapter, the static options for blocks of one text (checked against the
    model) and the largest block."""
    num_samples = checks.positive_int("num_samples", num_samples, minimum=2)
    num_features = checks.positive_int("num_features", num_features, minimum=1)
    if batch_size is not None:
      batch_size = checks.positive_int("batch_size", batch_size, minimum=1)
    pad_token_id = text_models.token_id("pad_token_id", pad_token_id)
    removal = self.bow and mask_token_id is None
    if mask_token_id is None and not removal:
      if tokenizer is None:
        raise ValueError(
            "bow=False replaces removed words with a mask token: pass "
            "mask_token_id= or the tokenizer that maps mask_string to it."
        )
      mask_token_id = self._mask_token_id(tokenizer)
    mask_token_id = 0 if removal else text_models.token_id("mask_token_id", mask_token_id)
    adapter, num_outputs = checks.model_outputs(
        text_models.token_model(model, pad_token_id), (num_tokens,), jnp.int32, "classification"
    )
    labels, top_labels = self._resolve_labels(labels, top_labels, num_outputs)
    max_block, rows = plan_token_blocks(num_samples, num_tokens, batch_size)
    config = text_core.TextConfig(
        num_samples=num_samples,
        num_features=num_features,
        feature_selection=self.feature_selection,
        kernel=self.kernel,
        labels=labels,
        top_labels=top_labels,
        block_size=1,
        chunk_size=min(rows, num_samples),
        removal=removal,
        pad_token_id=pad_token_id,
        mask_token_id=mask_token_id,
        num_outputs=num_outputs,
    )
    return adapter, config, (max_block, rows)

  def _token_job(
      self, indexed, model, tokenizer, num_dims, run, placement, *, pad_token_id, **options
  ):
    """The token path: tokenise once, then one jitted program per call of texts."""
    token_ids, token_features, num_words = self._tokenized(
        indexed, tokenizer, text_models.token_id("pad_token_id", pad_token_id)
    )
    num_tokens = token_ids.shape[1]
    if placement.process_local:
      num_tokens = _round_up(
          int(streaming.global_max(np.array([num_tokens]), placement)), _TOKEN_MULTIPLE
      )
      token_ids = np.pad(
          token_ids, ((0, 0), (0, num_tokens - token_ids.shape[1])), constant_values=pad_token_id
      )
      token_features = np.pad(
          token_features,
          ((0, 0), (0, num_tokens - token_features.shape[1])),
          constant_values=text_core.PADDING,
      )
    adapter, config, (max_block, rows) = self._token_config(
        model,
        tokenizer,
        num_tokens=num_tokens,
        batch_size=run.batch_size,
        pad_token_id=pad_token_id,
        **options,
    )
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    kernel_width = jnp.asarray(self.kernel_width, dtype)

    def call_for(block_size):
      block_config = dataclasses.replace(
          config, block_size=block_size, chunk_size=min(rows, block_size * config.num_samples)
      )
      program = streaming.split_over(
          text_core.explain_tokens,
          placement,
          (False, True, True, True, True, False),
          num_dims=num_dims,
          config=block_config,
          apply=adapter.apply,
          dtype=dtype,
      )

      def call(token_ids, token_features, num_words, keys):
        return program(adapter.params, token_ids, token_features, num_words, keys, kernel_width)

      return call

    return streaming.Job(
        per_instance=(token_ids, token_features, num_words),
        call_for=call_for,
        finish=self._finish(indexed, placement, lambda: config.num_outputs),
        max_block=max_block,
        traced=not checks.is_concrete(adapter.params),
        program=("tokens", placement, config, adapter.apply, num_tokens, num_dims),
    )

  def _mask_token_id(self, tokenizer) -> int:
    mask_string = self.index("").mask_string
    output = tokenizer(mask_string)
    if (
        isinstance(output, tuple)
        and len(output) == 2
        and all(np.ndim(part) == 1 for part in output)
    ):
      output = output[0]
    ids = np.asarray(output).ravel()
    if ids.size != 1:
      raise ValueError(
          f"bow=False replaces removed words with mask_string {mask_string!r}, but the tokenizer "
          f"maps it to {ids.size} tokens {ids.tolist()[:8]}; pass mask_token_id= (the id that "
          "stands for a removed word)."
      )
    return int(ids[0])


def plan_token_blocks(num_samples: int, num_tokens: int, batch_size: int | None) -> tuple[int, int]:
  """The largest block of texts and the model rows per call on the token path.

  A block's masks and token rows take about num_samples * num_tokens elements per text; the
  model runs on chunks of rows. Small chunks measured fastest for an embedding bag on a 2-core
  CPU (its [rows, T, E] embeddings then stay in cache): 2.2 ms per text at 5000-row chunks
  against 1.7 ms at 1000-row chunks (T = 16, E = 32).

  Args:
    num_samples: S.
    num_tokens: T.
    batch_size: the user's bound on model rows per call, or None.

  Returns:
    (max_block, rows): blocks of at most max_block texts; the model sees at most `rows` rows
    at once (a block of b texts: min(rows, b * S)).
  """
  per_text = num_samples * max(num_tokens, 1)
  max_block = int(max(1, _DEFAULT_BLOCK_TOKENS // per_text))
  if batch_size is None:
    batch_size = max(256, _DEFAULT_CHUNK_TOKENS // max(num_tokens, 1))
  return max_block, int(batch_size)
