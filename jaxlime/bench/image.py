"""Image LIME: jaxlime against lime 0.2.0.1 and captum, with the model-only floor and peak memory.

  jaxlime bench --only image [--quick]

Everything runs in one process, on crops of scikit-learn's two sample photographs (64 x 64 x 3,
values in [0, 1]), a grid of 8 x 8 = 64 superpixels, hide_color=0, S = 1000 perturbations and
lime's defaults otherwise (top_labels=5, num_features=100000), for two 10-class models:

* cnn: two 3 x 3 stride-2 convolutions (16 and 32 channels, relu), global mean, linear, softmax:
  the model dominates the cost of an explanation.
* linear: a linear read-out of the 12,288 pixels and a softmax: cheap, so an explainer's own
  overhead dominates.

Methods:
* lime: `LimeImageExplainer.explain_instance` one image at a time with its own batch_size=10, its
  classifier_fn being the jitted JAX model; median seconds per image over 3 images (--quick: 1).
* captum: `captum.attr.Lime` with the grid as feature_mask, baselines 0, a ridge surrogate
  (alpha 1) and lime's kernel (width 0.25 on the cosine distance between masks), on the same
  architecture in torch with the weights copied; one image and one target (the top label) per
  call, perturbations_per_eval=100; median seconds per image over the same images. lime and
  captum (with torch) are each skipped with a note when not installed.
* jaxlime: `ImageExplainer.explain` on N = 64 images at once (--quick: 8, the cnn only); the
  best of 5 calls (--quick: 2) with different keys (the machine is shared: the best run is the
  least disturbed one).
* floor: the jitted model alone on N * S images in jaxlime's batch size (calls on one prepared
  batch), best of as many calls plus one, measured between jaxlime's runs.

Each is timed in wall-clock seconds and in CPU seconds of this process (all threads): when other
work loads the machine, CPU time is the steadier measure of the work each method does.
* memory (full runs): the peak RSS (VmHWM) of a subprocess explaining N images of 224 x 224 x 3
  with the linear model, N = 8 and 64: memory is bounded by the batch size, not by N.

The machine block records OPENBLAS_NUM_THREADS: lime's numpy and scikit-learn run on OpenBLAS
threads, which compete with XLA's on a small machine.
"""

import os
import statistics
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # lime draws a progress bar per explanation.

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402
from sklearn.datasets import load_sample_images  # noqa: E402

import jaxlime  # noqa: E402
from jaxlime._src.image import plan_blocks  # noqa: E402  The explainer's batch, for the floor.
from jaxlime._src.streaming import choose_call  # noqa: E402
from jaxlime._src.segmentation import grid_segments  # noqa: E402
from jaxlime.bench import harness  # noqa: E402

NUM_SAMPLES = 1000
SIZE = 64
GRID = 8
NUM_CLASSES = 10
TOP_LABELS = 5
CAPTUM_BATCH = 100
MEMORY_SIZE = 224
MEMORY_IMAGES = (8, 64)


class CNN(nnx.Module):
  """Two stride-2 convolutions, global mean, linear read-out: [B, H, W, 3] -> [B, 10] softmax."""

  def __init__(self, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(3, 16, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), rngs=rngs)
    self.conv2 = nnx.Conv(16, 32, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), rngs=rngs)
    self.head = nnx.Linear(32, NUM_CLASSES, rngs=rngs)

  def __call__(self, x):
    h = jax.nn.relu(self.conv1(x))
    h = jax.nn.relu(self.conv2(h))
    return jax.nn.softmax(self.head(h.mean(axis=(1, 2))), axis=-1)


class Linear(nnx.Module):
  """A linear read-out of all pixels: [B, H, W, C] -> [B, 10] softmax."""

  def __init__(self, num_pixels: int, rngs: nnx.Rngs):
    self.head = nnx.Linear(num_pixels, NUM_CLASSES, rngs=rngs)

  def __call__(self, x):
    return jax.nn.softmax(self.head(x.reshape(x.shape[0], -1)), axis=-1)


def torch_twin(name: str, model: nnx.Module):
  """The same model in torch (NCHW input), with the weights copied."""
  import torch

  def tensor(value):
    return torch.tensor(np.asarray(value))

  class TorchCNN(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.conv1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
      self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
      self.head = torch.nn.Linear(32, NUM_CLASSES)
      for ours, theirs in ((self.conv1, model.conv1), (self.conv2, model.conv2)):
        ours.weight.data = tensor(theirs.kernel[...]).permute(3, 2, 0, 1).contiguous()
        ours.bias.data = tensor(theirs.bias[...])
      self.head.weight.data = tensor(model.head.kernel[...]).T.contiguous()
      self.head.bias.data = tensor(model.head.bias[...])

    def forward(self, x):
      h = torch.relu(self.conv1(x))
      h = torch.relu(self.conv2(h))
      return torch.softmax(self.head(h.mean(dim=(2, 3))), dim=-1)

  class TorchLinear(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.weight = tensor(model.head.kernel[...])
      self.bias = tensor(model.head.bias[...])

    def forward(self, x):
      flat = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # The JAX model's NHWC order.
      return torch.softmax(flat @ self.weight + self.bias, dim=-1)

  return (TorchCNN() if name == "cnn" else TorchLinear()).eval()


def make_model(name: str, size: int) -> nnx.Module:
  rngs = nnx.Rngs(0)
  return CNN(rngs) if name == "cnn" else Linear(size * size * 3, rngs)


def sample_crops(num_images: int, size: int) -> np.ndarray:
  """[N, size, size, 3] float32 crops in [0, 1] of scikit-learn's two sample photographs."""
  photos = load_sample_images().images
  rng = np.random.default_rng(0)
  crops = []
  for index in range(num_images):
    photo = photos[index % len(photos)]
    top = rng.integers(0, photo.shape[0] - size + 1)
    left = rng.integers(0, photo.shape[1] - size + 1)
    crops.append(photo[top : top + size, left : left + size])
  return (np.stack(crops) / 255.0).astype(np.float32)


def timed(fn) -> tuple[float, float]:
  """(wall, CPU) seconds of fn() until its result is ready; CPU time counts all threads."""
  wall, cpu = time.perf_counter(), time.process_time()
  jax.block_until_ready(fn())
  return time.perf_counter() - wall, time.process_time() - cpu


def summary(times: list[tuple[float, float]]) -> dict:
  """Median wall and CPU seconds of a list of (wall, CPU) timings."""
  return dict(
      seconds=statistics.median(t[0] for t in times),
      cpu_seconds=statistics.median(t[1] for t in times),
      all_seconds=[t[0] for t in times],
      all_cpu_seconds=[t[1] for t in times],
  )


# ---- the explainers ----


def bench_lime(forward, images, segments, num_images: int) -> dict:
  """Seconds per lime explanation of the first num_images images."""
  from lime import lime_image

  classifier_fn = lambda x: np.asarray(forward(jnp.asarray(x, jnp.float32)))  # noqa: E731
  for batch in (10, NUM_SAMPLES % 10 or 10):
    classifier_fn(images[:1].repeat(batch, axis=0))  # Compiles lime's batch shapes.
  explainer = lime_image.LimeImageExplainer(random_state=0)
  times = [
      timed(
          lambda: explainer.explain_instance(
              image,
              classifier_fn,
              hide_color=0,
              num_samples=NUM_SAMPLES,
              top_labels=TOP_LABELS,
              segmentation_fn=lambda _: segments,
          ).local_exp
      )
      for image in images[:num_images]
  ]
  return dict(**summary(times), labels=TOP_LABELS)


def bench_captum(torch_model, forward, images, segments, num_images: int) -> dict:
  """Seconds per captum Lime explanation of the first num_images images (one target each)."""
  import torch
  from captum._utils.models.linear_model import SkLearnRidge
  from captum.attr import Lime

  def similarity(original, perturbed, interpretable, **kwargs):
    """lime's kernel on the cosine distance between the mask and all-ones (the image)."""
    del original, perturbed, kwargs
    mask = interpretable.float().flatten()
    distance = 1 - mask.sum() / (mask.norm() * mask.numel() ** 0.5 + 1e-12)
    return float(torch.exp(-(distance**2) / 0.25**2) ** 0.5)

  explainer = Lime(
      torch_model, interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=similarity
  )
  feature_mask = torch.tensor(segments, dtype=torch.long)[None, None]
  inputs = torch.tensor(np.asarray(images)).permute(0, 3, 1, 2).contiguous()
  targets = np.asarray(forward(jnp.asarray(images[:num_images]))).argmax(axis=-1)
  with torch.no_grad():
    times = [
        timed(
            lambda: explainer.attribute(
                inputs[index : index + 1],
                target=int(targets[index]),
                baselines=0.0,
                feature_mask=feature_mask,
                n_samples=NUM_SAMPLES,
                perturbations_per_eval=CAPTUM_BATCH,
            ).numpy()
        )
        for index in range(num_images)
    ]
  floor = torch_floor(torch_model, inputs[:1], CAPTUM_BATCH)
  return dict(
      **summary(times), labels=1, perturbations_per_eval=CAPTUM_BATCH, torch_model_seconds=floor
  )


def torch_floor(torch_model, image, batch: int) -> float:
  """Seconds of the torch model alone on S images, in calls of `batch` (best of 3)."""
  import torch

  inputs = image.repeat(batch, 1, 1, 1)
  with torch.no_grad():
    torch_model(inputs)
    best = float("inf")
    for _ in range(3):
      start = time.perf_counter()
      for _ in range(NUM_SAMPLES // batch):
        torch_model(inputs)
      best = min(best, time.perf_counter() - start)
  return best


def model_chunk(num_images: int, image_size: int) -> int:
  """Perturbed images per model call in the explainer's program for N images on one device."""
  max_block, rows = plan_blocks(NUM_SAMPLES, image_size, None)
  if rows < NUM_SAMPLES:
    return rows
  block, _, _ = choose_call(num_images, max_block, 1, instances_per_call=None)
  return block * NUM_SAMPLES


def bench_jaxlime_and_floor(model, forward, images, segments, repeats: int) -> dict:
  """jaxlime on all images and the model alone on as many rows, interleaved; best of repeats."""
  num_images = images.shape[0]
  explainer = jaxlime.ImageExplainer()
  chunk = model_chunk(num_images, int(np.prod(images.shape[1:])))
  batch = jnp.asarray(np.resize(images, (chunk,) + images.shape[1:]))
  num_calls, remainder = divmod(num_images * NUM_SAMPLES, chunk)

  def explain(key):
    return explainer.explain(
        images,
        model,
        key=key,
        segments=segments,
        hide_color=0,
        num_samples=NUM_SAMPLES,
        top_labels=TOP_LABELS,
    ).coef

  def model_alone():
    outputs = [forward(batch) for _ in range(num_calls)]
    if remainder:
      outputs.append(forward(batch[:remainder]))
    return outputs

  first, _ = timed(lambda: explain(0))
  timed(model_alone)
  runs, floors = [], []
  for key in range(1, repeats + 1):
    floors.append(timed(model_alone))
    runs.append(timed(lambda: explain(key)))
  floors.append(timed(model_alone))
  best = min(runs)  # The least disturbed run, by wall time.
  best_floor = min(floors)
  return dict(
      first_call_seconds=first,
      compile_seconds=first - best[0],
      seconds=best[0],
      cpu_seconds=min(t[1] for t in runs),
      all_seconds=[t[0] for t in runs],
      all_cpu_seconds=[t[1] for t in runs],
      floor_seconds=best_floor[0],
      floor_cpu_seconds=min(t[1] for t in floors),
      all_floor_seconds=[t[0] for t in floors],
      all_floor_cpu_seconds=[t[1] for t in floors],
      chunk_size=chunk,
  )


# ---- memory ----


def memory_child(spec: dict) -> dict:
  """Explains spec["n"] 224 x 224 x 3 images with the linear model; its peak RSS (runs in a
  subprocess)."""
  num_images = spec["n"]
  images = sample_crops(num_images, MEMORY_SIZE)
  segments = grid_segments(MEMORY_SIZE, MEMORY_SIZE, GRID)
  model = make_model("linear", MEMORY_SIZE)
  before, _ = harness.peak_rss_mb()
  start = time.perf_counter()
  jax.block_until_ready(
      jaxlime.ImageExplainer()
      .explain(
          images,
          model,
          segments=segments,
          hide_color=0,
          num_samples=NUM_SAMPLES,
          top_labels=TOP_LABELS,
      )
      .coef
  )
  seconds = time.perf_counter() - start
  peak, maxrss = harness.peak_rss_mb()
  chunk = model_chunk(num_images, MEMORY_SIZE * MEMORY_SIZE * 3)
  return dict(
      n=num_images,
      seconds=seconds,
      chunk_size=chunk,
      peak_rss_before_explain_mb=before,
      peak_rss_mb=peak,
      ru_maxrss_mb=maxrss,
      images_mb=images.nbytes / 2**20,
      all_perturbations_mb=images.nbytes * NUM_SAMPLES / 2**20,
  )


# ---- rows ----

# Images for jaxlime, images timed for lime and captum, timed jaxlime and floor calls.
FULL = dict(models=("cnn", "linear"), n=64, lime_images=3, repeats=5)
QUICK = dict(models=("cnn",), n=8, lime_images=1, repeats=2)


def run(options: harness.Options) -> dict:
  """The image rows per model: lime, captum, jaxlime and the model floor, and (full runs) the
  peak memory of 8 and 64 224 x 224 images in subprocesses."""
  settings = dict(
      QUICK if options.quick else FULL,
      num_samples=NUM_SAMPLES,
      size=SIZE,
      superpixels=GRID * GRID,
      top_labels=TOP_LABELS,
  )
  n, lime_images, repeats = settings["n"], settings["lime_images"], settings["repeats"]
  notes = []
  has_lime = harness.peer("lime") is not None
  has_captum = harness.peer("captum") is not None and harness.peer("torch") is not None
  if not has_lime:
    notes.append(harness.missing_peer_note("lime", "the image lime rows"))
  if not has_captum:
    notes.append(
        "captum (with torch) is not installed: the image captum rows skipped "
        '(pip install "jaxlime[bench-captum]").'
    )
  images = sample_crops(n, SIZE)
  segments = grid_segments(SIZE, SIZE, GRID)
  rows = []
  for name in settings["models"]:
    model = make_model(name, SIZE)
    forward = harness.jitted_forward(model)
    if has_lime:
      print(f"{name}: lime ...", flush=True)
      theirs = bench_lime(forward, images, segments, lime_images)
      rows.append(_peer_row(name, "lime", theirs, theirs["labels"]))
    if has_captum:
      import torch

      twin = torch_twin(name, model)
      check = torch.tensor(images[:4]).permute(0, 3, 1, 2)
      with torch.no_grad():
        np.testing.assert_allclose(twin(check).numpy(), forward(images[:4]), atol=1e-5)
      print(f"{name}: captum ...", flush=True)
      theirs = bench_captum(twin, forward, images, segments, lime_images)
      row = _peer_row(name, "captum", theirs, theirs["labels"])
      row["note"] += f"; the torch model alone {theirs['torch_model_seconds']:.4f} s per S images"
      rows.append(row)
    print(f"{name}: jaxlime and the floor ...", flush=True)
    ours = bench_jaxlime_and_floor(model, forward, images, segments, repeats)
    rows.append(
        dict(
            case=name,
            method="jaxlime",
            role="jaxlime",
            n=n,
            seconds=ours["seconds"],
            cpu_seconds=ours["cpu_seconds"],
            compile_seconds=ours["compile_seconds"],
            all_seconds=ours["all_seconds"],
            note=f"{TOP_LABELS} labels, best of {repeats}, batches of {ours['chunk_size']} images",
        )
    )
    rows.append(
        dict(
            case=name,
            method="model floor",
            role="floor",
            n=n,
            seconds=ours["floor_seconds"],
            cpu_seconds=ours["floor_cpu_seconds"],
            note=f"the jitted model on N x S images, best of {repeats + 1}",
        )
    )
  if not options.quick:
    for size in MEMORY_IMAGES:
      print(f"memory, N = {size} (subprocess) ...", flush=True)
      memory = harness.run_child("image", "memory_child", dict(n=size))
      rows.append(
          dict(
              case=f"memory, {MEMORY_SIZE} x {MEMORY_SIZE} linear",
              method=f"jaxlime, N = {size}",
              role="jaxlime",
              n=size,
              seconds=memory["seconds"],
              peak_rss_mb=memory["peak_rss_mb"],
              peak_rss_before_explain_mb=memory["peak_rss_before_explain_mb"],
              note=f"peak RSS {memory['peak_rss_mb']:.0f} MB "
              f"({memory['peak_rss_before_explain_mb']:.0f} MB before explain; all perturbations "
              f"{memory['all_perturbations_mb']:,.0f} MB), first call",
          )
      )
  settings["openblas_num_threads"] = os.environ.get("OPENBLAS_NUM_THREADS")
  return dict(rows=rows, figures=[], settings=settings, notes=notes)


def _peer_row(case: str, method: str, run: dict, labels: int) -> dict:
  """A peer's row from its per-image timings (`summary`)."""
  return dict(
      case=case,
      method=method,
      role="peer",
      n=len(run["all_seconds"]),
      seconds=sum(run["all_seconds"]),
      seconds_per_item=run["seconds"],
      cpu_seconds=run["cpu_seconds"],
      note=f"{labels} label(s); median per image",
  )
