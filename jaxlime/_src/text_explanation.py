"""`TextExplanation`: explanations of texts, read as lime reads them (names, HTML)."""

import dataclasses

import jax
import numpy as np

from jaxlime._src.explanation import Explanation
from jaxlime._src.explanation import ValueDomain
from jaxlime._src.text_indexing import IndexedText


@dataclasses.dataclass(frozen=True, eq=False)
class TextDomain(ValueDomain):
  """Host-side knowledge of the explained texts, to read explanations as lime does."""

  mode: str
  class_names: tuple[str, ...] | None
  texts: tuple[IndexedText, ...]

  def indexed(self, explanation: Explanation, index: int) -> IndexedText:
    return self.texts[int(np.asarray(explanation.instances[index]))]

  def feature_names(self, explanation: Explanation, index: int) -> list[str]:
    """The word of each feature of instance `index` (lime's `IndexedString.word`)."""
    return list(self.indexed(explanation, index).words)

  def instance_panel(self, explanation: Explanation, index: int, weights) -> str:
    """The text with each explained word's occurrences highlighted by its weight."""
    from jaxlime._src import html as html_lib

    indexed = self.indexed(explanation, index)
    spans = [
        (int(start), int(start) + len(token), weights[feature])
        for token, start, feature in zip(
            indexed.tokens, indexed.starts, indexed.token_features.tolist()
        )
        if feature in weights
    ]
    return html_lib.text_panel(indexed.raw, spans)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TextExplanation(Explanation):
  """Explanations of N texts; features are words (or word positions, or characters).

  Texts of a batch are padded to one number of features D: `coef[i, :, j]` is exactly 0 and
  `selected[i, :, j]` False for j at or past text i's own number of features. `instances` [N]
  holds each explanation's position in `domain.texts`, the host-side split texts.
  """

  def text(self, index: int = 0) -> str:
    """The explained text of instance `index`."""
    return self.domain.indexed(self, self._check_index(index)).raw

  def words(self, index: int = 0) -> list[str]:
    """The D features of instance `index`: its distinct words, word occurrences or characters."""
    return self.domain.feature_names(self, self._check_index(index))

  def as_list(
      self, index: int = 0, label: int | None = None, *, positions: bool = False
  ) -> list[tuple[str, float]]:
    """[(word, weight), ...] sorted by decreasing |weight|, as lime's `as_list`; `label`
    defaults to the first label explained.

    With positions=True a word is named as lime's `as_list(positions=True)` names it, with the
    character offsets of its occurrences: "bad_3-17".
    """
    index = self._check_index(index)
    indexed = self.domain.indexed(self, index)
    weights = self._weights(index, self._default_label(index, label))
    if not positions:
      return [(indexed.words[j], weight) for j, weight in weights]
    return [
        (f"{indexed.words[j]}_{'-'.join(map(str, indexed.string_positions(j)))}", weight)
        for j, weight in weights
    ]
