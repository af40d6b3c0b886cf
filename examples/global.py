"""The global view of a Flax MLP: one explain call over the test set, then one HTML report.

  pip install -e ".[examples]" && python examples/global.py            # full size
  python examples/global.py --quick                                    # small, for tests

Writes examples/output/report.html: global importance (mean |LIME coefficient| with a
bootstrap interval), the per-instance summary, SP-LIME's picks and centred ICE / PDP of the
top features. The file is self-contained: open it in any browser, offline.
"""

import argparse
import pathlib
import time

import jax

import jaxlime
from _models import train_breast_cancer_mlp


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
      "--quick", action="store_true", help="40 test rows, 500 samples, a short training, grid 10"
  )
  parser.add_argument(
      "--output",
      type=pathlib.Path,
      default=pathlib.Path(__file__).parent / "output" / "report.html",
  )
  args = parser.parse_args()

  # A Flax NNX MLP, 30 -> 64 -> 64 -> 2, trained on the breast cancer data.
  model, data = train_breast_cancer_mlp(steps=50 if args.quick else 200)
  X_test = data["X_test"][:40] if args.quick else data["X_test"]
  print(f"MLP test accuracy: {data['test_accuracy']:.3f}")

  explainer = jaxlime.TabularExplainer(
      data["X_train"], feature_names=data["feature_names"], class_names=data["class_names"]
  )
  start = time.perf_counter()
  explanation = jax.block_until_ready(
      explainer.explain(
          X_test,
          model,
          key=0,
          num_samples=500 if args.quick else 5000,
          num_features=10,
          labels=(1,),
      )
  )
  print(
      f"Explained {len(explanation)} test rows in {time.perf_counter() - start:.1f} s "
      "(compilation included)."
  )

  importance = jaxlime.global_importance(explanation, label=1)
  for name, mean, low, high in importance.as_list()[:5]:
    print(f"  {name:25s} mean |coef| {mean:.3f}  95% interval [{low:.3f}, {high:.3f}]")

  args.output.parent.mkdir(parents=True, exist_ok=True)
  path = jaxlime.report(
      explanation,
      args.output,
      model=model,
      X=X_test,
      label=1,
      grid_resolution=10 if args.quick else 30,
      title="Breast cancer MLP: global view",
  )
  print(f"Wrote {path}")


if __name__ == "__main__":
  main()
