"""Quickstart: explain every test prediction of a Flax MLP in one call.

  pip install -e ".[examples]" && python examples/quickstart.py
  python examples/quickstart.py --quick      # small, for tests: short training, 40 rows, S = 500

Writes examples/output/quickstart.png (lime's bar chart of the first explanation) when
matplotlib is installed.
"""

import argparse
import importlib.util
import pathlib
import time

import jax
import numpy as np

import jaxlime
from _models import train_breast_cancer_mlp

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="short training, 40 rows, 500 samples")
parser.add_argument(
    "--output",
    type=pathlib.Path,
    default=pathlib.Path(__file__).parent / "output" / "quickstart.png",
)
args = parser.parse_args()
num_samples = 500 if args.quick else 5000

# A Flax NNX MLP, 30 -> 64 -> 64 -> 2, trained for a few seconds on the breast cancer data.
model, data = train_breast_cancer_mlp(steps=50 if args.quick else 200)
X_test = data["X_test"][:40] if args.quick else data["X_test"]
print(f"MLP test accuracy: {data['test_accuracy']:.3f}")

explainer = jaxlime.TabularExplainer(
    data["X_train"],
    feature_names=data["feature_names"],
    class_names=data["class_names"],
    discretize_continuous=True,  # lime's default: quartile bins.
)

# All test rows at once: 5000 perturbations each, one jitted computation (compilation included).
start = time.perf_counter()
exp = jax.block_until_ready(
    explainer.explain(X_test, model, key=0, num_samples=num_samples, num_features=10, labels=(1,))
)
elapsed = time.perf_counter() - start
print(f"Explained {len(exp)} instances in {elapsed:.1f} s (including compilation).")

label = 1  # "benign"; the only explained label, stored in column 0.
p_benign = np.asarray(exp.prediction[:, label])
# A confident malignant, a confident benign and the most uncertain prediction.
for i in (int(np.argmin(p_benign)), int(np.argmax(p_benign)), int(np.argmin(abs(p_benign - 0.5)))):
  predicted = data["class_names"][int(p_benign[i] > 0.5)]
  print(
      f"\nInstance {i}: predicted {predicted}, P(benign) = {p_benign[i]:.3f}, "
      f"surrogate R^2 = {exp.score[i, 0]:.2f}"
  )
  for name, weight, std in exp.as_list(i, label=label, with_std=True)[:5]:
    print(f"  {name:45s} {weight:+.3f} ± {std:.3f}")

if importlib.util.find_spec("matplotlib") is not None:
  import matplotlib

  matplotlib.use("Agg")
  args.output.parent.mkdir(parents=True, exist_ok=True)
  exp.as_pyplot_figure(0, label=label).savefig(args.output, bbox_inches="tight")
  print(f"\nSaved {args.output}")
