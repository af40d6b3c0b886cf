"""Stability on demand: adaptive sample counts (`jaxlime.UntilStable`) against fixed counts and
S-LIME's test, on the breast-cancer MLP.

  jaxlime bench --only stability            # full run: 200 instances, 8 seeds
  jaxlime bench --only stability --quick    # smoke run: 20 instances, 3 seeds, up to 4,000 samples

(`run(...)` takes smaller or partial runs: fewer instances, seeds, levels or parts.)

Model: the 30 -> 64 -> 64 -> 2 Flax MLP of `jaxlime.bench.models`; explainer: `TabularExplainer`
on its training rows with lime's defaults (quartile discretization, lime's kernel, auto feature
selection), num_features = 10, label 1. Instances: the test rows, then training rows, N of them.
Each configuration explains the N instances under every seed (int seeds 0..R-1):

* fixed counts S = 1,000 .. 64,000 (twelve counts, about sqrt(2) apart);
* `UntilStable(top_k=k, level, initial=1000, step=1000, max_samples=64_000)` for k = 3 and 5
  and several levels (instances run until settled or max_samples); at level 0.95 with
  `settle=False` (until separated or max_samples, the rule before settling) and with
  `early_stop=True` (instances also stop once projected not to separate by max_samples);
* with control variates (`TabularExplainer(control_variates=True)`: the same coefficients as
  lime's estimator, less sampling noise): fixed counts 1,000 .. 32,000 (doubling) and
  UntilStable at the levels above, each against both fixed-count curves;
* S-LIME's test (Zhou et al., KDD 2021), reimplemented from the paper, vectorised: the samples
  grow (here by doubling from 1,000, the growth rule being this benchmark's choice) until, at
  each of the first k steps of forward selection on the weighted, centred samples, the gap
  between the largest and second largest |correlation| of an inactive feature with the
  residual passes a one-sided CLT test at the level (its variance from the per-sample terms).
  Its samples are kept and refitted at every test, so it runs on a subset of the instances.

A reference, not a method: the per-instance oracle gives each instance the fixed count that
maximises its Jaccard minus a trade-off x the count, reading its Jaccard from its own fixed-count
curve (fitted non-decreasing in the count), as if that curve were known before sampling. It
bounds what choosing one count per instance can give; a sequential rule can do better on a run
whose estimates happen to separate early.

Stability of an instance = mean pairwise Jaccard overlap of its top-k features (by |coef|)
across the seeds. Model evaluations per instance = the samples it used (padding rows of the
fixed-size calls not counted). Writes stability.json (stability_quick.json) into the output
directory, and the figures stability_curve.png and stability_counts.png (with _quick).
"""

import json
import os
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxlime
from jaxlime._src import linalg

from jaxlime.bench.models import train_breast_cancer_mlp

NUM_FEATURES = 10
PARTS = ("fixed", "until_stable", "separated", "early_stop", "slime", "control_variates")
# Trade-offs of the per-instance oracle: Jaccard worth 1,000 evaluations.
ORACLE_TRADEOFFS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016)


def _settings(quick: bool) -> dict:
  if quick:
    return dict(
        num_instances=20,
        num_seeds=3,
        fixed=(1000, 2000, 4000),
        control_variates_fixed=(1000, 2000, 4000),
        control_variates_levels=(0.95,),
        levels=(0.95,),
        top_ks=(3, 5),
        max_samples=4000,
        slime_instances=5,
        parts=PARTS,
    )
  return dict(
      num_instances=200,
      num_seeds=8,
      fixed=(1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 24000, 32000, 48000, 64000),
      control_variates_fixed=(1000, 2000, 4000, 8000, 16000, 32000),
      control_variates_levels=(0.8, 0.9, 0.95, 0.99),
      levels=(0.8, 0.9, 0.95, 0.99),
      top_ks=(3, 5),
      max_samples=64000,
      slime_instances=40,
      parts=PARTS,
  )


def _jaccard(coef: np.ndarray, selected: np.ndarray, k: int) -> np.ndarray:
  """[N] mean pairwise top-k Jaccard across seeds of coef [R, N, D] (label 0)."""
  score = jax.vmap(lambda c, m: jaxlime.top_k_jaccard(c, k, mask=m), in_axes=(1, 1))
  return np.asarray(score(jnp.asarray(coef), jnp.asarray(selected)))


def _explain_seeds(explainer, X, model, num_samples, num_seeds):
  coef, selected, counts, converged = [], [], [], []
  for seed in range(num_seeds):
    exp = explainer.explain(
        X, model, key=seed, num_samples=num_samples, num_features=NUM_FEATURES, progress=False
    )
    coef.append(np.asarray(exp.coef[:, 0]))
    selected.append(np.asarray(exp.selected[:, 0]))
    if exp.num_samples is None:
      counts.append(np.full(len(X), num_samples))
      converged.append(np.zeros(len(X), bool))
    else:
      counts.append(np.asarray(exp.num_samples))
      converged.append(np.asarray(exp.converged))
  return np.stack(coef), np.stack(selected), np.stack(counts), np.stack(converged)


# ---- S-LIME's test, vectorised over instances ----


def _slime_samples(explainer, model, size):
  """fn(x, key) -> z [D, size], y [size] (label 1), w [size]: lime's samples of one instance."""

  def one(x, key):
    z, inputs, _, w = explainer._instance_samples(x, key, size)
    return z, model(inputs.T)[:, 1], w

  return one


def _slime_test(z, y, w, *, steps: int, critical: float):
  """S-LIME's test on one instance's samples z [D, n], y [n], w [n]: True when each of the first
  `steps` forward-selection steps picks its feature significantly ahead of the runner-up."""
  total = jnp.sum(w)
  root = jnp.sqrt(w)
  x = (z - (z @ w / total)[:, None]) * root  # [D, n] weighted, centred
  target = (y - w @ y / total) * root
  num_dims, n = x.shape
  gram = x @ x.T

  def step(state, _):
    active, passed = state
    mask = active.astype(x.dtype)
    system = gram * jnp.outer(mask, mask) + jnp.diag(1 - mask) + 1e-6 * jnp.eye(num_dims)
    # The project's sweep inverse: LAPACK's solve deadlocked inside explain's programs here.
    beta = (linalg.spd_inverse(system) @ ((x @ target) * mask)) * mask
    residual = target - beta @ x
    corr = x @ residual
    magnitude = jnp.where(active, -1.0, jnp.abs(corr))
    order = jnp.argsort(-magnitude)
    a, b = order[0], order[1]
    terms = (jnp.sign(corr[a]) * x[a] - jnp.sign(corr[b]) * x[b]) * residual  # [n]
    gap = jnp.sum(terms)
    std = jnp.sqrt(n * jnp.var(terms, ddof=1))
    ok = gap / jnp.where(std > 0, std, 1) >= critical
    return (active.at[a].set(True), passed & ok), None

  (_, passed), _ = jax.lax.scan(
      step, (jnp.zeros(num_dims, bool), jnp.asarray(True)), None, length=steps
  )
  return passed


def run_slime(explainer, model, X, num_seeds, top_k, level, max_samples):
  """S-LIME's stopping sample counts and its explanations' top-k Jaccard across seeds."""
  critical = statistics.NormalDist().inv_cdf(level)
  sizes = [1000]
  while sizes[-1] < max_samples:
    sizes.append(min(2 * sizes[-1], max_samples))
  draw = jax.jit(jax.vmap(_slime_samples(explainer, model, max_samples)))
  coef, selected, counts = [], [], []
  fits = {}
  for seed in range(num_seeds):
    keys = jaxlime.instance_keys(seed, len(X))
    seed_coef, seed_selected, seed_counts = [], [], []
    for start in range(0, len(X), 5):
      z, y, w = draw(jnp.asarray(X[start : start + 5], jnp.float32), keys[start : start + 5])
      stop = np.full(z.shape[0], max_samples)
      undecided = np.ones(z.shape[0], bool)
      for size in sizes:
        if size not in fits:
          fits[size] = jax.jit(
              jax.vmap(
                  lambda z, y, w, size=size: _slime_test(
                      z[:, :size], y[:size], w[:size], steps=top_k, critical=critical
                  )
              )
          )
        passed = np.asarray(fits[size](z, y, w))
        newly = undecided & passed
        stop[newly] = size
        undecided &= ~passed
        if not undecided.any():
          break
      used = jnp.asarray(np.arange(max_samples)[None, :] < stop[:, None], jnp.float32)
      fit = jax.vmap(lambda z, y, w: jaxlime.fit_surrogate(z.T, y, w, num_features=NUM_FEATURES))(
          z, y, w * used
      )
      seed_coef.append(np.asarray(fit.coef[:, 0]))
      seed_selected.append(np.asarray(fit.selected[:, 0]))
      seed_counts.append(stop)
    coef.append(np.concatenate(seed_coef))
    selected.append(np.concatenate(seed_selected))
    counts.append(np.concatenate(seed_counts))
  return np.stack(coef), np.stack(selected), np.stack(counts)


def _savings_interval(fixed: dict, jaccard: np.ndarray, evaluations: np.ndarray, seed=0):
  """The 2.5% and 97.5% quantiles of the savings factor over 1,000 bootstrap resamples of the
  instances (None for a quantile beyond the fixed curve's end), and the fraction of resamples
  whose Jaccard lies beyond that end (their factor exceeds the largest count / evaluations).

  fixed maps each fixed count to its per-instance Jaccard [N]; jaccard, evaluations [N] are the
  adaptive run's per-instance Jaccard and mean evaluations.
  """
  rng = np.random.default_rng(seed)
  factors = []
  for _ in range(1000):
    sample = rng.integers(0, len(jaccard), len(jaccard))
    needed = _fixed_evaluations_for(float(jaccard[sample].mean()), fixed, sample)
    factors.append(np.inf if needed is None else needed / evaluations[sample].mean())
  factors = np.asarray(factors)
  low, high = np.quantile(factors, [0.025, 0.975], method="nearest")
  bound = lambda value: float(value) if np.isfinite(value) else None  # noqa: E731
  return bound(low), bound(high), float(np.mean(np.isinf(factors)))


def _fixed_evaluations_for(jaccard: float, fixed: dict, instances=slice(None)) -> float | None:
  """Evaluations the fixed-count curve needs for a mean Jaccard (log-linear interpolation);
  None beyond the curve. fixed maps each fixed count to its per-instance Jaccard [N]; the curve
  is their means over `instances`."""
  points = sorted(
      (count, float(per_instance[instances].mean())) for count, per_instance in fixed.items()
  )
  for (e0, j0), (e1, j1) in zip(points, points[1:]):
    if j0 <= jaccard <= j1 and j1 > j0:
      t = (jaccard - j0) / (j1 - j0)
      return float(np.exp(np.log(e0) + t * (np.log(e1) - np.log(e0))))
  if points and jaccard <= points[0][1]:
    return float(points[0][0])
  return None


def _monotone_fit(values: np.ndarray) -> np.ndarray:
  """The non-decreasing least-squares fit along the last axis of values [..., m]: the fit at i
  is max over a <= i of min over b >= i of the mean of values[a..b] (isotonic regression)."""
  m = values.shape[-1]
  sums = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, -1)], -1)
  starts, ends = np.arange(m)[:, None], np.arange(m)[None, :]
  lengths = np.where(ends >= starts, ends - starts + 1, 1)
  means = (sums[..., None, 1:] - sums[..., :-1, None]) / lengths  # [..., a, b]: mean of a..b
  means = np.where(ends >= starts, means, np.inf)
  # min over b >= i (the mask makes b < a infinite), then max over a <= i.
  min_after = np.minimum.accumulate(means[..., ::-1], axis=-1)[..., ::-1]  # [..., a, i]
  diagonal = np.where(ends >= starts, min_after, -np.inf)  # a <= i only
  return diagonal.max(axis=-2)


def per_instance_oracle(fixed: dict, tradeoff: float) -> dict:
  """The best per-instance fixed count for a known Jaccard curve: a reference, not a method.

  Each instance's Jaccard over the fixed counts (fixed maps count -> Jaccard [N]) is fitted
  non-decreasing in the count; the instance gets the count maximising fitted Jaccard - tradeoff
  x count, as if its curve were known before sampling. Returns the mean count, the mean fitted
  Jaccard at it, and the counts the fitted fixed curve (mean of the fits) needs for that Jaccard.
  """
  counts = sorted(fixed)
  fitted = _monotone_fit(np.stack([fixed[count] for count in counts], axis=-1))  # [N, m]
  chosen = np.argmax(fitted - tradeoff * np.asarray(counts, float), axis=-1)  # [N]
  jaccard = float(np.take_along_axis(fitted, chosen[:, None], axis=-1).mean())
  fitted_curve = {count: fitted[:, i] for i, count in enumerate(counts)}
  return dict(
      evaluations=float(np.asarray(counts, float)[chosen].mean()),
      jaccard=jaccard,
      fixed_evaluations_at_equal_jaccard=_fixed_evaluations_for(jaccard, fitted_curve),
  )


def run(
    quick: bool,
    out_dir: pathlib.Path,
    *,
    num_instances: int | None = None,
    num_seeds: int | None = None,
    levels: tuple[float, ...] | None = None,
    slime_instances: int | None = None,
    parts: tuple[str, ...] | None = None,
) -> dict:
  """Runs the benchmark; writes the JSON and figures into out_dir; returns the JSON dict.

  num_instances, num_seeds, levels, slime_instances and parts (a subset of PARTS) override
  the settings of the mode (a smaller or partial run).
  """
  settings = _settings(quick)
  for name, value in (
      ("num_instances", num_instances),
      ("num_seeds", num_seeds),
      ("levels", levels),
      ("slime_instances", slime_instances),
      ("parts", parts),
  ):
    if value is not None:
      settings[name] = value
  out_dir.mkdir(parents=True, exist_ok=True)
  started = time.perf_counter()
  model, data = train_breast_cancer_mlp()
  X = np.concatenate([data["X_test"], data["X_train"]])[: settings["num_instances"]]
  explainer = jaxlime.TabularExplainer(data["X_train"], feature_names=data["feature_names"])
  seeds = settings["num_seeds"]
  rows = []

  fixed_per_instance = {k: {} for k in settings["top_ks"]}  # k -> count -> Jaccard [N]
  for count in settings["fixed"] if "fixed" in settings["parts"] else ():
    tick = time.perf_counter()
    coef, selected, _, _ = _explain_seeds(explainer, X, model, count, seeds)
    row = dict(method="fixed", num_samples=count, evaluations=float(count))
    for k in settings["top_ks"]:
      fixed_per_instance[k][count] = _jaccard(coef, selected, k)
      row[f"jaccard_top{k}"] = float(fixed_per_instance[k][count].mean())
    row["seconds"] = time.perf_counter() - tick
    rows.append(row)
    print(json.dumps(row), flush=True)

  # Fixed counts with control variates, and the plain fixed counts with the same Jaccard.
  adjusting = jaxlime.TabularExplainer(
      data["X_train"], feature_names=data["feature_names"], control_variates=True
  )
  adjusted_per_instance = {k: {} for k in settings["top_ks"]}  # k -> count -> Jaccard [N]
  counts_adjusted = settings["control_variates_fixed"]
  for count in counts_adjusted if "control_variates" in settings["parts"] else ():
    tick = time.perf_counter()
    coef, selected, _, _ = _explain_seeds(adjusting, X, model, count, seeds)
    row = dict(method="fixed_control_variates", num_samples=count, evaluations=float(count))
    for k in settings["top_ks"]:
      adjusted_per_instance[k][count] = _jaccard(coef, selected, k)
      jaccard = float(adjusted_per_instance[k][count].mean())
      row[f"jaccard_top{k}"] = jaccard
      needed = _fixed_evaluations_for(jaccard, fixed_per_instance[k])
      row[f"fixed_evaluations_at_equal_jaccard_top{k}"] = needed
      row[f"savings_factor_top{k}"] = None if needed is None else needed / count
    row["seconds"] = time.perf_counter() - tick
    rows.append(row)
    print(json.dumps(row), flush=True)

  # Per k: the per-instance oracle over the fixed counts (Jaccard traded per 1,000 evaluations).
  oracle = []
  for k, per_count in fixed_per_instance.items():
    for tradeoff in ORACLE_TRADEOFFS if len(per_count) > 1 else ():
      found = per_instance_oracle(per_count, tradeoff / 1000)
      needed = found["fixed_evaluations_at_equal_jaccard"]
      found["savings_factor"] = None if needed is None else needed / found["evaluations"]
      oracle.append(dict(top_k=k, jaccard_per_1000_evaluations=tradeoff, **found))
      print(json.dumps(oracle[-1]), flush=True)

  histograms = {}
  cases = []
  if "until_stable" in settings["parts"]:
    cases += [
        (k, level, "until_stable") for k in settings["top_ks"] for level in settings["levels"]
    ]
  for part in ("separated", "early_stop"):
    if part in settings["parts"]:
      cases += [(k, 0.95, f"until_stable_{part}") for k in settings["top_ks"]]
  if "control_variates" in settings["parts"]:
    cases += [
        (k, level, "until_stable_control_variates")
        for k in settings["top_ks"]
        for level in settings["control_variates_levels"]
    ]
  for k, level, method in cases:
    tick = time.perf_counter()
    until = jaxlime.UntilStable(
        top_k=k,
        level=level,
        initial=1000,
        step=1000,
        max_samples=settings["max_samples"],
        early_stop=method == "until_stable_early_stop",
        settle=method != "until_stable_separated",
    )
    explaining = adjusting if method == "until_stable_control_variates" else explainer
    coef, selected, counts, converged = _explain_seeds(explaining, X, model, until, seeds)
    jaccard = _jaccard(coef, selected, k)
    all_converged, never_converged = converged.all(axis=0), ~converged.any(axis=0)
    row = dict(
        method=method,
        top_k=k,
        level=level,
        evaluations=float(counts.mean()),
        median_samples=float(np.median(counts)),
        converged_fraction=float(converged.mean()),
        instances_converged_every_seed=int(all_converged.sum()),
        jaccard=float(jaccard.mean()),
        jaccard_converged_every_seed=(
            float(jaccard[all_converged].mean()) if all_converged.any() else None
        ),
        jaccard_not_converged=(
            float(jaccard[never_converged].mean()) if never_converged.any() else None
        ),
        samples_converged_mean=(float(counts[converged].mean()) if converged.any() else None),
        samples_not_converged_mean=(
            float(counts[~converged].mean()) if (~converged).any() else None
        ),
        seconds=time.perf_counter() - tick,
    )
    fixed_needed = _fixed_evaluations_for(row["jaccard"], fixed_per_instance[k])
    row["fixed_evaluations_at_equal_jaccard"] = fixed_needed
    row["savings_factor"] = None if fixed_needed is None else fixed_needed / row["evaluations"]
    if fixed_per_instance[k]:
      low, high, beyond = _savings_interval(fixed_per_instance[k], jaccard, counts.mean(axis=0))
      row["savings_factor_95_interval"] = [low, high]
      row["bootstrap_beyond_fixed_curve"] = beyond
    if method == "until_stable_control_variates" and adjusted_per_instance[k]:
      needed = _fixed_evaluations_for(row["jaccard"], adjusted_per_instance[k])
      row["fixed_control_variates_evaluations_at_equal_jaccard"] = needed
      row["savings_factor_control_variates"] = (
          None if needed is None else needed / row["evaluations"]
      )
    rows.append(row)
    name = f"top{k}_{method.removeprefix('until_stable_')}"
    if method in ("until_stable", "until_stable_control_variates"):
      name = f"top{k}_level{level}" + ("_control_variates" if method != "until_stable" else "")
    histograms[name] = counts.ravel().tolist()
    print(json.dumps(row), flush=True)

  # S-LIME's test and UntilStable on the same instance subset.
  subset = X[: settings["slime_instances"]]
  for k in settings["top_ks"] if "slime" in settings["parts"] else ():
    level = 0.95
    tick = time.perf_counter()
    coef, selected, counts = run_slime(
        explainer, model, subset, seeds, k, level, settings["max_samples"]
    )
    jaccard = _jaccard(coef, selected, k)
    row = dict(
        method="slime_test",
        top_k=k,
        level=level,
        instances=len(subset),
        evaluations=float(counts.mean()),
        passed_fraction=float((counts < settings["max_samples"]).mean()),
        jaccard=float(jaccard.mean()),
        seconds=time.perf_counter() - tick,
    )
    until = jaxlime.UntilStable(
        top_k=k, level=level, initial=1000, step=1000, max_samples=settings["max_samples"]
    )
    ucoef, uselected, ucounts, uconverged = _explain_seeds(explainer, subset, model, until, seeds)
    row["until_stable_evaluations_same_instances"] = float(ucounts.mean())
    row["until_stable_jaccard_same_instances"] = float(_jaccard(ucoef, uselected, k).mean())
    row["until_stable_converged_fraction_same_instances"] = float(uconverged.mean())
    rows.append(row)
    print(json.dumps(row), flush=True)

  suffix = "_quick" if quick else ""
  figures = _figures(rows, oracle, histograms, settings, out_dir, suffix)
  result = dict(
      benchmark="stability",
      quick=quick,
      settings={key: list(v) if isinstance(v, tuple) else v for key, v in settings.items()},
      num_features=NUM_FEATURES,
      rows=rows,
      per_instance_oracle=oracle,
      # Per configuration: {samples: how many (instance, seed) pairs used that many}.
      samples_per_instance={
          name: {int(value): int(count) for value, count in zip(*np.unique(c, return_counts=True))}
          for name, c in histograms.items()
      },
      figures=[str(path) for path in figures],
      seconds=time.perf_counter() - started,
      load_average=list(os.getloadavg()),
      jax_version=jax.__version__,
  )
  (out_dir / f"stability{suffix}.json").write_text(json.dumps(result, indent=1))
  return result


def bench_run(options) -> dict:
  """`jaxlime bench --only stability`: `run` with the harness's row keys added to each row
  (case "top<k>", "fixed" or "fixed_control_variates"; S-LIME's test is the peer; n = instances
  x seeds). Not in the default set: it measures stability, not speed, and takes minutes even
  with --quick."""
  result = run(options.quick, options.out)
  seeds = result["settings"]["num_seeds"]
  rows = []
  for row in result["rows"]:
    case = f"top{row['top_k']}" if "top_k" in row else row["method"]
    method = row["method"]
    if method in ("fixed", "fixed_control_variates"):
      method = f"{method} {row['num_samples']}"
    elif "level" in row:
      method = f"{method} {row['level']}"
    role = "peer" if row["method"] == "slime_test" else "jaxlime"
    instances = row.get("instances", result["settings"]["num_instances"])
    rows.append(dict(row, case=case, method=method, role=role, n=instances * seeds))
  return dict(
      rows=rows,
      figures=result["figures"],
      settings=result["settings"],
      notes=["model evaluations per instance and top-k Jaccard across seeds are in each row"],
      details=dict(per_instance_oracle=result["per_instance_oracle"]),
  )


def _figures(rows, oracle, histograms, settings, out_dir, suffix):
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  top_ks = settings["top_ks"]
  figure, axes = plt.subplots(1, len(top_ks), figsize=(5 * len(top_ks), 4), squeeze=False)
  for axis, k in zip(axes[0], top_ks):
    for method, style, color, label in (
        ("fixed", "o-", "grey", "fixed count"),
        ("fixed_control_variates", "o--", "C2", "fixed count, control variates"),
    ):
      fixed = [row for row in rows if row["method"] == method]
      if fixed:
        axis.plot(
            [row["evaluations"] for row in fixed],
            [row[f"jaccard_top{k}"] for row in fixed],
            style,
            color=color,
            label=label,
        )
    for method, style, color, label in (
        ("until_stable", "s-", "C0", "UntilStable"),
        ("until_stable_control_variates", "D-", "C3", "UntilStable, control variates"),
    ):
      adaptive_rows = [r for r in rows if r["method"] == method and r["top_k"] == k]
      axis.plot(
          [row["evaluations"] for row in adaptive_rows],
          [row["jaccard"] for row in adaptive_rows],
          style,
          color=color,
          label=label,
      )
      for row in adaptive_rows:
        axis.annotate(f"{row['level']}", (row["evaluations"], row["jaccard"]), fontsize=8)
    reference = [found for found in oracle if found["top_k"] == k]
    if reference:
      axis.plot(
          [found["evaluations"] for found in reference],
          [found["jaccard"] for found in reference],
          ":",
          color="black",
          label="per-instance oracle (fitted curves)",
      )
    for method, marker, label in (
        ("until_stable_separated", "v", "UntilStable, settle=False (0.95)"),
        ("until_stable_early_stop", "^", "UntilStable, early_stop=True (0.95)"),
        ("slime_test", "x", "S-LIME's test (0.95, subset)"),
    ):
      chosen = [r for r in rows if r["method"] == method and r["top_k"] == k]
      if chosen:
        axis.plot(
            [row["evaluations"] for row in chosen],
            [row["jaccard"] for row in chosen],
            marker,
            label=label,
        )
    axis.set_xscale("log")
    axis.set_xlabel("mean model evaluations per instance")
    axis.set_ylabel(f"mean top-{k} Jaccard across seeds")
    axis.set_title(f"top-{k}, {settings['num_instances']} instances, {settings['num_seeds']} seeds")
    axis.legend()
  figure.tight_layout()
  curve = out_dir / f"stability_curve{suffix}.png"
  figure.savefig(curve, dpi=110)
  plt.close(figure)

  if not histograms:
    return [curve]
  columns = min(len(histograms), 6)
  rows_of_axes = -(-len(histograms) // columns)
  figure, axes = plt.subplots(
      rows_of_axes, columns, figsize=(3.2 * columns, 2.8 * rows_of_axes), squeeze=False
  )
  bins = np.linspace(0, settings["max_samples"], 33)
  for axis in axes.ravel()[len(histograms) :]:
    axis.set_visible(False)
  for axis, (name, counts) in zip(axes.ravel(), histograms.items()):
    axis.hist(counts, bins=bins, color="C0")
    axis.set_title(name, fontsize=9)
    axis.set_xlabel("samples per instance")
  figure.tight_layout()
  counts_path = out_dir / f"stability_counts{suffix}.png"
  figure.savefig(counts_path, dpi=110)
  plt.close(figure)
  return [curve, counts_path]
