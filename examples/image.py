"""Image LIME: explain a small Flax CNN on handwritten digits, a batch of images in one call.

  pip install -e ".[examples]" && python examples/image.py
  python examples/image.py --quick      # small, for tests: one epoch, 8 images, 300 samples

Trains a two-layer NNX CNN with optax for a few seconds on scikit-learn's 8 x 8 digits
(upsampled to 32 x 32 x 3), explains its predictions on test images with 1000 perturbations
each, and saves examples/output/image.png: per image, the superpixels that speak most for the
predicted digit, and a heat-map of every superpixel's weight.
"""

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from flax import nnx
from sklearn import datasets
from sklearn import model_selection

import jaxlime

matplotlib.use("Agg")

UPSAMPLE = 4  # 8 x 8 digits become 32 x 32 images.


class DigitCNN(nnx.Module):
  """[B, 32, 32, 3] images in [0, 1] -> [B, 10] class probabilities."""

  def __init__(self, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(3, 16, (3, 3), rngs=rngs)
    self.conv2 = nnx.Conv(16, 32, (3, 3), rngs=rngs)
    self.head = nnx.Linear(32 * 8 * 8, 10, rngs=rngs)

  def logits(self, x: jax.Array) -> jax.Array:
    h = nnx.avg_pool(jax.nn.relu(self.conv1(x)), (2, 2), strides=(2, 2))
    h = nnx.avg_pool(jax.nn.relu(self.conv2(h)), (2, 2), strides=(2, 2))
    return self.head(h.reshape(h.shape[0], -1))

  def __call__(self, x: jax.Array) -> jax.Array:
    return jax.nn.softmax(self.logits(x), axis=-1)


def load_images() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Digits as [N, 32, 32, 3] float32 images in [0, 1] (grey in three channels), split 75/25."""
  digits = datasets.load_digits()
  images = digits.images.astype(np.float32) / 16.0
  images = np.kron(images, np.ones((1, UPSAMPLE, UPSAMPLE), np.float32))
  images = np.repeat(images[..., None], 3, axis=-1)
  return model_selection.train_test_split(
      images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
  )


def train(x_train: np.ndarray, y_train: np.ndarray, epochs: int = 4, batch: int = 64) -> DigitCNN:
  """Adam on mini-batches, a few seconds on a CPU."""
  model = DigitCNN(nnx.Rngs(0))
  graphdef, params = nnx.split(model)
  optimizer = optax.adam(2e-3)

  @jax.jit
  def step(params, opt_state, inputs, labels):
    def loss(params):
      logits = nnx.merge(graphdef, params).logits(inputs)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    grads = jax.grad(loss)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  opt_state = optimizer.init(params)
  rng = np.random.default_rng(0)
  for _ in range(epochs):
    order = rng.permutation(len(x_train))
    for start in range(0, len(order) - batch + 1, batch):
      rows = order[start : start + batch]
      params, opt_state = step(
          params, opt_state, jnp.asarray(x_train[rows]), jnp.asarray(y_train[rows])
      )
  nnx.update(model, params)
  return model


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="one epoch, 8 images, 300 samples")
  parser.add_argument(
      "--output",
      type=pathlib.Path,
      default=pathlib.Path(__file__).resolve().parent / "output" / "image.png",
  )
  args = parser.parse_args()
  num_samples = 300 if args.quick else 1000

  x_train, x_test, y_train, y_test = load_images()
  start = time.perf_counter()
  model = train(x_train, y_train, epochs=1 if args.quick else 4)
  accuracy = float(np.mean(np.asarray(model(jnp.asarray(x_test))).argmax(-1) == y_test))
  print(f"CNN trained in {time.perf_counter() - start:.1f} s, test accuracy {accuracy:.3f}")

  # One superpixel per original digit pixel: an 8 x 8 grid on the 32 x 32 images. Hidden
  # superpixels become background (hide_color=0). "quickshift" (lime's default), "slic" and
  # "felzenszwalb" need scikit-image; any callable image -> labels works too.
  explainer = jaxlime.ImageExplainer(class_names=[str(d) for d in range(10)])
  images = x_test[:8] if args.quick else x_test[:64]
  start = time.perf_counter()
  exp = jax.block_until_ready(
      explainer.explain(
          images,
          model,
          key=0,
          segmentation_fn=jaxlime.SegmentationAlgorithm("grid", grid_size=8),
          hide_color=0,
          num_samples=num_samples,
          top_labels=1,
      )
  )
  print(
      f"Explained {len(exp)} images in {time.perf_counter() - start:.1f} s "
      f"({num_samples} perturbations each, compilation included)."
  )

  for i in range(3):
    label = int(exp.labels[i, 0])
    print(
        f"\nImage {i}: true {y_test[i]}, predicted {label} "
        f"(p = {float(exp.prediction[i, label]):.2f}), surrogate R^2 = {float(exp.score[i, 0]):.2f}"
    )
    for name, weight in exp.as_list(i, label)[:4]:
      print(f"  {name:16s} {weight:+.3f}")
  _, mask = exp.get_image_and_mask(0, int(exp.labels[0, 0]), positive_only=True, num_features=5)
  print(
      f"\nget_image_and_mask: the top 5 positive superpixels of image 0 cover "
      f"{int(mask.sum())} pixels."
  )

  figure = exp.image_figure(indices=range(8), num_features=6, positive_only=True, figsize=(16, 4.6))
  args.output.parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(args.output, dpi=110)
  print(f"Saved {args.output}")


if __name__ == "__main__":
  main()
