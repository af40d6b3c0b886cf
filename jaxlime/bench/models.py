"""Small models shared by `jaxlime demo`, `jaxlime bench` and the examples.

* `train_breast_cancer_mlp`: a Flax NNX MLP 30 -> 64 -> 64 -> 2 on scikit-learn's bundled breast
  cancer data (trained in a few seconds on a CPU).
* `train_sentiment_model`: an embedding-bag sentiment classifier on the 400 labelled sentences
  shipped with this package (`sentiment.tsv`), with its `Tokenizer`.

They need scikit-learn and optax (`pip install "jaxlime[examples]"` or `"jaxlime[bench]"`) and
nothing from the network.
"""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn import datasets
from sklearn import model_selection

# The train/test split is the same for every model seed.
_SPLIT_SEED = 0


class Statistic(nnx.Variable):
  """A fixed input statistic: part of the module's state, never trained."""


class MLP(nnx.Module):
  """A classifier that standardises its inputs with fixed training statistics.

  Args:
    mean: [F] training mean of each input column.
    std: [F] training standard deviation of each input column (nonzero).
    hidden: widths of the hidden relu layers.
    num_classes: C.
    rngs: initialisation randomness.
  """

  def __init__(
      self,
      mean: np.ndarray,
      std: np.ndarray,
      hidden: tuple[int, ...],
      num_classes: int,
      *,
      rngs: nnx.Rngs,
  ):
    self.mean = Statistic(jnp.asarray(mean, jnp.float32))
    self.std = Statistic(jnp.asarray(std, jnp.float32))
    widths = (len(mean),) + tuple(hidden)
    self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
    self.head = nnx.Linear(widths[-1], num_classes, rngs=rngs)

  def logits(self, x: jax.Array) -> jax.Array:
    """[B, F] raw inputs -> [B, C] logits."""
    h = (x - self.mean[...]) / self.std[...]
    for layer in self.hidden:
      h = jax.nn.relu(layer(h))
    return self.head(h)

  def __call__(self, x: jax.Array) -> jax.Array:
    """[B, F] raw inputs -> [B, C] class probabilities."""
    return jax.nn.softmax(self.logits(x), axis=-1)


def train_breast_cancer_mlp(
    seed: int = 0,
    steps: int = 200,
    learning_rate: float = 1e-3,
    hidden: tuple[int, ...] = (64, 64),
    test_size: float = 0.2,
) -> tuple[MLP, dict]:
  """Trains a 30 -> 64 -> 64 -> 2 MLP on scikit-learn's breast cancer data (full-batch Adam).

  Deterministic: the split uses a fixed seed and `seed` sets the initialisation.

  Args:
    seed: initialisation seed.
    steps: full-batch Adam steps.
    learning_rate: Adam's learning rate.
    hidden: widths of the hidden layers.
    test_size: fraction of the rows held out for testing.

  Returns:
    (model, data): the trained module, whose `model(x [B, 30])` returns [B, 2] probabilities,
    and a dict with X_train [M, 30], X_test [T, 30] (float32), y_train [M], y_test [T] (int),
    feature_names (30 str), class_names (2 str) and test_accuracy (float).
  """
  dataset = datasets.load_breast_cancer()
  X = dataset.data.astype(np.float32)
  y = dataset.target.astype(np.int32)
  X_train, X_test, y_train, y_test = model_selection.train_test_split(
      X, y, test_size=test_size, random_state=_SPLIT_SEED, stratify=y
  )

  model = MLP(X_train.mean(axis=0), X_train.std(axis=0), hidden, num_classes=2, rngs=nnx.Rngs(seed))
  graphdef, params, statistics = nnx.split(model, nnx.Param, Statistic)
  optimizer = optax.adam(learning_rate)

  @jax.jit
  def train_step(params, opt_state, inputs, labels):
    def loss_fn(params):
      logits = nnx.merge(graphdef, params, statistics).logits(inputs)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  opt_state = optimizer.init(params)
  inputs, labels = jnp.asarray(X_train), jnp.asarray(y_train)
  for _ in range(steps):
    params, opt_state = train_step(params, opt_state, inputs, labels)
  nnx.update(model, params)

  predicted = np.asarray(jnp.argmax(model(jnp.asarray(X_test)), axis=-1))
  data = dict(
      X_train=X_train,
      X_test=X_test,
      y_train=y_train,
      y_test=y_test,
      feature_names=[str(name) for name in dataset.feature_names],
      class_names=[str(name) for name in dataset.target_names],
      test_accuracy=float(np.mean(predicted == y_test)),
  )
  return model, data


# ---- sentiment ----

# 400 short labelled sentences (label, tab, sentence), shipped inside the package.
SENTIMENT_DATA = pathlib.Path(__file__).resolve().parent / "sentiment.tsv"
PAD, UNKNOWN = 0, 1
SENTIMENT_CLASSES = ("negative", "positive")


def load_sentiment(path: pathlib.Path = SENTIMENT_DATA) -> tuple[list[str], np.ndarray]:
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
    self.head = nnx.Linear(hidden, len(SENTIMENT_CLASSES), rngs=rngs)

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
