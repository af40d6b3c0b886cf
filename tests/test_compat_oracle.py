"""jaxlime.compat against lime 0.2.0.1 fed the very same perturbations: the deterministic part.

Each test runs a compat explainer, takes the perturbation data it used, and replays that data to
lime itself (a numpy RandomState whose draws are the compat's samples, or lime's sampling
method replaced by one returning them). lime then evaluates the same model on the same inputs,
so its distances, kernel weights, feature selection and fit are compared to ours number for
number: the fused path (lime's defaults) and each host path (another `distance_metric`, a numpy
`kernel`, a scikit-learn `model_regressor`).
"""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.linear_model import Ridge

from jaxlime.compat import _common
from jaxlime.compat import lime_image
from jaxlime.compat import lime_tabular
from jaxlime.compat import lime_text

pytest.importorskip("lime")
from lime import lime_image as lime_lime_image  # noqa: E402
from lime import lime_tabular as lime_lime_tabular  # noqa: E402
from lime import lime_text as lime_lime_text  # noqa: E402


def _laplace_kernel(d, kernel_width):
  """A numpy kernel lime accepts and the fused path cannot trace."""
  return np.exp(-np.abs(d) / kernel_width)


def _assert_same(ours, theirs, labels, *, atol):
  """Same labels, features (in order), weights, intercepts, score and local_pred."""
  assert list(ours.local_exp) == list(theirs.local_exp) == list(labels)
  for label in labels:
    assert [j for j, _ in ours.local_exp[label]] == [int(j) for j, _ in theirs.local_exp[label]]
    weights = [w for _, w in ours.local_exp[label]]
    assert np.abs(weights).max() > 1e-3  # Not a degenerate fit whose weights are all noise.
    np.testing.assert_allclose(weights, [w for _, w in theirs.local_exp[label]], atol=atol)
    assert ours.intercept[label] == pytest.approx(float(theirs.intercept[label]), abs=atol)
  assert ours.score == pytest.approx(float(theirs.score), abs=atol)
  np.testing.assert_allclose(ours.local_pred, theirs.local_pred, atol=atol)


class _Replay(np.random.RandomState):
  """A RandomState whose draws of lime's sampling are given samples.

  Args:
    randint: {size: array}: `randint(low, high, size)` with that size returns the array.
    choices: arrays returned by successive `choice` calls.
  """

  def __init__(self, randint=None, choices=()):
    super().__init__(0)
    self._randint = randint or {}
    self._choices = list(choices)

  def randint(self, low, high=None, size=None, dtype=int):
    if size in self._randint:
      return self._randint[size].copy()
    return super().randint(low, high, size)

  def choice(self, a, size=None, replace=True, p=None):
    if self._choices and not replace:
      return self._choices.pop(0)
    return super().choice(a, size, replace, p)


# Images: 24 x 24 float32, 16 grid superpixels, hidden pixels 0, so every perturbed image shows
# which superpixels it keeps (all pixels are > 0).
_SEGMENTS = (np.arange(24)[:, None] // 6) * 4 + np.arange(24)[None, :] // 6


def _image():
  rng = np.random.RandomState(0)
  image = 0.05 + rng.rand(24, 24, 3) * 0.9  # Pixels vary inside superpixels: mean fill counts.
  image[6:18, 0:12] *= 0.3
  return image.astype(np.float32)


def _image_model(images):
  """3 classes from the mean squared pixel of the left and right halves (a nonlinear numpy
  model that mean-colour filling changes too)."""
  images = np.asarray(images, np.float64) ** 2
  left = images[:, :, :12].mean(axis=(1, 2, 3))
  right = images[:, :, 12:].mean(axis=(1, 2, 3))
  logits = np.stack([20 * left, 30 * right, 10 * left * right + 1], axis=1)
  logits = np.exp(logits - logits.max(axis=1, keepdims=True))
  return logits / logits.sum(axis=1, keepdims=True)


def _masks_seen(batches, num_samples):
  """The keep masks [S, 16] of the last S perturbed images the classifier received."""
  images = np.concatenate(batches)[-num_samples:]
  per_segment = np.stack([images[:, _SEGMENTS == j, 0] for j in range(16)], axis=1)  # [S, 16, P]
  kept = per_segment != 0
  assert np.all(kept.all(axis=2) | ~kept.any(axis=2))  # Whole superpixels kept or hidden.
  return kept[:, :, 0].astype(np.int64)


@pytest.mark.parametrize(
    "option",
    [
        dict(),  # The fused path: cosine distance, lime's kernel, Ridge(alpha=1).
        dict(distance_metric="hamming"),
        dict(kernel=_laplace_kernel, kernel_width=0.5),
        dict(model_regressor=LinearRegression),
        dict(model_regressor=Ridge, num_features=3),  # forward_selection first.
    ],
    ids=["fused", "distance", "kernel", "regressor", "regressor-k3"],
)
@pytest.mark.slow
def test_image_paths_equal_lime_on_the_same_masks(option):
  option = dict(option)
  explainer_options = {k: option.pop(k) for k in ("kernel", "kernel_width") if k in option}
  regressor = option.pop("model_regressor", None)
  num_samples = 300
  image = _image()
  batches = []

  def recording(images):
    batches.append(np.array(images))
    return _image_model(images)

  common = dict(
      top_labels=2,
      hide_color=0,
      num_samples=num_samples,
      segmentation_fn=lambda img: _SEGMENTS,
      random_seed=0,
      **option,
  )
  ours = lime_image.LimeImageExplainer(random_state=0, **explainer_options).explain_instance(
      image, recording, model_regressor=regressor and regressor(), **common
  )
  masks = _masks_seen(batches, num_samples)
  assert masks[0].all() and 0.3 < masks[1:].mean() < 0.7
  replay = _Replay(randint={num_samples * 16: masks.reshape(-1)})
  theirs = lime_lime_image.LimeImageExplainer(
      random_state=replay, **explainer_options
  ).explain_instance(image, _image_model, model_regressor=regressor and regressor(), **common)
  assert ours.top_labels == [int(label) for label in theirs.top_labels]
  np.testing.assert_array_equal(ours.segments, theirs.segments)
  # The fused fit runs in float32 (jax's default); the host regressor in float64.
  _assert_same(ours, theirs, list(theirs.local_exp), atol=2e-5 if regressor is None else 1e-9)


@pytest.mark.slow
def test_image_host_path_with_lime_ridge_equals_fused_path():
  """The host path draws the fused path's masks: with lime's Ridge(alpha=1) as a custom
  regressor it gives the fused explanation."""
  image = _image()
  common = dict(top_labels=2, num_samples=200, segmentation_fn=lambda img: _SEGMENTS)
  fused = lime_image.LimeImageExplainer(random_state=3).explain_instance(
      image, _image_model, **common
  )
  host = lime_image.LimeImageExplainer(random_state=3).explain_instance(
      image, _image_model, model_regressor=Ridge(alpha=1.0), **common
  )
  assert fused.top_labels == host.top_labels
  _assert_same(fused, host, list(host.local_exp), atol=2e-5)


@pytest.mark.slow
def test_image_host_path_calls_classifier_in_lime_batches():
  sizes = []

  def recording(images):
    sizes.append(len(images))
    return _image_model(images)

  lime_image.LimeImageExplainer(random_state=0).explain_instance(
      _image(),
      recording,
      num_samples=45,
      batch_size=10,
      distance_metric="euclidean",
      segmentation_fn=lambda img: _SEGMENTS,
  )
  assert sizes == [10, 10, 10, 10, 5]


def _capture_fit_inputs(monkeypatch):
  """Records the samples z [N, S, D] each compat call hands to `_common.fit_instances`."""
  seen = []
  original = _common.fit_instances

  def spy(z, *args, **kwargs):
    seen.append(np.array(z))
    return original(z, *args, **kwargs)

  monkeypatch.setattr(_common, "fit_instances", spy)
  return seen


@pytest.mark.parametrize("path", ["fused", "distance", "kernel", "regressor"])
@pytest.mark.slow
def test_tabular_paths_equal_lime_on_the_same_samples(monkeypatch, path, breast_cancer):
  X, _, names, _ = breast_cancer
  rng = np.random.RandomState(1)
  weights = rng.randn(30) / X.std(axis=0)
  bias = -float(X.mean(axis=0) @ weights)

  def model(rows):
    p = 1 / (1 + np.exp(-(np.asarray(rows) @ weights + bias)))
    return np.stack([1 - p, p], axis=1)

  inputs = []

  def recording(rows):
    inputs.append(np.array(rows))
    return model(rows)

  constructor = dict(kernel=_laplace_kernel) if path == "kernel" else {}
  call = dict(num_features=5, num_samples=400)
  call["distance_metric"] = "manhattan" if path == "distance" else "euclidean"
  seen = _capture_fit_inputs(monkeypatch)
  ours = lime_tabular.LimeTabularExplainer(
      X, feature_names=names, random_state=0, **constructor
  ).explain_instance(
      X[4], recording, model_regressor=LinearRegression() if path == "regressor" else None, **call
  )
  theirs = lime_lime_tabular.LimeTabularExplainer(
      X, feature_names=names, random_state=0, **constructor
  )
  # Discretized, lime's data is the "same bin" indicators (its scaled data) and its inverse
  # the model inputs: those the compat explainer used.
  theirs._LimeTabularExplainer__data_inverse = lambda row, n: (seen[0][0].copy(), inputs[0])
  lime_exp = theirs.explain_instance(
      X[4], model, model_regressor=LinearRegression() if path == "regressor" else None, **call
  )
  _assert_same(ours, lime_exp, [1], atol=2e-5 if path != "regressor" else 1e-9)


def _sentiment(strings):
  good = np.array([s.count("good") + s.count("great") - 1.5 * s.count("bad") for s in strings])
  p = 1 / (1 + np.exp(-good + 0.5))
  return np.stack([1 - p, p], 1)


@pytest.mark.parametrize("path", ["fused", "distance", "kernel", "regressor"])
@pytest.mark.slow
def test_text_paths_equal_lime_on_the_same_samples(monkeypatch, path):
  text = "a good movie, a great cast, a bad ending; good music but bad jokes"
  constructor = dict(kernel=_laplace_kernel, kernel_width=20) if path == "kernel" else {}
  call = dict(num_features=4, num_samples=300)
  if path == "distance":
    call["distance_metric"] = "euclidean"
  seen = _capture_fit_inputs(monkeypatch)
  ours = lime_text.LimeTextExplainer(random_state=0, **constructor).explain_instance(
      text, _sentiment, model_regressor=LinearRegression() if path == "regressor" else None, **call
  )
  num_words = len(ours.domain_mapper.indexed_string.inverse_vocab)
  data = seen[0][0][:, :num_words]
  removed = [np.flatnonzero(row == 0) for row in data[1:]]
  replay = _Replay(
      randint={call["num_samples"] - 1: np.array([len(r) for r in removed])}, choices=removed
  )
  theirs = lime_lime_text.LimeTextExplainer(random_state=replay, **constructor).explain_instance(
      text, _sentiment, model_regressor=LinearRegression() if path == "regressor" else None, **call
  )
  assert ours.domain_mapper.indexed_string.inverse_vocab == (
      theirs.domain_mapper.indexed_string.inverse_vocab
  )
  _assert_same(ours, theirs, [1], atol=2e-5 if path != "regressor" else 1e-9)
