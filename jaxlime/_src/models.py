"""Model adapters: turn a user's model into a pure ``apply(params, x)``.

The explainer evaluates the user's model on perturbed inputs inside one big
jitted computation, roughly::

    jax.jit(pipeline, static_argnames=("apply", ...))(adapter.params, data...)

so every adapter provides

* ``apply`` -- a *hashable* pure function ``apply(params, x) -> outputs`` whose
  equality/hash is stable for a given user model (so jit caches by it), and
* ``params`` -- a pytree of arrays that is passed to jit as an *argument*
  (never closed over: captured arrays would become compile-time constants).

Supported models (see :func:`as_model`):

1. a jittable callable ``f(x[B, ...]) -> [B, C]`` (or ``[B]`` for regression);
2. a Flax NNX ``nnx.Module`` (called as ``module(x)``);
3. a Linen ``functools.partial(module.apply, variables, **kwargs)`` or a Linen
   module bound with ``module.bind(variables)``;
4. :func:`host_model` -- an opaque NumPy function (e.g. scikit-learn
   ``predict_proba``) run through :func:`jax.pure_callback`;
5. an already-built :class:`ModelAdapter` (returned unchanged), which lets
   advanced users supply their own ``(apply, params)`` pair.

Model outputs are NOT cast here; the caller applies the dtype policy.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import threading
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "HostModel",
    "host_model",
    "ModelAdapter",
    "as_model",
    "call_model",
    "check_output",
    "evaluate_model",
]


# --------------------------------------------------------------------------
# Optional flax imports (jaxlime works without flax installed).
# --------------------------------------------------------------------------


def _nnx():
  try:
    from flax import nnx
  except Exception:  # pragma: no cover - flax missing / broken
    return None
  return nnx


def _linen():
  try:
    import flax.linen as nn
  except Exception:  # pragma: no cover - flax missing / broken
    return None
  return nn


def _is_nnx_module(obj) -> bool:
  nnx = _nnx()
  return nnx is not None and isinstance(obj, nnx.Module)


def _is_linen_module(obj) -> bool:
  nn = _linen()
  return nn is not None and isinstance(obj, nn.Module)


# --------------------------------------------------------------------------
# Host (NumPy) models.
# --------------------------------------------------------------------------


def _normalize_output_shape(num_outputs, output_shape):
  if num_outputs is not None and output_shape is not None:
    raise ValueError("Pass at most one of `num_outputs` and `output_shape`.")
  if num_outputs is not None:
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, (int, np.integer)):
      raise TypeError(f"`num_outputs` must be an int, got {num_outputs!r}.")
    if num_outputs < 1:
      raise ValueError(f"`num_outputs` must be >= 1, got {num_outputs}.")
    return (int(num_outputs),)
  if output_shape is not None:
    try:
      shape = tuple(int(d) for d in output_shape)
    except TypeError:
      raise TypeError(
          "`output_shape` must be a tuple of ints (the per-row output "
          f"shape, () for regression), got {output_shape!r}."
      ) from None
    if any(d < 0 for d in shape):
      raise ValueError(f"`output_shape` must be non-negative, got {shape}.")
    return shape
  return None


class HostModel:
  """An opaque host (NumPy) function ``fn(x: np.ndarray[B, ...]) -> [B, ...]``.

  Created by :func:`host_model`. Evaluated via :func:`jax.pure_callback`, so
  it can be used inside jitted computations. ``fn`` is called with NumPy
  arrays of at most ``batch_size`` rows (all rows at once if ``None``).

  The per-row output shape is ``output_shape`` if given; otherwise it is
  determined by a probe call of ``fn`` on ONE row, the first time the model
  is seen with a given per-row input shape. The probe row is the example
  registered with :meth:`probe` (e.g. via ``as_model(model, example=row)``)
  if its shape matches, else a row of zeros of the traced input shape/dtype.

  Hashable by identity, so it can be used as (part of) a static jit argument.
  """

  __slots__ = (
      "fn",
      "batch_size",
      "output_shape",
      "output_dtype",
      "_out_shapes",
      "_examples",
      "_lock",
      "__weakref__",
  )

  def __init__(
      self,
      fn: Callable[[np.ndarray], Any],
      *,
      batch_size: int | None = None,
      num_outputs: int | None = None,
      output_shape: tuple[int, ...] | None = None,
      output_dtype: Any = np.float32,
  ):
    if not callable(fn):
      raise TypeError(f"host_model(fn): `fn` must be callable, got {type(fn).__name__}.")
    if isinstance(fn, HostModel):
      raise TypeError("host_model(fn): `fn` is already a HostModel.")
    if batch_size is not None:
      if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"`batch_size` must be a positive int or None, got {batch_size!r}.")
      if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
      batch_size = int(batch_size)
    self.fn = fn
    self.batch_size = batch_size
    self.output_shape = _normalize_output_shape(num_outputs, output_shape)
    self.output_dtype = np.dtype(output_dtype)
    # per-row input shape -> per-row output shape (probe cache)
    self._out_shapes: dict[tuple[int, ...], tuple[int, ...]] = {}
    # per-row input shape -> example row used for probing
    self._examples: dict[tuple[int, ...], np.ndarray] = {}
    self._lock = threading.Lock()

  # identity semantics (object defaults), made explicit
  __hash__ = object.__hash__

  def __eq__(self, other):
    return self is other

  def __repr__(self):
    name = getattr(self.fn, "__qualname__", None) or type(self.fn).__name__
    return (
        f"HostModel(fn={name}, batch_size={self.batch_size}, "
        f"output_shape={self.output_shape}, output_dtype={self.output_dtype})"
    )

  # ------------------------------------------------------------------ #

  def _call_host(self, x: np.ndarray) -> np.ndarray:
    """Calls ``fn`` on ``x[n, ...]`` in chunks of ``batch_size`` rows."""
    n = x.shape[0]
    bs = self.batch_size
    if bs is None or n <= bs:
      return self._call_once(x)
    outs = [self._call_once(x[i : i + bs]) for i in range(0, n, bs)]
    return np.concatenate(outs, axis=0)

  def _call_once(self, x: np.ndarray) -> np.ndarray:
    out = np.asarray(self.fn(x))
    check_output(out, x.shape)
    return out

  def probe(self, example_row) -> tuple[int, ...]:
    """Determines (and caches) the per-row output shape from one example row.

    ``example_row`` is a single input WITHOUT batch axis (shape ``[...]``).
    Returns the per-row output shape (``(C,)`` for classifiers, ``()`` for
    regression). If ``output_shape`` was given at construction, it is
    returned without calling ``fn``.
    """
    row = np.asarray(example_row)
    key = tuple(row.shape)
    with self._lock:
      self._examples.setdefault(key, row)
    return self._output_shape_for(key, row.dtype)

  def _output_shape_for(self, row_shape, dtype) -> tuple[int, ...]:
    if self.output_shape is not None:
      return self.output_shape
    row_shape = tuple(row_shape)
    with self._lock:
      cached = self._out_shapes.get(row_shape)
      example = self._examples.get(row_shape)
    if cached is not None:
      return cached
    if example is None:
      example = np.zeros(row_shape, dtype=np.dtype(dtype))
    batch = np.repeat(np.asarray(example)[None], PROBE_ROWS, axis=0)
    try:
      out = self._call_once(batch)
    except Exception as error:  # The model's own error, with where it came from.
      add_note(
          error,
          f"jaxlime: raised by {self!r} on the probe batch of shape {batch.shape} "
          "that finds its output shape (pass num_outputs= or output_shape= to "
          "host_model to skip the probe).",
      )
      raise
    shape = tuple(out.shape[1:])
    with self._lock:
      self._out_shapes.setdefault(row_shape, shape)
    return shape


def host_model(
    fn: Callable[[np.ndarray], Any],
    *,
    batch_size: int | None = None,
    num_outputs: int | None = None,
    output_shape: tuple[int, ...] | None = None,
    output_dtype: Any = np.float32,
) -> HostModel:
  """Wraps an opaque NumPy function as a model usable inside ``jax.jit``.

  Args:
    fn: ``fn(x: np.ndarray[B, ...]) -> array-like [B, C]`` (or ``[B]``), e.g.
      a scikit-learn ``clf.predict_proba``.
    batch_size: maximum number of rows per call of ``fn`` (None: no limit
      beyond the chunking done by the caller).
    num_outputs: shorthand for ``output_shape=(num_outputs,)``.
    output_shape: the per-row output shape (``()`` for regression). If
      neither is given, it is found by a probe call of ``fn`` on one row
      (see :class:`HostModel`).
    output_dtype: dtype of the callback result (float32 by default).
  """
  return HostModel(
      fn,
      batch_size=batch_size,
      num_outputs=num_outputs,
      output_shape=output_shape,
      output_dtype=output_dtype,
  )


# --------------------------------------------------------------------------
# Apply functions (hashable, pure: apply(params, x)).
# --------------------------------------------------------------------------


class _Static:
  """A static jit argument: compared with == and hashed when its value is hashable, by identity
  otherwise (the same object gives the same compiled program, an equal one may not)."""

  __slots__ = ("value",)

  def __init__(self, value):
    self.value = value

  def __eq__(self, other):
    if not isinstance(other, _Static):
      return NotImplemented
    if self.value is other.value:
      return True
    return _is_hashable(self.value) and _is_hashable(other.value) and self.value == other.value

  def __hash__(self):
    return hash(self.value) if _is_hashable(self.value) else id(self.value)


@dataclasses.dataclass(frozen=True)
class _CallableApply:
  """apply for a plain jittable callable; params are ignored (None)."""

  static: _Static  # the callable.

  @property
  def fn(self) -> Callable:
    return self.static.value

  def __call__(self, params, x):
    del params
    return self.fn(x)


@dataclasses.dataclass(frozen=True)
class _NNXApply:
  """apply for an NNX module: ``nnx.merge(graphdef, state)(x)``.

  ``graphdef`` is taken from an eval-mode *view* of the user's module (so
  static flags such as ``Dropout.deterministic`` /
  ``BatchNorm.use_running_average`` are baked into it). GraphDefs are
  hashable and compare structurally, so two adapters built from the same
  module (or identically structured modules) have equal applies.
  """

  graphdef: Any

  def __call__(self, params, x):
    nnx = _nnx()
    # copy=True: fresh Variable objects, so even an eager (non-jitted) call
    # that mutates module state can never touch the user's module.
    module = nnx.merge(self.graphdef, params, copy=True)
    return module(x)


@dataclasses.dataclass(frozen=True)
class _LinenApply:
  """apply for a Linen ``partial(module.apply, variables, **kwargs)``.

  ``params`` is ``(variables, traced_kwargs)``: the variables and any
  array-valued kwargs (e.g. ``rngs``) are traced jit arguments; the other
  kwargs are static, each in a `_Static` (compared by value, or by identity
  when unhashable).
  """

  module: Any
  static_kwargs: tuple = ()  # ((name, _Static(value)), ...) sorted by name.

  def __call__(self, params, x):
    variables, traced_kwargs = params
    kwargs = {name: static.value for name, static in self.static_kwargs}
    kwargs.update(traced_kwargs)
    out = self.module.apply(variables, x, **kwargs)
    mutable = kwargs.get("mutable", False)
    if mutable is not False and isinstance(out, tuple) and len(out) == 2:
      out = out[0]  # (y, mutated_variables) -> y; mutations discarded
    return out


@dataclasses.dataclass(frozen=True)
class _HostApply:
  """apply for a :class:`HostModel`, via ``jax.pure_callback``."""

  host: HostModel

  def __call__(self, params, x):
    del params
    return _host_call(self.host, x)


def _host_call(host: HostModel, x) -> jax.Array:
  x = jnp.asarray(x)
  if x.ndim < 1:
    raise ValueError(f"host model input must have a leading batch axis, got shape {x.shape}.")
  row_shape = tuple(x.shape[1:])
  out_row_shape = host._output_shape_for(row_shape, x.dtype)
  out_dtype = host.output_dtype

  def callback(xb):
    xb = np.asarray(xb)
    # Under vmap (vmap_method='broadcast_all') extra leading axes appear;
    # flatten all of them into one row axis.
    lead = xb.shape[: xb.ndim - len(row_shape)]
    n = math.prod(lead)
    flat = xb.reshape((n,) + row_shape)
    out = host._call_host(flat) if n > 0 else None
    expected = (n,) + out_row_shape
    if out is None:
      out = np.zeros(expected, dtype=out_dtype)
    if out.shape != expected:
      raise ValueError(
          f"host model {host!r} returned an output of shape {out.shape} for "
          f"{n} input rows; expected {expected} (per-row output shape "
          f"{out_row_shape}, as given or determined by the probe call)."
      )
    return np.asarray(out, dtype=out_dtype).reshape(lead + out_row_shape)

  result_shape = jax.ShapeDtypeStruct(x.shape[:1] + out_row_shape, out_dtype)
  return jax.pure_callback(callback, result_shape, x, vmap_method="broadcast_all")


# --------------------------------------------------------------------------
# ModelAdapter / as_model.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelAdapter:
  """A user model normalized to ``apply(params, x)``.

  Attributes:
    apply: pure, hashable function ``apply(params, x[B, ...]) -> [B, ...]``;
      equal (``==``/``hash``) across :func:`as_model` calls for the same
      model, so it can be a static jit argument.
    params: pytree of arrays to pass to jit as an argument (``None`` for plain
      callables and host models).
    is_host: True if ``apply`` runs a host callback (:func:`host_model`).

  Note: hash ``adapter.apply``, not the adapter itself (``params`` holds
  arrays, which are unhashable).
  """

  apply: Callable
  params: Any
  is_host: bool


_SUPPORTED = (
    "Supported models: a jittable callable f(x[B, ...]) -> [B, C] (or [B]); a "
    "flax.nnx.Module; functools.partial(linen_module.apply, variables, **kwargs) "
    "or linen_module.bind(variables); jaxlime.host_model(numpy_fn, ...) for "
    "opaque NumPy functions (e.g. scikit-learn predict_proba); or a ModelAdapter."
)


def _is_array_leaf(x) -> bool:
  return isinstance(x, (jax.Array, np.ndarray))


def _is_array_tree(v) -> bool:
  leaves = jax.tree_util.tree_leaves(v)
  return bool(leaves) and all(_is_array_leaf(l) for l in leaves)


def _is_hashable(v) -> bool:
  try:
    hash(v)
  except TypeError:
    return False
  return True


def _check_variables(variables, what):
  leaves = jax.tree_util.tree_leaves(variables)
  bad = [
      type(l).__name__
      for l in leaves
      if not isinstance(l, (jax.Array, np.ndarray, np.generic, int, float, complex))
  ]
  if bad:
    raise TypeError(
        f"{what}: the Linen variables must be a pytree of arrays, found "
        f"leaves of type {sorted(set(bad))}."
    )


# Cache for Linen partials with unhashable static kwargs: the same partial
# object yields the same (identity-compared) apply, hence no retrace.
def _linen_partial_adapter(model: functools.partial, module) -> ModelAdapter:
  what = "functools.partial(linen_module.apply, ...)"
  args = tuple(model.args)
  kwargs = dict(model.keywords)
  if not args and "variables" in kwargs:
    args = (kwargs.pop("variables"),)
  if len(args) != 1:
    raise TypeError(
        f"{what}: expected exactly one bound positional argument (the "
        f"variables, e.g. partial(module.apply, {{'params': params}})), got "
        f"{len(args)}. The model is called as model(x), so x must not be "
        "bound."
    )
  variables = args[0]
  _check_variables(variables, what)
  if module.scope is not None:
    raise TypeError(
        f"{what}: the module is bound; pass the unbound module's apply, or "
        "the bound module itself (it will be unbound)."
    )

  traced, static = {}, {}
  for k, v in kwargs.items():
    if k == "rngs" or _is_array_tree(v):
      traced[k] = v
    elif k == "mutable" and isinstance(v, list) and all(map(_is_hashable, v)):
      static[k] = _Static(tuple(v))
    else:
      static[k] = _Static(v)
  apply = _LinenApply(module, tuple(sorted(static.items())))
  return ModelAdapter(apply=apply, params=(variables, traced), is_host=False)


def _nnx_adapter(module) -> ModelAdapter:
  nnx = _nnx()
  # Eval-mode *view*: a new graph with deterministic=True /
  # use_running_average=True on every submodule that has those attributes.
  # The user's module object is not modified (nnx.view shares the arrays but
  # creates new module objects).
  view = nnx.view(
      module,
      deterministic=True,
      use_running_average=True,
      raise_if_not_found=False,
  )
  graphdef, state = nnx.split(view)
  return ModelAdapter(apply=_NNXApply(graphdef), params=state, is_host=False)


def _looks_like_sklearn(obj) -> bool:
  mod = getattr(type(obj), "__module__", "") or ""
  return mod.split(".")[0] in ("sklearn", "xgboost", "lightgbm", "catboost")


def as_model(model, *, example=None) -> ModelAdapter:
  """Normalizes ``model`` to a :class:`ModelAdapter`.

  Args:
    model: see the module docstring / :data:`_SUPPORTED`.
    example: optional single input row (no batch axis). For host models it
      is registered as the probe row used to determine the output shape
      (and the probe is run now); ignored for other models.

  Raises:
    TypeError: for unsupported objects, with a message explaining what to
      pass instead.
  """
  if isinstance(model, ModelAdapter):
    return model

  if isinstance(model, HostModel):
    if example is not None:
      model.probe(example)
    return ModelAdapter(apply=_HostApply(model), params=None, is_host=True)

  if model is None:
    raise TypeError(f"model must not be None. {_SUPPORTED}")

  if isinstance(model, type):
    raise TypeError(
        f"model is a class ({model.__qualname__}), not a model instance. " f"{_SUPPORTED}"
    )

  # --- Flax NNX -------------------------------------------------------- #
  if _is_nnx_module(model):
    if not callable(model):
      raise TypeError(
          f"NNX module {type(model).__name__} has no __call__; the model "
          f"is called as model(x). {_SUPPORTED}"
      )
    return _nnx_adapter(model)

  # --- Flax Linen ------------------------------------------------------ #
  if _is_linen_module(model):
    if model.scope is None:
      raise TypeError(
          f"Got an unbound flax.linen Module ({type(model).__name__}) "
          "without variables. Pass functools.partial(module.apply, "
          "variables) (e.g. partial(module.apply, {'params': params})) "
          "or module.bind(variables)."
      )
    try:
      unbound, variables = model.unbind()
    except Exception as e:
      raise TypeError(
          f"Could not unbind the bound flax.linen Module "
          f"{type(model).__name__} ({e}); pass functools.partial("
          "module.apply, variables) instead."
      ) from e
    return _linen_partial_adapter(functools.partial(unbound.apply, variables), unbound)

  if isinstance(model, functools.partial):
    func = model.func
    self_ = getattr(func, "__self__", None)
    if (
        inspect.ismethod(func)
        and getattr(func, "__name__", None) == "apply"
        and _is_linen_module(self_)
    ):
      return _linen_partial_adapter(model, self_)

  if inspect.ismethod(model) and _is_linen_module(getattr(model, "__self__", None)):
    name = getattr(model, "__name__", "?")
    raise TypeError(
        f"Got the bound method {type(model.__self__).__name__}.{name} of a "
        "flax.linen Module without variables. Pass functools.partial("
        "module.apply, variables) (e.g. partial(module.apply, "
        "{'params': params}))."
    )

  # --- opaque host estimators passed by mistake ------------------------ #
  if _looks_like_sklearn(model) or (
      inspect.ismethod(model) and _looks_like_sklearn(model.__self__)
  ):
    owner = model.__self__ if inspect.ismethod(model) else model
    hint = (
        "jaxlime.host_model(est.predict_proba)"
        if hasattr(owner, "predict_proba")
        else "jaxlime.host_model(est.predict)"
    )
    raise TypeError(
        f"Got a {type(owner).__module__}.{type(owner).__name__} "
        f"{'method' if owner is not model else 'estimator'}, which is not "
        f"jittable. Wrap its prediction function with {hint}."
    )

  if not callable(model):
    raise TypeError(
        f"model must be callable, got an object of type "
        f"{type(model).__module__}.{type(model).__qualname__}. {_SUPPORTED}"
    )

  return ModelAdapter(apply=_CallableApply(_Static(model)), params=None, is_host=False)


# --------------------------------------------------------------------------
# Output contract and chunked evaluation.
# --------------------------------------------------------------------------


def add_note(error: BaseException, note: str):
  """``error.add_note(note)`` where Python has it (3.11+); the error is kept as it is."""
  if hasattr(error, "add_note"):
    error.add_note(note)


# Rows of the batch a model is first probed on: 3 cannot be mistaken for the usual class counts
# of 2 (a transposed [C, B] output of a binary classifier is then caught by the probe itself).
PROBE_ROWS = 3


def check_output(out, input_shape: tuple[int, ...]):
  """Raises unless ``out`` is a numeric array with one row per input row.

  Shapes are static, so under ``jit`` this fires at trace time, on every path
  that evaluates the model.

  Args:
    out: the model's output on a batch of shape ``input_shape`` ([B, ...]).
    input_shape: the shape of that batch.
  """
  rows = int(input_shape[0])
  shape = getattr(out, "shape", None)
  dtype = getattr(out, "dtype", None)
  if shape is None or dtype is None:
    raise TypeError(
        f"the model must return an array of [B, C] (or [B]) numbers; for a batch of "
        f"shape {tuple(input_shape)} it returned a {type(out).__name__}."
    )
  if np.dtype(dtype).kind not in "biuf":
    raise TypeError(
        f"the model must return numbers (class probabilities or predictions); for a "
        f"batch of shape {tuple(input_shape)} it returned dtype {np.dtype(dtype)} "
        "(class labels? return predict_proba's probabilities)."
    )
  if len(shape) >= 1 and shape[0] == rows:
    return
  hint = ""
  if len(shape) == 2 and shape[1] == rows:
    hint = " It looks transposed: return [B, C], not [C, B]."
  elif len(shape) >= 1 and shape[0] == 1:
    hint = " It ignores the batch: return one output row per input row."
  raise ValueError(
      f"the model returned shape {tuple(shape)} for a batch of {rows} rows (input shape "
      f"{tuple(input_shape)}); expected {rows} rows first: [{rows}, C] or [{rows}].{hint}"
  )


def call_model(apply, params, x) -> jax.Array:
  """``apply(params, x)`` with its output checked by :func:`check_output`."""
  out = apply(params, x)
  check_output(out, x.shape)
  return out


def evaluate_model(apply, params, x, *, chunk_size: int | None) -> jax.Array:
  """Evaluates ``apply(params, x)`` on ``x[R, ...]`` in chunks of rows.

  Full chunks of ``chunk_size`` rows are evaluated sequentially with
  ``jax.lax.map`` over an ``[R // chunk_size, chunk_size, ...]`` view (so peak
  memory is bounded by one chunk), and the ``R % chunk_size`` remaining rows
  by one extra call. ``apply`` is always called on whole chunks (never
  vmapped over single rows), so host callbacks receive whole chunks.

  Outputs are returned in the model's dtype (no cast here).
  """
  x = jnp.asarray(x)
  if x.ndim < 1:
    raise ValueError(f"x must have a leading row axis, got shape {x.shape}.")
  if chunk_size is not None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
      raise TypeError(f"chunk_size must be a positive int or None, got {chunk_size!r}.")
    if chunk_size < 1:
      raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    chunk_size = int(chunk_size)

  r = x.shape[0]
  if chunk_size is None or r <= chunk_size:
    return call_model(apply, params, x)

  n_full, rem = divmod(r, chunk_size)
  main = x[: n_full * chunk_size].reshape((n_full, chunk_size) + x.shape[1:])

  def body(xc):
    return call_model(apply, params, xc)

  out_main = jax.lax.map(body, main)
  out_main = jax.tree_util.tree_map(
      lambda o: o.reshape((n_full * chunk_size,) + o.shape[2:]), out_main
  )
  if rem == 0:
    return out_main
  out_rem = call_model(apply, params, x[n_full * chunk_size :])
  return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b], axis=0), out_main, out_rem)
