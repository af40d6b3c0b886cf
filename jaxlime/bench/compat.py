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

from jaxlime.bench import harness

# Fresh processes per first-call row (the median is reported), warm calls timed, rows explained
# by explain_instances, rows of the lime loop.
FULL = dict(processes=3, lime_first_call=True, warm_calls=10, rows=1000, lime_rows=100)
QUICK = dict(processes=1, lime_first_call=False, warm_calls=3, rows=100, lime_rows=10)


def _breast_cancer_model():
  """(data, predict_proba of a logistic regression fitted on it)."""
  from sklearn.datasets import load_breast_cancer
  from sklearn.linear_model import LogisticRegression

  data = load_breast_cancer()
  return data, LogisticRegression(max_iter=5000).fit(data.data, data.target).predict_proba


def first_call_child(spec: dict) -> dict:
  """Seconds from after the imports to the end of the first explain_instance (in a fresh
  process); spec["which"] is "lime" or "jaxlime"."""
  data, model = _breast_cancer_model()
  if spec["which"] == "lime":
    from lime import lime_tabular
  else:
    from jaxlime.compat import lime_tabular
  start = time.perf_counter()
  explainer = lime_tabular.LimeTabularExplainer(data.data, random_state=0)
  explainer.explain_instance(data.data[0], model)
  return dict(seconds=time.perf_counter() - start)


def first_call(which: str, cache_dir: str) -> float:
  """first_call_child in a fresh process whose compilation cache is `cache_dir` ("off": none)."""
  env = dict(os.environ, JAXLIME_CACHE_DIR=cache_dir)
  return harness.run_child("compat", "first_call_child", dict(which=which), env=env)["seconds"]


def run(options: harness.Options) -> dict:
  """The compat rows: first calls in fresh processes, warm calls, and 1,000 rows at once."""
  import numpy as np

  from jaxlime.compat import lime_tabular

  settings = dict(QUICK if options.quick else FULL)
  lime = harness.peer("lime")
  notes = [] if lime else [harness.missing_peer_note("lime", "the compat lime rows")]
  rows = []
  case = "first call after import (fresh process)"
  print("first calls in fresh processes ...", flush=True)
  cold, warm = [], []
  for _ in range(settings["processes"]):
    with tempfile.TemporaryDirectory() as cache_dir:
      cold.append(first_call("jaxlime", cache_dir))
      warm.append(first_call("jaxlime", cache_dir))
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
  if lime and settings["lime_first_call"]:
    seconds = [first_call("lime", "off") for _ in range(settings["processes"])]
    rows.append(
        dict(
            case=case,
            method="lime",
            role="peer",
            n=1,
            seconds=statistics.median(seconds),
            all_seconds=seconds,
            note=f"median of {len(seconds)} process(es)",
        )
    )

  data, model = _breast_cancer_model()
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
