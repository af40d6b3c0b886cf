"""Small models shared by the examples and the benchmarks."""

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
