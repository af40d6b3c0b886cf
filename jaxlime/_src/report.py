"""One self-contained HTML report of a batch of explanations (host side).

Sections (each a `<section id=...>`): "importance" (global importance with intervals),
"summary" (the per-instance beeswarm), "picks" (SP-LIME's picks, each with its local
explanation) and, when a model and data are given, "dependence" (centred ICE with the PDP of
the top features). Figures are PNG images inlined as base64 data URIs; the page loads no
script, font, stylesheet or image from anywhere else.
"""

import base64
import html
import io
import pathlib

import numpy as np

from jaxlime._src import global_importance as importance_lib
from jaxlime._src import global_plots
from jaxlime._src import partial_dependence as pd_lib
from jaxlime._src import submodular
from jaxlime._src.plots import _pyplot

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; }
section { margin-bottom: 2.5em; } img { max-width: 100%; }
.picks { display: flex; flex-wrap: wrap; gap: 1.5em; } .pick { flex: 1 1 420px; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: left; }
.note { color: #666; font-size: 0.9em; }
"""


def _png(figure) -> str:
  """The figure as an <img> with an inline base64 PNG; the figure is closed."""
  plt = _pyplot()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
  plt.close(figure)
  data = base64.b64encode(buffer.getvalue()).decode("ascii")
  return f"<img alt='figure' src='data:image/png;base64,{data}'>"


def _importance_table(importance, max_rows: int) -> str:
  rows = "".join(
      f"<tr><td>{html.escape(name)}</td><td>{mean:.4f}</td><td>[{low:.4f}, {high:.4f}]</td></tr>"
      for name, mean, low, high in importance.as_list()[:max_rows]
  )
  level = int(round(100 * importance.confidence))
  return (
      "<table><tr><th>feature</th><th>mean |coef|</th>"
      f"<th>{level}% {importance.interval} interval</th></tr>{rows}</table>"
  )


def _sp_table(importance, max_rows: int) -> str:
  order = np.argsort(-importance.sp_importance, kind="stable")[:max_rows]
  rows = "".join(
      f"<tr><td>{html.escape(importance.sp_features[j])}</td>"
      f"<td>{importance.sp_importance[j]:.4f}</td></tr>"
      for j in order
  )
  return f"<table><tr><th>feature (lime's name)</th><th>SP-LIME importance</th></tr>{rows}</table>"


def report(
    explanation,
    path,
    *,
    model=None,
    X=None,
    label: int | None = None,
    num_picks: int = 4,
    max_display: int = 15,
    top_features: int = 4,
    grid_resolution: int = 30,
    interval: str = "bootstrap",
    key=0,
    title: str = "jaxlime report",
) -> pathlib.Path:
  """Writes one self-contained HTML page on N explanations of tabular rows.

  Args:
    explanation: an `Explanation` of N instances (from `TabularExplainer.explain`).
    path: the .html file to write.
    model: optional, the explained model: with `X`, adds centred ICE and PDP of the
      `top_features` most important features.
    X: optional [M, F] rows for the partial dependence (e.g. the explained rows).
    label: the class to report; default the first label explained for instance 0.
    num_picks: SP-LIME picks shown with their local explanations (at most N).
    max_display: features shown in the importance and summary figures.
    top_features: features with a PDP/ICE figure.
    grid_resolution: grid points of each PDP.
    interval: "bootstrap" or "posterior", see `global_importance`.
    key: int seed or key of the bootstrap.
    title: the page's title.

  Returns:
    The path written.
  """
  if (model is None) != (X is None):
    raise ValueError("pass both model= and X= to add partial dependence, or neither.")
  importance = importance_lib.global_importance(
      explanation, label=label, interval=interval, key=key
  )
  label = importance.label
  instances = np.asarray(explanation.instances)
  values = instances if instances.shape == importance.coef.shape else None
  sections = [
      "<section id='importance'><h2>Global importance</h2>"
      f"<p class='note'>Mean |LIME coefficient| over {len(explanation)} explanations, label "
      f"{label}; the interval is a {importance.interval} interval "
      f"(see jaxlime.global_importance).</p>"
      f"{_png(global_plots.importance_figure(importance, max_display=max_display))}"
      f"{_importance_table(importance, max_display)}</section>",
      "<section id='summary'><h2>Summary</h2><p class='note'>One point per instance: its "
      "coefficient of the feature, coloured by the feature's value.</p>"
      f"{_png(global_plots.summary_figure(importance, values, max_display=max_display))}"
      "</section>",
  ]
  picks = submodular.pick_explanations(explanation, min(num_picks, len(explanation)))
  pick_html = "".join(f"<div class='pick'>{explanation.as_html(i, label)}</div>" for i in picks)
  sections.append(
      "<section id='picks'><h2>SP-LIME picks</h2><p class='note'>Instances "
      f"{picks} cover the important features (lime's submodular pick), ranked by "
      "SP-LIME's importance sqrt(sum_i |W_ij|):</p>"
      f"{_sp_table(importance, max_display)}"
      f"<div class='picks'>{pick_html}</div></section>"
  )
  if model is not None:
    top = [int(j) for j in importance.order[:top_features]]
    results = pd_lib.partial_dependences(
        model, X, top, grid_resolution=grid_resolution, kind="both"
    )
    output = 0 if explanation.mode == "regression" else label
    figures = "".join(
        _png(
            global_plots.partial_dependence_figure(
                result, output=output, centered=True, feature_names=importance.feature_names
            )
        )
        for result in results
    )
    sections.append(
        "<section id='dependence'><h2>Partial dependence</h2><p class='note'>"
        "Centred ICE lines (a subset of rows) and their average, the centred "
        f"partial dependence, for output {output}.</p>"
        f"<div class='picks'>{figures}</div></section>"
    )
  page = (
      "<!DOCTYPE html><html><head><meta charset='utf-8'>"
      f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
      f"<h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>"
  )
  path = pathlib.Path(path)
  path.write_text(page, encoding="utf-8")
  return path
