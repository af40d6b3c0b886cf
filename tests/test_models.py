"""Tests for jaxlime._src.models (model adapters)."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
import flax.linen as nn

from jaxlime._src.models import (
    HostModel,
    ModelAdapter,
    as_model,
    evaluate_model,
    host_model,
)

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _jit_eval(chunk_size=None, counter=None):
  """jit(pipeline) with `apply` static, like the explainer does."""

  def pipeline(params, x, *, apply):
    if counter is not None:
      counter.append(1)
    return evaluate_model(apply, params, x, chunk_size=chunk_size)

  return jax.jit(pipeline, static_argnames=("apply",))


def _tree_equal(a, b):
  la, ta = jax.tree_util.tree_flatten(a)
  lb, tb = jax.tree_util.tree_flatten(b)
  if ta != tb:
    return False
  for x, y in zip(la, lb):
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    if not np.array_equal(np.asarray(x), np.asarray(y)):
      return False
  return True


_NON_SCALAR_CONST = re.compile(r"stablehlo\.constant dense<[^>]*> : tensor<\d")


# ---------------------------------------------------------------------------
# plain callables
# ---------------------------------------------------------------------------


def _plain_fn(x):
  return jax.nn.softmax(jnp.tanh(x[:, :3] * 2.0), axis=-1)


def test_plain_callable():
  x = jax.random.normal(jax.random.key(0), (11, 5))
  ad = as_model(_plain_fn)
  assert isinstance(ad, ModelAdapter)
  assert ad.params is None and not ad.is_host
  ad2 = as_model(_plain_fn)
  assert ad.apply == ad2.apply and hash(ad.apply) == hash(ad2.apply)
  assert as_model(lambda x: x).apply != ad.apply

  count = []
  f = _jit_eval(chunk_size=4, counter=count)
  np.testing.assert_allclose(f(None, x, apply=ad.apply), _plain_fn(x), rtol=1e-6)
  f(None, x + 1.0, apply=ad2.apply)
  assert len(count) == 1
  # a ModelAdapter is passed through unchanged
  assert as_model(ad) is ad


# ---------------------------------------------------------------------------
# NNX
# ---------------------------------------------------------------------------


class _NNXMLP(nnx.Module):

  def __init__(self, din, dh, dout, *, rngs):
    self.l1 = nnx.Linear(din, dh, rngs=rngs)
    self.bn = nnx.BatchNorm(dh, rngs=rngs)
    self.drop = nnx.Dropout(0.5, rngs=rngs)
    self.l2 = nnx.Linear(dh, dout, rngs=rngs)

  def __call__(self, x):
    h = self.drop(nnx.relu(self.bn(self.l1(x))))
    return nnx.softmax(self.l2(h), axis=-1)


def _nnx_model(seed=0):
  m = _NNXMLP(5, 16, 3, rngs=nnx.Rngs(seed))
  # give BatchNorm non-trivial running stats
  m.bn.mean[...] = jnp.linspace(-0.5, 0.5, 16)
  m.bn.var[...] = jnp.linspace(0.5, 2.0, 16)
  return m


@pytest.mark.slow
def test_nnx_module_eval_mode_and_not_mutated():
  m = _nnx_model()
  x = jax.random.normal(jax.random.key(1), (13, 5))
  state_before = nnx.state(m)
  state_before = jax.tree_util.tree_map(lambda a: a, state_before)

  ad = as_model(m)
  assert not ad.is_host
  f = _jit_eval(chunk_size=4)
  out = f(ad.params, x, apply=ad.apply)
  out_again = f(ad.params, x, apply=ad.apply)
  # eager (non-jitted) evaluation also must not mutate the user's module
  out_eager = evaluate_model(ad.apply, ad.params, x, chunk_size=None)

  # reference: a clone of the module, switched to eval mode, called directly
  ref_mod = nnx.clone(m)
  ref_mod.eval()
  ref = ref_mod(x)
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out_again, out)  # deterministic (no dropout)
  np.testing.assert_allclose(out_eager, ref, rtol=1e-5, atol=1e-6)

  # the user's module is untouched: flags and state (incl. rng counters)
  assert m.drop.deterministic is False
  assert m.bn.use_running_average is False
  assert _tree_equal(nnx.state(m), state_before)


@pytest.mark.slow
def test_nnx_apply_is_stable_and_params_are_arguments():
  m = _nnx_model(0)
  x = jax.random.normal(jax.random.key(2), (8, 5))
  ad1, ad2 = as_model(m), as_model(m)
  assert ad1.apply == ad2.apply and hash(ad1.apply) == hash(ad2.apply)

  count = []
  f = _jit_eval(chunk_size=3, counter=count)
  f(ad1.params, x, apply=ad1.apply)
  f(ad2.params, x, apply=ad2.apply)  # explaining twice: no retrace
  # a different module with the same structure: only params change
  other = as_model(_nnx_model(1))
  assert other.apply == ad1.apply
  out_other = f(other.params, x, apply=other.apply)
  assert len(count) == 1
  ref = nnx.clone(_nnx_model(1))
  ref.eval()
  np.testing.assert_allclose(out_other, ref(x), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Linen
# ---------------------------------------------------------------------------


class _LinenMLP(nn.Module):
  hidden: int = 64

  @nn.compact
  def __call__(self, x, train: bool = False, scale: float = 1.0):
    h = nn.relu(nn.Dense(self.hidden)(x))
    h = nn.Dropout(0.5, deterministic=not train)(h)
    return nn.softmax(nn.Dense(3)(h) * scale, axis=-1)


def _linen_setup(seed=0, din=64):
  module = _LinenMLP()
  x = jax.random.normal(jax.random.key(10 + seed), (13, din))
  variables = module.init(jax.random.key(seed), x)
  return module, variables, x


@pytest.mark.slow
def test_linen_partial_matches_and_params_are_jit_arguments():
  module, variables, x = _linen_setup()
  ad = as_model(functools.partial(module.apply, variables))
  assert not ad.is_host
  ref = module.apply(variables, x)

  count = []
  f = _jit_eval(chunk_size=4, counter=count)
  np.testing.assert_allclose(f(ad.params, x, apply=ad.apply), ref, rtol=1e-5, atol=1e-6)

  # the 64x64 kernel must not be baked in as a constant
  text = (
      jax.jit(lambda p, x: evaluate_model(ad.apply, p, x, chunk_size=8))
      .lower(ad.params, x)
      .as_text()
  )
  assert not _NON_SCALAR_CONST.search(text), _NON_SCALAR_CONST.findall(text)

  # new params, same module: equal apply, no retrace
  _, variables2, _ = _linen_setup(seed=1)
  ad2 = as_model(functools.partial(module.apply, variables2))
  assert ad2.apply == ad.apply and hash(ad2.apply) == hash(ad.apply)
  out2 = f(ad2.params, x, apply=ad2.apply)
  assert len(count) == 1
  np.testing.assert_allclose(out2, module.apply(variables2, x), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_linen_partial_kwargs_and_bound_module():
  module, variables, x = _linen_setup()
  # hashable extra kwargs become static
  p = functools.partial(module.apply, variables, train=False, scale=2.0)
  ad = as_model(p)
  np.testing.assert_allclose(
      evaluate_model(ad.apply, ad.params, x, chunk_size=5),
      module.apply(variables, x, scale=2.0),
      rtol=1e-5,
      atol=1e-6,
  )
  assert (
      as_model(functools.partial(module.apply, variables, train=False, scale=2.0)).apply == ad.apply
  )
  assert as_model(functools.partial(module.apply, variables, scale=3.0)).apply != ad.apply

  # array-valued kwargs (rngs) are traced, not static
  rngs = {"dropout": jax.random.key(3)}
  pr = functools.partial(module.apply, variables, train=True, rngs=rngs)
  adr = as_model(pr)
  assert "rngs" in adr.params[1]
  np.testing.assert_allclose(
      adr.apply(adr.params, x), module.apply(variables, x, train=True, rngs=rngs)
  )

  # a bound Linen module is unbound into (module, variables)
  adb = as_model(module.bind(variables))
  assert adb.apply == as_model(functools.partial(module.apply, variables)).apply
  np.testing.assert_allclose(adb.apply(adb.params, x), module.apply(variables, x), rtol=1e-6)


def test_linen_unhashable_kwarg_falls_back_but_caches_per_partial():
  class WithTable(nn.Module):

    @nn.compact
    def __call__(self, x, table=None):
      return nn.Dense(2)(x) + len(table)

  module = WithTable()
  x = jnp.ones((4, 3))
  variables = module.init(jax.random.key(0), x, table=[1])
  p = functools.partial(module.apply, variables, table=[1, 2])
  ad1, ad2 = as_model(p), as_model(p)
  assert ad1.apply == ad2.apply and hash(ad1.apply) == hash(ad2.apply)
  np.testing.assert_allclose(ad1.apply(ad1.params, x), module.apply(variables, x, table=[1, 2]))


# ---------------------------------------------------------------------------
# host models
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logreg():
  from sklearn.linear_model import LogisticRegression

  rng = np.random.RandomState(0)
  X = rng.randn(80, 4)
  y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.3).astype(int)
  return LogisticRegression().fit(X, y), X


def test_host_model_sklearn_in_jit_chunked(logreg):
  clf, X = logreg
  seen = []

  def fn(x):
    assert isinstance(x, np.ndarray)
    seen.append(x.shape[0])
    return clf.predict_proba(x)

  hm = host_model(fn)
  assert isinstance(hm, HostModel) and hash(hm) == hash(hm)
  ad = as_model(hm)
  assert ad.is_host and ad.params is None
  assert as_model(hm).apply == ad.apply

  x = jnp.asarray(X[:13], jnp.float32)
  f = _jit_eval(chunk_size=5)
  out = f(None, x, apply=ad.apply)
  assert out.dtype == jnp.float32 and out.shape == (13, 3)
  np.testing.assert_allclose(out, clf.predict_proba(np.asarray(x)), rtol=1e-5, atol=1e-6)
  # one probe call on a batch of PROBE_ROWS = 3 rows (at trace time), then whole chunks
  assert seen[0] == 3
  assert sorted(seen[1:]) == [3, 5, 5]  # remainder may run before the scan

  # batch_size bounds every host call
  seen.clear()
  ad_b = as_model(host_model(fn, batch_size=2, num_outputs=3))
  out_b = jax.jit(lambda x: evaluate_model(ad_b.apply, None, x, chunk_size=5))(x)
  np.testing.assert_allclose(out_b, out, rtol=1e-6)
  assert seen and max(seen) <= 2 and sum(seen) == 13  # num_outputs: no probe

  # works under vmap (e.g. batched over instances)
  seen.clear()
  xs = jnp.stack([x, x + 0.5])
  out_v = jax.jit(jax.vmap(lambda x: evaluate_model(ad.apply, None, x, chunk_size=5)))(xs)
  np.testing.assert_allclose(out_v[1], clf.predict_proba(np.asarray(x + 0.5)), rtol=1e-5, atol=1e-6)
  assert sum(seen) == 26


def test_host_model_regression_and_probe_example(logreg):
  clf, X = logreg
  probes = []

  def reg(x):
    probes.append(np.array(x))
    return x.sum(axis=1) * 2.0

  hm = host_model(reg)
  row = X[7].astype(np.float32)
  assert as_model(hm, example=row).is_host
  assert len(probes) == 1 and np.array_equal(probes[0][0], row)  # probed with the example
  ad = as_model(hm)
  x = jnp.asarray(X[:6], jnp.float32)
  out = jax.jit(lambda x: evaluate_model(ad.apply, None, x, chunk_size=4))(x)
  assert out.shape == (6,)
  np.testing.assert_allclose(out, np.asarray(x).sum(1) * 2.0, rtol=1e-6)
  assert len(probes) == 1 + 2  # no second probe; chunks [4, 2]


def test_host_model_wrong_shape_raises():
  # the probe (3 rows) says (C=2,), later calls return the wrong shape
  def fn(x):
    return np.zeros((x.shape[0], 2 if x.shape[0] == 3 else 3))

  ad = as_model(host_model(fn))
  with pytest.raises(Exception, match="expected \\(4, 2\\)"):
    jax.block_until_ready(jax.jit(lambda x: ad.apply(None, x))(jnp.ones((4, 3))))

  ad2 = as_model(host_model(lambda x: np.zeros((x.shape[0] + 1, 2))))
  with pytest.raises(ValueError, match=r"returned shape \(4, 2\) for a batch of 3 rows"):
    jax.jit(lambda x: ad2.apply(None, x)).lower(jnp.ones((4, 3)))


# ---------------------------------------------------------------------------
# evaluate_model chunking
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("r,chunk", [(13, 4), (12, 4), (3, 8), (7, 1), (9, None)])
def test_evaluate_model_chunking_equals_unchunked(r, chunk):
  w = jax.random.normal(jax.random.key(0), (2, 3, 4))

  def apply(params, x):  # x [B, 2, 3] -> [B, 4]
    return jnp.einsum("bij,ijk->bk", jnp.sin(x), params)

  x = jax.random.normal(jax.random.key(1), (r, 2, 3))
  full = apply(w, x)
  got = jax.jit(lambda p, x: evaluate_model(apply, p, x, chunk_size=chunk))(w, x)
  assert got.shape == full.shape
  np.testing.assert_allclose(got, full, rtol=1e-5, atol=1e-6)


def test_evaluate_model_bad_chunk_size():
  with pytest.raises(ValueError):
    evaluate_model(lambda p, x: x, None, jnp.ones((3, 2)), chunk_size=0)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


def test_type_errors(logreg):
  clf, _ = logreg
  module, variables, _ = _linen_setup()
  with pytest.raises(TypeError, match="must not be None"):
    as_model(None)
  with pytest.raises(TypeError, match="must be callable"):
    as_model(np.ones(3))
  with pytest.raises(TypeError, match="unbound flax.linen Module"):
    as_model(module)
  with pytest.raises(TypeError, match="without variables"):
    as_model(module.apply)
  with pytest.raises(TypeError, match="exactly one bound positional"):
    as_model(functools.partial(module.apply))
  with pytest.raises(TypeError, match="is a class"):
    as_model(_NNXMLP)
  with pytest.raises(TypeError, match="host_model"):
    as_model(clf)
  with pytest.raises(TypeError, match="host_model"):
    as_model(clf.predict_proba)
  with pytest.raises(TypeError, match="callable"):
    host_model(3)
  with pytest.raises(ValueError, match="batch_size"):
    host_model(clf.predict_proba, batch_size=0)
