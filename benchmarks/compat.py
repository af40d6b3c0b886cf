"""jaxlime.compat against lime on breast cancer (scikit-learn logistic regression, S = 5000).

Rows: a fresh process's first `explain_instance` after import on a cold and on a warm persistent
compilation cache (median of 3 processes each), lime's first call, warm per-call times, and `explain_instances` on 1,000 rows
against a lime loop. Run: `PYTHONPATH=$PWD python benchmarks/compat.py`.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Fresh processes per first-call row; the median is reported (the machine is shared).
_REPEATS = 3

_CHILD = r"""
import sys, time
start = time.perf_counter()
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
data = load_breast_cancer()
model = LogisticRegression(max_iter=5000).fit(data.data, data.target).predict_proba
if sys.argv[1] == "lime":
    from lime import lime_tabular
else:
    from jaxlime.compat import lime_tabular
imported = time.perf_counter()
explainer = lime_tabular.LimeTabularExplainer(data.data, random_state=0)
explainer.explain_instance(data.data[0], model)
print(time.perf_counter() - imported)
"""


def first_call(which: str, cache_dir: str) -> float:
  """Seconds from after the imports to the end of the first explain_instance, fresh process."""
  environment = dict(os.environ, JAXLIME_CACHE_DIR=cache_dir)
  out = subprocess.run(
      [sys.executable, "-c", _CHILD, which],
      env=environment,
      check=True,
      capture_output=True,
      text=True,
  ).stdout
  return float(out.strip().splitlines()[-1])


def main():
  import numpy as np
  from lime import lime_tabular as lime_lime_tabular
  from sklearn.datasets import load_breast_cancer
  from sklearn.linear_model import LogisticRegression

  from jaxlime.compat import lime_tabular

  results = {}
  cold, warm = [], []
  for _ in range(_REPEATS):
    with tempfile.TemporaryDirectory() as cache_dir:
      cold.append(first_call("jaxlime", cache_dir))
      warm.append(first_call("jaxlime", cache_dir))
  results["first_call_cold_cache_s_median"] = statistics.median(cold)
  results["first_call_warm_cache_s_median"] = statistics.median(warm)
  results["first_call_lime_s_median"] = statistics.median(
      first_call("lime", "off") for _ in range(_REPEATS)
  )
  results["first_call_runs"] = {"cold": cold, "warm": warm}
  data = load_breast_cancer()
  model = LogisticRegression(max_iter=5000).fit(data.data, data.target).predict_proba
  ours = lime_tabular.LimeTabularExplainer(data.data, random_state=0)
  theirs = lime_lime_tabular.LimeTabularExplainer(data.data, random_state=0)
  ours.explain_instance(data.data[0], model)

  def per_call(explainer, repeats=10):
    start = time.perf_counter()
    for i in range(repeats):
      explainer.explain_instance(data.data[i], model)
    return (time.perf_counter() - start) / repeats

  results["warm_explain_instance_jaxlime_s"] = per_call(ours)
  results["warm_explain_instance_lime_s"] = per_call(theirs)
  rows = data.data[np.arange(1000) % len(data.data)]
  ours.explain_instances(rows[:10], model)
  start = time.perf_counter()
  ours.explain_instances(rows, model)
  results["explain_instances_1000_jaxlime_s"] = time.perf_counter() - start
  start = time.perf_counter()
  for row in rows[:100]:
    theirs.explain_instance(row, model)
  results["lime_loop_1000_s_extrapolated_from_100"] = (time.perf_counter() - start) * 10
  results["command"] = "PYTHONPATH=$PWD python benchmarks/compat.py"
  results["load_average"] = os.getloadavg()
  print(json.dumps(results, indent=1))
  path = os.path.join(os.path.dirname(__file__), "results", "compat.json")
  with open(path, "w") as handle:
    json.dump(results, handle, indent=1)


if __name__ == "__main__":
  main()
