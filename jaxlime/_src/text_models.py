"""The text explainer's model and tokenizer adapters: token models with a padding mask, the
tokenizer contract, string models called in chunks."""

import dataclasses
import functools
import inspect
import numbers
from typing import Callable

import numpy as np

from jaxlime._src import models
from jaxlime._src import text_core
from jaxlime._src.text_indexing import IndexedText


@dataclasses.dataclass(frozen=True)
class _WithPaddingMask:
  """model(ids, mask=ids != pad_token_id) as a callable of ids alone."""

  fn: Callable
  pad_token_id: int

  def __call__(self, ids):
    return self.fn(ids, mask=ids != self.pad_token_id)


@functools.cache
def _masked_module_class():
  from flax import nnx

  class PaddingMasked(nnx.Module):
    """An NNX module called as module(ids, mask=ids != pad_token_id)."""

    def __init__(self, module, pad_token_id: int):
      self.module = module
      self.pad_token_id = pad_token_id

    def __call__(self, ids):
      return self.module(ids, mask=ids != self.pad_token_id)

  return PaddingMasked


def takes_mask(model) -> bool:
  """True when the model's call signature has a parameter named `mask`."""
  if isinstance(model, (models.ModelAdapter, models.HostModel)):
    return False
  call = model.__call__ if models._is_nnx_module(model) else model
  try:
    return "mask" in inspect.signature(call).parameters
  except (TypeError, ValueError):
    return False


def token_model(model, pad_token_id: int):
  """`model` on ids alone: a `mask` keyword, when the model has one, gets the padding mask."""
  if not takes_mask(model):
    return model
  if models._is_nnx_module(model):
    return _masked_module_class()(model, pad_token_id)
  return _WithPaddingMask(model, pad_token_id)


def tokenize_text(tokenizer: Callable, indexed: IndexedText, index: int):
  """Token ids [T] and the feature of each token [T] of one text."""
  output = tokenizer(indexed.raw)
  word_index = None
  if isinstance(output, tuple) and len(output) == 2 and all(np.ndim(part) == 1 for part in output):
    output, word_index = output
  ids = np.asarray(output)
  if ids.ndim != 1:
    raise ValueError(
        f"tokenizer must return a list of token ids (or (ids, word_index)); for "
        f"texts[{index}] it returned an array of shape {ids.shape}."
    )
  if ids.size == 0:
    raise ValueError(f"tokenizer returned no tokens for texts[{index}]: {indexed.raw!r:.80}.")
  if not np.issubdtype(ids.dtype, np.integer):
    raise TypeError(
        f"tokenizer must return integer token ids; for texts[{index}] it returned "
        f"{ids.dtype} values {ids[:5].tolist()}."
    )
  if np.abs(ids).max() >= 2**31:
    raise ValueError(f"token ids of texts[{index}] do not fit in int32: {ids.max()}.")
  occurrences = indexed.occurrences()
  if word_index is None:
    if ids.size != len(occurrences):
      raise ValueError(
          f"tokenizer returned {ids.size} token ids for texts[{index}], which has "
          f"{len(occurrences)} words {occurrences[:8]}{'...' if len(occurrences) > 8 else ''}. "
          "Return one id per word as TextExplainer.split(text) lists them, or a pair (ids, "
          "word_index) mapping each token to its word (-1 for tokens of no word)."
      )
    word_index = np.arange(ids.size)
  word_index = np.asarray(word_index)
  if word_index.shape != ids.shape or not np.issubdtype(word_index.dtype, np.integer):
    raise ValueError(
        f"tokenizer's word_index for texts[{index}] must be {ids.size} integers, "
        f"one per token; got {word_index.dtype} of shape {word_index.shape}."
    )
  if word_index.min() < -1 or word_index.max() >= len(occurrences):
    raise ValueError(
        f"tokenizer's word_index for texts[{index}] must lie in -1..."
        f"{len(occurrences) - 1} (the text's words); got values "
        f"{word_index.min()}..{word_index.max()}."
    )
  features = np.where(
      word_index >= 0, indexed.occurrence_features[np.maximum(word_index, 0)], text_core.NO_WORD
  )
  return ids.astype(np.int32), features.astype(np.int32)


def fit_length(tokenised, max_length: int) -> int:
  """max_length, after checking that every text's tokens fit in it."""
  lengths = np.array([ids.size for ids, _ in tokenised])
  too_long = np.flatnonzero(lengths > max_length)
  if too_long.size:
    first = int(too_long[0])
    raise ValueError(
        f"texts[{first}] has {int(lengths[first])} tokens, more than max_length={max_length} "
        f"(the model's largest input; {too_long.size} texts do not fit). Shorten or split "
        "those texts."
    )
  return max_length


def token_id(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
    raise TypeError(f"{name} must be an int token id; got {value!r}.")
  return int(value)


def call_string_model(model, strings: list[str], batch_size: int) -> np.ndarray:
  """model on the strings in chunks of batch_size: [len(strings), C] float64."""
  outputs = []
  for start in range(0, len(strings), batch_size):
    chunk = strings[start : start + batch_size]
    output = np.asarray(model(chunk))
    models.check_output(output, (len(chunk),))
    if output.ndim != 2 or output.shape[1] < 2:
      raise ValueError(
          f"model must return [B, C] class probabilities for a list of B strings; for "
          f"{len(chunk)} strings it returned shape {output.shape} (C >= 2 classes needed)."
      )
    output = output.astype(np.float64)
    if outputs and output.shape[1] != outputs[0].shape[1]:
      raise ValueError(
          f"model returned {output.shape[1]} columns for some strings and "
          f"{outputs[0].shape[1]} for others."
      )
    outputs.append(output)
  return np.concatenate(outputs)
