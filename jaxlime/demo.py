"""The quickstart (`jaxlime demo`, `python examples/quickstart.py`): explain every test
prediction of a Flax MLP in one call.

Needs scikit-learn and optax (`pip install "jaxlime[examples]"`); matplotlib for the figure.
"""

import importlib.util
import pathlib
import time

import jax
import numpy as np

import jaxlime
from jaxlime.bench.models import train_breast_cancer_mlp


def main(out: pathlib.Path | None = None, num_samples: int = 5000):
  """Trains the MLP, explains its test rows and prints three explanations.

  Args:
    out: directory to save quickstart.png in (when matplotlib is installed); None saves nothing.
    num_samples: perturbations per explanation.
  """
  # A Flax NNX MLP, 30 -> 64 -> 64 -> 2, trained for a few seconds on the breast cancer data.
  model, data = train_breast_cancer_mlp()
  print(f"MLP test accuracy: {data['test_accuracy']:.3f}")

  explainer = jaxlime.TabularExplainer(
      data["X_train"],
      feature_names=data["feature_names"],
      class_names=data["class_names"],
      discretize_continuous=True,  # lime's default: quartile bins.
  )

  # All test rows at once: num_samples perturbations each, one jitted computation (compilation
  # included).
  start = time.perf_counter()
  exp = jax.block_until_ready(
      explainer.explain(
          data["X_test"], model, key=0, num_samples=num_samples, num_features=10, labels=(1,)
      )
  )
  elapsed = time.perf_counter() - start
  print(f"Explained {len(exp)} instances in {elapsed:.1f} s (including compilation).")

  label = 1  # "benign"; the only explained label, stored in column 0.
  p_benign = np.asarray(exp.prediction[:, label])
  # A confident malignant, a confident benign and the most uncertain prediction.
  for i in (
      int(np.argmin(p_benign)),
      int(np.argmax(p_benign)),
      int(np.argmin(abs(p_benign - 0.5))),
  ):
    predicted = data["class_names"][int(p_benign[i] > 0.5)]
    print(
        f"\nInstance {i}: predicted {predicted}, P(benign) = {p_benign[i]:.3f}, "
        f"surrogate R^2 = {exp.score[i, 0]:.2f}"
    )
    for name, weight, std in exp.as_list(i, label=label, with_std=True)[:5]:
      print(f"  {name:45s} {weight:+.3f} ± {std:.3f}")

  if out is not None and importlib.util.find_spec("matplotlib") is not None:
    out.mkdir(parents=True, exist_ok=True)
    exp.as_pyplot_figure(0, label=label).savefig(out / "quickstart.png", bbox_inches="tight")
    print(f"\nSaved {out / 'quickstart.png'}")
