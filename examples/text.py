"""Explain a Flax NNX sentiment classifier on a batch of sentences with jaxlime's token path.

  python examples/text.py
  python examples/text.py --quick      # small, for tests: short training, 500 samples

Trains a small embedding-bag classifier with optax on examples/data/sentiment.tsv (400 short
labelled sentences, in seconds on a CPU), explains a batch of sentences in one jitted computation
(masking, model, kernel weights and the surrogate fits), prints each sentence's top words and
writes an HTML report to examples/output/text.html.

The model and tokenizer here are also used by benchmarks/text.py.
"""

import argparse
import pathlib
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxlime

ROOT = pathlib.Path(__file__).resolve().parent
DATA = ROOT / "data" / "sentiment.tsv"
OUTPUT = ROOT / "output" / "text.html"
PAD, UNKNOWN = 0, 1
CLASS_NAMES = ("negative", "positive")


def load_sentiment(path: pathlib.Path = DATA) -> tuple[list[str], np.ndarray]:
  """The sentences and their labels (0 negative, 1 positive)."""
  lines = path.read_text(encoding="utf-8").splitlines()[1:]
  labels, texts = zip(*(line.split("\t", 1) for line in lines if line))
  return list(texts), np.array([int(label) for label in labels])


# The words of TextExplainer's default split_expression r"\W+": runs of word characters. The
# token path needs one id per word as the explainer splits them (`TextExplainer.split` lists
# them for any split_expression; this regular expression is the fast equivalent for the default).
_WORDS = re.compile(r"\w+")


class Tokenizer:
  """Lower-cased words to ids (0 padding, 1 unknown), one id per word as jaxlime splits them."""

  def __init__(self, texts: list[str]):
    words = sorted({word.lower() for text in texts for word in _WORDS.findall(text)})
    self.vocabulary = {word: index + 2 for index, word in enumerate(words)}

  def __len__(self) -> int:
    return len(self.vocabulary) + 2

  def __call__(self, text: str) -> list[int]:
    return [self.vocabulary.get(word.lower(), UNKNOWN) for word in _WORDS.findall(text)]

  def batch(self, texts: list[str], num_tokens: int) -> np.ndarray:
    """[B, T] int32 ids of B texts, padded (or cut) to T tokens."""
    ids = np.full((len(texts), num_tokens), PAD, np.int32)
    for row, text in enumerate(texts):
      tokens = self(text)[:num_tokens]
      ids[row, : len(tokens)] = tokens
    return ids


class SentimentModel(nnx.Module):
  """An embedding bag: the mean embedding of the words, a relu layer, class probabilities.

  Args:
    vocabulary_size: number of token ids.
    dim: embedding width.
    hidden: width of the hidden layer.
    rngs: initialisation randomness.
  """

  def __init__(self, vocabulary_size: int, dim: int = 32, hidden: int = 32, *, rngs: nnx.Rngs):
    self.embed = nnx.Embed(vocabulary_size, dim, rngs=rngs)
    self.hidden = nnx.Linear(dim, hidden, rngs=rngs)
    self.head = nnx.Linear(hidden, len(CLASS_NAMES), rngs=rngs)

  def logits(self, ids: jax.Array, mask: jax.Array) -> jax.Array:
    """ids [B, T] int, mask [B, T] bool (False at padding) -> [B, C] logits."""
    weights = mask.astype(jnp.float32)[..., None]
    pooled = jnp.sum(self.embed(ids) * weights, axis=1) / jnp.maximum(weights.sum(axis=1), 1.0)
    return self.head(jax.nn.relu(self.hidden(pooled)))

  def __call__(self, ids: jax.Array, mask: jax.Array) -> jax.Array:
    """[B, T] ids and padding mask -> [B, C] class probabilities."""
    return jax.nn.softmax(self.logits(ids, mask), axis=-1)


def train_sentiment_model(seed: int = 0, steps: int = 300):
  """Trains the classifier on the shipped sentences; returns (model, tokenizer, accuracy)."""
  texts, labels = load_sentiment()
  tokenizer = Tokenizer(texts)
  ids = tokenizer.batch(texts, max(len(tokenizer(text)) for text in texts))
  order = np.random.default_rng(seed).permutation(len(texts))
  train, test = order[:320], order[320:]
  model = SentimentModel(len(tokenizer), rngs=nnx.Rngs(seed))
  optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

  @nnx.jit
  def step(model, optimizer, ids, labels):
    def loss_fn(model):
      logits = model.logits(ids, ids != PAD)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss

  train_ids, train_labels = jnp.asarray(ids[train]), jnp.asarray(labels[train])
  for _ in range(steps):
    step(model, optimizer, train_ids, train_labels)
  test_ids = jnp.asarray(ids[test])
  predicted = np.asarray(jnp.argmax(model(test_ids, test_ids != PAD), axis=-1))
  return model, tokenizer, float(np.mean(predicted == labels[test]))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="short training, 500 samples")
  parser.add_argument("--output", type=pathlib.Path, default=OUTPUT)
  args = parser.parse_args()
  num_samples = 500 if args.quick else 5000

  start = time.perf_counter()
  model, tokenizer, accuracy = train_sentiment_model(steps=50 if args.quick else 300)
  print(f"trained in {time.perf_counter() - start:.1f} s; held-out accuracy {accuracy:.2f}")

  texts = [
      "The acting was wonderful but the plot felt slow and predictable.",
      "What a dull, lifeless film. The soundtrack was lovely though.",
      "I thought the ending was truly touching and the cast brilliant!",
      "Honestly, the dialogue felt clumsy and the pacing tedious.",
      "A clever script with a gripping finale",
      "the characters were boring and the story was silly",
      "beautiful camera work, charming characters, fantastic soundtrack",
      "My friends found the movie disappointing, and so did I.",
  ]
  explainer = jaxlime.TextExplainer(class_names=CLASS_NAMES)
  start = time.perf_counter()
  explanation = explainer.explain(
      texts, model, key=0, num_samples=num_samples, num_features=6, tokenizer=tokenizer
  )
  jax.block_until_ready(explanation.coef)
  print(
      f"explained {len(texts)} texts ({num_samples} samples each, including compilation) in "
      f"{time.perf_counter() - start:.1f} s"
  )
  for i, text in enumerate(texts):
    probability = float(explanation.prediction[i, 1])
    top = ", ".join(f"{word} {weight:+.3f}" for word, weight in explanation.as_list(i)[:4])
    print(f"P(positive) = {probability:.2f}  {text}\n    {top}")

  args.output.parent.mkdir(parents=True, exist_ok=True)
  pages = "".join(explanation.as_html(i, label=1) for i in range(len(texts)))
  args.output.write_text(
      f"<html><head><meta charset='utf-8'><title>jaxlime text explanations"
      f"</title></head><body>{pages}</body></html>",
      encoding="utf-8",
  )
  print(f"wrote {args.output}")


if __name__ == "__main__":
  main()
