"""lime's `IndexedString` and `IndexedCharacters`: a text split into its interpretable features,
and the strings lime rebuilds when features are removed."""

import dataclasses
import itertools
import re
from typing import Sequence

import numpy as np

# lime's mask strings of positional (bow=False) mode.
WORD_MASK = "UNKWORDZ"
CHARACTER_MASK = chr(0)


@dataclasses.dataclass(frozen=True, eq=False)
class IndexedText:
  """A text split as lime's `IndexedString` (or `IndexedCharacters`) splits it.

  `tokens` concatenate to the text: words and the separators between them. Feature j is a
  distinct word (bow) or one word occurrence (positional); characters when char_level.
  """

  raw: str
  tokens: tuple[str, ...]  # [P] words and separators.
  starts: np.ndarray  # [P] character offset of each token (lime's string_start).
  token_features: np.ndarray  # [P] int: feature of each token, -1 for separators.
  words: tuple[str, ...]  # [D] the word of each feature (lime's inverse_vocab).
  bow: bool
  mask_string: str

  @property
  def num_features(self) -> int:
    return len(self.words)

  @property
  def occurrence_features(self) -> np.ndarray:
    """[W] the feature of each word occurrence, in text order."""
    return self.token_features[self.token_features >= 0]

  def occurrences(self) -> list[str]:
    """The W word occurrences in text order (what a token-path tokenizer must map, one id each)."""
    return [token for token, feature in zip(self.tokens, self.token_features) if feature >= 0]

  def string_positions(self, feature: int) -> np.ndarray:
    """Character offsets of the occurrences of `feature` (lime's `string_position`)."""
    return self.starts[self.token_features == feature]

  def perturbed_strings(self, kept: np.ndarray) -> list[str]:
    """lime's `inverse_removing` of every sample: kept [S, D] bool -> S strings.

    bow drops the tokens of removed features; positional mode writes mask_string in their place.
    """
    kept = np.asarray(kept, bool)
    is_word = self.token_features >= 0
    keep = np.ones((kept.shape[0], len(self.tokens)), bool)
    keep[:, is_word] = kept[:, self.token_features[is_word]]
    if self.bow:
      return ["".join(itertools.compress(self.tokens, row)) for row in keep.tolist()]
    # Python strings in an object array: numpy's own strings would drop a trailing chr(0).
    choices = np.array(self.tokens + (self.mask_string,), dtype=object)
    chosen = choices[np.where(keep, np.arange(len(self.tokens)), len(self.tokens))]
    return ["".join(row) for row in chosen.tolist()]


def _segment_with_tokens(text: str, tokens: Sequence[str]) -> list[str]:
  """lime's `IndexedString._segment_with_tokens`: the text cut around the given tokens."""
  pieces = []
  position = 0
  for token in tokens:
    start = text.find(token, position)
    if start < 0:
      raise ValueError(
          f"split_expression returned the token {token!r}, which is not in the text after "
          f"character {position}: {text!r}. A callable split_expression must return substrings "
          "of the text, in order."
      )
    if start > position:
      pieces.append(text[position:start])
    pieces.append(token)
    position = start + len(token)
  if position < len(text):
    pieces.append(text[position:])
  return pieces


def index_text(
    raw: str, *, split_expression, bow: bool, mask_string: str | None, char_level: bool
) -> IndexedText:
  """Splits a text into lime's features (see `IndexedText`)."""
  if char_level:
    tokens = list(raw)
    is_word = [True] * len(tokens)
    mask_string = CHARACTER_MASK if mask_string is None else mask_string
  elif callable(split_expression):
    pieces = list(split_expression(raw))
    tokens = _segment_with_tokens(raw, pieces)
    vocabulary = set(pieces)
    is_word = [token in vocabulary for token in tokens]
  else:
    splitter = re.compile(r"(%s)|$" % split_expression)
    tokens = [piece for piece in splitter.split(raw) if piece]
    is_word = [not splitter.match(token) for token in tokens]
  if mask_string is None:
    mask_string = WORD_MASK
  token_features = np.full(len(tokens), -1, np.int64)
  words, vocabulary = [], {}
  for position, (token, word) in enumerate(zip(tokens, is_word)):
    if not word:
      continue
    if bow:
      if token not in vocabulary:
        vocabulary[token] = len(words)
        words.append(token)
      token_features[position] = vocabulary[token]
    else:
      token_features[position] = len(words)
      words.append(token)
  lengths = [len(token) for token in tokens]
  starts = (
      np.concatenate([[0], np.cumsum(lengths[:-1])]).astype(np.int64)
      if tokens
      else (np.zeros(0, np.int64))
  )
  return IndexedText(
      raw=raw,
      tokens=tuple(tokens),
      starts=starts,
      token_features=token_features,
      words=tuple(words),
      bow=bow,
      mask_string=mask_string,
  )
