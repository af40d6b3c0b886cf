"""Global importance, the global figures, and the HTML report rendered in a headless browser."""

import dataclasses
import re

import matplotlib
import numpy as np
import pytest
from statistics import NormalDist

import jaxlime

import browser
from helpers import run_example

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def explained(breast_cancer, logistic):
  X, _, names, classes = breast_cancer
  explainer = jaxlime.TabularExplainer(X, feature_names=names, class_names=classes)
  rows = X[::19]  # 30 rows.
  explanation = explainer.explain(
      rows, logistic.model, key=0, num_samples=400, num_features=6, labels=(0, 1)
  )
  return explanation, rows, logistic.model, names


@pytest.mark.slow
def test_mean_abs_posterior_interval_and_sp_importance(explained):
  explanation, _, _, names = explained
  coef = np.asarray(explanation.coef, np.float64)[:, 1]  # labels=(0, 1): label 1 is column 1.
  std = np.asarray(explanation.coef_std, np.float64)[:, 1]
  result = jaxlime.global_importance(explanation, label=1, interval="posterior", confidence=0.9)
  assert result.feature_names == tuple(names)
  np.testing.assert_allclose(result.mean_abs, np.abs(coef).mean(0))
  half = NormalDist().inv_cdf(0.95) * np.sqrt((std**2).sum(0)) / coef.shape[0]
  np.testing.assert_allclose(result.upper, np.abs(coef).mean(0) + half)
  np.testing.assert_allclose(result.lower, np.maximum(np.abs(coef).mean(0) - half, 0))
  # SP-LIME's importance: lime's W has a column per readable name ("worst area > 1084.00") and
  # sums each instance's labels, so its squared importances add up to sum_ij |sum_l c_ilj|.
  summed = np.abs(np.asarray(explanation.coef, np.float64).sum(axis=1)).sum()
  np.testing.assert_allclose((result.sp_importance**2).sum(), summed, rtol=1e-9)
  assert len(result.sp_features) == len(result.sp_importance) > len(names)
  assert any(" <= " in name or " > " in name for name in result.sp_features)
  assert result.as_list()[0][0] == names[int(np.argmax(np.abs(coef).mean(0)))]
  label0 = jaxlime.global_importance(explanation, label=0)
  np.testing.assert_allclose(label0.coef, np.asarray(explanation.coef)[:, 0])


@pytest.mark.slow
def test_bootstrap_interval_matches_the_normal_theory_width(explained):
  """Many instances: the percentile interval of the mean is mean -/+ 1.96 sd / sqrt(N)."""
  rng = np.random.default_rng(0)
  num_instances = 4000
  coef = rng.exponential(size=(num_instances, 2, 30)) * np.linspace(0.5, 2.0, 30)
  # 4000 copies of one explanation (labels 0 and 1), with these coefficients and no names.
  fake = dataclasses.replace(
      explained[0][np.zeros(num_instances, int)],
      coef=coef,
      selected=coef != 0,
      coef_std=coef * 0.1,
      domain=None,
  )
  result = jaxlime.global_importance(fake, label=1, num_bootstrap=2000, key=1)
  expected = 1.96 * coef[:, 1].std(0) / np.sqrt(num_instances)
  np.testing.assert_allclose((result.upper - result.lower) / 2, expected, rtol=0.15)
  assert ((result.lower < result.mean_abs) & (result.mean_abs < result.upper)).all()
  assert result.feature_names == tuple(str(j) for j in range(30))
  again = jaxlime.global_importance(fake, label=1, num_bootstrap=2000, key=1)
  np.testing.assert_array_equal(again.lower, result.lower)
  other = jaxlime.global_importance(fake, label=1, num_bootstrap=2000, key=2)
  assert not np.array_equal(other.lower, result.lower)


def test_bad_input(explained):
  explanation, *_ = explained
  with pytest.raises(ValueError, match=r"label 2 is not explained for instances \[0, 1,"):
    jaxlime.global_importance(explanation, label=2)
  with pytest.raises(ValueError, match="interval must be one of"):
    jaxlime.global_importance(explanation, interval="normal")
  with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\); got 1.5"):
    jaxlime.global_importance(explanation, confidence=1.5)
  with pytest.raises(ValueError, match="feature_names must have 30 entries"):
    jaxlime.global_importance(explanation, feature_names=["a"])
  with pytest.raises(ValueError, match="pass both model= and X="):
    jaxlime.report(explanation, "unused.html", model=lambda x: x)


def test_figures_draw_what_they_say(explained):
  explanation, rows, model, names = explained
  importance = jaxlime.global_importance(explanation, label=1)
  figure = jaxlime.importance_figure(importance, max_display=7)
  bars = figure.axes[0].patches
  assert len(bars) == 7
  np.testing.assert_allclose(sorted(b.get_width() for b in bars), np.sort(importance.mean_abs)[-7:])
  figure = jaxlime.summary_figure(importance, rows, max_display=5)
  points = sum(len(c.get_offsets()) for c in figure.axes[0].collections)
  assert points == importance.selected[:, importance.order[:5]].sum()

  result = jaxlime.partial_dependence(model, rows, 3, grid_resolution=12, kind="both")
  figure = jaxlime.partial_dependence_figure(result, centered=True, num_ice_lines=10)
  lines = figure.axes[0].get_lines()
  assert len(lines) == 11  # 10 ICE lines and the average.
  assert all(line.get_ydata()[0] == 0 for line in lines)
  np.testing.assert_allclose(lines[-1].get_ydata(), result.average[1] - result.average[1, 0])
  two_way = jaxlime.partial_dependence(model, rows, (3, 7), grid_resolution=6)
  figure = jaxlime.partial_dependence_figure(two_way, feature_names=names)
  assert figure.axes[0].get_xlabel() == names[3] and figure.axes[0].get_ylabel() == names[7]
  ale = jaxlime.accumulated_local_effects(model, rows, 3, grid_size=8)
  figure = jaxlime.ale_figure(ale)
  np.testing.assert_allclose(figure.axes[0].get_lines()[0].get_ydata(), ale.ale[1])
  with pytest.raises(ValueError, match="needs ICE values"):
    jaxlime.partial_dependence_figure(jaxlime.partial_dependence(model, rows, 3), kind="individual")


@pytest.mark.slow  # About 15 s: the explanation, four figures and two browser runs.
def test_report_renders_in_a_headless_browser(explained, tmp_path):
  browser.require_chromium()
  explanation, rows, model, _ = explained
  page = jaxlime.report(
      explanation,
      tmp_path / "report.html",
      model=model,
      X=rows,
      label=1,
      grid_resolution=8,
      top_features=2,
      num_picks=3,
  )
  text = page.read_text()
  # Self-contained: every src/href is an inline data URI; no script, font or stylesheet link.
  assert not re.search(r"""(?:src|href)\s*=\s*['"](?!data:)""", text)
  assert "<script" not in text and "@import" not in text and "url(" not in text

  dom = browser.dump_dom(page)
  for section in ("importance", "summary", "picks", "dependence"):
    assert f'<section id="{section}">' in dom
  assert dom.count("<img") == 2 + 2  # importance, summary, two PDP/ICE figures.
  assert dom.count("Explanation of instance") == 3

  image = browser.screenshot(page, tmp_path / "report.png", width=1200, height=3000)
  from PIL import Image

  pixels = np.asarray(Image.open(image).convert("RGB"))
  assert pixels.shape == (3000, 1200, 3)
  colours = np.unique(pixels.reshape(-1, 3), axis=0).shape[0]
  assert colours > 200, colours  # A blank or text-only page has a few dozen.
  drawn_rows = np.flatnonzero((pixels < 250).any(axis=(1, 2)))
  assert drawn_rows.max() > 1500  # Content continues far down the page (the figures loaded).


@pytest.mark.slow  # About 30 s: trains the MLP and explains 40 rows in a subprocess.
def test_example_writes_the_report(tmp_path):
  output = tmp_path / "report.html"
  run_example("global.py", "--quick", "--output", str(output), timeout=300)
  assert output.exists() and 'id="dependence"' in output.read_text().replace("'", '"')
