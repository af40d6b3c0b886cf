"""DataFrames into TabularExplainer (names, categories, what each model receives) and out."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxlime

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def frame():
  rng = np.random.RandomState(0)
  return pd.DataFrame(
      {
          "age": rng.randint(18, 80, 200),
          "income": rng.randn(200) * 10 + 50,
          "city": rng.choice(["paris", "rome", "oslo"], 200),
          "member": rng.rand(200) > 0.5,
          "grade": pd.Categorical(rng.choice(["b", "a"], 200), categories=["b", "a"]),
      }
  )


def _rome_model(frame_or_array):
  """P(class 1) = 0.9 in Rome, else 0.1; reads a DataFrame or the numeric encoding."""
  if isinstance(frame_or_array, pd.DataFrame):
    rome = (frame_or_array["city"] == "rome").to_numpy(float)
  else:
    rome = (frame_or_array[:, 2] == 2).astype(float)  # code of "rome" in sorted categories.
  p = 0.1 + 0.8 * rome
  return np.stack([1 - p, p], axis=1)


def test_schema_names_and_categories(frame):
  explainer = jaxlime.TabularExplainer(frame)
  assert explainer.feature_names == list(frame.columns)
  assert explainer.categorical_features == [2, 3, 4]
  assert explainer.categorical_names[2] == ["oslo", "paris", "rome"]
  assert explainer.categorical_names[3] == [False, True]
  assert explainer.categorical_names[4] == ["b", "a"]  # the category dtype's own order.


@pytest.mark.slow
def test_host_model_receives_original_dataframes(frame):
  seen = []

  def model(batch):
    seen.append(batch)
    return _rome_model(batch)

  explainer = jaxlime.TabularExplainer(frame)
  exp = explainer.explain(
      frame.iloc[:2], jaxlime.host_model(model), key=0, num_samples=300, num_features=2
  )
  batch = seen[-1]
  assert isinstance(batch, pd.DataFrame) and list(batch.columns) == list(frame.columns)
  assert (batch.dtypes == frame.dtypes).all()
  assert set(batch["city"]) <= {"paris", "rome", "oslo"}
  top = exp.as_list(0)[0][0]
  assert top == f"city={frame['city'].iloc[0]}"


@pytest.mark.slow
def test_jax_model_receives_numeric_encoding(frame):
  explainer = jaxlime.TabularExplainer(frame)

  def model(x):
    p = 0.1 + 0.8 * (x[:, 2] == 2)
    return jnp.stack([1 - p, p], axis=1)

  exp = explainer.explain(frame.iloc[:3], model, key=0, num_samples=300, num_features=1)
  np.testing.assert_allclose(np.asarray(exp.prediction), _rome_model(frame.iloc[:3]), rtol=1e-6)
  assert [exp.as_list(i)[0][0] for i in range(3)] == [f"city={c}" for c in frame.city[:3]]


def test_errors_name_the_column(frame):
  with pytest.raises(ValueError, match="'when'"):
    jaxlime.TabularExplainer(frame.assign(when=pd.Timestamp("2020-01-01")))
  with pytest.raises(ValueError, match="'income'"):
    jaxlime.TabularExplainer(frame.assign(income=np.where(frame.age > 50, np.nan, 1.0)))
  explainer = jaxlime.TabularExplainer(frame)
  with pytest.raises(ValueError, match="'city'.*'berlin'"):
    explainer.explain(frame.iloc[:1].assign(city="berlin"), _rome_model, num_samples=10)


@pytest.mark.slow
def test_to_pandas_and_parquet(frame, tmp_path):
  pytest.importorskip("pyarrow")
  explainer = jaxlime.TabularExplainer(frame)
  model = jaxlime.host_model(_rome_model)
  exp = explainer.explain(frame.iloc[:4], model, key=0, num_samples=300, num_features=3)
  long = exp.to_pandas()
  assert list(long.columns) == ["instance", "label", "feature", "feature_index", "weight", "std"]
  assert len(long) == 4 * 3 and set(long.instance) == {0, 1, 2, 3}
  first = long[long.instance == 0].sort_values("weight", key=abs, ascending=False)
  assert list(first.feature) == [name for name, _ in exp.as_list(0)]
  np.testing.assert_allclose(first.weight, [weight for _, weight in exp.as_list(0)], rtol=1e-6)
  path = tmp_path / "exp.parquet"
  parts = explainer.explain_iter(
      frame.iloc[:4], model, key=0, num_samples=300, num_features=3, instances_per_call=2
  )
  assert jaxlime.write_parquet(parts, path) == 12
  stored = pd.read_parquet(path)
  pd.testing.assert_frame_equal(
      stored.reset_index(drop=True), long.astype(stored.dtypes), check_exact=False, rtol=1e-6
  )
