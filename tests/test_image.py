"""ImageExplainer: lime's image LIME for batches of images, checked against lime 0.2.0.1 itself."""

import itertools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from lime import lime_image
from lime.wrappers.scikit_image import SegmentationAlgorithm as LimeSegmentationAlgorithm

import jaxlime
from jaxlime._src import image_core
from jaxlime._src import segmentation

SIZE = 16  # Images are SIZE x SIZE x 3.
A_POOL = np.random.default_rng(0).normal(size=(48, 3)).astype(np.float32)


def pooled(x):
  """[B, 16, 16, 3] -> [B, 48]: channel means of a 4 x 4 grid of 4 x 4 cells."""
  return x.reshape(x.shape[0], 4, 4, 4, 4, 3).mean(axis=(2, 4)).reshape(x.shape[0], 48)


def pool_model(x):
  """A 3-class softmax over a fixed random read-out of the cell means, in jax.numpy."""
  return jax.nn.softmax(jnp.tanh(pooled(x) - 0.5) @ A_POOL, axis=-1)


def pool_model_numpy(x):
  """`pool_model` in numpy, for lime and host_model."""
  logits = np.tanh(pooled(np.asarray(x, np.float32)) - 0.5) @ A_POOL
  exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
  return exp / exp.sum(axis=-1, keepdims=True)


def region_model(x):
  """Two classes decided by the mean of the top-left 4 x 4 pixels alone."""
  p = jax.nn.sigmoid(8 * (x[:, :4, :4, :].mean(axis=(1, 2, 3)) - 0.25))
  return jnp.stack([1 - p, p], axis=-1)


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(1).uniform(size=(3, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def grid():
  return segmentation.grid_segments(SIZE, SIZE, 4)


def lime_coefficients(explanation, labels, num_segments):
  """[L, D] dense coefficients of a lime ImageExplanation for labels."""
  coef = np.zeros((len(labels), num_segments))
  for row, label in enumerate(labels):
    for feature, weight in explanation.local_exp[label]:
      coef[row, feature] = weight
  return coef


def top_k(a, b, k=5):
  return len(set(np.argsort(-np.abs(a))[:k]) & set(np.argsort(-np.abs(b))[:k]))


# ---- what the explanations say ----


@pytest.mark.slow
def test_region_model_top_superpixel_for_every_image(images):
  """The model reads one 4 x 4 region: its superpixel is the top feature of every image, across
  segmentations of 9, 16 and 25 superpixels (padded in one batch) with permuted ids."""
  batch = np.concatenate([images, images[:1]])
  permutation = np.random.default_rng(2).permutation(16)
  segments = np.stack(
      [
          segmentation.grid_segments(SIZE, SIZE, 3),
          permutation[segmentation.grid_segments(SIZE, SIZE, 4)] * 7 + 3,
          segmentation.grid_segments(SIZE, SIZE, 5),
          segmentation.grid_segments(SIZE, SIZE, (4, 2)),
      ]
  )
  result = jaxlime.ImageExplainer().explain(
      batch,
      region_model,
      segments=segments,
      hide_color=0,
      num_samples=400,
      labels=(1,),
      top_labels=None,
  )
  assert result.coef.shape == (4, 1, 25)
  for i in range(4):
    relabelled = np.asarray(result.segments[i])
    region = relabelled[0, 0]
    assert (relabelled[:4, :4] == region).all()
    assert result.as_list(i, 1)[0] == (
        f"superpixel {region}",
        pytest.approx(float(result.coef[i, 0, region])),
    )
    assert result.as_map(i)[1][0][0] == region
    assert result.coef[i, 0, region] > 0
  counts = [9, 16, 25, 8]
  for i, count in enumerate(counts):
    assert int(result.segments[i].max()) + 1 == count
    assert (np.asarray(result.coef[i, :, count:]) == 0).all()
    assert not np.asarray(result.selected[i, :, count:]).any()
    assert (np.asarray(result.coef_std[i, :, count:]) == 0).all()


@pytest.mark.slow
def test_agrees_with_lime_as_lime_agrees_with_itself(images, grid):
  """Same image, model, segmentation and hide_color=0, S = 5000, the top 2 labels; 3 lime seeds
  against 3 jaxlime keys. Measured here: lime against itself, mean coefficient correlation
  0.9948 / 0.9997 (labels 0 / 2) and top-5 overlap 5 / 5; jaxlime against lime 0.9950 / 0.9998
  and 5 / 5 (minimum over pairs: lime 0.9927, jaxlime 0.9932)."""
  image, num_samples = images[0], 5000
  lime_runs = []
  for seed in range(3):
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    explanation = explainer.explain_instance(
        image,
        pool_model_numpy,
        top_labels=2,
        hide_color=0,
        num_samples=num_samples,
        segmentation_fn=lambda _: grid,
    )
    lime_runs.append(
        (explanation.top_labels, lime_coefficients(explanation, explanation.top_labels, 16))
    )
  ours = [
      jaxlime.ImageExplainer().explain(
          image[None],
          pool_model,
          key=seed,
          segments=grid,
          hide_color=0,
          num_samples=num_samples,
          top_labels=2,
      )
      for seed in range(3)
  ]
  for run in ours:
    assert np.asarray(run.labels[0]).tolist() == [int(label) for label in lime_runs[0][0]]
  for column in range(2):
    lime_pairs = [
        (np.corrcoef(a[1][column], b[1][column])[0, 1], top_k(a[1][column], b[1][column]))
        for a, b in itertools.combinations(lime_runs, 2)
    ]
    cross = [
        (
            np.corrcoef(np.asarray(j.coef[0, column]), b[1][column])[0, 1],
            top_k(np.asarray(j.coef[0, column]), b[1][column]),
        )
        for j in ours
        for b in lime_runs
    ]
    lime_corr, lime_top = np.mean(lime_pairs, axis=0)
    cross_corr, cross_top = np.mean(cross, axis=0)
    assert lime_corr > 0.98
    assert cross_corr >= lime_corr - 0.005
    assert min(c for c, _ in cross) >= min(c for c, _ in lime_pairs) - 0.01
    assert cross_top >= lime_top - 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_hidden_pixels_as_lime(images, dtype, monkeypatch):
  """hide_color=None: a perturbed image equals lime's for the same mask (segment means per
  channel, cast to the image's dtype); so does a per-channel hide_color."""
  image = (images[1] * 255).astype(dtype)
  segments = np.random.default_rng(3).integers(0, 6, size=(SIZE, SIZE))
  recorded = {}
  original = lime_image.LimeImageExplainer.data_labels

  def spy(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10):
    def record(batch):
      recorded.setdefault("images", []).append(np.array(batch))
      return np.tile([[0.3, 0.7]], (len(batch), 1))

    data, labels = original(self, image, fudged_image, segments, record, num_samples, batch_size)
    recorded["data"] = data
    return data, labels

  monkeypatch.setattr(lime_image.LimeImageExplainer, "data_labels", spy)
  for hide_color in (None, (10, 20, 30)):
    recorded.clear()
    lime_image.LimeImageExplainer(random_state=0).explain_instance(
        image,
        None,
        hide_color=hide_color,
        num_samples=20,
        top_labels=None,
        labels=(1,),
        segmentation_fn=lambda _: segments,
    )
    lime_images = np.concatenate(recorded["images"])
    if hide_color is None:
      fill = image_core.fill_image(
          jnp.asarray(image), jnp.asarray(segments), jnp.zeros(()), max_segments=6, mean_fill=True
      )
    else:
      fill = jnp.broadcast_to(jnp.asarray(hide_color, image.dtype), image.shape)
    words = image_core.pack_masks(jnp.asarray(recorded["data"] == 1))
    ours = image_core.perturb(words, jnp.asarray(image), jnp.asarray(segments), fill)
    assert ours.dtype == lime_images.dtype
    np.testing.assert_allclose(
        np.asarray(ours, np.float64), lime_images.astype(np.float64), rtol=1e-6
    )


@pytest.mark.parametrize("num_segments", [5, 64, 300])
def test_perturb_reads_each_pixels_superpixel(num_segments):
  """Every pixel takes the image where its superpixel's bit is set, fill elsewhere, with masks
  packed into 1, 2 or 10 words (the last built by a gather instead of selects)."""
  rng = np.random.default_rng(4)
  masks = rng.integers(0, 2, size=(7, num_segments)).astype(bool)
  segments = rng.integers(0, num_segments, size=(9, 11))
  image = rng.normal(size=(9, 11, 2)).astype(np.float32)
  fill = rng.normal(size=(9, 11, 2)).astype(np.float32)
  ours = image_core.perturb(
      image_core.pack_masks(jnp.asarray(masks)),
      jnp.asarray(image),
      jnp.asarray(segments),
      jnp.asarray(fill),
  )
  expected = np.where(masks[:, segments][..., None], image, fill)
  np.testing.assert_array_equal(ours, expected)


# ---- properties ----


# Options of most runs below on `images` and `grid`: one compiled program, shared by the tests.
STANDARD = dict(num_samples=64, top_labels=7)


@pytest.fixture(scope="module")
def standard(images, grid):
  return jaxlime.ImageExplainer().explain(images, pool_model, segments=grid, **STANDARD)


@pytest.mark.slow
def test_chunking_invariance_and_determinism(images, grid, standard):
  explainer = jaxlime.ImageExplainer()
  for batch_size in (7, 128):  # Chunks of 7 < S (with a remainder), blocks of 2 images.
    other = explainer.explain(images, pool_model, segments=grid, batch_size=batch_size, **STANDARD)
    np.testing.assert_allclose(other.coef, standard.coef, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(other.selected, standard.selected)
    np.testing.assert_array_equal(other.labels, standard.labels)
  again = explainer.explain(images, pool_model, key=0, segments=grid, **STANDARD)
  for field in ("coef", "intercept", "score", "labels", "prediction", "coef_std", "segments"):
    np.testing.assert_array_equal(getattr(again, field), getattr(standard, field))
  other_key = explainer.explain(images, pool_model, key=1, segments=grid, **STANDARD)
  assert not np.allclose(other_key.coef, standard.coef)
  np.testing.assert_allclose(standard.prediction, pool_model(images), rtol=1e-6)
  # lime's top_labels: highest first, and more than C classes gives the C classes.
  np.testing.assert_array_equal(
      standard.labels, np.argsort(-np.asarray(standard.prediction), axis=1)
  )


@pytest.mark.slow
def test_padding_batch_equals_one_by_one(images):
  """Images with 4, 9 and 16 superpixels in one batch give their one-by-one explanations."""
  segments = np.stack([segmentation.grid_segments(SIZE, SIZE, g) for g in (2, 3, 4)])
  explainer = jaxlime.ImageExplainer(feature_selection="forward_selection")
  key = jax.random.key(5)
  options = dict(hide_color=None, num_samples=96, num_features=6, top_labels=2)
  batch = explainer.explain(images, pool_model, key=key, segments=segments, **options)
  assert batch.coef.shape == (3, 2, 16)
  for i, count in enumerate((4, 9, 16)):
    single = explainer.explain(
        images[i : i + 1],
        pool_model,
        key=jax.random.fold_in(key, i)[None],
        segments=segments[i : i + 1],
        **options,
    )
    assert single.coef.shape == (1, 2, count)
    np.testing.assert_array_equal(batch.selected[i, :, :count], single.selected[0])
    for field in ("coef", "coef_std", "intercept", "score", "local_pred"):
      ours, alone = getattr(batch, field)[i], getattr(single, field)[0]
      np.testing.assert_allclose(
          ours[..., :count] if ours.ndim == 2 else ours, alone, rtol=1e-4, atol=1e-6
      )
    assert (np.asarray(batch.coef[i, :, count:]) == 0).all()
    assert (np.asarray(batch.coef_std[i, :, count:]) == 0).all()
    assert not np.asarray(batch.selected[i, :, count:]).any()
    assert (np.asarray(batch.selected[i]).sum(axis=-1) == min(6, count)).all()


@pytest.mark.parametrize("feature_selection", ["highest_weights", "lasso_path"])
@pytest.mark.slow
def test_padding_never_selected(images, feature_selection):
  """More features asked than an image has: only its own superpixels are selected."""
  segments = np.stack([segmentation.grid_segments(SIZE, SIZE, g) for g in (2, 3, 4)])
  explainer = jaxlime.ImageExplainer(feature_selection=feature_selection)
  batch = explainer.explain(
      images, pool_model, segments=segments, num_samples=96, num_features=12, top_labels=2
  )
  for i, count in enumerate((4, 9, 16)):
    assert (np.asarray(batch.coef[i, :, count:]) == 0).all()
    assert not np.asarray(batch.selected[i, :, count:]).any()
    if feature_selection == "highest_weights":
      assert (np.asarray(batch.selected[i]).sum(axis=-1) == min(12, count)).all()


@pytest.mark.parametrize(
    "positive_only,negative_only,hide_rest,num_features,min_weight",
    [
        (True, False, False, 5, 0.0),
        (False, True, True, 5, 0.0),
        (False, False, False, 6, 0.0),
        (False, False, True, 10, 0.01),
        (True, False, True, 3, 0.02),
        (False, True, False, 16, 0.005),
    ],
)
def test_get_image_and_mask_as_lime(
    standard, grid, positive_only, negative_only, hide_rest, num_features, min_weight
):
  """lime's ImageExplanation given the same weights returns the same image and mask."""
  image = np.asarray(standard.instances[0])
  for label in standard.available_labels(0):
    reference = lime_image.ImageExplanation(image, grid)
    reference.local_exp = {label: standard.as_map(0)[label]}
    options = dict(
        positive_only=positive_only,
        negative_only=negative_only,
        hide_rest=hide_rest,
        num_features=num_features,
        min_weight=min_weight,
    )
    expected_image, expected_mask = reference.get_image_and_mask(label, **options)
    ours_image, ours_mask = standard.get_image_and_mask(0, label, **options)
    np.testing.assert_array_equal(ours_mask, expected_mask)
    np.testing.assert_array_equal(ours_image, expected_image)
    assert ours_image.dtype == expected_image.dtype
  with pytest.raises(ValueError, match="cannot both"):
    standard.get_image_and_mask(0, label, positive_only=True, negative_only=True)


# ---- models ----


class SmallCNN(nnx.Module):

  def __init__(self, rngs):
    self.conv = nnx.Conv(3, 4, kernel_size=(3, 3), strides=(2, 2), rngs=rngs)
    self.head = nnx.Linear(4 * 8 * 8, 3, rngs=rngs)

  def __call__(self, x):
    h = jax.nn.relu(self.conv(x))
    return jax.nn.softmax(self.head(h.reshape(h.shape[0], -1)), axis=-1)


@pytest.mark.slow
def test_nnx_and_host_models(images, grid, standard):
  explainer = jaxlime.ImageExplainer()
  cnn = SmallCNN(nnx.Rngs(0))
  from_module = explainer.explain(images, cnn, segments=grid, **STANDARD)
  from_function = explainer.explain(images, lambda x: cnn(x), segments=grid, **STANDARD)
  np.testing.assert_allclose(from_module.coef, from_function.coef, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(from_module.prediction, cnn(images), rtol=1e-5)
  host = jaxlime.host_model(pool_model_numpy)
  from_host = explainer.explain(images, host, segments=grid, batch_size=20, **STANDARD)
  np.testing.assert_allclose(from_host.coef, standard.coef, rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_traceable_with_given_segments(images, grid, standard):
  explainer = jaxlime.ImageExplainer()
  jitted = jax.jit(lambda x: explainer.explain(x, pool_model, segments=grid, **STANDARD).coef)
  np.testing.assert_allclose(jitted(images), standard.coef, rtol=1e-5, atol=1e-7)


# ---- segmentation ----


def test_segmentation_names(images, standard):
  image = images[0]
  ours = jaxlime.SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2)
  lime_default = LimeSegmentationAlgorithm(
      "quickshift", kernel_size=4, max_dist=200, ratio=0.2, random_seed=7
  )
  np.testing.assert_array_equal(ours(image), lime_default(image))
  np.testing.assert_array_equal(
      segmentation.as_segmentation_fn("quickshift")(image), lime_default(image)
  )
  for name in ("slic", "felzenszwalb"):
    assert segmentation.as_segmentation_fn(name)(image).shape == (SIZE, SIZE)
  grid = segmentation.grid_segments(10, 7, (3, 2))
  assert sorted(np.unique(grid)) == list(range(6))
  assert grid[0, 0] == 0 and grid[-1, -1] == 5
  relabelled, counts = segmentation.relabel([np.array([[5, 9], [9, 2]])])
  np.testing.assert_array_equal(relabelled[0], [[1, 2], [2, 0]])
  assert counts.tolist() == [3]
  result = jaxlime.ImageExplainer().explain(
      images,
      pool_model,
      segmentation_fn=jaxlime.SegmentationAlgorithm("grid", grid_size=4),
      **STANDARD,
  )
  np.testing.assert_array_equal(result.coef, standard.coef)
  assert result.as_list(0, int(result.labels[0, 0]))[0][0].startswith("superpixel ")


def test_missing_scikit_image(monkeypatch):
  monkeypatch.setitem(sys.modules, "skimage", None)
  with pytest.raises(ImportError, match=r"pip install 'jaxlime\[segmentation\]'"):
    jaxlime.SegmentationAlgorithm("slic")
  assert jaxlime.SegmentationAlgorithm("grid", grid_size=2)(np.zeros((4, 4, 1))).max() == 3


# ---- bad input ----


def test_bad_input(images, grid):
  explainer = jaxlime.ImageExplainer()
  with pytest.raises(ValueError, match=r"images must have shape \[N, H, W, C\].*images\[None\]"):
    explainer.explain(images[0], pool_model, segments=grid)
  with pytest.raises(ValueError, match="segments must have shape"):
    explainer.explain(images, pool_model, segments=grid[:8])
  with pytest.raises(ValueError, match="non-integer"):
    explainer.explain(images, pool_model, segments=grid + 0.5)
  with pytest.raises(TypeError, match="integer superpixel labels"):
    explainer.explain(images, pool_model, segments=grid > 3)
  nan_images = images.copy()
  nan_images[1, 2, 3, 0] = np.nan
  with pytest.raises(ValueError, match=r"NaN/inf pixels \(first at index \(1, 2, 3, 0\)"):
    explainer.explain(nan_images, pool_model, segments=grid)
  with pytest.raises(ValueError, match=r"must return \[B, C\].*returned shape \(3,\)"):
    explainer.explain(images, lambda x: x.mean(axis=(1, 2, 3)), segments=grid)
  with pytest.raises(ValueError, match="hide_color must be a number or one value per channel"):
    explainer.explain(images, pool_model, segments=grid, hide_color=(1, 2))
  with pytest.raises(ValueError, match="segmentation_fn must be a callable or one of"):
    explainer.explain(images, pool_model, segmentation_fn="watershed")
  with pytest.raises(ValueError, match="returned labels of shape"):
    explainer.explain(images, pool_model, segmentation_fn=lambda image: image[..., 0].T[:3])
  with pytest.raises(ValueError, match="labels .* out of range"):
    explainer.explain(images, pool_model, segments=grid, labels=(3,), top_labels=None)
  with pytest.raises(ValueError, match="feature_selection must be one of"):
    jaxlime.ImageExplainer(feature_selection="best")
  with pytest.raises(ValueError, match="not parameters of skimage.segmentation.slic"):
    jaxlime.SegmentationAlgorithm("slic", kernel_size=3)


# ---- pictures ----


def test_figure_and_numpy_boundaries(standard, monkeypatch):
  import matplotlib

  matplotlib.use("Agg")
  figure = standard.image_figure(indices=[0, 2])
  assert len(figure.axes) == 6  # Per image: the image, the heat-map and its colour bar.
  heat = standard.coefficient_map(0, int(standard.labels[0, 0]))
  assert heat.shape == (SIZE, SIZE)
  monkeypatch.setitem(sys.modules, "skimage", None)
  from jaxlime._src import image_plots

  labels = np.zeros((6, 6), int)
  labels[2:4, 2:4] = 1
  marked = image_plots.mark_boundaries(np.zeros((6, 6, 1)), labels, color=(1, 0, 0))
  assert marked.shape == (6, 6, 3)
  np.testing.assert_array_equal(marked[..., 0] == 1, image_plots.boundaries(labels))
  assert image_plots.boundaries(labels)[2, 2] and not image_plots.boundaries(labels)[0, 0]
