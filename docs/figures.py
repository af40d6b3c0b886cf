"""Draws the README's figures into docs/ with the examples' models (small PNGs, committed).

  pip install -e ".[examples]" && python docs/figures.py

The models and explain calls are those of examples/quickstart.py (the breast-cancer Flax MLP),
examples/image.py (the digits CNN) and examples/text.py (the sentiment embedding bag); a run
takes about a minute on 2 CPU cores.
"""

import pathlib
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import jaxlime  # noqa: E402

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "examples"))

import image as image_example  # noqa: E402
import text as text_example  # noqa: E402
from _models import train_breast_cancer_mlp  # noqa: E402

DPI = 72  # Keeps each PNG at tens of kilobytes.


def save(figure, name: str):
  path = DOCS / name
  figure.savefig(path, dpi=DPI, bbox_inches="tight")
  plt.close(figure)
  print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def tabular_figures():
  """docs/tabular.png (the quickstart's bar chart), kernel_shap.png and global.png."""
  model, data = train_breast_cancer_mlp()
  names, classes = data["feature_names"], data["class_names"]
  explainer = jaxlime.TabularExplainer(data["X_train"], feature_names=names, class_names=classes)
  exp = explainer.explain(data["X_test"], model, key=0, num_samples=5000, num_features=10)
  save(exp.as_pyplot_figure(0, label=1, figsize=(5, 4)), "tabular.png")

  importance = jaxlime.global_importance(exp, label=1)
  save(jaxlime.summary_figure(importance, data["X_test"], max_display=10), "global.png")

  shap = jaxlime.KernelShapExplainer(data["X_train"][:50], feature_names=names)
  values = shap.explain(data["X_test"][:1], model, key=0)
  top = values.as_list(0, 1)[:10][::-1]
  figure, ax = plt.subplots(figsize=(5, 4))
  ax.barh(
      [name for name, _ in top],
      [value for _, value in top],
      color=["tab:green" if value > 0 else "tab:red" for _, value in top],
  )
  ax.set_xlabel(f"Kernel SHAP value for P({classes[1]})")
  ax.set_title("Test row 0: the 10 largest of 30 values")
  save(figure, "kernel_shap.png")


def image_figure():
  """docs/image.png: examples/image.py's figure for 4 test digits."""
  x_train, x_test, y_train, _ = image_example.load_images()
  model = image_example.train(x_train, y_train)
  explainer = jaxlime.ImageExplainer(class_names=[str(d) for d in range(10)])
  exp = explainer.explain(
      x_test[:4],
      model,
      key=0,
      segmentation_fn=jaxlime.SegmentationAlgorithm("grid", grid_size=8),
      hide_color=0,
      num_samples=1000,
      top_labels=1,
  )
  save(exp.image_figure(indices=range(4), num_features=6, figsize=(8, 4.6)), "image.png")


def text_figure():
  """docs/text.png: word weights of two sentences under examples/text.py's classifier."""
  model, tokenizer, _ = text_example.train_sentiment_model()
  texts = [
      "The acting was wonderful but the plot felt slow and predictable.",
      "What a dull, lifeless film. The soundtrack was lovely though.",
  ]
  explainer = jaxlime.TextExplainer(class_names=text_example.CLASS_NAMES)
  exp = explainer.explain(texts, model, key=0, num_features=6, tokenizer=tokenizer)
  figure, axes = plt.subplots(1, 2, figsize=(9, 3))
  for i, ax in enumerate(axes):
    words = exp.as_list(i, label=1)[::-1]
    ax.barh(
        [word for word, _ in words],
        [weight for _, weight in words],
        color=["tab:green" if weight > 0 else "tab:red" for _, weight in words],
    )
    ax.set_title(f"P(positive) = {float(exp.prediction[i, 1]):.2f}\n{texts[i]}", fontsize=8)
  figure.tight_layout()
  save(figure, "text.png")


if __name__ == "__main__":
  tabular_figures()
  image_figure()
  text_figure()
