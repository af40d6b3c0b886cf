"""The `Explanation` result pytree and its host-side, lime-compatible readers."""

import dataclasses
import statistics
from typing import Any, Protocol, Sequence

import jax
import numpy as np


class Domain(Protocol):
  """Host-side knowledge that turns feature indices into readable names for one modality.

  A domain is static pytree metadata of its explanation, so it must compare and hash by value
  (see `ValueDomain`): then `jax.jit` over explanations of one shape and domain traces once.
  """

  mode: str  # "classification" or "regression".
  class_names: Sequence[str] | None

  def feature_names(self, explanation: "Explanation", index: int) -> list[str]:
    """Readable names of the D interpretable features of instance `index`."""


class ValueDomain:
  """Equality and hash by value for a frozen dataclass domain, from `value_key()`.

  Two domains are equal only when they name every feature alike, so a jit cache hit never hands
  one explanation another's names.
  """

  def value_key(self) -> tuple:
    """A hashable tuple of everything that determines the names."""
    return tuple(_hashable(getattr(self, field.name)) for field in dataclasses.fields(self))

  def __eq__(self, other) -> bool:
    return type(self) is type(other) and self.value_key() == other.value_key()

  def __hash__(self) -> int:
    return hash((type(self).__name__, self.value_key()))


def _hashable(value):
  """A hashable stand-in for a domain field: arrays by their bytes, containers recursively."""
  if isinstance(value, np.ndarray):
    return (value.dtype.str, value.shape, value.tobytes())
  if isinstance(value, dict):
    return tuple(sorted((_hashable(k), _hashable(v)) for k, v in value.items()))
  if isinstance(value, (list, tuple)):
    return tuple(_hashable(item) for item in value)
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    return (type(value).__name__,) + tuple(
        _hashable(getattr(value, field.name)) for field in dataclasses.fields(value)
    )
  if hasattr(value, "value_key"):
    return value.value_key()
  try:
    hash(value)
  except TypeError:
    return ("id", id(value))
  return value


def _check_level(level) -> float:
  if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)):
    raise TypeError(f"level must be a float in (0, 1); got {level!r}.")
  if not 0 < float(level) < 1:
    raise ValueError(f"level must be in (0, 1); got {level!r}.")
  return float(level)


def _normal_quantile(probability: float) -> float:
  return statistics.NormalDist().inv_cdf(probability)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Explanation:
  """Explanations of N instances, each for L labels over D interpretable features.

  A pytree: it passes through `jax.jit`, `jax.vmap` and `jax.grad`. `len(exp)` is N and `exp[i]`
  is the explanation of instance i (an `Explanation` with N = 1).
  """

  coef: jax.Array  # [N, L, D] surrogate coefficients, zero where not selected.
  selected: jax.Array  # [N, L, D] bool, the features each surrogate uses.
  intercept: jax.Array  # [N, L]
  score: jax.Array  # [N, L] weighted R^2 of the surrogate on its samples.
  local_pred: jax.Array  # [N, L] the surrogate's prediction at the instance.
  labels: jax.Array  # [N, L] int, the model outputs (class ids) explained.
  prediction: jax.Array  # [N, C] the model's output at the instance.
  coef_std: jax.Array  # [N, L, D] posterior standard deviation of each coefficient.
  status: jax.Array  # [N, L] int32 `jaxlime.FitStatus` code of each fit; 0 (OK) is trusted.
  instances: jax.Array  # [N, ...] the explained instances, as given.
  domain: Any = dataclasses.field(metadata=dict(static=True), default=None)
  # With num_samples=jaxlime.UntilStable(...) (None for a fixed count):
  num_samples: jax.Array = None  # [N] int32 samples each instance used.
  converged: jax.Array = None  # [N] bool, its k-th, (k+1)-th |coef| separated at the level.

  @classmethod
  def from_surrogate(cls, fit, instances, **fields) -> "Explanation":
    """An explanation of N instances from their stacked surrogates.

    Args:
      fit: a `jaxlime.Surrogate` whose fields have a leading [N] axis (labels [N, L],
        prediction [N, C]).
      instances: [N, ...] the instances.
      **fields: further fields of a subclass (e.g. `segments`) and `domain`.
    """
    return cls(
        coef=fit.coef,
        selected=fit.selected,
        intercept=fit.intercept,
        score=fit.score,
        local_pred=fit.local_pred,
        labels=fit.labels,
        prediction=fit.prediction,
        coef_std=fit.coef_std,
        status=fit.status,
        instances=instances,
        **fields,
    )

  def __len__(self) -> int:
    return int(np.shape(self.coef)[0])

  def __getitem__(self, index) -> "Explanation":
    """exp[i]: the explanation of instance i (N = 1); a slice or index array selects several."""
    if isinstance(index, (int, np.integer)):
      index = self._check_index(int(index))
      index = slice(index, index + 1)
    return jax.tree.map(lambda leaf: leaf[index], self)

  def __iter__(self):
    """The N one-instance explanations, in order."""
    return (self[index] for index in range(len(self)))

  # ---- lime-compatible readers (host side) ----

  @property
  def mode(self) -> str:
    return getattr(self.domain, "mode", "classification")

  def _label_column(self, index: int, label: int) -> tuple[int, float]:
    """Column of `label` in the L explained labels of instance `index`, and the sign to apply.

    In regression lime reports the fitted output as label 1 and its negation as label 0.
    """
    if self.mode == "regression":
      if label not in (0, 1):
        raise ValueError(f"label must be 0 or 1 for a regression explanation; got {label}.")
      return 0, (1.0 if label == 1 else -1.0)
    labels = np.asarray(self.labels[index])
    where = np.flatnonzero(labels == label)
    if where.size == 0:
      raise ValueError(
          f"label {label} was not explained for instance {index}; explained labels: "
          f"{labels.tolist()}. Pass labels=({label},) or top_labels to explain()."
      )
    return int(where[0]), 1.0

  def _check_index(self, index: int) -> int:
    size = len(self)
    if not -size <= index < size:
      raise IndexError(f"instance index {index} is out of range for {size} explanations.")
    return index % size

  def available_labels(self, index: int = 0) -> list[int]:
    """The labels explained for instance `index` (lime's `available_labels`)."""
    index = self._check_index(index)
    if self.mode == "regression":
      return [0, 1]
    return [int(label) for label in np.asarray(self.labels[index])]

  def as_map(self, index: int = 0) -> dict[int, list[tuple[int, float]]]:
    """{label: [(feature index, weight), ...]} sorted by decreasing |weight|, as lime's as_map."""
    index = self._check_index(index)
    return {label: self._weights(index, label) for label in self.available_labels(index)}

  def _weights(self, index: int, label: int) -> list[tuple[int, float]]:
    column, sign = self._label_column(index, label)
    coef = np.asarray(self.coef[index, column]) * sign
    selected = np.flatnonzero(np.asarray(self.selected[index, column]))
    order = selected[np.argsort(-np.abs(coef[selected]), kind="stable")]
    return [(int(j), float(coef[j])) for j in order]

  def _default_label(self, index: int, label: int | None) -> int:
    """`label`, or the first label explained for instance `index` (1 in regression, as lime)."""
    if label is not None:
      return label
    return 1 if self.mode == "regression" else self.available_labels(index)[0]

  def __repr__(self) -> str:
    num, num_labels, num_features = np.shape(self.coef)
    labels = "traced"
    if not isinstance(self.labels, jax.core.Tracer):
      labels = np.asarray(self.labels[:1]).tolist()[0] if num else []
    return (
        f"{type(self).__name__}(N={num}, L={num_labels}, labels[0]={labels}, "
        f"mode={self.mode!r}, D={num_features})"
    )

  def as_list(
      self, index: int = 0, label: int | None = None, *, with_std: bool = False
  ) -> list[tuple]:
    """[(readable feature name, weight), ...] sorted by decreasing |weight|, as lime's as_list.

    `label` defaults to the first label explained for instance `index`. With `with_std=True`
    each entry is (name, weight, posterior std of the weight).
    """
    index = self._check_index(index)
    label = self._default_label(index, label)
    names = self.domain.feature_names(self, index)
    weights = self._weights(index, label)
    if not with_std:
      return [(names[j], weight) for j, weight in weights]
    column, _ = self._label_column(index, label)
    std = np.asarray(self.coef_std[index, column])
    return [(names[j], weight, float(std[j])) for j, weight in weights]

  def intervals(self, level: float = 0.95) -> tuple[jax.Array, jax.Array]:
    """Central credible intervals of every coefficient: lower, upper [N, L, D].

    From the Gaussian posterior `coef_std` comes from (coef +- z * coef_std, z the normal
    quantile of (1 + level) / 2); both bounds are 0 for features not selected. In the
    explained columns (labels), as `coef`. Works on traced explanations.
    """
    half = _normal_quantile((1 + _check_level(level)) / 2) * self.coef_std
    return self.coef - half, self.coef + half

  def interval(
      self, index: int = 0, label: int | None = None, level: float = 0.95
  ) -> tuple[np.ndarray, np.ndarray]:
    """Credible interval of each coefficient of instance `index` for `label`: lower, upper [D].

    `label` defaults to the first label explained (1 in regression, whose label 0 is the
    negated fit: its bounds are negated and swapped). Features not selected have bounds 0.
    """
    index = self._check_index(index)
    label = self._default_label(index, label)
    column, sign = self._label_column(index, label)
    coef = np.asarray(self.coef[index, column], np.float64) * sign
    half = _normal_quantile((1 + _check_level(level)) / 2) * np.asarray(
        self.coef_std[index, column], np.float64
    )
    return coef - half, coef + half

  def samples_to_go(self, width: float, level: float = 0.95, *, num_samples=None) -> np.ndarray:
    """Further samples each instance needs for intervals of half-width `width`: [N, L] int.

    BayesLIME's "perturbations to go" in closed form: the posterior covariance is
    sigma^2 (Zc' W Zc + alpha I)^-1, and Zc' W Zc grows in proportion to the number of samples S,
    so a coefficient's half-width z * coef_std shrinks as 1 / sqrt(S). The widest selected
    coefficient of instance i and label l reaches `width` at S * (z * max_j coef_std / width)^2
    samples; the result is that total minus S (0 when already narrow enough).

    Args:
      width: the requested half-width (> 0), in the units of the coefficients.
      level: the intervals' credibility, as in `intervals`.
      num_samples: S, the samples each explanation used: an int or [N] ints; defaults to the
        recorded `num_samples` (explanations made with `jaxlime.UntilStable`).
    """
    if not isinstance(width, (int, float, np.floating, np.integer)) or not width > 0:
      raise ValueError(f"width must be a number > 0; got {width!r}.")
    if num_samples is None:
      if self.num_samples is None:
        raise ValueError(
            "samples_to_go needs num_samples= (the samples each explanation used): this "
            "explanation was made with a fixed count, which it does not record."
        )
      num_samples = self.num_samples
    samples = np.broadcast_to(np.asarray(num_samples, np.float64), (len(self),))
    if not (samples >= 2).all():
      raise ValueError(f"num_samples must be >= 2; got {np.asarray(num_samples)!r}.")
    z = _normal_quantile((1 + _check_level(level)) / 2)
    widest = z * np.max(np.asarray(self.coef_std, np.float64), axis=-1)  # [N, L]
    needed = samples[:, None] * np.square(widest / float(width))
    return np.maximum(np.ceil(needed) - samples[:, None], 0).astype(np.int64)

  def as_pyplot_figure(
      self, index: int = 0, label: int | None = None, figsize=(4, 4), *, level: float | None = 0.95
  ):
    """Horizontal bar chart of `as_list(index, label)` (needs matplotlib: the `plot` extra);
    `label` defaults to the first label explained. Each bar carries its `level` credible
    interval as an error bar (`interval`); level=None draws lime's bars alone."""
    from jaxlime._src import plots

    label = self._default_label(self._check_index(index), label)
    return plots.weights_figure(self, index, label, figsize=figsize, level=level)

  def _html_panels(self, index: int, label: int | None) -> list[str]:
    """lime's panels for instance `index`: prediction, weights for `label`, the instance."""
    from jaxlime._src import html as html_lib

    index = self._check_index(index)
    label = self._default_label(index, label)
    weights = self.as_list(index, label)
    lower, upper = self.interval(index, label)
    bounds = [(float(lower[j]), float(upper[j])) for j, _ in self._weights(index, label)]
    prediction = np.asarray(self.prediction[index], np.float64).ravel()
    panels = []
    if self.mode == "regression":
      panels.append(
          html_lib.predicted_value_panel(
              float(prediction[0]), float(prediction[0]), float(prediction[0])
          )
      )
    else:
      names = getattr(self.domain, "class_names", None) or [str(c) for c in range(len(prediction))]
      panels.append(html_lib.probabilities_panel(names, prediction))
    panels.append(
        html_lib.weights_panel(
            f"Explanation of instance {index} for {self._label_name(index, label)}",
            weights,
            positive_name=self._label_name(index, label),
            negative_name="NOT",
            intervals=bounds,
        )
    )
    if hasattr(self.domain, "instance_panel"):
      panels.append(self.domain.instance_panel(self, index, dict(self._weights(index, label))))
    return panels

  def as_html(self, index: int = 0, label: int | None = None) -> str:
    """A self-contained HTML page for instance `index` (no script, font or CDN): prediction
    probabilities, the weights for `label` (by default the first label explained) as bars,
    and the instance with its features highlighted."""
    from jaxlime._src import html as html_lib

    return html_lib.page(self._html_panels(index, label))

  def save_to_file(self, file_path, index: int = 0, label: int | None = None):
    """Writes `as_html(index, label)` to `file_path` (UTF-8)."""
    with open(file_path, "w", encoding="utf8") as handle:
      handle.write(self.as_html(index, label))

  def show_in_notebook(self, index: int = 0, label: int | None = None):
    """Displays the panels of instance `index` in IPython (needs IPython)."""
    from IPython.display import HTML, display

    from jaxlime._src import html as html_lib

    display(HTML(html_lib.fragment(self._html_panels(index, label))))

  def _label_name(self, index: int, label: int) -> str:
    names = getattr(self.domain, "class_names", None)
    if self.mode == "regression":
      return "the predicted value" if label == 1 else "the negated predicted value"
    if names is not None and 0 <= label < len(names):
      return f"class {names[label]}"
    return f"class {label}"

  def to_pandas(self, *, start: int = 0):
    """Long format DataFrame: instance, label, feature, feature_index, weight, std (one row per
    selected feature; needs pandas). `start` numbers the instances from there."""
    from jaxlime._src import frames

    return frames.to_pandas(self, start=start)

  def _repr_html_(self) -> str:
    from jaxlime._src import html as html_lib

    if len(self) == 0:
      return "<div class='jaxlime'>empty explanation</div>"
    return html_lib.fragment(self._html_panels(0, None))
