"""pandas DataFrames in and out of the tabular explainer (pandas and pyarrow are optional).

In: a DataFrame's columns give the feature names; bool, category and string (object) columns
become categorical features whose `categorical_names` are the original values, in the order of
their codes; numeric columns stay as they are. A JAX model receives the numeric encoding
(category codes as floats); a `jaxlime.host_model` given to an explainer built from a DataFrame
receives DataFrames with the original column names, dtypes and values, so a scikit-learn
Pipeline with its own encoders works unchanged.

Out: `to_pandas(explanation)` in long format, and `write_parquet(parts, path)` for the
(start, Explanation) parts of `explain_iter`.
"""

import dataclasses
import weakref
from typing import Any, Iterable

import numpy as np

from jaxlime._src import models

_COLUMNS = ("instance", "label", "feature", "feature_index", "weight", "std")


def is_dataframe(value) -> bool:
  """A pandas DataFrame (checked without importing pandas)."""
  return (
      type(value).__module__.startswith("pandas")
      and hasattr(value, "columns")
      and hasattr(value, "dtypes")
  )


@dataclasses.dataclass(frozen=True, eq=False)
class FrameSchema:
  """How the F columns of a DataFrame map to numbers and back."""

  columns: tuple  # [F] original column labels.
  dtypes: tuple  # [F] original pandas dtypes.
  categories: dict  # column index -> tuple of original values; code i is categories[i].

  def encode(self, frame, name: str = "X") -> np.ndarray:
    """[N, F] float64 of a DataFrame with these columns (category codes in categorical ones)."""
    if not is_dataframe(frame):
      return frame
    missing = [c for c in self.columns if c not in frame.columns]
    if missing:
      raise ValueError(
          f"{name} lacks the columns {missing} of the training DataFrame "
          f"(it has {list(frame.columns)})."
      )
    frame = frame[list(self.columns)]
    encoded = np.empty(frame.shape, np.float64)
    for j, column in enumerate(self.columns):
      values = frame[column]
      if j in self.categories:
        lookup = {value: code for code, value in enumerate(self.categories[j])}
        unknown = sorted({str(v) for v in values if v not in lookup})
        if unknown:
          raise ValueError(
              f"{name} column {column!r} has values {unknown} not seen in the "
              f"training data (seen: {list(self.categories[j])})."
          )
        encoded[:, j] = [lookup[v] for v in values]
      else:
        encoded[:, j] = _numeric(values, column, name)
    return encoded

  def decode(self, array: np.ndarray):
    """The DataFrame of rows [B, F] in the training frame's columns, dtypes and values."""
    import pandas as pd

    array = np.asarray(array)
    data = {}
    for j, (column, dtype) in enumerate(zip(self.columns, self.dtypes)):
      values = array[:, j]
      if j in self.categories:
        categories = np.array(self.categories[j], dtype=object)
        values = categories[np.clip(np.rint(values).astype(np.int64), 0, len(categories) - 1)]
      elif dtype.kind in "iu":
        values = np.rint(values)
      data[column] = pd.Series(values).astype(dtype)
    return pd.DataFrame(data)


def _numeric(values, column, name: str) -> np.ndarray:
  array = np.asarray(values, np.float64)
  if not np.isfinite(array).all():
    raise ValueError(
        f"{name} column {column!r} has {int((~np.isfinite(array)).sum())} NaN/inf "
        "values; impute or drop them before explaining."
    )
  return array


def schema_from_frame(frame, categorical_features=None) -> FrameSchema:
  """The schema of a training DataFrame.

  Args:
    frame: the training DataFrame [M, F].
    categorical_features: further numeric columns (indices or column labels) to treat as
      categorical; bool, category and string columns always are.

  Raises:
    ValueError naming each column that cannot be used (dates, mixed objects, NaN).
  """
  extra = set()
  for feature in categorical_features or ():
    extra.add(list(frame.columns).index(feature) if feature in frame.columns else int(feature))
  categories, problems = {}, []
  for j, (column, dtype) in enumerate(zip(frame.columns, frame.dtypes)):
    values = frame[column]
    kind = getattr(dtype, "kind", "O")
    if str(dtype) == "category":
      categories[j] = tuple(dtype.categories.tolist())
      if values.isna().any():
        problems.append(f"{column!r} (category with missing values)")
    elif kind == "b":
      categories[j] = (False, True)
    elif kind in "OSU" or str(dtype) == "string":
      if values.isna().any():
        problems.append(f"{column!r} ({dtype} with missing values)")
        continue
      try:
        categories[j] = tuple(sorted(set(values.tolist())))
      except TypeError:
        problems.append(f"{column!r} (object column mixing types that cannot be sorted)")
    elif kind in "iuf":
      if j in extra:
        categories[j] = tuple(sorted(set(values.tolist())))
      elif not np.isfinite(np.asarray(values, np.float64)).all():
        problems.append(f"{column!r} (NaN/inf values)")
    else:
      problems.append(f"{column!r} (dtype {dtype}; use numbers, bool, category or strings)")
  if problems:
    raise ValueError("training_data has columns jaxlime cannot use: " + ", ".join(problems) + ".")
  return FrameSchema(
      columns=tuple(frame.columns), dtypes=tuple(frame.dtypes), categories=categories
  )


_decoded_models: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def model_for(schema: FrameSchema | None, model):
  """A host model that receives DataFrames of `schema`; any other model unchanged.

  The wrapper is made once per (host model, schema), so repeated explains reuse its program.
  """
  if schema is None or not isinstance(model, models.HostModel):
    return model
  per_schema = _decoded_models.setdefault(model, {})
  if id(schema) not in per_schema:
    per_schema[id(schema)] = models.host_model(
        lambda rows: model.fn(schema.decode(rows)),
        batch_size=model.batch_size,
        output_shape=model.output_shape,
        output_dtype=model.output_dtype,
    )
  return per_schema[id(schema)]


def _long_rows(explanation, start: int) -> dict[str, list]:
  rows = {name: [] for name in _COLUMNS}
  coef = np.asarray(explanation.coef)
  std = np.asarray(explanation.coef_std)
  selected = np.asarray(explanation.selected)
  for index in range(len(explanation)):
    names = explanation.domain.feature_names(explanation, index)
    labels = explanation.available_labels(index)
    for column, label in enumerate(labels[: coef.shape[1]]):
      for j in np.flatnonzero(selected[index, column]):
        rows["instance"].append(start + index)
        rows["label"].append(int(label))
        rows["feature"].append(str(names[j]))
        rows["feature_index"].append(int(j))
        rows["weight"].append(float(coef[index, column, j]))
        rows["std"].append(float(std[index, column, j]))
  return rows


def to_pandas(explanation, *, start: int = 0):
  """Long format: one row per (instance, label, selected feature) with its weight and std.

  Args:
    explanation: an `Explanation` of N instances.
    start: index of its first instance (for the parts of `explain_iter`).

  Returns:
    A DataFrame with columns instance, label, feature (readable name), feature_index, weight,
    std. In regression the label is 0 (the fitted output), with weights as fitted.
  """
  import pandas as pd

  return pd.DataFrame(_long_rows(explanation, start), columns=list(_COLUMNS))


def write_parquet(parts: Iterable[tuple[int, Any]], path) -> int:
  """Writes the (start, Explanation) parts of `explain_iter` to one Parquet file, part by part.

  Memory stays at one part. Returns the number of rows written.
  """
  import pyarrow as pa
  import pyarrow.parquet as pq

  schema = pa.schema(
      [
          ("instance", pa.int64()),
          ("label", pa.int32()),
          ("feature", pa.string()),
          ("feature_index", pa.int32()),
          ("weight", pa.float64()),
          ("std", pa.float64()),
      ]
  )
  written = 0
  with pq.ParquetWriter(path, schema) as writer:
    for start, part in parts:
      table = pa.Table.from_pydict(_long_rows(part, start), schema=schema)
      writer.write_table(table)
      written += table.num_rows
  return written
