"""``lasso_path_mask`` against lime 0.2.0.1's ``lasso_path`` feature selection.

The oracle is ``LimeBase.feature_selection(..., 'lasso_path')`` itself, run in
float64 numpy (sklearn's ``lars_path``).  float64 results must agree exactly
on every problem; so must float32 results on these well-conditioned problems
(during development float32 also agreed on all 4543 (problem, K) pairs of 200
further random problems with S up to 5000; it can differ on near-degenerate
problems such as near-copies of features or tiny S with 0/1 data).
Degenerate problems (copied or constant features, fewer samples than
features, exact fits, exact ties) are checked against the oracle where
sklearn is well defined, and against the oracle on de-duplicated data for
exact copies, which sklearn itself mishandles.
"""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lime.lime_base import LimeBase
from sklearn.linear_model import lars_path

from jaxlime._src.lasso import lasso_path_mask

_LIME = LimeBase(kernel_fn=lambda d: d)
_KINDS = ("binary", "gauss", "correlated")
_SHAPES = ((200, 5), (700, 17), (2000, 40))
_SEEDS = range(4)

# One compiled function per (S, D, dtype): all K of one problem in one call.
_masks_for_ks = jax.jit(jax.vmap(lasso_path_mask, in_axes=(None, None, None, 0)))


def lime_mask(z, y, w, k):
  """Oracle: lime's selection as a bool [D] mask (numpy float64)."""
  with warnings.catch_warnings():
    # sklearn warns on degenerate problems; the returned path is the oracle.
    warnings.simplefilter("ignore")
    selected = _LIME.feature_selection(z, y, w, k, "lasso_path")
  mask = np.zeros(z.shape[1], bool)
  mask[np.asarray(selected, dtype=int)] = True
  return mask


def lime_masks(z, y, w, ks):
  """bool [len(ks), D]."""
  return np.stack([lime_mask(z, y, w, int(k)) for k in ks])


def our_masks(z, y, w, ks, dtype):
  """bool [len(ks), D], computed in ``dtype``."""
  with jax.enable_x64(dtype == np.float64):
    args = [jnp.asarray(a, dtype) for a in (z, y, w)]
    out = _masks_for_ks(*args, jnp.asarray(ks, jnp.int32))
    assert out.dtype == jnp.bool_ and out.shape == (len(ks), z.shape[1])
    return np.asarray(out)


def make_problem(seed, n_samples, n_features, kind):
  """A LIME-like weighted regression problem: z [S, D], y [S], w [S].

  binary: interpretable 0/1 samples (row 0 is the instance, all ones) with
    a cosine-distance exponential kernel; gauss: tabular-like gaussian
    samples around row 0; correlated: gaussian with AR(1) correlation 0.9,
    which makes the lasso path drop features.
  """
  rng = np.random.default_rng([seed, n_samples, n_features, _KINDS.index(kind)])
  s, d = n_samples, n_features
  if kind == "binary":
    n_off = rng.integers(1, d + 1, size=s)
    z = (rng.random((s, d)).argsort(1) >= n_off[:, None]).astype(float)
    z[0] = 1
    dist = 1 - z.sum(1) / np.sqrt(d * np.maximum(z.sum(1), 1))
    w = np.exp(-(dist**2) / rng.choice([0.25, 0.5, 1.0]) ** 2)
    beta = rng.normal(size=d) * (rng.random(d) < 0.4)
    logit = z @ beta - beta.sum() / 2 + 0.5 * z[:, 0] * z[:, 1]
    y = 1 / (1 + np.exp(-logit - 0.2 * rng.normal(size=s)))
  else:
    z = rng.normal(size=(s, d))
    if kind == "correlated":
      lag = np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
      z = z @ np.linalg.cholesky(0.9**lag).T
    w = np.exp(-((z - z[0]) ** 2).sum(1) / (0.75**2 * d))
    beta = rng.normal(size=d) * (rng.random(d) < 0.6)
    y = np.tanh(z @ beta / np.sqrt(d)) + 0.3 * np.sin(z[:, 0])
    y = y + 0.3 * rng.normal(size=s)
  return z, y, w


@functools.cache
def reference_problem(seed, shape, kind):
  """make_problem(seed, *shape, kind) and lime's masks for K = 1..D."""
  z, y, w = make_problem(seed, *shape, kind)
  return z, y, w, lime_masks(z, y, w, np.arange(1, shape[1] + 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", _SHAPES)
@pytest.mark.slow
def test_matches_lime(shape, dtype):
  ks = np.arange(1, shape[1] + 1)
  n_distinct = []
  for kind in _KINDS:
    for seed in _SEEDS:
      z, y, w, want = reference_problem(seed, shape, kind)
      got = our_masks(z, y, w, ks, dtype)
      bad = np.flatnonzero((got != want).any(1))
      assert bad.size == 0, (kind, seed, ks[bad])
      assert (got.sum(1) <= ks).all()
      n_distinct.append(len({m.tobytes() for m in want}))
  # The comparison is not vacuous: the selection changes with K.
  assert min(n_distinct) >= 2 and np.mean(n_distinct) > shape[1] / 2


def test_problems_exercise_lasso_drops():
  """Some reference paths drop a feature (more than D steps)."""
  n_dropping = 0
  for shape in _SHAPES:
    for seed in _SEEDS:
      z, y, w = make_problem(seed, *shape, "correlated")
      xw = (z - np.average(z, 0, weights=w)) * np.sqrt(w)[:, None]
      yw = (y - np.average(y, weights=w)) * np.sqrt(w)
      _, _, coefs = lars_path(xw, yw, method="lasso")
      n_dropping += coefs.shape[1] > shape[1] + 1
  assert n_dropping >= 2


@pytest.mark.slow
def test_jit_vmap_matches_one_by_one():
  shape = (700, 17)
  problems = [make_problem(s, *shape, k) for s in range(2) for k in _KINDS]
  z, y, w = (jnp.asarray(np.stack(a), jnp.float32) for a in zip(*problems))
  ks = jnp.arange(1, len(problems) + 1)
  batched = jax.jit(jax.vmap(lasso_path_mask))(z, y, w, ks)
  single = jax.jit(lasso_path_mask)
  one_by_one = jnp.stack([single(*a) for a in zip(z, y, w, ks)])
  np.testing.assert_array_equal(batched, one_by_one)
  np.testing.assert_array_equal(batched.sum(1), ks)
  for i, (zi, yi, wi) in enumerate(problems):
    np.testing.assert_array_equal(batched[i], lime_mask(zi, yi, wi, i + 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_duplicates_are_redundant(dtype):
  """A copied feature adds nothing: same selection as without the copies,
  up to which copy is chosen, and never two copies of the same feature.

  (sklearn misses such degeneracies once the features have large norms and
  then follows an ill-conditioned path, so lime is not the oracle here.)
  """
  n_base, n_copies = 17, 3
  ks = np.arange(1, n_base + n_copies + 1)
  for seed in range(3):
    for kind in ("binary", "gauss"):
      z0, y, w = make_problem(seed, 700, n_base, kind)
      rng = np.random.default_rng(seed)
      source = np.concatenate([np.arange(n_base), rng.choice(n_base, n_copies)])
      order = rng.permutation(source.size)
      z, source = z0[:, source[order]], source[order]
      got = our_masks(z, y, w, ks, dtype)
      for k, mask in zip(ks, got):
        # Each original feature selected at most once (count 0 or 1).
        counts = np.bincount(source[mask], minlength=n_base)
        np.testing.assert_array_equal(counts, lime_mask(z0, y, w, int(k)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_features_and_zero_weights(dtype):
  ks = np.arange(1, 18)
  for seed in range(3):
    z, y, w = make_problem(seed, 700, 17, "binary")
    z[:, [2, 9, 11]] = 1.0  # never switched off: zero variance
    w[np.random.default_rng(seed).random(w.size) < 0.3] = 0.0
    got = our_masks(z, y, w, ks, dtype)
    np.testing.assert_array_equal(got, lime_masks(z, y, w, ks))
    assert not got[:, [2, 9, 11]].any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.slow
def test_fewer_samples_than_features(dtype):
  n_samples, n_features = 15, 30
  ks = np.arange(1, n_features + 1)
  for seed in range(4):
    z, y, w = make_problem(seed, n_samples, n_features, "gauss")
    got = our_masks(z, y, w, ks, dtype)
    np.testing.assert_array_equal(got, lime_masks(z, y, w, ks))
    # Centred data has rank <= S - 1.
    assert got.sum(1).max() == n_samples - 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_linear_model(dtype):
  """The path ends once the residual vanishes (in float32 up to rounding),
  even for large outputs, where sklearn's absolute tolerance is no help."""
  ks = np.arange(1, 18)
  for seed in range(3):
    z, _, w = make_problem(seed, 700, 17, "binary")
    beta = np.zeros(17)
    beta[[1, 4, 5, 12]] = [3.0, -2.0, 1.0, 0.5]
    y = 1e4 * (z @ beta + 1.0)
    got = our_masks(z, y, w, ks, dtype)
    np.testing.assert_array_equal(got, lime_masks(z, y, w, ks))
    np.testing.assert_array_equal(got[3:], np.broadcast_to(beta != 0, (14, 17)))


# Tiny problems with exact ties (S = 4 or 8, unit weights, integer outputs:
# the centred data are exact binary fractions), where sklearn's tie-breaking
# and safeguards decide the selection.  name: (z, y, lime's selection per K).
_TIE_CASES = {
    # Features 0 and 1 are copies; sklearn's feature order after adding
    # feature 2 puts 1 first.
    "copies_tie": (
        [[1, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 0]],
        [1, 1, 7, 8],
        [[2], [1, 2], [1, 2]],
    ),
    # Feature 3 is a copy of the active feature 0: its correlation moves in
    # lockstep and must not end a step through rounding.
    "copy_of_active_feature": (
        [
            [1, 1, 1, 1, 1, 1, 1],
            [1, 0, 0, 1, 1, 0, 1],
            [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 1, 0, 1],
            [1, 0, 0, 1, 1, 1, 0],
            [0, 1, 0, 0, 0, 0, 1],
            [0, 1, 0, 0, 0, 1, 0],
        ],
        [4, 7, 2, 5, 6, 0, 3, 6],
        [[5], [5, 6], [3, 5, 6]] + [[3, 4, 5, 6]] * 4,
    ),
    # All three features tie at the start; the tied ones overtake the first
    # step and sklearn stops the path as alpha increases.
    "tie_at_start": (
        [[1, 1, 1], [0, 1, 1], [0, 0, 0], [0, 1, 1]],
        [4, 4, 4, 8],
        [[0], [0], [0]],
    ),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", sorted(_TIE_CASES))
def test_exact_ties_like_sklearn(case, dtype):
  z, y, selections = _TIE_CASES[case]
  z, y = np.array(z, float), np.array(y, float)
  w = np.ones_like(y)
  ks = np.arange(1, z.shape[1] + 1)
  want = np.zeros((ks.size, z.shape[1]), bool)
  for mask, selected in zip(want, selections):
    mask[selected] = True
  np.testing.assert_array_equal(lime_masks(z, y, w, ks), want)
  np.testing.assert_array_equal(our_masks(z, y, w, ks, dtype), want)


def test_edge_cases_match_lime():
  z, y, w = make_problem(0, 700, 17, "gauss")
  # K = 0: the first point of the path; K > D: the last one.
  ks = np.array([0, 1, 17, 18, 100] + [3] * 12)
  np.testing.assert_array_equal(our_masks(z, y, w, ks, np.float64), lime_masks(z, y, w, ks))
  # Constant outputs: the path has one point and lime keeps all features.
  ks = np.arange(1, 18)
  flat = np.full_like(y, 0.7)
  got = our_masks(z, flat, w, ks, np.float64)
  np.testing.assert_array_equal(got, lime_masks(z, flat, w, ks))
  assert got.all()
