"""jaxlime.compat against lime on breast cancer (scikit-learn logistic regression, S = 5000).

  jaxlime bench --only compat [--quick]

Rows: a fresh process's first `explain_instance` after import on a cold and on a warm persistent
compilation cache (median of 3 processes each; --quick: 1), lime's first call (not with --quick),
warm per-call times (10 calls; --quick: 3), and `explain_instances` on 1,000 rows (--quick: 100)
against a lime loop over 100 of them (--quick: 10). lime's rows are skipped with a note when it
is not installed.
"""

import os
import statistics
import tempfile
import time

import numpy as np

from jaxlime.bench import harness

# A fitted LogisticRegression's attributes, saved for the fresh processes.
_FITTED = ("coef_", "intercept_", "classes_", "n_iter_")

# Fresh processes per first-call row (the median is reported), warm calls timed, rows explained
# by explain_instances, rows of the lime loop.
FULL = dict(processes=3, lime_first_call=True, warm_calls=10, rows=1000, lime_rows=100)
QUICK = dict(processes=1, lime_first_call=False, warm_calls=3, rows=100, lime_rows=10)


def _breast_cancer_model(path: str | None = None):
  """(data, predict_proba of a logistic regression fitted on it).

  The fit (lbfgs, max_iter=5000 on the raw features) takes seconds and is not what is timed: the
  parent fits it once and saves it to `path` (.npz), the fresh processes load it from there.
  """
  from sklearn.datasets import load_breast_cancer
  from sklearn.linear_model import LogisticRegression

  data = load_breast_cancer()
  if path is None:
    return data, LogisticRegression(max_iter=5000).fit(data.data, data.target)
  classifier = LogisticRegression(max_iter=5000)
  with np.load(path) as saved:
    for name in _FITTED:
      setattr(classifier, name, saved[name])
  classifier.n_features_in_ = data.data.shape[1]
  return data, classifier


def first_call_child(spec: dict) -> dict:
  """Seconds from after the imports to the end of the first explain_instance (in a fresh
  process); spec["which"] is "lime" or "jaxlime", spec["model"] the saved classifier."""
  data, classifier = _breast_cancer_model(spec["model"])
  model = classifier.predict_proba
  if spec["which"] == "lime":
    from lime import lime_tabular
  else:
    from jaxlime.compat import lime_tabular
  start = time.perf_counter()
  explainer = lime_tabular.LimeTabularExplainer(data.data, random_state=0)
  explainer.explain_instance(data.data[0], model)
  return dict(seconds=time.perf_counter() - start)


def first_call(which: str, cache_dir: str, model_path: str) -> float:
  """first_call_child in a fresh process whose compilation cache is `cache_dir` ("off": none)."""
  env = dict(os.environ, JAXLIME_CACHE_DIR=cache_dir)
  spec = dict(which=which, model=model_path)
  return harness.run_child("compat", "first_call_child", spec, env=env)["seconds"]


def run(options: harness.Options) -> dict:
  """The compat rows: first calls in fresh processes, warm calls, and 1,000 rows at once."""
  from jaxlime.compat import lime_tabular

  settings = dict(QUICK if options.quick else FULL)
  lime = harness.peer("lime")
  notes = [] if lime else [harness.missing_peer_note("lime", "the compat lime rows")]
  rows = []
  data, classifier = _breast_cancer_model()
  model = classifier.predict_proba
  case = "first call after import (fresh process)"
  print("first calls in fresh processes ...", flush=True)
  with tempfile.TemporaryDirectory() as directory:
    model_path = os.path.join(directory, "logistic.npz")
    np.savez(model_path, **{name: getattr(classifier, name) for name in _FITTED})
    cold, warm = [], []
    for _ in range(settings["processes"]):
      with tempfile.TemporaryDirectory() as cache_dir:
        cold.append(first_call("jaxlime", cache_dir, model_path))
        warm.append(first_call("jaxlime", cache_dir, model_path))
    lime_seconds = []
    if lime and settings["lime_first_call"]:
      lime_seconds = [first_call("lime", "off", model_path) for _ in range(settings["processes"])]
  for method, seconds in (("cold", cold), ("warm", warm)):
    rows.append(
        dict(
            case=case,
            method=f"jaxlime.compat, {method} cache",
            role="jaxlime",
            n=1,
            seconds=statistics.median(seconds),
            all_seconds=seconds,
            note=f"median of {len(seconds)} process(es)",
        )
    )
  if lime_seconds:
    rows.append(
        dict(
            case=case,
            method="lime",
            role="peer",
            n=1,
            seconds=statistics.median(lime_seconds),
            all_seconds=lime_seconds,
            note=f"median of {len(lime_seconds)} process(es)",
        )
    )

  ours = lime_tabular.LimeTabularExplainer(data.data, random_state=0)
  ours.explain_instance(data.data[0], model)

  def per_call(explainer, calls):
    start = time.perf_counter()
    for i in range(calls):
      explainer.explain_instance(data.data[i], model)
    return time.perf_counter() - start

  print("warm explain_instance ...", flush=True)
  calls = settings["warm_calls"]
  case = "explain_instance, warm"
  rows.append(
      dict(
          case=case, method="jaxlime.compat", role="jaxlime", n=calls, seconds=per_call(ours, calls)
      )
  )
  if lime:
    from lime import lime_tabular as lime_lime_tabular

    theirs = lime_lime_tabular.LimeTabularExplainer(data.data, random_state=0)
    rows.append(
        dict(case=case, method="lime", role="peer", n=calls, seconds=per_call(theirs, calls))
    )

  print("explain_instances against a lime loop ...", flush=True)
  n = settings["rows"]
  batch = data.data[np.arange(n) % len(data.data)]
  ours.explain_instances(batch[:10], model)
  start = time.perf_counter()
  ours.explain_instances(batch, model)
  case = f"{n:,} rows"
  rows.append(
      dict(
          case=case,
          method="jaxlime.compat explain_instances",
          role="jaxlime",
          n=n,
          seconds=time.perf_counter() - start,
      )
  )
  if lime:
    lime_rows = settings["lime_rows"]
    start = time.perf_counter()
    for row in batch[:lime_rows]:
      theirs.explain_instance(row, model)
    rows.append(
        dict(
            case=case,
            method="lime",
            role="peer",
            n=lime_rows,
            seconds=time.perf_counter() - start,
            note=f"explain_instance loop over the first {lime_rows} rows",
        )
    )
  return dict(rows=rows, figures=[], settings=settings, notes=notes)
